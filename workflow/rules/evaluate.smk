# What a run is judged on: its task's test outputs (TESTED), then each variant against qk.
if TASK is MASKED:

    # the masked task: the test split's masked pieces instead of translations
    rule evaluate_masked:
        input:
            checkpoint=f"{RUN}/checkpoint.pt",
            test=f"{TOK}/test.ids.npz",
            meta=f"{RUN}/meta.json",
        output:
            sentences=f"{RUN}/{TESTED}",
            scores=f"{RUN}/scores.json",
        log:
            f"{RUN_LOG}/evaluate_masked.log",
        conda:
            "../../envs/train.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../scripts/evaluate_masked.py"

    # what a run gets for nothing: the same pieces guessed from their training frequencies
    rule masked_baseline:
        input:
            train=f"{TOK}/train.ids.npz",
            test=f"{TOK}/test.ids.npz",
        output:
            scores=f"{TOK}/masked_baseline.json",
        log:
            f"logs/{TOK}/masked_baseline.log",
        conda:
            "../../envs/train.yaml"
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            vocab_size=config["tokenizer"]["vocab_size"],
        script:
            "../scripts/masked_baseline.py"

else:

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
            gpu=translate_gpus,
            gpu_share=gpu_share,
            gres=gpu_shards,
        params:
            decode=canonical(config["decode"]),
            device=config["device"],
        script:
            "../scripts/translate.py"

    rule score:
        input:
            hyp=f"{RUN}/test.hyp",
            ref=f"{DATA}/test.tgt",
            meta=f"{RUN}/meta.json",
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


rule compare:
    input:
        baseline=f"{BASELINE_RUN}/{TESTED}",
        systems=compared_runs(TESTED),
        baseline_scores=f"{BASELINE_RUN}/scores.json",
        system_scores=compared_runs("scores.json"),
        ref=f"{DATA}/test.tgt",
    output:
        table="results/{experiment}/compare/{size}/{match}/seed{seed}/steps{budget}.tsv",
    log:
        "logs/{experiment}/compare/{size}/{match}/seed{seed}/steps{budget}.log",
    conda:
        "../../envs/score.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        variants=compared_variants,
    script:
        "../scripts/compare.py"


rule attention:
    input:
        checkpoint=f"{RUN}/checkpoint.pt",
        spm=f"{TOK}/spm.model",
        test=f"{TOK}/test.ids.npz",
    output:
        maps=f"{RUN}/attention.npz",
    log:
        f"{RUN_LOG}/attention.log",
    conda:
        "../../envs/train.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/attention.py"
