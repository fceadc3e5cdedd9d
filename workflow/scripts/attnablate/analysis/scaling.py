"""Scaling: validation loss against non-embedding parameters, a power law per variant, and what
a variant is worth in qk parameters.

Per variant, loss(N) = a · N^(−b) is fitted by least squares in log-log space through the
mean loss of each size (over its seeds), and only with at least three sizes: a line through
two points always fits and says nothing. A variant's run at N parameters reaching loss L is
then worth N_qk = (a_qk / L)^(1 / b_qk) parameters of qk: the ``multiple`` N_qk / N is above
1 when the variant does more with its parameters than qk, below 1 when qk needs fewer to do
as well. Its 95% interval comes from a bootstrap over seeds: every cell's seeds are resampled
with replacement, qk's law refitted, and the multiple recomputed.

A fit always exists; a law is read only where it describes the points. qk's mean loss must
fall at every step up in size in at least ``FALLS`` of the resamples (a budget too short for
the largest model, or a rate too high for it, leaves its loss above a smaller one's, and a
line through such points reads any loss as any count: a near-flat fit turns a few hundredths
of a nat into a million times the parameters). And a law is read only near its sizes: from
``EXTRAPOLATION`` times below the smallest to as many above the largest; a worth past that
is "below" or "above the law's range", kept as 0 or infinity, so that it still counts
on its side of every threshold inside the range and no number past it is made up. A resample
whose refit does not fall (exponent ≤ 0) has no worth: it counts against every test and
widens both ends of the interval.
"""

import numpy as np
import pandas as pd

from attnablate.analysis.stats import RESAMPLES
from attnablate.io import flag
from attnablate.model.variants import BASELINE

MIN_SIZES = 3  # sizes a power law needs
SEED = 0  # of the bootstrap: the same interval on every rerun
FALLS = 0.975  # share of resamples in which qk's loss must fall at every size: a 95% bound
EXTRAPOLATION = 2.0  # how far past its smallest and largest size a law is read
COLUMNS = [
    "label",
    "size",
    "seeds",
    "params_non_embedding",
    "loss",
    "a",
    "b",
    "falls",
    "qk_params",
    "multiple",
    "multiple_low",
    "multiple_high",
]


def model_sizes(runs: pd.DataFrame) -> int:
    """The distinct model sizes of qk (its non-embedding parameter counts): the points a law
    is fitted through. Presets of one shape at another setting (a learning-rate check) are
    one size."""
    return int(runs.loc[runs["label"] == BASELINE, "params_non_embedding"].nunique())


def fit_power_law(params, loss) -> tuple[float, float]:
    """(a, b) of loss = a · params^(−b); NaN with fewer than three distinct sizes."""
    x, y = np.log(np.asarray(params, float)), np.log(np.asarray(loss, float))
    if len(np.unique(x)) < MIN_SIZES:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.exp(intercept)), float(-slope)


def qk_equivalent(loss, a_qk: float, b_qk: float, span=(0.0, np.inf)):
    """The qk parameter count whose fitted loss is ``loss`` (a number or an array): 0 below
    ``span`` and infinity above it (the law's range, read_span), NaN where the law does not
    fall."""
    loss = np.asarray(loss, float)
    if not (np.isfinite(a_qk) and np.isfinite(b_qk)) or b_qk <= 0:
        return np.full_like(loss, np.nan)[()]
    count = (a_qk / loss) ** (1.0 / b_qk)
    low, high = span[0] * (1 - 1e-9), span[1] * (1 + 1e-9)  # its ends are in it, rounding aside
    return np.where(count < low, 0.0, np.where(count > high, np.inf, count))[()]


def read_span(params) -> tuple[float, float]:
    """The qk parameter counts a law fitted through sizes of ``params`` is read at."""
    return min(params) / EXTRAPOLATION, max(params) * EXTRAPOLATION


def scaling_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant label, size): mean loss over seeds, the variant's fit, and its
    worth in qk parameters with a bootstrap interval. ``runs`` needs label, size, seed,
    params_non_embedding, best_valid_loss and diverged."""
    return worth(runs)[0]


def worth(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """The scaling table, and (label, size) -> the bootstrap resamples of its multiple (what
    its runs are worth in qk parameters, over its own count): the distribution a claim about
    quality per parameter is tested on, empty where qk's law is not read (fewer than three
    sizes, or a loss that does not fall: no_law says why). One fit and one bootstrap for
    both."""
    cells, fits, means = _fitted(runs)
    falls = _falls(cells, means)
    a_qk, b_qk = fits.get(BASELINE, (float("nan"), float("nan")))
    read = means is not None and falls.get(BASELINE, 0.0) >= FALLS
    span = read_span([c[2] for c in cells if c[0] == BASELINE]) if read else (0.0, np.inf)
    samples = _equivalents(cells, means, span) if read else None
    rows = []
    for i, (label, size, params, losses) in enumerate(cells):
        qk_params = float(qk_equivalent(losses.mean(), a_qk, b_qk, span)) if read else np.nan
        low = high = float("nan")
        if read:
            low, high = interval(samples[:, i] / params)
        rows.append(
            {
                "label": label,
                "size": size,
                "seeds": len(losses),
                "params_non_embedding": params,
                "loss": losses.mean(),
                "a": fits[label][0],
                "b": fits[label][1],
                "falls": falls.get(label, np.nan),
                "qk_params": qk_params,
                "multiple": qk_params / params,
                "multiple_low": low,
                "multiple_high": high,
            }
        )
    resampled = {} if not read else {c[:2]: samples[:, i] / c[2] for i, c in enumerate(cells)}
    return pd.DataFrame(rows, columns=COLUMNS), resampled


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of resampled multiples, a resample without a worth (NaN)
    at both ends: as far below and above as the law's range allows."""
    tail = (1 - level) / 2 * 100
    low = np.percentile(np.where(np.isnan(samples), 0.0, samples), tail, method="inverted_cdf")
    high = np.percentile(
        np.where(np.isnan(samples), np.inf, samples), 100 - tail, method="inverted_cdf"
    )
    return float(low), float(high)


def no_law(table: pd.DataFrame) -> str:
    """Why qk's law is not read in a scaling table of three sizes or more (``""`` where it
    is, or where there is no fit): its mean losses per size, the share of resamples in which
    they fall, its exponent."""
    qk = table[table["label"] == BASELINE]
    if not len(qk) or not qk["falls"].iloc[0] < FALLS:
        return ""
    losses = ", ".join(f"{r.size} {r.loss:.3f}" for r in qk.itertuples())
    return (
        f"quality per parameter is read off qk's scaling law, and qk's validation loss is not "
        f"seen to fall with size ({losses}: falling at every size in "
        f"{qk['falls'].iloc[0]:.0%} of the resampled seeds, where {FALLS:.1%} is needed; "
        f"fitted exponent {qk['b'].iloc[0]:+.3f}): a law through these points would read any "
        "loss as any count of qk parameters"
    )


def _fitted(runs: pd.DataFrame):
    """The cells (label, size, parameters, losses over seeds), each label's fit, and the
    bootstrap's resampled mean loss of every cell (None without a qk fit)."""
    ok = runs[~flag(runs["diverged"])]
    cells = [
        (label, size, group["params_non_embedding"].mean(), group["best_valid_loss"].to_numpy())
        for (label, size), group in ok.groupby(["label", "size"], sort=False)
    ]
    fits = {}
    for label in dict.fromkeys(c[0] for c in cells):
        mine = [c for c in cells if c[0] == label]
        fits[label] = fit_power_law([c[2] for c in mine], [c[3].mean() for c in mine])
    a_qk, _ = fits.get(BASELINE, (float("nan"), float("nan")))
    return cells, fits, _resampled_means(cells) if np.isfinite(a_qk) else None


def _resampled_means(cells: list) -> np.ndarray:
    """(RESAMPLES, cells): each cell's mean loss over its seeds resampled with replacement."""
    rng = np.random.default_rng(SEED)
    out = np.empty((RESAMPLES, len(cells)))
    for r in range(RESAMPLES):
        out[r] = [rng.choice(c[3], size=len(c[3])).mean() for c in cells]
    return out


def _falls(cells: list, means: np.ndarray | None) -> dict[str, float]:
    """Label -> the share of resamples in which its mean loss falls at every step up in
    size (labels with a fit only)."""
    if means is None:
        return {}
    shares = {}
    for label in dict.fromkeys(c[0] for c in cells):
        counts = sorted({c[2] for c in cells if c[0] == label})
        if len(counts) >= MIN_SIZES:  # presets of one count (rate checks) are one size
            at = [
                [i for i, c in enumerate(cells) if c[:1] == (label,) and c[2] == n] for n in counts
            ]
            ordered = np.stack([means[:, cols].mean(axis=1) for cols in at], axis=1)
            shares[label] = float(np.mean(np.all(np.diff(ordered, axis=1) < 0, axis=1)))
    return shares


def _equivalents(cells: list, means: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """(RESAMPLES, cells): each cell's qk equivalent under its resample's refitted qk law."""
    qk = [i for i, c in enumerate(cells) if c[0] == BASELINE]
    out = np.empty_like(means)
    for r, row in enumerate(means):
        a, b = fit_power_law([cells[i][2] for i in qk], row[qk])
        out[r] = qk_equivalent(row, a, b, span)
    return out
