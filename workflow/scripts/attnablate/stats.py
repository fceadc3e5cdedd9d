"""Statistics over seeds: the interval a verdict rests on, and the smallest difference the
seeds could have detected when it includes zero.

A seed is one training run of each side, paired by seed (same data order, same test set), so
the unit of evidence is the per-seed difference variant − qk. The per-seed paired tests of
compare.py measure only test-set sampling noise; training noise shows in how the per-seed
differences scatter, which is what these functions use.
"""

import math

from scipy import stats as scipy_stats

CONFIDENCE = 0.95  # two-sided intervals over seeds
POWER = 0.80  # of the smallest detectable difference


def mean_interval(values) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student-t interval over seeds: (mean, low, high). With fewer
    than two values there is no interval: low and high are NaN."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    half = _t(CONFIDENCE, n) * _standard_error(values, mean)
    return mean, mean - half, mean + half


def detectable_difference(values) -> float:
    """The smallest true mean difference that a two-sided 95% t-test over these seeds finds
    with 80% power, given their spread: (t_{0.975, n−1} + t_{0.80, n−1}) · sd / √n. NaN
    with fewer than two seeds (no spread to judge by)."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    t_power = scipy_stats.t.ppf(POWER, n - 1)
    return float((_t(CONFIDENCE, n) + t_power) * _standard_error(values, mean))


def excludes_zero(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0)


def _t(confidence: float, n: int) -> float:
    return float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1))


def _standard_error(values: list[float], mean: float) -> float:
    n = len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
