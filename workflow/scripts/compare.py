"""Step `compare` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.evaluate.compare import run_compare
from attnablate.model.variants import BASELINE

cell = {key: snakemake.wildcards[key] for key in ("experiment", "size", "match", "seed", "budget")}
systems = dict(zip(snakemake.params.variants, snakemake.input.systems))
scores = dict(zip(snakemake.params.variants, snakemake.input.system_scores))
scores[BASELINE] = snakemake.input.baseline_scores
run_compare(
    cell, snakemake.input.baseline, systems, scores, snakemake.input.ref, snakemake.output.table
)
