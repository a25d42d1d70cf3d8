"""Each interval the report uses, simulated as it is used, at the seed counts it is used with: a 95 % interval must
cover the true value in at least 93 % of simulated studies, and an error rate's interval must stay inside [0, 1].

Error rates are drawn around 3-7 % with a seed spread of 5-15 % of the error (a seed effect shared by every run of
that seed, plus per-run noise), as in the quick report. Per-seed quantities (ridge slopes, equal-loss gaps,
speed-ups, times to a target) are computed by the project's own code on simulated grids and curves; the truth is
their mean over a large pool of simulated seeds, and each simulated study is a disjoint draw of n of them.

    python tests/analysis/test_coverage.py   # prints the coverage table (the numbers in the README / report)
"""

from __future__ import annotations

import math
import sys
from functools import cache

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis.decoupling import ridge_slope
from adamw_repro.analysis.findings.equal_loss import equal_loss_gap
from adamw_repro.analysis.stats import (
    error_rate_ci,
    log_mean_ci,
    mean_ci,
    median_ci,
    paired_diff_ci,
    ratio_ci_unpaired,
)

STUDIES = 2000     # simulated studies per method and seed count
MIN_COVERAGE = 0.93
SEED_COUNTS = (3, 5)


def _covers(cis, truth: float) -> float:
    return float(np.mean([lo <= truth <= hi for _, lo, hi in cis]))


def cell_error_rate(n: int, mean: float, spread: float, rng) -> tuple[float, bool]:
    """Per-cell mean test error (error_rate_ci), normal seed noise of `spread` relative (an error rate is never
    below 0); the truth is `mean`."""
    cis = [error_rate_ci(np.clip(mean * (1 + spread * rng.standard_normal(n)), 0, 1)) for _ in range(STUDIES)]
    inside = all(0.0 <= lo <= hi <= 1.0 for _, lo, hi in cis)
    return _covers(cis, mean), inside


def paired_relative(n: int, rng) -> float:
    """err(A)/err(B) - 1 per seed (compare's paired t): A 10 % below B, a shared seed effect of 8 % and per-run
    noise of 5 % (lognormal); the truth E[a/b] - 1 = 0.9 exp(0.05^2) - 1."""
    truth = 0.9 * math.exp(0.05**2) - 1
    cis = []
    for _ in range(STUDIES):
        seed = 0.08 * rng.standard_normal(n)
        a = 0.036 * np.exp(seed + 0.05 * rng.standard_normal(n))
        b = 0.040 * np.exp(seed + 0.05 * rng.standard_normal(n))
        cis.append(paired_diff_ci(dict(enumerate(a)), dict(enumerate(b)), relative=True))
    return _covers(cis, truth)


def unpaired_relative(n: int, rng) -> float:
    """Welch's t on log errors, two settings on different seeds; truth: the ratio of geometric means - 1."""
    cis = [ratio_ci_unpaired(0.036 * np.exp(0.1 * rng.standard_normal(n)),
                             0.040 * np.exp(0.1 * rng.standard_normal(n))) for _ in range(STUDIES)]
    return _covers(cis, 0.9 - 1)


@cache
def slope_pool(coupled: bool, pool: int = 3 * 5 * 400) -> np.ndarray:
    """Per-seed ridge slopes (the project's ridge_slope on each seed's own grid) of a simulated 6 x 9 SGD+L2-like
    (coupled) or SGDW-like (decoupled) heatmap at ~4 % error, 5 % per-run noise and a shared seed effect."""
    rng = np.random.default_rng(1 if coupled else 2)
    alphas, lams = 2.0 ** np.arange(-6, 0), 2.0 ** np.arange(-11, -2)
    a, lam = np.meshgrid(np.log2(alphas), np.log2(lams), indexing="ij")
    best = -10.0 - a if coupled else np.full_like(a, -7.0)
    surface = 0.037 * (1 + 0.05 * (a + 3) ** 2) * (1 + 0.06 * (lam - best) ** 2)
    noise = np.exp(0.05 * rng.standard_normal((pool, *surface.shape)) + 0.05 * rng.standard_normal((pool, 1, 1)))
    errors = surface * noise
    seeds, ia, il = np.meshgrid(np.arange(pool), np.arange(len(alphas)), np.arange(len(lams)), indexing="ij")
    cells = pd.DataFrame({"seed": seeds.ravel(), "alpha": alphas[ia.ravel()], "weight_decay": lams[il.ravel()],
                          "final_val_error": errors.ravel()})
    return np.array(ridge_slope(cells, x_col="alpha").per_seed)


@cache
def gap_pool(pool: int = 3 * 5 * 400) -> np.ndarray:
    """Per-seed equal-loss gaps (finding 7's equal_loss_gap) of a simulated Fig. 3: 10 Adam+L2 and 7 AdamW settings,
    test error a U in log train loss, AdamW 8 % lower, seed and setting noise."""
    rng = np.random.default_rng(3)
    adam_loss, adamw_loss = 0.002 * 3.0 ** np.arange(10), 0.003 * 2.6 ** np.arange(7)

    def error(loss, offset, seed):
        u = 0.035 * (1 + 0.05 * (np.log(loss) - np.log(0.03)) ** 2) * (1 + offset)
        return u * np.exp(seed + 0.05 * rng.standard_normal(loss.size))

    gaps = []
    for _ in range(pool):
        seed = 0.05 * rng.standard_normal()
        points = {"adam": (np.log(adam_loss * np.exp(0.05 * rng.standard_normal(10))), error(adam_loss, 0.0, seed)),
                  "adamw": (np.log(adamw_loss * np.exp(0.05 * rng.standard_normal(7))),
                            error(adamw_loss, -0.08, seed))}
        gaps.append(equal_loss_gap(points))
    return np.array(gaps)


def speedup_pool(pool: int = 3 * 5 * 400) -> np.ndarray:
    """Per-seed speed-ups (epochs for a noisy cosine curve to reach a warm-restart error at epoch 15, over 15)."""
    rng = np.random.default_rng(4)
    epochs = np.arange(1, 121)
    frac = 0.5 * (1 + np.cos(np.pi * epochs / 120))
    out = []
    for _ in range(pool):
        target = 0.04 * np.exp(0.05 * rng.standard_normal())
        curve = 0.033 * (1 + 2.5 * frac ** 0.7) * np.exp(0.03 * rng.standard_normal(epochs.size))
        hit = epochs[curve <= target]
        out.append(hit[0] / 15 if hit.size else epochs[-1] / 15)
    return np.array(out)


def per_seed_coverage(pool: np.ndarray, n: int, method) -> float:
    """Coverage of `method` (mean_ci or log_mean_ci) over disjoint draws of n per-seed values from the pool; the
    truth is the pool's mean (or geometric mean)."""
    pool = pool[np.isfinite(pool)]
    truth = math.exp(np.log(pool).mean()) if method is log_mean_ci else pool.mean()
    studies = pool[: pool.size // n * n].reshape(-1, n)
    return _covers([method(s) for s in studies], truth)


def median_coverage(n: int, rng, censor: float = 0.9) -> float:
    """The sign-test interval of a median (finding 10) over times to a target on an epoch grid, censored (+inf)
    beyond `censor`; the truth is the median of the uncensored distribution."""
    epochs = np.arange(1, 17) / 16
    cis = []
    for _ in range(STUDIES):
        ratio = np.exp(np.log(0.5) + 0.4 * rng.standard_normal(n))
        on_grid = np.array([epochs[np.searchsorted(epochs, r)] if r <= censor else math.inf for r in ratio])
        cis.append(median_ci(on_grid)[0])
    truth_draws = np.exp(np.log(0.5) + 0.4 * rng.standard_normal(200_000))
    truth = float(np.median([epochs[np.searchsorted(epochs, r)] if r <= censor else math.inf
                             for r in truth_draws[:20_000]]))
    return _covers(cis, truth)


def coverage_table() -> list[tuple[str, int, float]]:
    """(method, seeds, coverage) for every interval method the report uses."""
    rng = np.random.default_rng(0)
    rows = []
    for n in SEED_COUNTS:
        for mean, spread in ((0.03, 0.05), (0.05, 0.10), (0.07, 0.15)):
            rows.append((f"per-cell error rate {100 * mean:.0f} %, spread {100 * spread:.0f} %", n,
                         cell_error_rate(n, mean, spread, rng)[0]))
        rows.append(("paired relative difference (t)", n, paired_relative(n, rng)))
        rows.append(("unpaired relative difference (Welch on logs)", n, unpaired_relative(n, rng)))
        rows.append(("per-seed ridge slope, coupled (t)", n, per_seed_coverage(slope_pool(True), n, mean_ci)))
        rows.append(("per-seed ridge slope, decoupled (t)", n, per_seed_coverage(slope_pool(False), n, mean_ci)))
        rows.append(("per-seed equal-loss gap (t)", n, per_seed_coverage(gap_pool(), n, mean_ci)))
        rows.append(("per-seed speed-up (t on logs)", n, per_seed_coverage(speedup_pool(), n, log_mean_ci)))
    for n in (5, 8):
        rows.append(("median time to target, censored (sign test)", n, median_coverage(n, rng)))
    return rows


def test_per_cell_error_rate_interval_at_three_seeds():  # the fast tier's representative of the module
    coverage, inside = cell_error_rate(3, 0.05, 0.10, np.random.default_rng(3))
    assert inside and coverage >= MIN_COVERAGE, coverage


@pytest.mark.slow
@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize("mean, spread", [(0.03, 0.05), (0.05, 0.10), (0.07, 0.15), (0.004, 0.8)])
def test_per_cell_error_rate_interval_covers_and_stays_in_zero_one(n, mean, spread):
    coverage, inside = cell_error_rate(n, mean, spread, np.random.default_rng(n))
    assert inside
    if spread < 0.5:  # the last case only checks the bounds: a t-interval of a skewed error near 0 is clipped
        assert coverage >= MIN_COVERAGE, coverage


@pytest.mark.slow
@pytest.mark.parametrize("n", SEED_COUNTS)
def test_relative_differences_cover(n):
    rng = np.random.default_rng(10 + n)
    assert paired_relative(n, rng) >= MIN_COVERAGE
    assert unpaired_relative(n, rng) >= MIN_COVERAGE


@pytest.mark.slow
@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize("coupled", [True, False])
def test_per_seed_ridge_slopes_cover(n, coupled):
    assert per_seed_coverage(slope_pool(coupled), n, mean_ci) >= MIN_COVERAGE


@pytest.mark.slow
@pytest.mark.parametrize("n", SEED_COUNTS)
def test_per_seed_gaps_and_speedups_cover(n):
    assert per_seed_coverage(gap_pool(), n, mean_ci) >= MIN_COVERAGE
    assert per_seed_coverage(speedup_pool(), n, log_mean_ci) >= MIN_COVERAGE


@pytest.mark.slow
@pytest.mark.parametrize("n", (5, 8))
def test_median_time_to_target_covers(n):
    assert median_coverage(n, np.random.default_rng(20 + n)) >= MIN_COVERAGE


if __name__ == "__main__":
    for method, n, cov in coverage_table():
        print(f"{method:55s} n={n}: {100 * cov:5.1f} %")
    sys.exit(0)
