# One run per cell and budget. On a ladder (train.budgets) each is its budget's cooldown,
# started from the cell's stable run; otherwise a run from scratch to max_steps.
rule train:
    input:
        spm=f"{TOK}/spm.model",
        train=f"{TOK}/train.ids.npz",
        valid=f"{TOK}/valid.ids.npz",
        valid_ref=f"{DATA}/valid.tgt",
        stable=stable_run,
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


# A ladder cell's run at the peak rate, to the largest budget's branch point: it keeps a
# state at every budget's branch point in CELL/branches, which no job declares, so that a
# rerun (a larger budget) continues from its last state rather than from scratch.
use rule train as stable with:
    input:
        spm=f"{TOK}/spm.model",
        train=f"{TOK}/train.ids.npz",
        valid=f"{TOK}/valid.ids.npz",
        valid_ref=f"{DATA}/valid.tgt",
    output:
        curves=f"{CELL}/stable/curves.tsv",
        meta=f"{CELL}/stable/meta.json",
        dynamics=f"{CELL}/stable/dynamics.tsv",
    log:
        f"logs/{CELL_ID}/stable.log",
    benchmark:
        f"benchmarks/{CELL_ID}/stable.tsv"
    params:
        model=run_model,
        train=stable_settings,
        end=experiment.stable_steps(config),
        device=config["device"],
        processes=lambda wildcards: experiment.processes(config, wildcards.size),
