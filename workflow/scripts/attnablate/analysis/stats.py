"""Statistics over seeds: the interval a verdict rests on, and the smallest difference the
seeds could have detected when it includes zero.

A seed is one training run of each side, paired by seed (same data order, same test set), so
the unit of evidence is the per-seed difference variant − qk. The per-seed paired tests of
compare.py measure only test-set sampling noise; training noise shows in how the per-seed
differences scatter, which is what these functions use.
"""

import math

from scipy import integrate, optimize
from scipy import stats as scipy_stats

CONFIDENCE = 0.95  # two-sided intervals over seeds
POWER = 0.80  # of the smallest detectable difference
ALPHA = 1 - CONFIDENCE  # of every test over seeds; one-sided tests (TOST) use it on each side
RESAMPLES = 1000  # of a bootstrap over seeds (the scaling law's band and its per-weight tests)
# the smallest p-value a report prints as a number: a bootstrap of RESAMPLES resamples
# cannot resolve a smaller one, and a t-test's tail beyond it changes no verdict
P_SHOWN = 1 / RESAMPLES


def p_is(p: float) -> str:
    """A p-value as the report prints it after "p": "= 0.0123", or "< 0.001" below P_SHOWN
    (a bootstrap's p of 0 says no resample fell on the other side, not that none could)."""
    return f"< {P_SHOWN:g}" if p < P_SHOWN else f"= {p:.3g}"


def interval_columns(measure: str) -> tuple[str, str, str]:
    """A table's columns of one measure's mean and 95% interval over seeds."""
    return (measure, f"{measure}_low", f"{measure}_high")


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


def interval(values, confidence: float) -> tuple[float, float]:
    """The two-sided Student-t interval over seeds at ``confidence`` (NaN below two)."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    half = _t(confidence, len(values)) * _standard_error(values, mean)
    return mean - half, mean + half


def t_p_value(values, null: float = 0.0, alternative: str = "two-sided") -> float:
    """The one-sample t-test's p-value of the mean against ``null``: ``two-sided``,
    ``less`` (the mean is below null) or ``greater``. NaN below two values; with no spread,
    0 or 1 by the side the mean lies on."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    se = _standard_error(values, mean)
    if se == 0:
        t = math.copysign(math.inf, mean - null) if mean != null else 0.0
    else:
        t = (mean - null) / se
    if alternative == "two-sided":
        return float(2 * scipy_stats.t.sf(abs(t), n - 1))
    if alternative == "less":
        return float(scipy_stats.t.cdf(t, n - 1))
    return float(scipy_stats.t.sf(t, n - 1))


def directional_p(values, null: float, side: str) -> float:
    """Twice the one-sided t-test's p-value that the mean lies on ``side`` (``less`` or
    ``greater``) of ``null``, capped at 1: a two-sided test read on one side, so that the two
    sides of one question together keep the error rate of one test."""
    return min(1.0, 2 * t_p_value(values, null, side))


def outside_p_value(values, margin: float) -> float:
    """The test that the mean lies outside ±``margin``, on the side it lies: below 0.05
    exactly where the 95% interval lies wholly outside ±margin."""
    return min(directional_p(values, margin, "greater"), directional_p(values, -margin, "less"))


def equivalence_p_value(values, margin: float) -> float:
    """Two one-sided tests (TOST) of ``−margin < mean < margin``: the larger of their
    p-values; below 0.05 exactly where the 90% interval lies inside ±margin."""
    return max(t_p_value(values, -margin, "greater"), t_p_value(values, margin, "less"))


def detectable_difference(values) -> float:
    """The smallest true mean difference that a two-sided 95% t-test over these seeds finds
    with 80% power, taking their spread as the truth: exact, from the noncentral t
    distribution of the test statistic. NaN with fewer than two seeds (no spread to judge
    by)."""
    n, sd = _spread(values)
    if n < 2:
        return math.nan
    critical = _t(CONFIDENCE, n)

    def power(delta: float) -> float:
        shift = delta * math.sqrt(n) / sd
        upper = scipy_stats.nct.sf(critical, n - 1, shift)
        lower = scipy_stats.nct.cdf(-critical, n - 1, shift)
        return float(upper + (0.0 if math.isnan(lower) else lower))

    return _solve(power, sd, n)


def detectable_margin(values, equivalence: bool) -> float:
    """The smallest margin that these seeds would show a true difference of 0 to lie within
    with 80% power, taking their spread as the truth: for non-superiority (``mean <
    margin``, one-sided at 5%: noncentral t) or, with ``equivalence``, for two one-sided
    tests (``|mean| < margin``: integrated over the sampling distribution of the spread)."""
    n, sd = _spread(values)
    if n < 2:
        return math.nan
    critical = scipy_stats.t.ppf(1 - ALPHA, n - 1)
    se = sd / math.sqrt(n)

    def one_sided(margin: float) -> float:
        return float(scipy_stats.nct.sf(critical, n - 1, margin / se))

    def tost(margin: float) -> float:
        # given the spread s, both tests pass where |mean| < margin − critical · s / √n
        def given(u: float) -> float:
            reach = margin - critical * se * math.sqrt(u / (n - 1))
            return max(0.0, 2 * scipy_stats.norm.cdf(reach / se) - 1)

        chi2 = scipy_stats.chi2(n - 1)
        upper = chi2.ppf(1 - 1e-12)
        value, _ = integrate.quad(lambda u: given(u) * chi2.pdf(u), 0, upper, limit=200)
        return float(value)

    return _solve(tost if equivalence else one_sided, sd, n)


def welch(a, b) -> tuple[float, float, float]:
    """Two independent samples (two experiments' per-seed differences: their models share
    no weights, so their seeds do not pair): the difference of their means, its standard
    error and the Welch-Satterthwaite degrees of freedom. NaN where either has under two."""
    (na, sa), (nb, sb) = _spread(a), _spread(b)
    if na < 2 or nb < 2:
        return math.nan, math.nan, math.nan
    diff = sum(map(float, a)) / na - sum(map(float, b)) / nb
    va, vb = sa**2 / na, sb**2 / nb
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)) if se > 0 else na + nb - 2
    return diff, se, df


def difference_interval(a, b, confidence: float) -> tuple[float, float]:
    """The two-sided Welch interval of mean(a) − mean(b) at ``confidence``."""
    diff, se, df = welch(a, b)
    if math.isnan(se):
        return math.nan, math.nan
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    return diff - half, diff + half


def difference_equivalence_p(a, b, margin: float) -> float:
    """Two one-sided Welch tests of ``|mean(a) − mean(b)| < margin``: the larger p-value;
    below 0.05 exactly where the 90% Welch interval lies inside ±margin."""
    diff, se, df = welch(a, b)
    if math.isnan(se):
        return math.nan
    if se == 0:
        return 0.0 if abs(diff) < margin else 1.0
    above = scipy_stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    below = scipy_stats.t.cdf((diff - margin) / se, df)  # H0: diff >= margin
    return float(max(above, below))


def difference_outside_p(a, b, margin: float) -> float:
    """The Welch test that ``|mean(a) − mean(b)| > margin`` on the side the difference lies:
    twice the smaller one-sided p-value (capped at 1); below 0.05 exactly where the 95% Welch
    interval lies wholly outside ±margin."""
    diff, se, df = welch(a, b)
    if math.isnan(se):
        return math.nan
    if se == 0:
        return 0.0 if abs(diff) > margin else 1.0
    above = scipy_stats.t.sf((diff - margin) / se, df)  # H0: diff <= margin
    below = scipy_stats.t.cdf((diff + margin) / se, df)  # H0: diff >= -margin
    return float(min(1.0, 2 * min(above, below)))


def difference_detectable_margin(a, b) -> float:
    """The smallest margin within which two such samples would show a true difference of 0
    with 80% power, their spreads taken as the truth (the normal approximation of the
    Welch statistic: margin = se · (t₀.₉₅ + z₀.₉))."""
    _, se, df = welch(a, b)
    if math.isnan(se):
        return math.nan
    critical = float(scipy_stats.t.ppf(1 - ALPHA, df))
    return se * (critical + float(scipy_stats.norm.ppf(0.5 + POWER / 2)))


def sign_flip_floor(n: int) -> float:
    """The smallest two-sided p-value an exact sign-flip test of ``n`` paired differences
    can give (every difference on one side): 2 / 2ⁿ. At 3 seeds 0.25: no verdict at the 5%
    level can come from the signs alone, only from the t-test's normality."""
    return 2 / 2**n if n else 1.0


def excludes_zero(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0)


def _spread(values) -> tuple[int, float]:
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        return n, math.nan
    mean = sum(values) / n
    return n, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _solve(power, sd: float, n: int) -> float:
    """The effect at which ``power`` (increasing in it) reaches POWER; 0 with no spread."""
    if sd == 0:
        return 0.0
    high = sd
    while power(high) < POWER:
        high *= 2
    return float(optimize.brentq(lambda x: power(x) - POWER, 0.0, high, xtol=1e-9 * sd))


def _t(confidence: float, n: int) -> float:
    return float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1))


def _standard_error(values: list[float], mean: float) -> float:
    n = len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
