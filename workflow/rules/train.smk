rule train:
    input:
        spm=f"{TOK}/spm.model",
        train=f"{TOK}/train.ids.npz",
        valid=f"{TOK}/valid.ids.npz",
        valid_ref=f"{DATA}/valid.tgt",
    output:
        checkpoint=f"{RUN}/checkpoint.pt",
        curves=f"{RUN}/curves.tsv",
        meta=f"{RUN}/meta.json",
        dynamics=f"{RUN}/dynamics.tsv",
    log:
        f"{RUN_LOG}/train.log",
    benchmark:
        f"{RUN_BENCH}/train.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpus,
        gpu_share=gpu_share,
        gres=gpu_shards,
        cpus_per_task=train_cpus,
        nodes=1,
    params:
        model=run_model,
        train=train_settings,
        device=config["device"],
        processes=lambda wildcards: experiment.processes(config, wildcards.size),
    script:
        "../scripts/train.py"
