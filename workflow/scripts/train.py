"""Step `train` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.train import run_train

run_train(
    snakemake.config,
    dict(snakemake.wildcards),
    snakemake.input,
    snakemake.output,
    snakemake.threads,
)
