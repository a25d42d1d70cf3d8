"""Intervals over seeds: the t quantile, t-intervals, the bootstrap and paired differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis.stats import bootstrap_ci, mean_ci, paired_diff_ci, proportion_ci, t_quantile

# Two-sided 95 % t quantiles from standard tables.
T_TABLE = {1: 12.7062047, 2: 4.30265273, 4: 2.77644511, 10: 2.22813885, 30: 2.04227246, 10**6: 1.95996619}


@pytest.mark.parametrize("df, expected", T_TABLE.items())
def test_t_quantile_matches_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-7)
    assert t_quantile(0.025, df) == pytest.approx(-expected, rel=1e-7)


def test_t_quantile_rejects_bad_arguments():
    with pytest.raises(ValueError, match="0 < p < 1"):
        t_quantile(1.0, 3)


def test_mean_ci_is_the_t_interval():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0])
    half = 3.18244631 * np.std([1, 2, 3, 4], ddof=1) / 2.0  # t_{0.975, 3} * s / sqrt(4)
    assert m == 2.5
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half))


def test_mean_ci_with_one_value_has_no_interval():
    m, lo, hi = mean_ci([0.3])
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in mean_ci([]))


def test_mean_ci_ignores_nan_and_narrows_with_level():
    wide, narrow = mean_ci([1.0, 2.0, np.nan, 4.0]), mean_ci([1.0, 2.0, 4.0], level=0.5)
    assert wide.value == pytest.approx(7 / 3)
    assert narrow.hi - narrow.lo < wide.hi - wide.lo


def test_bootstrap_ci_one_array_brackets_the_mean_and_is_reproducible():
    x = np.random.default_rng(1).normal(5.0, 1.0, 40)
    ci = bootstrap_ci(x, np.mean, n_boot=500, seed=3)
    assert ci.value == pytest.approx(x.mean())
    assert ci.lo < 5.0 < ci.hi and ci.hi - ci.lo < 1.5
    assert bootstrap_ci(x, np.mean, n_boot=500, seed=3) == ci


def test_bootstrap_ci_groups_resample_within_each_group():
    groups = {"a": [1.0, 1.1, 0.9], "b": [3.0, 3.1, 2.9]}
    ci = bootstrap_ci(groups, lambda g: g["b"].mean() - g["a"].mean(), n_boot=300)
    assert ci.value == pytest.approx(2.0)
    assert 1.7 < ci.lo <= ci.hi < 2.3  # a pooled resample would mix the groups and spread far wider
    as_list = bootstrap_ci([groups["a"], groups["b"]], lambda g: g[1].mean() - g[0].mean(), n_boot=300)
    assert as_list == ci


def test_bootstrap_ci_with_a_single_value_group_has_no_interval():
    ci = bootstrap_ci([[1.0, 2.0], [3.0]], lambda g: g[1].mean() - g[0].mean())
    assert ci.value == 1.5 and math.isnan(ci.lo) and math.isnan(ci.hi)


def test_paired_diff_ci_pairs_by_seed_not_by_position():
    a = pd.Series({0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0})  # seed 7 has no partner
    b = pd.Series({2: 2.9, 0: 0.9, 1: 1.9})
    m, lo, hi = paired_diff_ci(a, b)
    assert m == pytest.approx(0.1)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)  # same difference for every seed


def test_paired_diff_ci_relative_and_dicts():
    m, lo, hi = paired_diff_ci({0: 0.8, 1: 0.9}, {0: 1.0, 1: 1.0}, relative=True)
    assert m == pytest.approx(-0.15)
    assert lo < -0.15 < hi


def test_paired_diff_ci_rejects_two_values_for_one_seed():
    with pytest.raises(ValueError, match="more than one value for seed"):
        paired_diff_ci(pd.Series([1.0, 2.0], index=[0, 0]), {0: 1.0})


def test_proportion_ci_stays_inside_zero_one_where_a_t_interval_does_not():
    errors = [0.0744 * k for k in (0.1, 1.0, 2.0)]  # three seeds, wildly spread: t reaches below 0
    assert mean_ci(errors).lo < 0.0
    m, lo, hi = proportion_ci(errors)
    assert m == pytest.approx(np.mean(errors))
    assert min(errors) <= lo < m < hi <= max(errors)
    m, lo, hi = proportion_ci([0.99, 1.0, 1.0, 0.97])
    assert 0.0 <= lo <= hi <= 1.0


def test_proportion_ci_one_value_and_none():
    assert math.isnan(proportion_ci([0.2]).lo) and proportion_ci([0.2]).value == 0.2
    assert all(math.isnan(x) for x in proportion_ci([]))
