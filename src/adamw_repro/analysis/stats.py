"""Intervals over seeds: small pure functions shared by the claims, the report and the figures.

Every interval is two-sided at `level` (0.95 by default). With fewer than two independent values there is no
interval: lo and hi are NaN, never a zero-width interval that would look certain.
Error rates are proportions: their intervals (`proportion_ci`) stay inside [0, 1] (a percentile bootstrap of
the mean over seeds); t-intervals (`mean_ci`) serve quantities without bounds (relative differences, slopes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import t as student_t


class CI(NamedTuple):
    """A point estimate and its interval; unpacks as (value, lo, hi)."""

    value: float
    lo: float
    hi: float


NAN_CI = CI(math.nan, math.nan, math.nan)


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile (scipy.stats)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    return float(student_t.ppf(p, df))


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


def proportion_ci(values: Any, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> CI:
    """Mean of proportions (error rates, one per seed) with a percentile-bootstrap interval over seeds.

    The interval lies between the smallest and largest value, so never outside [0, 1] (a t-interval on
    three seeds can reach below 0). One value: (value, NaN, NaN); none: all NaN; NaN values are ignored.
    """
    x = _finite(values)
    if x.size == 0:
        return NAN_CI
    if x.size == 1:
        return CI(float(x[0]), math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return CI(float(x.mean()), float(lo), float(hi))


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
