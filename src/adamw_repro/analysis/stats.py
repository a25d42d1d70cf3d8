"""Intervals over seeds: small pure functions shared by the claims, the report and the figures.

Every interval is two-sided at `level` (0.95 by default); its quantiles and tests come from scipy.stats. With
too few independent values for an interval, lo and hi are NaN: never a zero-width interval that would look certain.

- `mean_ci`: the t-interval of a mean over seeds (per-seed quantities: relative differences, slopes, gaps).
- `error_rate_ci`: the same for error rates, clipped to [0, 1] (a t-interval on three seeds can reach below 0).
- `paired_diff_ci`: the t-interval of the paired (per seed) difference or relative difference of two settings.
- `ratio_ci_unpaired`: Welch's t on log errors, for two settings that share no seeds.
- `log_mean_ci`: the geometric mean of positive ratios with the t-interval of their logs (speed-ups).
- `median_ci`: the sign-test (order-statistic) interval of a median, for values that may be censored (+inf).

A percentile bootstrap over 3 seeds returns the range of the three values (coverage about 75 %), so none is used:
tests/analysis/test_coverage.py simulates each method as the report uses it and checks its coverage.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

LEVEL = 0.95
# The sign-test interval for a median cannot reach 95 % with five values ([min, max] covers 1 - 2/32 = 93.75 %);
# below this coverage the interval is refused rather than reported as 95 %.
MIN_MEDIAN_COVERAGE = 0.93


class CI(NamedTuple):
    """A point estimate and its interval; unpacks as (value, lo, hi)."""

    value: float
    lo: float
    hi: float


NAN_CI = CI(math.nan, math.nan, math.nan)


def _scipy_stats():
    """scipy.stats, imported at the first interval: its import (~1 s) would otherwise be paid by every Snakemake
    start-up (each job's too), which imports the findings only to check conf/claims.yaml's thresholds."""
    from scipy import stats

    return stats


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Student-t quantile (scipy.stats), kept per (p, df): a report asks for the same few thousands of times."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    return float(_scipy_stats().t.ppf(p, df))


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def mean_ci(values: Any, level: float = LEVEL) -> CI:
    """Mean and t-interval over independent values (e.g. one per seed); NaN and inf values are ignored.

    One value: (value, NaN, NaN). No value: all NaN. Values that are all equal give a zero-width interval
    (every seed agrees, to rounding, as with a deterministic quantity).
    """
    x = _finite(values)
    if x.size == 0:
        return NAN_CI
    mean = float(x.mean())
    if x.size == 1:
        return CI(mean, math.nan, math.nan)
    if np.ptp(x) <= 1e-12 * max(1.0, abs(mean)):  # equal to rounding: scipy would warn of lost precision
        return CI(mean, mean, mean)
    # scipy.stats.ttest_1samp(x).confidence_interval(level), from its parts: the test object costs ~1 ms a call
    half = t_quantile(0.5 + level / 2, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return CI(mean, mean - half, mean + half)


def error_rate_ci(values: Any, level: float = LEVEL) -> CI:
    """Mean error rate over seeds with its t-interval clipped to [0, 1] (an error rate cannot leave it)."""
    mean, lo, hi = mean_ci(values, level)
    if math.isnan(lo):
        return CI(mean, lo, hi)
    return CI(mean, min(max(0.0, lo), 1.0), max(min(1.0, hi), 0.0))


def _by_seed(values: Any, name: str) -> pd.Series:
    series = pd.Series(values, dtype=float)
    if series.index.has_duplicates:
        dup = sorted(set(series.index[series.index.duplicated()]))
        raise ValueError(f"{name} holds more than one value for seed(s) {dup}: pass one value per seed")
    return series


def paired_diff_ci(a_by_seed: Any, b_by_seed: Any, level: float = LEVEL, relative: bool = False) -> CI:
    """Mean over seeds of the paired difference a - b, with its t-interval.

    Inputs map seed -> value (a dict or a pandas Series indexed by seed); only seeds present in both, with
    finite values, pair. relative=True pairs a/b - 1 instead (scale-free: -0.15 means a is 15 % lower).
    """
    a, b = _by_seed(a_by_seed, "a_by_seed"), _by_seed(b_by_seed, "b_by_seed")
    common = a.index.intersection(b.index)
    a, b = a.loc[common].to_numpy(), b.loc[common].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = a / b - 1.0 if relative else a - b
    return mean_ci(diff, level)


def ratio_ci_unpaired(a: Any, b: Any, level: float = LEVEL) -> CI:
    """err(A)/err(B) - 1 for two settings with no seed in common: the ratio of geometric means with Welch's
    t-interval on log errors (scipy.stats.ttest_ind). NaN interval with fewer than two values a side."""
    la, lb = np.log(_finite(a)[_finite(a) > 0]), np.log(_finite(b)[_finite(b) > 0])
    if la.size == 0 or lb.size == 0:
        return NAN_CI
    value = math.exp(la.mean() - lb.mean()) - 1.0
    if la.size < 2 or lb.size < 2 or (np.ptp(la) == 0 and np.ptp(lb) == 0):
        return CI(value, math.nan, math.nan)
    lo, hi = _scipy_stats().ttest_ind(la, lb, equal_var=False).confidence_interval(confidence_level=level)
    return CI(value, math.exp(lo) - 1.0, math.exp(hi) - 1.0)


def log_mean_ci(values: Any, level: float = LEVEL) -> CI:
    """Geometric mean of positive ratios (one per seed) with the t-interval of their logs, exponentiated."""
    x = _finite(values)
    x = x[x > 0]
    if x.size == 0:
        return NAN_CI
    mean, lo, hi = mean_ci(np.log(x), level)
    return CI(math.exp(mean), math.exp(lo) if math.isfinite(lo) else math.nan,
              math.exp(hi) if math.isfinite(hi) else math.nan)


@functools.lru_cache(maxsize=256)
def median_order(n: int, level: float = LEVEL) -> tuple[int, float]:
    """(r, coverage): the sign-test interval of a median from n values is [x_(r), x_(n+1-r)] (1-based order
    statistics), r the largest with coverage >= level; where no r reaches it, r = 1 when [min, max] still
    covers MIN_MEDIAN_COVERAGE, else r = 0 (no interval). Coverage is exact for continuous values."""
    best = (0, 0.0)
    for r in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * float(_scipy_stats().binom.cdf(r - 1, n, 0.5))
        if coverage >= level:
            best = (r, coverage)
    if best[0] == 0 and n >= 1:
        coverage = 1.0 - 2.0 * float(_scipy_stats().binom.cdf(0, n, 0.5))
        if coverage >= MIN_MEDIAN_COVERAGE:
            best = (1, coverage)
    return best


def median_ci(values: Any, level: float = LEVEL) -> tuple[CI, float]:
    """Median of values that may be censored (+inf: never reached) with its sign-test interval, and the
    interval's exact coverage (NaN interval and coverage 0 when the values are too few; see `median_order`).

    Censored values sort above every observed one, which is what order statistics need: the interval stays
    valid however many are censored, and an upper bound of +inf says the data cannot bound it.
    """
    x = np.sort(np.asarray(values, dtype=float).ravel())
    x = x[~np.isnan(x)]
    if x.size == 0:
        return NAN_CI, 0.0
    median = float(np.median(x))  # +inf where half or more never reached
    r, coverage = median_order(x.size, level)
    if r == 0:
        return CI(median, math.nan, math.nan), 0.0
    return CI(median, float(x[r - 1]), float(x[x.size - r])), coverage


def sign_test(k: int, n: int) -> float:
    """One-sided p-value of k successes in n under a fair coin (scipy.stats.binomtest): how surprising it is
    that k or more seeds went the paper's way if each went either way with probability 1/2."""
    if n == 0:
        return math.nan
    return float(_scipy_stats().binomtest(k, n, 0.5, alternative="greater").pvalue)
