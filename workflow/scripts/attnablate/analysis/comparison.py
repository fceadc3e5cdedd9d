"""The comparison frame: one row per (size, budget, variant, match) against ``qk`` of the same
size at the same budget, with the verdict over seeds. The summary's sentences and tables are
rendered from it alone.

- Everything is over *paired* seeds: seeds where both the variant's and qk's run finished
  (a diverged side removes the seed from means, differences and intervals alike).
- ``verdict``: ``better`` / ``worse`` where the two-sided t-test of the per-seed differences
  rejects Δ = 0 after Holm's correction over the report's comparisons at one (size, budget)
  (``p``, ``p_holm``, ``family``: the same error control as the claims'); ``no difference
  detected`` otherwise, with ``detectable``, the smallest
  difference these seeds could have found (80% power); ``one seed`` where there is no spread
  to judge training noise by; ``no finished pair`` where every seed diverged on a side.
- The per-seed paired tests (sacrebleu, Holm over the (size, seed) family) measure test-set
  sampling noise only: they are counted by sign, never turned into a verdict.
- The measure is the runs' task's (tasks.py): BLEU, or masked-token accuracy, with chrF or the
  masked pieces' loss beside it; the columns are named by it (bleu, delta_bleu, delta_chrf).
"""

import math

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.significance import holm
from attnablate.analysis.verdict import Verdict, difference
from attnablate.evaluate.formats import SCORE_DECIMALS
from attnablate.io import flag
from attnablate.model.variants import BASELINE, cell_label
from attnablate.tasks import TRANSLATION, Task, task_of_table

ALPHA = 0.05  # per-seed tests: significant at this Holm-adjusted p-value


def columns(task: Task = TRANSLATION) -> list[str]:
    """The comparison table's columns, its measures named by the ``task``."""
    m = task.measure
    return [
        *HEAD,
        m,
        f"baseline_{m}",
        f"delta_{m}",
        *MIDDLE,
        *stats.interval_columns(f"delta_{task.second}"),
        *TAIL,
    ]


HEAD = ["size", "budget", "variant", "match", "label", "seeds", "params_total", "params_saved"]
MIDDLE = ["delta_low", "delta_high", "detectable", "p", "p_holm", "family", "verdict"]
TAIL = [
    *stats.interval_columns("delta_loss"),
    "seed_deltas",
    "seed_p_ar_holm",
    "better_seeds",
    "worse_seeds",
    "test_ci_low",
    "test_ci_high",
    "holm_family",
    "converged",
    "unconverged_runs",
    "diverged_seeds",
    "best_valid_loss",
]
COLUMNS = columns()  # a translating experiment's (the committed reports' tables)


def comparison_table(runs: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """One row per variant cell, size and budget, in runs order (budgets ascending); ``runs``
    as in runs.tsv, ``tests`` as in significance.tsv."""
    task = task_of_table(runs.columns)
    rows = []
    for size in runs["size"].unique():
        for budget in sorted(runs.loc[runs["size"] == size, "budget"].unique()):
            here = runs[(runs["size"] == size) & (runs["budget"] == budget)]
            base = here[(here["variant"] == BASELINE) & (here["match"] == "none")]
            cells = here[["variant", "match"]].drop_duplicates()
            for variant, match in cells.itertuples(index=False):
                if variant == BASELINE and match == "none":
                    continue
                mine = here[(here["variant"] == variant) & (here["match"] == match)]
                mask = (
                    (tests["size"].astype(str) == str(size))
                    & (tests["budget"].astype(str) == str(budget))
                    & (tests["variant"] == variant)
                    & (tests["match"] == match)
                )
                rows.append(compare_cell(mine, base, tests[mask], task))
    table = pd.DataFrame(rows, columns=columns(task))
    tested = table[table["p"].notna()]
    for _, family in tested.groupby(["size", "budget"], sort=False):
        table.loc[family.index, "p_holm"] = holm(list(family["p"]))
        table.loc[family.index, "family"] = len(family)
    called = table["p_holm"] < stats.ALPHA
    table.loc[called, "verdict"] = [
        difference(delta, p)
        for delta, p in zip(table.loc[called, f"delta_{task.measure}"], table.loc[called, "p_holm"])
    ]
    return table


def compare_cell(
    mine: pd.DataFrame, base: pd.DataFrame, tests: pd.DataFrame, task: Task = TRANSLATION
) -> dict:
    """The comparison row of one variant cell (its runs ``mine``, one per seed) against the
    baseline's runs ``base`` of the same size, with the cell's per-seed ``tests``, in the
    ``task``'s measures."""
    first = mine.iloc[0]
    m, second = f"test_{task.measure}", f"test_{task.second}"
    finished = lambda runs: runs[~flag(runs["diverged"])]  # noqa: E731
    paired = finished(mine).merge(finished(base), on="seed", suffixes=("", "_qk"))
    paired = paired.sort_values("seed")
    deltas = list(paired[m] - paired[f"{m}_qk"])
    mean, low, high = stats.mean_interval(deltas)
    beside = stats.mean_interval(paired[second] - paired[f"{second}_qk"])
    loss = stats.mean_interval(paired["best_valid_loss"] - paired["best_valid_loss_qk"])
    n = len(deltas)
    # better or worse only after Holm over the family (comparison_table)
    verdict = {0: Verdict.NO_PAIR, 1: Verdict.ONE_SEED}.get(n, Verdict.NO_DIFFERENCE)
    tested = tests[tests["seed"].astype(str).isin(paired["seed"].astype(str))]
    tested = tested.assign(seed=tested["seed"].astype(int)).sort_values("seed")
    p_holm = pd.to_numeric(tested["p_ar_holm"])
    test_delta = pd.to_numeric(tested[f"delta_{task.measure}"])
    significant = p_holm < ALPHA
    single = n == 1 and len(tested) == 1
    converged = pd.concat([flag(paired["converged"]), flag(paired["converged_qk"])])
    all_seeds = set(mine["seed"]) | set(base["seed"])
    params = mine["params_total"].mean()
    return {
        "size": first["size"],
        "budget": int(first["budget"]),
        "variant": first["variant"],
        "match": first["match"],
        "label": cell_label(first["variant"], first["match"]),
        "seeds": n,
        "params_total": round(params),
        "params_saved": round(1 - params / base["params_total"].mean(), 6),
        task.measure: _round(paired[m].mean()),
        f"baseline_{task.measure}": _round(paired[f"{m}_qk"].mean()),
        f"delta_{task.measure}": _round(mean),
        "delta_low": _round(low),
        "delta_high": _round(high),
        "detectable": _round(stats.detectable_difference(deltas)),
        "p": stats.t_p_value(deltas),
        "p_holm": math.nan,
        "family": 0,
        "verdict": verdict,
        **dict(
            zip(stats.interval_columns(f"delta_{task.second}"), map(_round, beside), strict=True)
        ),
        **dict(zip(stats.interval_columns("delta_loss"), map(_round, loss), strict=True)),
        # at the scores' own precision: another experiment's claim reads them (reference)
        "seed_deltas": ";".join(
            f"{s}:{d:+.{SCORE_DECIMALS}f}" for s, d in zip(paired["seed"], deltas)
        ),
        "seed_p_ar_holm": ";".join(f"{s}:{p:.4f}" for s, p in zip(tested["seed"], p_holm)),
        "better_seeds": int((significant & (test_delta > 0)).sum()),
        "worse_seeds": int((significant & (test_delta < 0)).sum()),
        "test_ci_low": _round(float(tested["delta_ci_low"].iloc[0]) if single else math.nan),
        "test_ci_high": _round(float(tested["delta_ci_high"].iloc[0]) if single else math.nan),
        "holm_family": int(pd.to_numeric(tested["holm_family"]).max()) if len(tested) else 0,
        "converged": bool(len(converged)) and bool(converged.all()),
        "unconverged_runs": int((~converged).sum()),
        "diverged_seeds": ";".join(
            str(s) for s in sorted(all_seeds) if s not in set(paired["seed"])
        ),
        "best_valid_loss": _round(paired["best_valid_loss"].mean(), 4),
    }


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits) if math.isfinite(float(value)) else math.nan
