"""Step: the dimensions and parameter counts of every (variant, size, match) model."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821  (snakemake is injected by the rule)

from attnablate.steps import write_model_table  # noqa: E402

write_model_table(snakemake.config, snakemake.output.table)  # noqa: F821
