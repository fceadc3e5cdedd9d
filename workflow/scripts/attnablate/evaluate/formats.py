"""What the evaluate steps write, readable without sacrebleu (which they need and the steps
that read their outputs do not): the decimals of a score, the columns of a compare job's
table of per-seed tests (a cell of significance.tsv)."""

SCORE_DECIMALS = 4  # BLEU and chrF as scores.json keeps them, and every Δ read from them

CELL_COLUMNS = [
    "experiment",
    "size",
    "match",
    "seed",
    "budget",
    "variant",
    "bleu",
    "baseline_bleu",
    "delta_bleu",
    "delta_ci_low",
    "delta_ci_high",
    "p_bootstrap",
    "p_ar",
    "diverged_sides",
]
