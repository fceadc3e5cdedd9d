"""Step `train` (or `stable`) of the workflow (see workflow/rules): everything it prints goes to
its log."""

import os
import sys


def main():
    # Redirected at the descriptor level, so that the processes it spawns (one per GPU) write
    # their output and tracebacks here as well; unbuffered, so their lines arrive as printed.
    log = open(snakemake.log[0], "w", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    os.environ["PYTHONUNBUFFERED"] = "1"

    from attnablate.config import experiment
    from attnablate.train.loop import run_train

    config, wildcards = snakemake.config, dict(snakemake.wildcards)
    neutral = {key: config["train"][key] for key in experiment.NEUTRAL_TRAIN_KEYS}
    ladder = None
    if snakemake.rule == "stable":
        # the largest budget's cooldown settings put its start at the stable run's end
        top = experiment.train_settings(config, wildcards["size"], experiment.budgets(config)[-1])
        neutral.update({key: top[key] for key in experiment.COOLDOWN_KEYS})
        ladder = {"end": snakemake.params.end, "keep": experiment.branch_points(config)}
    elif experiment.ladder(config):
        ladder = {}
    run_train(
        snakemake.params,
        neutral,
        wildcards,
        snakemake.input,
        snakemake.output,
        snakemake.threads,
        ladder,
    )


# Guarded: each process DDP spawns re-runs this file (as __mp_main__), without `snakemake`.
if __name__ == "__main__":
    main()
