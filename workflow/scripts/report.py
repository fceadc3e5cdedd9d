"""Step `report` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.report import run_report

inputs = snakemake.input
run_report(
    inputs.runs,
    inputs.curves,
    inputs.significance,
    snakemake.output,
    snakemake.wildcards.experiment,
)
