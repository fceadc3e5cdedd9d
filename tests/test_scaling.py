"""The power-law fit and the qk-parameter equivalent, on synthetic points."""

import math

import pandas as pd
import pytest

from attnablate.scaling import fit_power_law, qk_equivalent, scaling_table


def test_power_law_is_recovered_from_exact_points():
    params = [1e5, 3e5, 1e6, 3e6]
    a, b = fit_power_law(params, [20 * n**-0.3 for n in params])
    assert a == pytest.approx(20) and b == pytest.approx(0.3)


def test_one_size_cannot_be_fitted():
    a, b = fit_power_law([1e5, 1e5], [3.0, 3.1])
    assert math.isnan(a) and math.isnan(b)


def test_a_variant_as_good_as_half_the_parameters_is_worth_a_multiple_of_half():
    def loss(n):
        return 20 * n**-0.3

    rows = []
    for size, n in (("s", 1e5), ("m", 1e6)):
        rows.append(
            {"label": "qk", "size": size, "params_non_embedding": n, "best_valid_loss": loss(n)}
        )
        # this variant at n parameters only does what qk does at n/2
        rows.append(
            {"label": "v", "size": size, "params_non_embedding": n, "best_valid_loss": loss(n / 2)}
        )
    runs = pd.DataFrame(rows).assign(diverged=False)
    table = scaling_table(runs).set_index(["label", "size"])
    assert table.loc[("qk", "m"), "multiple"] == pytest.approx(1.0)
    assert table.loc[("v", "s"), "multiple"] == pytest.approx(0.5)
    assert table.loc[("v", "m"), "qk_params"] == pytest.approx(5e5)
    assert qk_equivalent(loss(2e6), 20, 0.3) == pytest.approx(2e6)
