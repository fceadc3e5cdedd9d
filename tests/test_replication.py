"""The same claims on another pair, set beside the replicated report's (analysis/replication.py):
the difference of two experiments' Δs, Welch's interval, its own Holm family, and the words."""

import pandas as pd
import pytest
from scipy import stats as scipy_stats
from test_claims import runs_of

from attnablate.analysis.replication import replication_table
from attnablate.analysis.verdict import Verdict
from attnablate.report.replication import replication_markdown

REPLICATES = {"report": "reports/default", "margin": 1.0}
CLAIMS = [
    {"claim": "QQ is worse", "variant": "qq@enc", "expect": "worse"},
    {"claim": "V is worse", "variant": "nov@enc", "expect": "worse"},
    # neither has one Δ against qk in the other report's comparison table: left out
    {
        "claim": "V is like QQ",
        "variant": "nov@enc",
        "against": "qq@enc",
        "expect": "same",
        "margin": 1,
    },
    {
        "claim": "O per weight",
        "variant": "noo@enc",
        "measure": "params",
        "expect": "same",
        "margin": 0.2,
    },
]


def there(deltas: dict, budget=1000, converged=True) -> pd.DataFrame:
    """A replicated report's comparison table: label -> its Δ per seed."""
    return pd.DataFrame(
        [
            {
                "label": label,
                "size": "small",
                "budget": budget,
                "seed_deltas": ";".join(f"{s}:{d:+.4f}" for s, d in enumerate(values, start=1)),
                "converged": converged,
            }
            for label, values in deltas.items()
        ]
    )


def test_each_claim_is_set_beside_the_other_pairs_delta_with_welchs_interval():
    qk = [20.0, 21.0, 22.0]
    mine = [-1.1, -0.9, -1.0]
    here = {"qk": qk, "qq@enc": [q + d for q, d in zip(qk, mine)], "nov@enc": [q - 0.5 for q in qk]}
    here["noo@enc"] = qk
    other = {"qq@enc": [-1.2, -0.8, -1.1], "nov@enc": [-4.0, -5.5, -4.6]}
    table = replication_table(CLAIMS, pd.DataFrame(runs_of(here)), REPLICATES, there(other))
    assert list(table["claim"]) == ["QQ is worse", "V is worse"]
    qq, nov = table.to_dict("records")
    assert qq["delta"] == pytest.approx(-1.0) and qq["delta_there"] == pytest.approx(
        -1.0333, abs=1e-4
    )
    welch = scipy_stats.ttest_ind(mine, other["qq@enc"], equal_var=False).confidence_interval()
    assert qq["estimate"] == pytest.approx(-1.0 - (-1.0333), abs=1e-4)
    assert (qq["low"], qq["high"]) == pytest.approx((welch.low, welch.high), abs=1e-3)
    assert (qq["family"], nov["family"]) == (2, 2)  # the replication's own family
    assert qq["verdict"] == Verdict.REPLICATED  # within ±1, after Holm over the two
    assert nov["verdict"] == Verdict.OUTSIDE  # −0.5 here, about −4.7 there
    assert nov["p_against_holm"] < 0.05


def test_a_difference_the_seeds_cannot_place_is_not_resolved_with_what_they_could_show():
    qk = [20.0, 21.0, 22.0]
    here = {"qk": qk, "qq@enc": [q + d for q, d in zip(qk, (-3.0, 1.0, 0.5))], "nov@enc": qk}
    other = {"qq@enc": [0.2, -2.5, 1.9], "nov@enc": [0.0, 0.1, -0.1]}
    table = replication_table(CLAIMS[:1], pd.DataFrame(runs_of(here)), REPLICATES, there(other))
    [row] = table.to_dict("records")
    assert row["verdict"] == Verdict.UNRESOLVED and row["detectable"] > 1.0
    lines = "\n".join(replication_markdown(table))
    assert "## Beside `reports/default`" in lines
    assert f"not resolved (could have shown ±{row['detectable']:.2f})" in lines


def test_a_cell_the_replicated_report_lacks_is_said_so():
    qk = [20.0, 21.0, 22.0]
    here = {"qk": qk, "qq@enc": qk, "nov@enc": qk}
    table = replication_table(
        CLAIMS[:1], pd.DataFrame(runs_of(here)), REPLICATES, there({"nov@enc": [0.0] * 3})
    )
    [row] = table.to_dict("records")
    assert row["verdict"] == Verdict.UNTESTABLE
    assert row["reason"] == "reports/default has no one row of qq@enc at small, 1,000 steps"
    assert replication_table([], pd.DataFrame(runs_of(here)), REPLICATES, there({})).empty
