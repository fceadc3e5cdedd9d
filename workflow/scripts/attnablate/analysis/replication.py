"""The same claims on another pair, set beside this one's (config ``replicates``): for each
claim that compares a cell with ``qk`` in its task's test measure, this experiment's Δ at
each size and budget beside the replicated report's Δ of the same cell, size and budget (its
comparison.csv), and the difference of the two.

The two experiments share no weights and no test set, so their seeds do not pair: the
difference's interval is Welch's, and whether the two Δs agree within ±``margin`` is two
one-sided tests (the difference inside the margin: *replicated*; outside it: *outside the
margin*; neither shown: *not resolved*, with the smallest margin those seeds could have
shown). The comparisons of one budget are a Holm family of their own, apart from the
claims', so that each experiment's claims keep the error control they have in every report.
"""

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.claims import (
    JUDGED,
    difference_test,
    judged,
    outcome,
    paired_deltas,
    seed_deltas,
    visible,
)
from attnablate.analysis.verdict import Verdict
from attnablate.io import flag, write_tsv
from attnablate.model.variants import BASELINE, cell_label
from attnablate.tasks import PARAMS, Task, task_of_table

COLUMNS = [
    "claim",
    "label",
    "size",
    "budget",
    "replicates",
    "seeds",
    *stats.interval_columns("delta"),  # Δ here: the cell against qk, per seed
    "seeds_there",
    *stats.interval_columns("delta_there"),  # Δ in the replicated report
    "estimate",  # Δ here − Δ there
    "low",
    "high",
    "test_low",
    "test_high",
    "margin",
    *JUDGED,
]


def replicated_claims(claims: list[dict]) -> list[dict]:
    """The claims a replication compares: a cell against qk in the test measure (a claim against
    another cell, of quality per weight, or with a reference of its own has no one Δ in
    the replicated report's comparison table)."""
    return [
        claim
        for claim in claims
        if claim.get("measure") != PARAMS
        and claim.get("against", BASELINE) == BASELINE
        and "reference" not in claim
    ]


def replication_table(
    claims: list[dict], runs: pd.DataFrame, replicates: dict, there: pd.DataFrame
) -> pd.DataFrame:
    """One row per replicated claim, size and budget this experiment ran; ``runs``: every
    budget's runs (runs.tsv with labels); ``replicates``: the config's (``report``,
    ``margin``); ``there``: that report's comparison table."""
    rows, task = [], task_of_table(runs.columns)
    baseline = runs[runs["label"] == BASELINE]
    for claim in replicated_claims(claims):
        label = cell_label(claim["variant"], claim.get("match", "none"))
        for (size, budget), mine in runs[runs["label"] == label].groupby(
            ["size", "budget"], sort=False
        ):
            theirs = baseline[(baseline["size"] == size) & (baseline["budget"] == budget)]
            row = there[
                (there["label"] == label)
                & (there["size"].astype(str) == str(size))
                & (there["budget"] == budget)
            ]
            rows.append(
                {
                    "claim": visible(claim["claim"]),
                    "label": label,
                    "size": size,
                    "budget": budget,
                    "replicates": replicates["report"],
                    "margin": replicates["margin"],
                    **_compared(mine, theirs, row, replicates, label, size, budget, task),
                }
            )
    return judged(pd.DataFrame(rows, columns=COLUMNS), _verdict)


def write_replication(config: dict, runs: pd.DataFrame, references: dict, path) -> None:
    """The claims step's replication table: the ``config``'s claims on ``runs`` (runs.tsv
    with labels) beside the report it ``replicates`` (its comparison table in
    ``references``, as claims_table reads them); no rows where it replicates none. Read
    back with claims.read_judged."""
    replicates = config.get("replicates")
    table = pd.DataFrame(columns=COLUMNS)
    if replicates:
        there, _ = references[replicates["report"]]
        table = replication_table(config.get("claims", []), runs, replicates, there)
    write_tsv(path, table.to_dict("records"), COLUMNS)


def _compared(mine, theirs, row, replicates: dict, label, size, budget, task: Task) -> dict:
    here, converged = paired_deltas(mine, theirs, task)
    delta = dict(zip(stats.interval_columns("delta"), stats.mean_interval(here)))
    if len(row) != 1:
        where = f"{label} at {size}, {int(budget):,} steps"
        return {
            "seeds": len(here),
            **delta,
            "converged": False,
            "verdict": Verdict.UNTESTABLE,
            "reason": f"{replicates['report']} has no one row of {where}",
        }
    other = seed_deltas(row["seed_deltas"].iloc[0])
    there = dict(zip(stats.interval_columns("delta_there"), stats.mean_interval(other)))
    both = bool(len(converged)) and bool(converged.all()) and bool(flag(row["converged"]).all())
    return {
        **delta,
        **there,
        "seeds_there": len(other),
        **difference_test(here, other, replicates["margin"]),
        "converged": both,
    }


def _verdict(row: dict) -> Verdict:
    """A claim's outcome for an equivalence (claims.outcome of ``expect: same``):
    replicated where the two Δs are shown within ±margin, outside the margin where shown
    outside, else not resolved."""
    return outcome({**row, "expect": "same"})
