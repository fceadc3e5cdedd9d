"""The controls' contrasts, as statistics: a contrast is a list of per-seed differences of test
BLEU between two cells, paired by seed; the contrasts of one family are judged together (Holm
over their two-sided t-tests). Which cell a control is set beside, which presets are
learning-rate checks (another preset's shape at another rate), and the rate each cell does
best at. report/controls.py says them in words.
"""

import re

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.runs import diverged
from attnablate.analysis.significance import holm
from attnablate.analysis.verdict import Verdict, difference
from attnablate.model.variants import BASELINE, CONTROLS
from attnablate.tasks import task_of_table

# The two controls that split a tied variant's Δ two ways: one keeps its start without its
# constraint, the other its constraint without its start.
START_CONTROL, CONSTRAINT_CONTROL = "qk_symstart", "qq_centred"


def paired(runs: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """The test measure (BLEU, masked-token accuracy) of cell ``a`` − cell ``b`` per seed,
    both (label, size), over the seeds where both finished; ``runs``: one budget's."""
    return list(by_seed(runs, a, b))


def by_seed(runs: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> pd.Series:
    """``paired``'s differences indexed by seed."""
    finished = runs[~diverged(runs)]
    measure = f"test_{task_of_table(runs.columns).measure}"

    def cell(label: str, size: str) -> pd.Series:
        here = finished[(finished["label"] == label) & (finished["size"] == size)]
        return here.set_index("seed")[measure]

    return (cell(*a) - cell(*b)).dropna().sort_index()


class Family:
    """The contrasts of one family, each a list of per-seed Δ: added first, then judged
    together (Holm over their two-sided t-tests)."""

    def __init__(self):
        self.deltas: list[list[float]] = []

    def add(self, deltas: list[float]) -> int:
        self.deltas.append(deltas)
        return len(self.deltas) - 1

    def corrected(self) -> list[float]:
        """Each contrast's Holm-corrected p (NaN below two seeds)."""
        p = [stats.t_p_value(d) for d in self.deltas]
        tested = [i for i, value in enumerate(p) if value == value]
        adjusted = dict(zip(tested, holm([p[i] for i in tested])))
        return [adjusted.get(i, float("nan")) for i in range(len(p))]


def call(deltas: list[float], p_holm: float) -> Verdict:
    """What a contrast calls after its family's correction (verdict.difference)."""
    return difference(sum(deltas) / len(deltas), p_holm) if deltas else Verdict.NO_DIFFERENCE


def controlled(spec: str) -> str | None:
    """The variant spec a control spec is set beside (``qq_centred@enc`` -> ``qq@enc``), or
    None where the spec names no control."""
    tokens = re.split(r"([+;@,])", spec)
    if not any(token in CONTROLS for token in tokens):
        return None
    return "".join(CONTROLS[t][0] if t in CONTROLS else t for t in tokens)


def control_name(spec: str) -> str:
    """The control a control spec names (``qq_centred@enc`` -> ``qq_centred``)."""
    return next(t for t in re.split(r"[+;@,]", spec) if t in CONTROLS)


def decompositions(labels: list[str]) -> dict[str, tuple[str, str]]:
    """Variant -> (the control that keeps its start, the one that keeps its constraint),
    where the experiment runs both beside it: two ways to split one Δ."""
    found: dict[str, dict[str, str]] = {}
    for label in labels:
        variant = controlled(label)
        if variant in labels:
            found.setdefault(variant, {})[control_name(label)] = label
    return {
        variant: (controls[START_CONTROL], controls[CONSTRAINT_CONTROL])
        for variant, controls in found.items()
        if START_CONTROL in controls and CONSTRAINT_CONTROL in controls
    }


def shape_groups(runs: pd.DataFrame) -> dict[str, list[str]]:
    """First preset of a shape -> the presets of that shape after it (learning-rate checks),
    by qk's dimensions and parameter count there."""
    qk = runs[runs["label"] == BASELINE].drop_duplicates("size")
    groups: dict[tuple, list[str]] = {}
    for row in qk.itertuples():
        groups.setdefault((row.d_model, row.d_ff, row.params_total), []).append(row.size)
    return {sizes[0]: sizes[1:] for sizes in groups.values() if len(sizes) > 1}


def rate_checks(runs: pd.DataFrame) -> set[str]:
    """The presets that are learning-rate checks: their contrasts are this section's family,
    not the claims' (a claim is stated of the recipe)."""
    if "lr" not in runs:
        return set()
    return {size for later in shape_groups(runs).values() for size in later}


def recipe(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the recipe's presets: each shape's first, its learning-rate checks left
    out (a claim, and a scaling law, are stated of the recipe)."""
    return runs[~runs["size"].isin(rate_checks(runs))]


def best_rate(runs: pd.DataFrame, label: str, sizes: list[str]) -> str:
    """The preset among ``sizes`` (one shape at several rates) where ``label``'s finished
    runs reach the lowest mean best validation loss: chosen on validation data, so that the
    test BLEU compared at it is not the one it was chosen by."""
    finished = runs[~diverged(runs) & (runs["label"] == label) & runs["size"].isin(sizes)]
    return str(finished.groupby("size")["best_valid_loss"].mean().idxmin())
