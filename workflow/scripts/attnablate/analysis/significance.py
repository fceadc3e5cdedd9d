"""The table of per-seed significance tests (significance.tsv) and Holm's correction over it.

Each compare job tests the variants of one (size, match, seed, budget) cell against ``qk``
(compare.py, with sacrebleu); once every cell is in, aggregation corrects each family, every
comparison against ``qk`` at one (size, seed, budget), matched and unmatched cells together.
The columns of a cell's table are evaluate/formats.py's, so that aggregation needs no sacrebleu.
"""

from attnablate.evaluate.formats import cell_columns
from attnablate.tasks import TRANSLATION, Task

FAMILY = ("size", "seed", "budget")  # Holm corrects over every comparison against qk sharing these


def columns(task: Task = TRANSLATION) -> list[str]:
    """significance.tsv's columns: a compare job's, then Holm's."""
    return [*cell_columns(task), "p_bootstrap_holm", "p_ar_holm", "holm_family"]


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (monotone, capped at 1)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def correct(rows: list[dict]) -> list[dict]:
    """``rows`` (of every cell) with Holm-adjusted p-values, each family being every
    comparison against qk at one (size, seed, budget) across match settings; ``holm_family`` is its
    size. Rows with a diverged side have no p-values and are not in any family."""
    families: dict[tuple, list[dict]] = {}
    for row in rows:
        # (a compare table written before the column was named diverged_sides says diverged)
        if not row.get("diverged_sides", row.get("diverged")):
            families.setdefault(tuple(str(row[k]) for k in FAMILY), []).append(row)
    corrected = {}
    for family in families.values():
        for test in ("bootstrap", "ar"):
            adjusted = holm([float(r[f"p_{test}"]) for r in family])
            for row, p in zip(family, adjusted):
                corrected.setdefault(id(row), {})[f"p_{test}_holm"] = round(p, 6)
        for row in family:
            corrected[id(row)]["holm_family"] = len(family)
    return [{**row, **corrected.get(id(row), {})} for row in rows]
