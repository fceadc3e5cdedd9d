"""Scaling: validation loss against non-embedding parameters, a power law per variant, and what
a variant is worth in qk parameters.

Per variant, loss(N) = a · N^(−b) is fitted by least squares in log-log space over every run
(all sizes and seeds). A variant's run at N parameters reaching loss L is then worth
N_qk = (a_qk / L)^(1 / b_qk) parameters of qk: the ``multiple`` N_qk / N is above 1 when the
variant does more with its parameters than qk, below 1 when qk needs fewer to do as well.
"""

import numpy as np
import pandas as pd

COLUMNS = ["label", "size", "params_non_embedding", "loss", "a", "b", "qk_params", "multiple"]


def fit_power_law(params, loss) -> tuple[float, float]:
    """(a, b) of loss = a · params^(−b); needs two or more distinct sizes."""
    x, y = np.log(np.asarray(params, float)), np.log(np.asarray(loss, float))
    if len(np.unique(x)) < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.exp(intercept)), float(-slope)


def qk_equivalent(loss: float, a_qk: float, b_qk: float) -> float:
    """The qk parameter count whose fitted loss is ``loss``."""
    if not (np.isfinite(a_qk) and np.isfinite(b_qk)) or b_qk <= 0:
        return float("nan")
    return float((a_qk / loss) ** (1.0 / b_qk))


def scaling_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant label, size): mean loss over seeds, the variant's fit, and its
    worth in qk parameters. ``runs`` needs label, size, params_non_embedding, best_valid_loss."""
    ok = runs[runs["diverged"].astype(str) != "True"]
    fits = {
        label: fit_power_law(group["params_non_embedding"], group["best_valid_loss"])
        for label, group in ok.groupby("label")
    }
    a_qk, b_qk = fits.get("qk", (float("nan"), float("nan")))
    cells = ok.groupby(["label", "size"], sort=False)[["params_non_embedding", "best_valid_loss"]]
    rows = []
    for (label, size), cell in cells.mean().iterrows():
        qk_params = qk_equivalent(cell["best_valid_loss"], a_qk, b_qk)
        rows.append({
            "label": label, "size": size, "params_non_embedding": cell["params_non_embedding"],
            "loss": cell["best_valid_loss"], "a": fits[label][0], "b": fits[label][1],
            "qk_params": qk_params, "multiple": qk_params / cell["params_non_embedding"],
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
