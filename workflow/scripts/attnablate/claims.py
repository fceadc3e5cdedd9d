"""The published claims, tested point by point.

A claim (config ``claims``) names a variant cell and what the published answer says of it
against ``qk``: ``worse``, ``better``, or ``same`` (about break-even: a difference within
±``break_even_bleu``). Its verdict at each of the experiment's budgets comes from the comparison
frame's 95% interval over seeds of the test-BLEU difference:

- ``replicated``: the interval lies where the claim says (below zero for ``worse``, above for
  ``better``, inside ±margin for ``same``);
- ``contradicted``: the interval lies on the other side (above zero for ``worse``; wholly
  outside ±margin for ``same``);
- ``not resolved at this power``: neither, with the smallest difference the seeds could have
  detected; and with one seed there is no verdict at all.
"""

import math

import pandas as pd

from attnablate.variants import cell_label

EXPECTATIONS = ("worse", "better", "same")
COLUMNS = [
    "claim",
    "expect",
    "size",
    "budget",
    "label",
    "seeds",
    "delta_bleu",
    "delta_low",
    "delta_high",
    "delta_chrf",
    "delta_chrf_low",
    "delta_chrf_high",
    "delta_loss",
    "delta_loss_low",
    "delta_loss_high",
    "detectable",
    "converged",
    "verdict",
]


def judge(expect: str, low: float, high: float, seeds: int, margin: float) -> str:
    """The verdict on one claim from the interval [low, high] over ``seeds`` seeds."""
    if seeds < 2 or math.isnan(low):
        return "no verdict (one seed)" if seeds == 1 else "no verdict (no finished pair)"
    if expect == "same":
        if -margin < low and high < margin:
            return "replicated"
        return "contradicted" if low > margin or high < -margin else "not resolved at this power"
    sign = -1 if expect == "worse" else 1
    if (high < 0) if sign < 0 else (low > 0):
        return "replicated"
    if (low > 0) if sign < 0 else (high < 0):
        return "contradicted"
    return "not resolved at this power"


def claims_table(claims: list[dict], comparison: pd.DataFrame, margin: float) -> pd.DataFrame:
    """One row per claim, size and budget at which its cell was run; a claim whose cell this
    experiment does not run gets one row that says so."""
    rows = []
    for claim in claims:
        label = cell_label(claim["variant"], claim.get("match", "none"))
        cells = comparison[comparison["label"] == label].to_dict("records")
        if not cells:
            rows.append(
                {
                    "claim": claim["claim"],
                    "expect": claim["expect"],
                    "size": "-",
                    "budget": math.nan,
                    "label": label,
                    "seeds": 0,
                    "converged": True,
                    "verdict": "not run in this experiment",
                }
            )
        for row in cells:
            rows.append(
                {
                    "claim": claim["claim"],
                    "expect": claim["expect"],
                    "size": row["size"],
                    "budget": row["budget"],
                    "label": label,
                    "seeds": row["seeds"],
                    **{key: row[key] for key in COLUMNS if key.startswith("delta")},
                    "detectable": row["detectable"],
                    "converged": row["converged"],
                    "verdict": judge(
                        claim["expect"],
                        row["delta_low"],
                        row["delta_high"],
                        int(row["seeds"]),
                        margin,
                    ),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
