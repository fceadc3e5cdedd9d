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
        processes=lambda wildcards: EXPERIMENT.processes(wildcards.size),
    script:
        "../scripts/train.py"


# A ladder cell's run at the peak rate, as one segment per branch point: the segment that
# ends at {point} continues from the one before it and keeps its last state in CELL/branches,
# where no job declares it (a rerun job loses its declared outputs, and the states must
# outlive it: a rerun segment whose state is there, of the same recipe, trains nothing).
use rule train as stable with:
    input:
        spm=f"{TOK}/spm.model",
        train=f"{TOK}/train.ids.npz",
        valid=f"{TOK}/valid.ids.npz",
        valid_ref=f"{DATA}/valid.tgt",
        previous=previous_segment,
    output:
        curves=f"{STABLE}/curves.tsv",
        meta=f"{STABLE}/meta.json",
        dynamics=f"{STABLE}/dynamics.tsv",
    log:
        f"logs/{STABLE_ID}/train.log",
    benchmark:
        f"benchmarks/{STABLE_ID}/train.tsv"
    params:
        model=run_model,
        train=stable_settings,
        device=config["device"],
        processes=lambda wildcards: EXPERIMENT.processes(wildcards.size),
