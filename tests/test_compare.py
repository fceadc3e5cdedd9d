"""The statistics of the comparison: Holm's correction and sacrebleu's paired tests on
systems known to differ and on identical systems."""

import random

import pytest

from attnablate.compare import holm, paired_tests
from attnablate.report import mean_interval

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
    assert row["p_ar"] < 0.01 and row["p_bootstrap"] < 0.01 and row["p_ar_holm"] < 0.05


def test_an_identical_system_is_not_significant():
    system = degrade(REFS, 0.3, 3)
    [row] = paired_tests(system, {"copy": list(system)}, REFS)
    assert row["delta_bleu"] == 0 and row["delta_ci_low"] == row["delta_ci_high"] == 0
    assert row["p_ar"] == row["p_bootstrap"] == row["p_ar_holm"] == 1.0


def test_paired_tests_are_reproducible():
    a, b = degrade(REFS, 0.2, 4), degrade(REFS, 0.25, 5)
    assert paired_tests(a, {"b": b}, REFS) == paired_tests(a, {"b": b}, REFS)


def test_mean_interval_over_seeds():
    assert mean_interval([2.0]) == (2.0, 2.0, 2.0)
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2.0 - 4.303 * 1.0 / 3**0.5)
    assert high == pytest.approx(2.0 + 4.303 / 3**0.5)
