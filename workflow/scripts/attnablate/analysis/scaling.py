"""Scaling: validation loss against non-embedding parameters, a power law per variant, and what
a variant is worth in qk parameters.

Per variant, loss(N) = a · N^(−b) is fitted by least squares in log-log space through the
mean loss of each size (over its seeds), and only with at least three sizes: a line through
two points always fits and says nothing. A variant's run at N parameters reaching loss L is
then worth N_qk = (a_qk / L)^(1 / b_qk) parameters of qk: the ``multiple`` N_qk / N is above
1 when the variant does more with its parameters than qk, below 1 when qk needs fewer to do
as well. Its 95% interval comes from a bootstrap over seeds: every cell's seeds are resampled
with replacement, qk's law refitted, and the multiple recomputed.
"""

import numpy as np
import pandas as pd

from attnablate.io import flag
from attnablate.model.variants import BASELINE

MIN_SIZES = 3  # sizes a power law needs
RESAMPLES = 1000  # bootstrap resamples of the seeds
SEED = 0  # of the bootstrap: the same interval on every rerun
COLUMNS = [
    "label",
    "size",
    "seeds",
    "params_non_embedding",
    "loss",
    "a",
    "b",
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


def qk_equivalent(loss, a_qk: float, b_qk: float):
    """The qk parameter count whose fitted loss is ``loss`` (a number or an array)."""
    if not (np.isfinite(a_qk) and np.isfinite(b_qk)) or b_qk <= 0:
        return np.full_like(np.asarray(loss, float), np.nan)[()]
    return (a_qk / np.asarray(loss, float)) ** (1.0 / b_qk)


def scaling_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant label, size): mean loss over seeds, the variant's fit, and its
    worth in qk parameters with a bootstrap interval. ``runs`` needs label, size, seed,
    params_non_embedding, best_valid_loss and diverged."""
    return worth(runs)[0]


def worth(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """The scaling table, and (label, size) -> the bootstrap resamples of its multiple (what
    its runs are worth in qk parameters, over its own count): the distribution a claim about
    quality per parameter is tested on, empty where qk's law cannot be fitted (fewer than
    three sizes). One fit and one bootstrap for both."""
    cells, fits, samples = _fitted(runs)
    a_qk, b_qk = fits.get(BASELINE, (float("nan"), float("nan")))
    rows = []
    for i, (label, size, params, losses) in enumerate(cells):
        qk_params = float(qk_equivalent(losses.mean(), a_qk, b_qk))
        low = high = float("nan")
        if samples is not None:
            low, high = np.nanpercentile(samples[:, i] / params, [2.5, 97.5])
        rows.append(
            {
                "label": label,
                "size": size,
                "seeds": len(losses),
                "params_non_embedding": params,
                "loss": losses.mean(),
                "a": fits[label][0],
                "b": fits[label][1],
                "qk_params": qk_params,
                "multiple": qk_params / params,
                "multiple_low": low,
                "multiple_high": high,
            }
        )
    resampled = (
        {} if samples is None else {(c[0], c[1]): samples[:, i] / c[2] for i, c in enumerate(cells)}
    )
    return pd.DataFrame(rows, columns=COLUMNS), resampled


def _fitted(runs: pd.DataFrame):
    """The cells (label, size, parameters, losses over seeds), each label's fit, and the
    bootstrap resamples of every cell's qk equivalent (None without a qk fit)."""
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
    return cells, fits, _bootstrap(cells) if np.isfinite(a_qk) else None


def _bootstrap(cells: list) -> np.ndarray:
    """(RESAMPLES, cells): each cell's qk-parameter equivalent under resampled seeds."""
    rng = np.random.default_rng(SEED)
    qk = [i for i, c in enumerate(cells) if c[0] == BASELINE]
    out = np.empty((RESAMPLES, len(cells)))
    for r in range(RESAMPLES):
        means = np.array([rng.choice(c[3], size=len(c[3])).mean() for c in cells])
        a, b = fit_power_law([cells[i][2] for i in qk], means[qk])
        out[r] = qk_equivalent(means, a, b)
    return out
