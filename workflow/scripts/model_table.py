"""Step `model_table` of the workflow (see workflow/rules): everything it prints goes to its log."""

import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)

from attnablate.config.experiment import write_model_table
from attnablate.data.tokenizer import vocabulary_size

write_model_table(
    snakemake.params.models, vocabulary_size(snakemake.input.spm), snakemake.output.table
)
