"""Intervals over seeds: small pure functions shared by the claims, the report and the figures.

Every interval is two-sided at `level` (0.95 by default). With fewer than two independent values there is no
interval: lo and hi are NaN, never a zero-width interval that would look certain.
No scipy: the t quantile is computed here from the regularized incomplete beta function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


class CI(NamedTuple):
    """A point estimate and its interval; unpacks as (value, lo, hi)."""

    value: float
    lo: float
    hi: float


NAN_CI = CI(math.nan, math.nan, math.nan)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution function."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile, by bisection on t_cdf (accurate to ~1e-10 relative)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def mean_ci(values: Any, level: float = 0.95) -> CI:
    """Mean and t-interval over independent values (e.g. one per seed); NaN values are ignored.

    One value: (value, NaN, NaN). No value: all NaN.
    """
    x = _finite(values)
    if x.size == 0:
        return NAN_CI
    mean = float(x.mean())
    if x.size == 1:
        return CI(mean, math.nan, math.nan)
    half = t_quantile(0.5 + level / 2.0, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return CI(mean, mean - half, mean + half)


def _as_groups(values_or_groups: Any) -> tuple[list[np.ndarray], Callable[[list[np.ndarray]], Any]]:
    """Split the input into arrays to resample, and a function that rebuilds the caller's structure."""
    if isinstance(values_or_groups, Mapping):
        keys = list(values_or_groups)
        return ([np.asarray(values_or_groups[k], dtype=float) for k in keys],
                lambda arrays: dict(zip(keys, arrays, strict=True)))
    if (isinstance(values_or_groups, Sequence | np.ndarray) and len(values_or_groups) > 0
            and np.ndim(values_or_groups[0]) > 0):
        return [np.asarray(g, dtype=float) for g in values_or_groups], list
    return [np.asarray(values_or_groups, dtype=float).ravel()], lambda arrays: arrays[0]


def bootstrap_ci(values_or_groups: Any, statistic: Callable[[Any], float], n_boot: int = 2000,
                 seed: int = 0, level: float = 0.95) -> CI:
    """Percentile bootstrap of `statistic`.

    `values_or_groups` is either one 1-D array (values resampled with replacement, `statistic` gets an array)
    or several groups: a list of arrays or a dict of arrays, each resampled within itself (a stratified
    bootstrap; `statistic` gets a list or dict of the same shape). The value is the statistic of the data as
    given. No interval (NaN) when a group holds fewer than two values or most resamples give no finite value.
    """
    groups, rebuild = _as_groups(values_or_groups)
    value = float(statistic(rebuild(groups)))
    if min(g.size for g in groups) < 2:
        return CI(value, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        stats[i] = statistic(rebuild([g[rng.integers(0, g.size, g.size)] for g in groups]))
    stats = stats[np.isfinite(stats)]
    if stats.size < n_boot / 2:
        return CI(value, math.nan, math.nan)
    lo, hi = np.quantile(stats, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return CI(value, float(lo), float(hi))


def _by_seed(values: Any, name: str) -> pd.Series:
    series = pd.Series(values, dtype=float)
    if series.index.has_duplicates:
        dup = sorted(set(series.index[series.index.duplicated()]))
        raise ValueError(f"{name} holds more than one value for seed(s) {dup}: pass one value per seed")
    return series


def paired_diff_ci(a_by_seed: Any, b_by_seed: Any, level: float = 0.95, relative: bool = False) -> CI:
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
