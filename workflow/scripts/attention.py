"""Step `attention` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.train.dynamics import run_attention

run_attention(snakemake.input, snakemake.output.maps)
