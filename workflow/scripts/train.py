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

    from attnablate import steps

    steps.train(snakemake)


# Guarded: each process DDP spawns re-runs this file (as __mp_main__), without `snakemake`.
if __name__ == "__main__":
    main()
