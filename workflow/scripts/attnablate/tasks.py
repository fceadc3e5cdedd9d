"""What each model family is trained on and judged by: its task, as data.

Both translating families (the encoder-decoder, and the decoder-only model that reads the
source as a prefix) train on sentence pairs and are judged by test BLEU; the encoder-only
family trains as a masked language model on the source side of the same pairs (the text the
encoder-decoder's encoder reads, so that the family differs from that encoder by its
objective, not its data) and is judged by its accuracy on the masked pieces of the test split.
Both measures rise with quality, so a positive Δ (variant − qk) is a gain in either. The
held-out loss (nats) is every family's second measure: valid loss in training, and for the
masked task also on the test split.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str  # "translation" or "masked"
    measure: str  # the judged test measure: runs.tsv's column test_<measure>
    label: str  # the measure in words, as the report names it
    unit: str  # what a difference of the measure is counted in
    valid_measure: str  # curves.tsv's column of the same measure during training


TRANSLATION = Task("translation", "bleu", "BLEU", "BLEU", "valid_bleu")
MASKED = Task(
    "masked", "accuracy", "masked-token accuracy (%)", "accuracy points", "valid_accuracy"
)
TASKS = {
    "encoder_decoder": TRANSLATION,
    "decoder_only": TRANSLATION,
    "encoder_only": MASKED,
}


def task_of(architecture: str) -> Task:
    """The task of a model family (``model.architecture``)."""
    return TASKS[architecture]
