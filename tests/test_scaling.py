"""The power-law fit and the qk-parameter equivalent, on synthetic points."""

import math

import pandas as pd
import pytest

from attnablate.analysis.scaling import fit_power_law, qk_equivalent, scaling_table
from attnablate.report.summary import scaling_sentences


def test_power_law_is_recovered_from_exact_points():
    params = [1e5, 3e5, 1e6, 3e6]
    a, b = fit_power_law(params, [20 * n**-0.3 for n in params])
    assert a == pytest.approx(20) and b == pytest.approx(0.3)


def test_fewer_than_three_sizes_are_not_fitted():
    """A line through two points always fits: no law, no multiple, one sentence saying why."""
    a, b = fit_power_law([1e5, 1e5], [3.0, 3.1])
    assert math.isnan(a) and math.isnan(b)
    assert math.isnan(fit_power_law([1e5, 1e6], [3.0, 2.5])[0])
    table = scaling_table(runs_of({"s": 1e5, "m": 1e6}, seeds=[1, 2]))
    assert table["multiple"].isna().all() and table["multiple_low"].isna().all()
    [line] = scaling_sentences(table, sizes=2)
    assert "no power law is fitted" in line and "at least three" in line


def loss(n):
    return 20 * n**-0.3


def runs_of(sizes: dict, seeds: list, noise: float = 0.0) -> pd.DataFrame:
    """qk on the law, and a variant that at n parameters does what qk does at n/2; seed s
    shifts both losses by noise × (s − mean seed)."""
    rows = []
    centre = sum(seeds) / len(seeds)
    for size, n in sizes.items():
        for seed in seeds:
            shift = noise * (seed - centre)
            for label, worth in (("qk", n), ("v", n / 2)):
                rows.append(
                    {
                        "label": label,
                        "size": size,
                        "seed": seed,
                        "params_non_embedding": n,
                        "best_valid_loss": loss(worth) + shift,
                    }
                )
    return pd.DataFrame(rows).assign(diverged=False)


def test_a_variant_as_good_as_half_the_parameters_is_worth_a_multiple_of_half():
    sizes = {"s": 1e5, "m": 1e6, "l": 1e7}
    table = scaling_table(runs_of(sizes, seeds=[1, 2, 3])).set_index(["label", "size"])
    assert table.loc[("qk", "m"), "multiple"] == pytest.approx(1.0)
    assert table.loc[("v", "s"), "multiple"] == pytest.approx(0.5)
    assert table.loc[("v", "m"), "qk_params"] == pytest.approx(5e5)
    assert qk_equivalent(loss(2e6), 20, 0.3) == pytest.approx(2e6)
    # the seeds agree exactly: the bootstrap interval is the point itself
    assert table.loc[("v", "s"), "multiple_low"] == pytest.approx(0.5)
    # seeds that scatter give an interval around the multiple, reproducibly
    noisy = scaling_table(runs_of(sizes, seeds=[1, 2, 3], noise=0.05))
    row = noisy.set_index(["label", "size"]).loc[("v", "m")]
    assert row["multiple_low"] < row["multiple"] < row["multiple_high"]
    assert row["multiple_high"] - row["multiple_low"] > 0.05
    assert noisy.equals(scaling_table(runs_of(sizes, seeds=[1, 2, 3], noise=0.05)))


def test_sizes_trained_at_rates_of_their_own_are_said_so_beside_the_law():
    table = scaling_table(runs_of({"s": 1e5, "m": 1e6, "l": 1e7}, seeds=[1, 2, 3]))
    rates = {"s": 0.00566, "m": 0.004, "l": 0.00283}
    first = scaling_sentences(table, sizes=3, rates=rates)[0]
    assert first.startswith("Scaling: `qk`'s best validation loss falls as N^(")
    assert "peak learning rates of their own (`s` 0.00566, `m` 0.004, `l` 0.00283)" in first
    one_rate = scaling_sentences(table, sizes=3, rates=dict.fromkeys(rates, 0.004))[0]
    assert "learning rate" not in one_rate


def test_a_worth_past_the_laws_range_is_not_a_number_made_up():
    """A law is read from half qk's smallest size to twice its largest: a variant that does
    at 1e7 what qk would need 1e9 for is worth "above the law's range", not 100×, in the
    table and in the summary; one inside the range keeps its count."""
    sizes = {"s": 1e5, "m": 1e6, "l": 1e7}
    runs = runs_of(sizes, seeds=[1, 2, 3], noise=0.01)
    best = (runs["label"] == "v") & (runs["size"] == "l")
    runs.loc[best, "best_valid_loss"] = loss(1e9)
    table = scaling_table(runs).set_index(["label", "size"])
    assert table.loc[("v", "l"), "multiple"] == math.inf
    assert table.loc[("v", "l"), "multiple_low"] == math.inf
    assert table.loc[("v", "m"), "multiple"] == pytest.approx(0.5, rel=0.05)
    lines = scaling_sentences(table.reset_index(), sizes=3)
    assert "read from 50,000 to 20,000,000 (its sizes, and 2× past each end)" in lines[0]
    [large] = [line for line in lines if "at size `l`" in line]
    assert "worth above the law's range (above the law's range to above" in large
    assert "which qk reaches with" not in large


def test_a_law_of_qk_alone_is_said_without_a_list_of_variants():
    runs = runs_of({"s": 1e5, "m": 1e6, "l": 1e7}, seeds=[1, 2])
    lines = scaling_sentences(scaling_table(runs[runs["label"] == "qk"]), sizes=3)
    assert lines == [
        "Scaling: `qk`'s best validation loss falls as N^(−0.300) in non-embedding parameters "
        "N, read from 50,000 to 20,000,000 (its sizes, and 2× past each end)."
    ]
