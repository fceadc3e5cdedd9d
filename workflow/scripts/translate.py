"""Step `translate` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.evaluate.decode import run_translate

run_translate(
    snakemake.params.decode,
    snakemake.params.device,
    snakemake.input,
    snakemake.output.hyp,
    snakemake.threads,
)
