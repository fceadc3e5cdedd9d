rule translate:
    input:
        checkpoint=f"{RUN}/checkpoint.pt",
        spm=f"{TOK}/spm.model",
        test=f"{TOK}/test.ids.npz",
    output:
        hyp=f"{RUN}/test.hyp",
    log:
        f"{RUN_LOG}/translate.log",
    benchmark:
        f"{RUN_BENCH}/translate.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        decode=config["decode"],
        device=config["device"],
    script:
        "../scripts/translate.py"


rule score:
    input:
        hyp=f"{RUN}/test.hyp",
        ref=f"{DATA}/test.tgt",
    output:
        scores=f"{RUN}/scores.json",
    log:
        f"{RUN_LOG}/score.log",
    conda:
        "../../envs/score.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/score.py"
