"""The answer over the training budget: each variant's difference from ``qk`` at every budget
of a ladder, where it changes sign seed by seed, and whether a doubling of the budget still
paid (the convergence rule on a ladder).

Every budget's runs are annealed (their cooldown ends at zero learning rate), so each point
is what a run of that length gives; the stable run's own validations, at the peak rate, are
not annealed and are shown apart.
"""

import math

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.significance import holm
from attnablate.convergence import CONVERGENCE_GAIN
from attnablate.io import flag
from attnablate.model.variants import BASELINE

SEED_CELL = ["size", "variant", "match", "seed"]  # one seed of a variant, over its budgets


def doubling_gains(runs: pd.DataFrame) -> pd.Series:
    """Per run, the relative improvement of its annealed validation loss when its budget is
    doubled: (loss at B − loss at 2B) / loss at B, from the run of the same seed at 2B (or at
    the nearest budget above 2B within 1%); NaN where the ladder has no such budget or a side
    diverged. Indexed like ``runs``."""
    gains = pd.Series(math.nan, index=runs.index, dtype=float)
    loss = pd.to_numeric(runs["best_valid_loss"]).where(~flag(runs["diverged"]))
    for _, here in runs.groupby(SEED_CELL, sort=False):
        by_budget = dict(zip(here["budget"].astype(int), loss[here.index]))
        for index, budget in zip(here.index, here["budget"].astype(int)):
            twice = doubled(budget, by_budget)
            if twice is not None:
                before, after = by_budget[budget], by_budget[twice]
                gains[index] = (before - after) / before
    return gains


def doubled(budget: int, budgets) -> int | None:
    """The budget of ``budgets`` that doubles ``budget``: 2B, or the nearest above it within
    1%; None where the ladder has none."""
    twice = [b for b in budgets if 2 * budget <= b <= 2.02 * budget]
    return min(twice) if twice else None


def converged(gain: float) -> bool:
    """The convergence rule on a ladder: doubling the budget improved the annealed
    validation loss, by less than CONVERGENCE_GAIN. A doubling that made it worse is
    overfitting, not convergence."""
    return bool(0 <= gain < CONVERGENCE_GAIN)


def overfitting(gain: float) -> bool:
    """Doubling the budget made the annealed validation loss worse."""
    return bool(gain < 0)


def budget_axis(runs: pd.DataFrame) -> pd.DataFrame:
    """Per budget (ascending): its steps, the mean target tokens and epochs its runs saw."""
    finished = runs[~flag(runs["diverged"])]
    axis = finished.groupby("budget")[["tokens", "epochs_seen"]].mean()
    return axis.reset_index().sort_values("budget")


def seed_deltas(
    runs: pd.DataFrame, label: str, size: str, column: str, against: str = BASELINE
) -> pd.DataFrame:
    """``label`` − ``against`` (qk unless given) of ``column`` (test_bleu, best_valid_loss)
    per seed (rows) and budget (columns), paired by seed; a diverged side leaves a gap."""
    here = runs[(runs["size"] == size) & ~flag(runs["diverged"])]
    mine = here[here["label"] == label].pivot(index="seed", columns="budget", values=column)
    base = here[here["label"] == against].pivot(index="seed", columns="budget", values=column)
    return (mine - base).dropna(how="all").sort_index(axis=1)


def sign_change(deltas: pd.Series) -> int | None:
    """The first budget at which a seed's Δ has the opposite sign of its Δ at the smallest
    budget, or None (no change of sign within the ladder)."""
    deltas = deltas.dropna()
    if len(deltas) < 2 or deltas.iloc[0] == 0:
        return None
    first = math.copysign(1, deltas.iloc[0])
    for budget, delta in deltas.iloc[1:].items():
        if delta * first < 0:
            return int(budget)
    return None


def sign_changes(deltas: pd.DataFrame) -> dict:
    """seed -> the budget where its Δ changes sign (or None), for seed_deltas' table."""
    return {int(seed): sign_change(row) for seed, row in deltas.iterrows()}


def sign_change_text(changes: dict) -> str:
    """Per seed, where Δ changes sign, with the spread over seeds, in words."""
    if not changes:
        return "no finished pair"
    found = sorted(b for b in changes.values() if b is not None)
    if not found:
        return "no change of sign within the ladder"
    per_seed = ", ".join(
        f"seed {seed}: {'none' if b is None else f'{b:,}'}" for seed, b in changes.items()
    )
    spread = f"{found[0]:,}" if found[0] == found[-1] else f"{found[0]:,} to {found[-1]:,}"
    return f"changes sign by {spread} steps in {len(found)} of {len(changes)} seeds ({per_seed})"


def interval_sign_change(deltas: pd.DataFrame) -> int | None:
    """The first budget at which the 95% interval over seeds of Δ lies wholly on the other
    side of zero from the mean Δ at the smallest budget, or None. ``deltas``: seed_deltas'."""
    budgets = [b for b in deltas.columns if deltas[b].notna().any()]
    if not budgets or deltas[budgets[0]].mean() == 0:
        return None
    first = math.copysign(1, deltas[budgets[0]].mean())
    for budget in budgets[1:]:
        _, low, high = stats.mean_interval(list(deltas[budget].dropna()))
        if (first > 0 and high < 0) or (first < 0 and low > 0):
            return int(budget)
    return None


def interval_sign_text(deltas: pd.DataFrame) -> str:
    """Where the interval of Δ crosses to the other side of zero, in words."""
    budgets = [int(b) for b in deltas.columns if deltas[b].notna().any()]
    if len(budgets) < 2:
        return "one budget: no change of sign to see"
    found = interval_sign_change(deltas)
    if found is None:
        return f"no change of sign up to {budgets[-1]:,} steps"
    return f"on the other side of zero from {found:,} steps (its sign at {budgets[0]:,})"


def settling(deltas: pd.DataFrame, margin: float) -> list[dict]:
    """The rule on Δ itself: per budget B that doubles another B/2 of the ladder (doubled), the
    change Δ(B) − Δ(B/2) seed by seed, its mean and 90% interval (the two one-sided tests'),
    and the p-value of the two one-sided tests of it lying within ±``margin``; ``settled``
    where that p is below ALPHA alone, until settled_family corrects it over the claims.
    ``deltas``: seed_deltas'."""
    rows = []
    budgets = [int(b) for b in deltas.columns]
    for half in budgets:
        budget = doubled(half, budgets)
        if budget is None:
            continue
        change = list((deltas[budget] - deltas[half]).dropna())
        low, high = stats.interval(change, 1 - 2 * stats.ALPHA)
        p = stats.equivalence_p_value(change, margin) if len(change) > 1 else math.nan
        rows.append(
            {
                "budget": budget,
                "half": half,
                "mean": sum(change) / len(change) if change else math.nan,
                "low": low,
                "high": high,
                "seeds": len(change),
                "margin": margin,
                "p": p,
                "p_holm": p,
                "family": 1,
                "settled": bool(p < stats.ALPHA),
            }
        )
    return rows


def settled_family(lasts: list[dict]) -> None:
    """The claims' settling tests at the largest budget (each claim's last settling row) as
    one family, like the claims' own tests: Holm over those with a p-value, in place;
    ``settled`` then needs the corrected p below ALPHA."""
    tested = [row for row in lasts if not math.isnan(row["p"])]
    for row, p in zip(tested, holm([row["p"] for row in tested]), strict=True):
        row.update(p_holm=p, family=len(tested), settled=bool(p < stats.ALPHA))


def settling_text(rows: list[dict]) -> str:
    """Whether the answer has settled at the largest budget, with the change, its 90% interval
    and the two one-sided tests' p (and Holm's over the claims, where they are a family)."""
    if not rows:
        return "no budget twice another: not judged"
    last = rows[-1]
    change = (
        f"Δ({last['budget']:,}) − Δ({last['half']:,}) = {last['mean']:+.2f}, 90% interval "
        f"[{last['low']:+.2f}, {last['high']:+.2f}] over {last['seeds']} seeds"
    )
    tost = f"TOST p {stats.p_is(last['p'])}"
    if last["family"] > 1:
        tost += f" alone, Holm p {stats.p_is(last['p_holm'])} over the {last['family']} claims"
    if last["settled"]:
        return f"settled: {change}, within ±{last['margin']:g} ({tost})"
    return f"still moving: {change}, not shown within ±{last['margin']:g} ({tost})"


def stable_deltas(stable: pd.DataFrame, label: str, size: str) -> pd.DataFrame:
    """Along the stable runs (not annealed): variant − qk validation loss at every validation
    step, paired by seed, with its mean and 95% interval over seeds (step, mean, low, high,
    seeds)."""
    here = stable[stable["size"] == size]
    loss = lambda lab: here[here["label"] == lab].pivot(  # noqa: E731
        index="step", columns="seed", values="valid_loss"
    )
    deltas = (loss(label) - loss(BASELINE)).dropna(how="all")
    rows = []
    for step, row in deltas.iterrows():
        mean, low, high = stats.mean_interval(list(row.dropna()))
        rows.append(
            {"step": int(step), "mean": mean, "low": low, "high": high, "seeds": row.count()}
        )
    return pd.DataFrame(rows, columns=["step", "mean", "low", "high", "seeds"])
