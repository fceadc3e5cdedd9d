"""The statistics of the comparison: Holm's correction and sacrebleu's paired tests on
systems known to differ and on identical systems."""

import math
import random

import pytest

from attnablate.analysis.significance import correct, holm
from attnablate.analysis.stats import detectable_difference, mean_interval
from attnablate.evaluate.compare import paired_tests

REFS = (
    "In the beginning was the Word, and the Word was with God, and the Word was God.\n"
    "The same was in the beginning with God.\n"
    "All things were made through him.\n"
    "Without him was not anything made that has been made.\n"
    "In him was life, and the life was the light of men.\n"
    "The light shines in the darkness, and the darkness hasn't overcome it.\n"
).splitlines() * 20


def degrade(lines, share, seed):
    """Replace a share of the sentences by a poor translation."""
    rng = random.Random(seed)
    return [("the the of and" if rng.random() < share else line) for line in lines]


def test_holm_adjusts_step_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_clearly_different_systems_are_significant():
    good, bad = degrade(REFS, 0.05, 1), degrade(REFS, 0.6, 2)
    [row] = paired_tests(good, {"bad": bad}, REFS)
    assert row["delta_bleu"] < -10
    assert row["delta_ci_low"] <= row["delta_bleu"] <= row["delta_ci_high"] < 0
    assert row["p_ar"] < 0.01 and row["p_bootstrap"] < 0.01


def test_an_identical_system_is_not_significant():
    system = degrade(REFS, 0.3, 3)
    [row] = paired_tests(system, {"copy": list(system)}, REFS)
    assert row["delta_bleu"] == 0 and row["delta_ci_low"] == row["delta_ci_high"] == 0
    assert row["p_ar"] == row["p_bootstrap"] == 1.0


def test_paired_tests_are_reproducible():
    a, b = degrade(REFS, 0.2, 4), degrade(REFS, 0.25, 5)
    assert paired_tests(a, {"b": b}, REFS) == paired_tests(a, {"b": b}, REFS)


def test_holm_family_is_every_comparison_at_a_size_seed_and_budget_across_match_settings():
    """The matched cell is alone in its compare job, but not in its family: it is corrected
    together with the unmatched comparisons of the same size, seed and budget."""

    def cell(seed, match, variant, p_ar, p_bootstrap, budget="800"):
        return {
            "size": "s",
            "seed": seed,
            "budget": budget,
            "match": match,
            "variant": variant,
            "p_ar": p_ar,
            "p_bootstrap": p_bootstrap,
        }

    cells = [
        cell("1", "none", "a", 0.01, 0.02),
        cell("1", "none", "b", 0.04, 0.5),
        cell("1", "total", "a", 0.02, 0.01),
        cell("2", "total", "a", 0.02, 0.01),
        {"size": "s", "seed": "1", "budget": "800", "match": "none", "variant": "c"}
        | {"diverged_sides": "c"},
        cell("1", "none", "a", 0.01, 0.02, budget="1600"),  # another budget: its own family
    ]
    rows = correct(cells)
    assert [r.get("holm_family") for r in rows] == [3, 3, 3, 1, None, 1]
    assert rows[2]["p_ar_holm"] == pytest.approx(0.04)  # 2 × 0.02: ranked second of three
    assert rows[0]["p_ar_holm"] == pytest.approx(0.03)
    assert rows[3]["p_ar_holm"] == pytest.approx(0.02)  # alone at seed 2
    assert "p_ar_holm" not in rows[4]


def test_mean_interval_over_seeds():
    mean, low, high = mean_interval([2.0])
    assert mean == 2.0 and math.isnan(low) and math.isnan(high)  # one seed: no interval
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2.0 - 4.302653 * 1.0 / 3**0.5)
    assert high == pytest.approx(2.0 + 4.302653 / 3**0.5)


def test_detectable_difference_grows_with_spread_and_shrinks_with_seeds():
    assert math.isnan(detectable_difference([1.0]))
    three = detectable_difference([1.0, 2.0, 3.0])  # sd 1, n 3: exact (tests/test_claims.py)
    assert three > (4.302653 + 1.060660) / 3**0.5  # above the normal approximation
    assert detectable_difference([1.0, 2.0, 3.0] * 3) < three
    assert detectable_difference([2.0, 4.0, 6.0]) == pytest.approx(2 * three)
