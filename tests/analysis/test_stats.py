"""Intervals over seeds: t-intervals from scipy.stats, clipped for error rates, paired and unpaired ratios,
geometric means and the sign-test interval of a median of censored values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from adamw_repro.analysis import stats
from adamw_repro.analysis.stats import (
    error_rate_ci,
    log_mean_ci,
    mean_ci,
    median_ci,
    median_order,
    paired_diff_ci,
    ratio_ci_unpaired,
    sign_test,
    t_quantile,
)

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


def test_mean_ci_is_scipys_one_sample_t_interval():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 8):
        for level in (0.95, 0.5):
            x = 0.04 * np.exp(0.1 * rng.standard_normal(n))
            expected = scipy.stats.ttest_1samp(x, 0.0).confidence_interval(confidence_level=level)
            _, lo, hi = mean_ci(x, level)
            assert (lo, hi) == pytest.approx(tuple(expected), rel=1e-12, abs=0)


def test_mean_ci_with_one_value_has_no_interval_and_equal_values_a_point():
    m, lo, hi = mean_ci([0.3])
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in mean_ci([]))
    assert mean_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_mean_ci_ignores_nan_and_narrows_with_level():
    wide, narrow = mean_ci([1.0, 2.0, np.nan, 4.0]), mean_ci([1.0, 2.0, 4.0], level=0.5)
    assert wide.value == pytest.approx(7 / 3)
    assert narrow.hi - narrow.lo < wide.hi - wide.lo


def test_no_bootstrap_is_left_to_return_the_range_of_three_seeds():
    assert not hasattr(stats, "bootstrap_ci") and not hasattr(stats, "proportion_ci")
    three = [0.031, 0.034, 0.036]
    _, lo, hi = error_rate_ci(three)
    assert lo < min(three) and hi > max(three)  # a t-interval is wider than the range of 3 values


def test_error_rate_ci_stays_inside_zero_one_where_a_t_interval_does_not():
    errors = [0.0744 * k for k in (0.1, 1.0, 2.0)]  # three seeds, wildly spread: t reaches below 0
    assert mean_ci(errors).lo < 0.0
    m, lo, hi = error_rate_ci(errors)
    assert m == pytest.approx(np.mean(errors)) and lo == 0.0 and hi == pytest.approx(mean_ci(errors).hi)
    m, lo, hi = error_rate_ci([0.99, 1.0, 1.0, 0.97])
    assert 0.0 <= lo <= hi <= 1.0 and hi == 1.0


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


def test_ratio_ci_unpaired_is_the_ratio_of_geometric_means():
    ci = ratio_ci_unpaired([0.08, 0.08 * 1.02, 0.08 / 1.02], [0.10, 0.10 * 1.02, 0.10 / 1.02])
    assert ci.value == pytest.approx(-0.2) and ci.lo < -0.2 < ci.hi < 0
    assert math.isnan(ratio_ci_unpaired([0.1], [0.1, 0.2]).lo)


def test_log_mean_ci_is_a_geometric_mean():
    ci = log_mean_ci([2.0, 8.0])
    assert ci.value == pytest.approx(4.0) and ci.lo < 4.0 < ci.hi
    assert log_mean_ci([3.0, 3.0, 3.0]) == pytest.approx((3.0, 3.0, 3.0))


def test_median_order_is_the_sign_test():
    assert median_order(3) == (0, 0.0)  # [min, max] of 3 covers 75 %: refused
    assert median_order(4) == (0, 0.0)
    assert median_order(5) == (1, pytest.approx(1 - 2 / 32))  # the widest 5 values give, 93.75 %
    assert median_order(8)[0] == 1 and median_order(8)[1] >= 0.95
    r, coverage = median_order(20)
    assert coverage >= 0.95 and 1 - 2 * scipy.stats.binom.cdf(r, 20, 0.5) < 0.95  # r is the largest that holds


def test_median_ci_of_censored_values():
    ci, coverage = median_ci([0.5, 0.4, math.inf, 0.7, 0.6])
    assert ci == (0.6, 0.4, math.inf) and coverage == pytest.approx(0.9375)
    ci, _ = median_ci([math.inf] * 5)
    assert ci.value == math.inf and ci.lo == math.inf
    ci, coverage = median_ci([0.5, 0.4, 0.3])
    assert ci.value == 0.4 and math.isnan(ci.lo) and coverage == 0.0


def test_sign_test():
    assert sign_test(5, 5) == pytest.approx(1 / 32)
    assert sign_test(0, 5) == 1.0
    assert math.isnan(sign_test(0, 0))
