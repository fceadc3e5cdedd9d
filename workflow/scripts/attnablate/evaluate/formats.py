"""What the evaluate steps write, readable without sacrebleu or torch (which they need and
the steps that read their outputs do not): the decimals of a score, the columns of a compare
job's table of per-seed tests (a cell of significance.tsv), of a masked run's test rows."""

from attnablate.tasks import TRANSLATION, Task

SCORE_DECIMALS = 4  # scores as scores.json keeps them (BLEU, chrF, accuracy), and every Δ


def cell_columns(task: Task = TRANSLATION) -> list[str]:
    """The columns of a compare job's table: the cell, the variant, its task's measure (bleu,
    accuracy) against qk's with the interval of Δ, the p-values, what diverged."""
    measure = task.measure
    return [
        "experiment",
        "size",
        "match",
        "seed",
        "budget",
        "variant",
        measure,
        f"baseline_{measure}",
        f"delta_{measure}",
        "delta_ci_low",
        "delta_ci_high",
        "p_bootstrap",
        "p_ar",
        "diverged_sides",
    ]


SENTENCE_COLUMNS = ["loss", "correct", "count"]  # test.masked.tsv: one row per test sentence
