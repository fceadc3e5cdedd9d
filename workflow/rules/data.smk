rule prepare:
    input:
        corpus_files(),
    output:
        train_src="data/{corpus}/train.src",
        train_tgt="data/{corpus}/train.tgt",
        valid_src="data/{corpus}/valid.src",
        valid_tgt="data/{corpus}/valid.tgt",
        test_src="data/{corpus}/test.src",
        test_tgt="data/{corpus}/test.tgt",
        stats="data/{corpus}/prepare.json",
    log:
        "logs/data/{corpus}/prepare.log",
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        corpus=digest(config["corpus"]),
    script:
        "../scripts/prepare.py"


rule tokenizer:
    input:
        src="data/{corpus}/train.src",
        tgt="data/{corpus}/train.tgt",
    output:
        model="data/{corpus}/{tokenizer}/spm.model",
        vocab="data/{corpus}/{tokenizer}/spm.vocab",
    log:
        "logs/data/{corpus}/{tokenizer}/tokenizer.log",
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tokenizer=canonical(config["tokenizer"]),
    script:
        "../scripts/tokenizer.py"


rule encode:
    input:
        model="data/{corpus}/{tokenizer}/spm.model",
        src="data/{corpus}/{split}.src",
        tgt="data/{corpus}/{split}.tgt",
    output:
        ids="data/{corpus}/{tokenizer}/{split}.ids.npz",
    log:
        "logs/data/{corpus}/{tokenizer}/encode_{split}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/encode.py"
