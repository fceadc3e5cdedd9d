"""The published claims, tested as they were stated.

A claim (config ``claims``, documented in the schema) names a cell (``variant``, ``match``),
what it is compared with (``against``: ``qk``, or another variant of the experiment, paired by
seed), the ``measure`` (the family's: ``bleu``, test BLEU, or ``accuracy``, masked-token
accuracy on the test split, tasks.py; or ``params``: what its runs are worth in ``qk``
parameters on ``qk``'s scaling law, the frontier of quality per weight) and what the
published answer says of the difference:

- ``worse`` / ``better``: a difference: the two-sided t-test of Δ = 0 over seeds;
- ``not_better`` ("I couldn't get it to be better"): non-superiority, the one-sided test of
  Δ ≥ ``margin`` (passed where the 90% interval's upper end lies below the margin);
- ``same`` ("about break-even", "similarly"): equivalence, two one-sided tests against
  ±``margin`` (passed where the 90% interval lies inside ±margin).

Margins are written in the config before a run, never in code. The claims of an experiment
are one family at each budget, at every size of the recipe (a learning-rate check's preset,
controls.py, belongs to the controls' family: the claims are stated of the recipe), so that
the same claims on the same runs get the same verdicts in every report; every word a verdict
uses comes from a test of that family after Holm's correction: each claim has the test of
what it states (``p``) and the test of the outcome that contradicts it (``p_against``: a
difference of the other sign; for not better, better; for the same, outside ±margin), each
side of a two-sided question read at twice its one-sided p-value, and each column is
Holm-corrected over the family. A claim is *replicated* where its corrected ``p`` is below
0.05; else *opposite* or *outside the margin* where its corrected ``p_against`` is; else
*not resolved* (with the smallest difference, or margin, these seeds could have decided).
*cannot be tested here*: a claim about quality per parameter in an experiment with fewer
than three sizes, or at a budget where qk's loss does not fall with size (scaling.py).

A params claim reads the bootstrap over seeds of the scaling fit (scaling.py): its
intervals are percentiles of the resampled multiples, its p-values the share of resamples on
the null's side; its margin is relative, a band 1 ± margin around 1×. A worth beyond the
law's range is 0 or infinity: it counts on its side of every threshold, as far as it goes.

A claim with a ``reference`` compares this experiment's Δ (the cell against ``against``) with
another experiment's Δ (its ``reference.variant`` against its qk), read from that experiment's
committed report (its comparison.csv), at each budget both ran on the same corpus: "the
conclusions carry over" tested as ``expect: same``, the two Δs within ±margin. The two
experiments' models share no weights, so their seeds do not pair: the interval of the
difference of the two mean Δs is Welch's, and the equivalence its two one-sided tests.
"""

import math
import unicodedata

import numpy as np
import pandas as pd

from attnablate.analysis import controls, scaling, stats
from attnablate.analysis.runs import diverged, read_table
from attnablate.analysis.significance import holm
from attnablate.analysis.verdict import Verdict
from attnablate.io import flag, write_tsv
from attnablate.model.variants import BASELINE, cell_label
from attnablate.tasks import PARAMS, TRANSLATION, Task, task_of_table

EXPECTATIONS = ("worse", "better", "not_better", "same")
OTHER_SIDE = {"less": "greater", "greater": "less"}
# what a tested row holds after its family's correction (judged), in every table of tests
JUDGED = (
    "p",
    "p_holm",
    "p_against",
    "p_against_holm",
    "family",
    "detectable",
    "converged",
    "verdict",
    "reason",
)


def columns(task: Task = TRANSLATION) -> list[str]:
    """The claims table's columns, its second measure named by the ``task`` (delta_chrf,
    delta_masked_loss)."""
    return [*HEAD, *stats.interval_columns(f"delta_{task.second}"), *TAIL]


HEAD = [
    "claim",
    "expect",
    "measure",
    "margin",
    "size",
    "budget",
    "label",
    "against",
    "reference",
    "seeds",
    "estimate",
    "low",
    "high",
    "test_low",
    "test_high",
]
TAIL = [*stats.interval_columns("delta_loss"), *JUDGED]


def write_claims(claims: list[dict], runs: pd.DataFrame, references: dict, path) -> None:
    """The claims step: ``claims`` (the config's) tested on ``runs`` (every budget's,
    runs.tsv with labels), with the ``references`` of claims_table, as the table at ``path``."""
    table = claims_table(claims, runs, references)
    write_tsv(path, table.to_dict("records"), columns(task_of_table(runs.columns)))


def read_judged(path) -> pd.DataFrame:
    """A table of tests as its step wrote it (claims, replication), its converged flags as
    booleans where set."""
    table = read_table(path)
    table["converged"] = [None if pd.isna(c) else c in (True, "True") for c in table["converged"]]
    return table


def read_claims(path) -> pd.DataFrame:
    """The claims table as write_claims wrote it (read_judged), a claim without a reference
    with an empty one."""
    table = read_judged(path)
    table["reference"] = table["reference"].fillna("").astype(str)
    return table


def test_level(expect: str) -> float:
    """The confidence of the interval a claim's test reads: 95% for a difference, 90% for a
    one-sided test or a pair of them (each at 5%)."""
    return stats.CONFIDENCE if expect in ("worse", "better") else 1 - 2 * stats.ALPHA


def claims_table(
    claims: list[dict], runs: pd.DataFrame, references: dict | None = None
) -> pd.DataFrame:
    """One row per claim, size and budget at which its cells were run (the recipe's: not a
    learning-rate check's), Holm-corrected per budget; ``runs``: every budget's runs
    (runs.tsv with labels); ``references``: report folder -> (its comparison table, whether
    its corpus and tokenizer are this experiment's), for the claims with a ``reference``.
    A claim whose cells this experiment does not run gets one row that says so."""
    recipe = controls.recipe(runs)
    task = task_of_table(runs.columns)
    rows = []
    for claim in claims:
        rows += _claim_rows(claim, recipe, references or {}, task)
    return judged(pd.DataFrame(rows, columns=columns(task)), outcome)


def judged(table: pd.DataFrame, verdict) -> pd.DataFrame:
    """``table``'s tested rows (a ``p``) Holm-corrected per budget, each budget one family
    (``p_holm``, ``p_against_holm``, ``family``: its size), and each row without a verdict
    given ``verdict(row)`` of the corrected values."""
    for _, family in table[table["p"].notna()].groupby("budget"):
        table.loc[family.index, "p_holm"] = holm(list(family["p"]))
        table.loc[family.index, "p_against_holm"] = holm(list(family["p_against"]))
        table.loc[family.index, "family"] = len(family)
    table["verdict"] = [
        verdict(row) if pd.isna(row["verdict"]) else row["verdict"]
        for row in table.to_dict("records")
    ]
    return table


def visible(text: str) -> str:
    """A claim's text as a reader may trust it: control and format characters (the
    bidirectional overrides that reorder what is shown, zero-width characters) as visible
    escapes such as ``\\u202e``; line breaks and tabs stay."""
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" else c
        for c in text
    )


def _claim_rows(claim: dict, runs: pd.DataFrame, references: dict, task: Task) -> list[dict]:
    label = cell_label(claim["variant"], claim.get("match", "none"))
    against = claim.get("against", BASELINE)
    reference = claim.get("reference")
    base = {
        "claim": visible(claim["claim"]),
        "expect": claim["expect"],
        "measure": claim.get("measure", task.measure),
        "margin": claim.get("margin", math.nan),
        "label": label,
        "against": against,
        "reference": reference_name(reference) if reference else "",
    }
    mine = runs[runs["label"] == label]
    theirs = runs[runs["label"] == against]
    if not len(mine) or not len(theirs):
        return [{**base, "size": "-", "seeds": 0, "converged": True, "verdict": Verdict.NOT_RUN}]
    if base["measure"] == PARAMS:
        return _params_rows(base, runs, label)
    rows = []
    for (size, budget), here in mine.groupby(["size", "budget"], sort=False):
        other = theirs[(theirs["size"] == size) & (theirs["budget"] == budget)]
        if reference:
            test = _reference_test(base, here, other, reference, references, budget, task)
        else:
            test = _measure_test(base, here, other, task)
        rows.append({**base, "size": size, "budget": budget, **test})
    return rows


def reference_name(reference: dict) -> str:
    """How a claim's reference cell is named in the tables: ``report: label``."""
    return (
        f"{reference['report']}: {cell_label(reference['variant'], reference.get('match', 'none'))}"
    )


def seed_deltas(text: str) -> list[float]:
    """A comparison table's ``seed_deltas`` (``1:+0.66;2:+0.99``) as the Δ per seed."""
    return [float(part.split(":")[1]) for part in str(text).split(";") if ":" in part]


def _reference_test(claim, mine, theirs, reference, references, budget, task: Task) -> dict:
    """This experiment's per-seed Δ at one size and budget against the reference report's
    at the same budget: Welch's interval of the difference of their means, and the
    equivalence of the two within ±margin."""
    table, same_corpus = references[reference["report"]]
    ref_label = cell_label(reference["variant"], reference.get("match", "none"))
    there = table[(table["label"] == ref_label) & (table["budget"] == budget)]
    here, converged = paired_deltas(mine, theirs, task)
    untestable = None
    if not same_corpus:
        untestable = f"{reference['report']} was trained on another corpus or tokenizer"
    elif len(there) != 1:
        untestable = f"{reference['report']} has no one row of `{ref_label}` at {budget:,} steps"
    if untestable:
        return {
            "seeds": len(here),
            "converged": False,
            "verdict": Verdict.UNTESTABLE,
            "reason": untestable,
        }
    other = seed_deltas(there["seed_deltas"].iloc[0])
    theirs_converged = bool(flag(there["converged"]).all())
    return {
        **difference_test(here, other, claim["margin"], claim["expect"]),
        "converged": bool(len(converged)) and bool(converged.all()) and theirs_converged,
    }


def paired_deltas(
    mine: pd.DataFrame, theirs: pd.DataFrame, task: Task = TRANSLATION
) -> tuple[list, pd.Series]:
    """The ``task``'s test measure of ``mine`` minus ``theirs`` per seed both finished, and
    those runs' converged flags (of both cells)."""
    paired = mine[~diverged(mine)].merge(theirs[~diverged(theirs)], on="seed", suffixes=("", "_b"))
    converged = pd.concat([flag(paired["converged"]), flag(paired["converged_b"])])
    m = f"test_{task.measure}"
    return list(paired[m] - paired[f"{m}_b"]), converged


def difference_test(here: list, other: list, margin: float, expect: str = "same") -> dict:
    """Two experiments' per-seed Δs, whose seeds do not pair: Welch's estimate and interval
    of the difference of their means, and whether they agree within ±``margin`` (two
    one-sided tests, ``p``) or lie outside it (``p_against``)."""
    estimate, _, _ = stats.welch(here, other)
    low, high = stats.difference_interval(here, other, stats.CONFIDENCE)
    test_low, test_high = stats.difference_interval(here, other, test_level(expect))
    enough = len(here) >= 2 and len(other) >= 2
    return {
        "seeds": len(here),
        "estimate": estimate,
        "low": low,
        "high": high,
        "test_low": test_low,
        "test_high": test_high,
        "p": stats.difference_equivalence_p(here, other, margin),
        "p_against": stats.difference_outside_p(here, other, margin),
        "detectable": stats.difference_detectable_margin(here, other),
        "verdict": math.nan if enough else Verdict.CLAIM_ONE_SEED,
    }


def _measure_test(claim: dict, mine: pd.DataFrame, theirs: pd.DataFrame, task: Task) -> dict:
    """The test of a claim on the ``task``'s test measure at one size and budget, over the
    seeds both cells finished."""
    paired = mine[~diverged(mine)].merge(theirs[~diverged(theirs)], on="seed", suffixes=("", "_b"))
    m, second = f"test_{task.measure}", f"test_{task.second}"
    deltas = list(paired[m] - paired[f"{m}_b"])
    n, expect, margin = len(deltas), claim["expect"], claim["margin"]
    mean, low, high = stats.mean_interval(deltas)
    test_low, test_high = stats.interval(deltas, test_level(expect))
    beside = stats.mean_interval(paired[second] - paired[f"{second}_b"])
    loss = stats.mean_interval(paired["best_valid_loss"] - paired["best_valid_loss_b"])
    if expect in ("worse", "better"):
        side = "less" if expect == "worse" else "greater"
        p = stats.directional_p(deltas, 0.0, side)
        p_against = stats.directional_p(deltas, 0.0, OTHER_SIDE[side])
        detectable = stats.detectable_difference(deltas)
    elif expect == "not_better":
        p = stats.t_p_value(deltas, margin, "less")
        p_against = stats.directional_p(deltas, 0.0, "greater")
        detectable = stats.detectable_margin(deltas, equivalence=False)
    else:
        p = stats.equivalence_p_value(deltas, margin)
        p_against = stats.outside_p_value(deltas, margin)
        detectable = stats.detectable_margin(deltas, equivalence=True)
    converged = pd.concat([flag(paired["converged"]), flag(paired["converged_b"])])
    return {
        "seeds": n,
        "estimate": mean,
        "low": low,
        "high": high,
        "test_low": test_low,
        "test_high": test_high,
        **dict(zip(stats.interval_columns(f"delta_{task.second}"), beside, strict=True)),
        **dict(zip(stats.interval_columns("delta_loss"), loss, strict=True)),
        "p": p,
        "p_against": p_against,
        "detectable": detectable,
        "converged": bool(len(converged)) and bool(converged.all()),
        "verdict": (
            math.nan if n >= 2 else Verdict.CLAIM_ONE_SEED if n == 1 else Verdict.CLAIM_NO_PAIR
        ),
    }


def _params_rows(claim: dict, runs: pd.DataFrame, label: str) -> list[dict]:
    """A claim about quality per parameter: per budget and size, the variant's multiple on
    qk's scaling law, or one row per budget saying why it cannot be tested."""
    rows = []
    for budget, here in runs.groupby("budget", sort=True):
        table, samples = scaling.worth(here)
        sizes = scaling.model_sizes(here)
        if not samples:
            no_law = scaling.no_law(table)
            reason = f"at {budget:,} steps {no_law}" if no_law else None
            rows.append(
                {
                    **claim,
                    "size": ", ".join(here["size"].unique()),
                    "budget": budget,
                    "seeds": int(here.loc[here["label"] == label, "seed"].nunique()),
                    "converged": bool(flag(here["converged"]).all()),
                    "verdict": Verdict.UNTESTABLE,
                    "reason": reason or untestable_reason(here, label, sizes),
                }
            )
            continue
        table = table.set_index(["label", "size"])
        for size in here.loc[here["label"] == label, "size"].unique():
            if (label, size) not in samples:
                continue
            converged = bool(flag(here.loc[here["size"] == size, "converged"]).all())
            cell = {**claim, "size": size, "budget": budget, "converged": converged}
            worths = samples[label, size]
            rows.append({**cell, **_bootstrap_test(claim, table.loc[(label, size)], worths)})
    return rows


def untestable_reason(runs: pd.DataFrame, label: str, sizes: int) -> str:
    """Why a claim about quality per parameter has no test: qk's scaling law needs three
    sizes; and what the one comparison there is could say."""
    mine = runs[runs["label"] == label]
    qk = runs[runs["label"] == BASELINE]
    saved = 1 - mine["params_total"].mean() / qk["params_total"].mean()
    return (
        f"quality per parameter is read off qk's scaling law, which needs at least "
        f"{scaling.MIN_SIZES} model sizes; this experiment has {sizes}. At one size "
        f"`{label}` saves {saved:.1%} of the weights, worth little on any scaling curve, so "
        f"its Δ {task_of_table(runs.columns).short} against qk does not test the claim"
    )


def _bootstrap_test(claim: dict, row: pd.Series, samples: np.ndarray) -> dict:
    """A params claim's test on its cell's resampled multiples (scaling.worth's): each
    p-value the share of resamples on the null's side, a resample without a worth (NaN)
    counted on it in both tests."""
    expect, margin = claim["expect"], claim["margin"]
    low, high = scaling.interval(samples)
    test_low, test_high = scaling.interval(samples, test_level(expect))
    below = lambda x: float(np.mean(~(samples > x)))  # noqa: E731  NaN is not above x
    above = lambda x: float(np.mean(~(samples < x)))  # noqa: E731  NaN is not below x
    twice = lambda share: min(1.0, 2 * share)  # noqa: E731  a side of a two-sided question
    if expect in ("worse", "better"):
        null_side, other_side = (above, below) if expect == "worse" else (below, above)
        p, p_against = twice(null_side(1.0)), twice(other_side(1.0))
    elif expect == "not_better":
        p, p_against = above(1 + margin), twice(below(1.0))
    else:
        p = max(below(1 - margin), above(1 + margin))
        p_against = twice(min(below(1 + margin), above(1 - margin)))
    return {
        "seeds": int(row["seeds"]),
        "estimate": float(row["multiple"]),
        "low": float(low),
        "high": float(high),
        "test_low": float(test_low),
        "test_high": float(test_high),
        "p": p,
        "p_against": p_against,
        "detectable": math.nan,
        "verdict": math.nan,
    }


def outcome(row: dict) -> Verdict:
    """A tested claim's outcome, every word from a Holm-corrected test of the same family:
    replicated where the claim's own test rejects; else opposite (a difference of the other
    sign; for not better: better) or outside the margin (an equivalence) where the test of
    that outcome rejects; else not resolved."""
    if row["p_holm"] < stats.ALPHA:
        return Verdict.REPLICATED
    if row["p_against_holm"] < stats.ALPHA:
        return Verdict.OUTSIDE if row["expect"] == "same" else Verdict.OPPOSITE
    return Verdict.UNRESOLVED
