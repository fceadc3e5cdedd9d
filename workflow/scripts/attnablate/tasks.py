"""What each model family is trained on and judged by: its task, as data.

Both translating families (the encoder-decoder, and the decoder-only model that reads the
source as a prefix) train on sentence pairs and are judged by test BLEU; the encoder-only
family trains as a masked language model on the source side of the same pairs (the text the
encoder-decoder's encoder reads, so that the family differs from that encoder by its
objective, not its data) and is judged by its accuracy on the masked pieces of the test split.
Both measures rise with quality, so a positive Δ (variant − qk) is a gain in either. Each
task has a second test measure, reported beside the first and never judged: chrF, or the
masked pieces' loss (nats, masked_loss). Held-out loss in nats is every family's: valid loss
in training.

The tables say their task by their columns (test_bleu or test_accuracy in runs.tsv, delta_bleu
or delta_accuracy in a comparison): ``task_of_table`` reads it back.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str  # "translation" or "masked"
    measure: str  # the judged test measure: runs.tsv's column test_<measure>
    label: str  # the measure in words, as the report names it
    short: str  # its short name, in tables and beside a Δ
    unit: str  # what a difference of the measure is counted in
    valid_measure: str  # curves.tsv's column of the same measure during training
    second: str  # the second test measure, reported and not judged: runs.tsv's test_<second>
    second_label: str  # the second measure in words
    targets: str  # what the loss is on, as meta.json's ``tokens`` counts them


TRANSLATION = Task(
    "translation", "bleu", "BLEU", "BLEU", "BLEU", "valid_bleu", "chrf", "chrF", "target tokens"
)
MASKED = Task(
    "masked",
    "accuracy",
    "masked-token accuracy (%)",
    "accuracy",
    "accuracy points",
    "valid_accuracy",
    "masked_loss",
    "masked-token loss (nats)",
    "masked pieces",
)
PARAMS = "params"  # a claim's other measure: quality per weight, on qk's scaling law
TASKS = {
    "encoder_decoder": TRANSLATION,
    "decoder_only": TRANSLATION,
    "encoder_only": MASKED,
}


def task_of(architecture: str) -> Task:
    """The task of a model family (``model.architecture``)."""
    return TASKS[architecture]


def task_of_measure(measure: str) -> Task:
    """The task a claim's test measure belongs to (bleu, accuracy)."""
    return next(task for task in (TRANSLATION, MASKED) if task.measure == measure)


def task_of_table(columns) -> Task:
    """The task whose measure a table of runs, comparisons or claims holds, by its
    ``columns``: test_<measure>, delta_<measure> or <measure>."""
    for task in (TRANSLATION, MASKED):
        if {f"test_{task.measure}", f"delta_{task.measure}", task.measure} & set(columns):
            return task
    raise ValueError(f"no task's measure among the columns {', '.join(map(str, columns))}")
