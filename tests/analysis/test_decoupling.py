"""The ridge slope: about -1 on a coupled alpha x lambda grid, about 0 on an axis-aligned one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis.decoupling import best_lambda_per_alpha, decoupling_slope, ridge_slope
from adamw_repro.analysis.stats import mean_ci

ALPHAS = 2.0 ** np.arange(-10, -4)   # 6 log2-spaced learning rates
LAMBDAS = 2.0 ** np.arange(-14, -2)  # 12 log2-spaced weight decays


def grid(error, seeds=3, noise=1e-4, lambdas=LAMBDAS, rng_seed=0):
    """One row per (alpha, lambda, seed) run with final_val_error = error(alpha, lambda) + noise."""
    rng = np.random.default_rng(rng_seed)
    rows = [{"alpha": a, "weight_decay": lam, "seed": s,
             "final_val_error": error(a, lam) + noise * rng.standard_normal()}
            for a, lam, s in itertools.product(ALPHAS, lambdas, range(seeds))]
    return pd.DataFrame(rows)


def coupled(a, lam):  # the basin follows alpha * lambda = 2^-16: best lambda = 2^-16 / alpha
    return 0.05 + 0.01 * (np.log2(a * lam) + 16) ** 2


def decoupled(a, lam):  # best lambda 2^-8 whatever alpha
    return 0.05 + 0.01 * (np.log2(lam) + 8) ** 2 + 0.02 * (np.log2(a) + 7) ** 2


def test_coupled_grid_gives_slope_minus_one():
    s = decoupling_slope(grid(coupled))
    assert s.slope == pytest.approx(-1.0, abs=0.01)
    assert s.lo <= -1.0 + 0.01 and s.hi >= -1.0 - 0.01
    assert s.n_alpha == len(ALPHAS)


def test_axis_aligned_grid_gives_slope_zero():
    s = decoupling_slope(grid(decoupled))
    assert s.slope == pytest.approx(0.0, abs=0.01)
    assert s.lo == pytest.approx(0.0, abs=0.01) and s.hi == pytest.approx(0.0, abs=0.01)


def test_seed_noise_widens_the_interval_around_the_truth():
    s = decoupling_slope(grid(coupled, seeds=4, noise=0.02))
    assert s.lo < s.hi
    assert s.lo <= -0.7 and s.hi >= -1.0  # noise can only pull the slope off -1, not flip it
    assert s.n_seeds == 4 and len(s.per_seed) == 4


def test_the_interval_is_the_t_interval_of_each_seeds_own_slope():
    cells = grid(coupled, seeds=3, noise=0.01, rng_seed=5)
    s = decoupling_slope(cells)
    alone = [decoupling_slope(cells[cells["seed"] == k]).slope for k in range(3)]
    assert s.per_seed == pytest.approx(tuple(alone))
    assert (s.slope, s.lo, s.hi) == pytest.approx(tuple(mean_ci(alone)))
    assert s.pooled == pytest.approx(decoupling_slope(cells.groupby(["alpha", "weight_decay"], as_index=False)
                                                      ["final_val_error"].mean().assign(seed=0)).slope)


def test_one_seed_has_no_interval():
    s = decoupling_slope(grid(coupled, seeds=1))
    assert s.slope == pytest.approx(-1.0, abs=0.01) and math.isnan(s.lo) and math.isnan(s.hi)


def test_lambda_zero_cells_are_left_out():
    cells = grid(decoupled)
    zero = cells[cells["weight_decay"] == LAMBDAS[0]].assign(weight_decay=0.0, final_val_error=0.0)
    cells = pd.concat([cells, zero])  # lambda = 0 is best of all, yet has no place on a log axis
    assert decoupling_slope(cells).slope == pytest.approx(0.0, abs=0.01)
    ridge = best_lambda_per_alpha(cells, include_zero=True)
    assert (ridge["weight_decay"] == 0).all()


def test_an_alpha_where_every_run_diverged_is_left_out():
    cells = grid(coupled)
    cells.loc[cells["alpha"] == ALPHAS[-1], "final_val_error"] = 1.0  # schema: diverged runs keep error 1.0
    s = decoupling_slope(cells)
    assert s.n_alpha == len(ALPHAS) - 1 and s.slope == pytest.approx(-1.0, abs=0.01)
    assert best_lambda_per_alpha(cells)["tied"].tolist() == [False] * 5 + [True]


def test_best_lambda_per_alpha_is_the_ridge():
    ridge = best_lambda_per_alpha(grid(coupled))
    assert list(ridge.columns) == ["alpha", "weight_decay", "final_val_error", "n_seeds", "tied", "edge",
                                   "lam_fit"]
    assert np.allclose(ridge["weight_decay"] * ridge["alpha"], 2.0 ** -16)
    assert (ridge["n_seeds"] == 3).all()


def test_ridge_slope_over_budgets_chooses_over_alpha_too():
    rows = []
    for T, a, lam, s in itertools.product((25, 100, 400), ALPHAS[:3], LAMBDAS, range(2)):
        best = 2.0 ** -8 * math.sqrt(100 / T)  # the best lambda falls as 1/sqrt(T)
        rows.append({"epochs": T, "alpha": a, "weight_decay": lam, "seed": s,
                     "final_val_error": 0.05 + 0.01 * (np.log2(lam / best)) ** 2 + (a - ALPHAS[1]) ** 2})
    s = ridge_slope(pd.DataFrame(rows), x_col="epochs", other_cols=("alpha",))
    assert s.slope == pytest.approx(-0.5, abs=0.01) and s.n_alpha == 3


def test_missing_column_says_which():
    with pytest.raises(KeyError, match="weight_decay"):
        decoupling_slope(pd.DataFrame({"alpha": [1.0], "seed": [0], "final_val_error": [0.1]}))


def test_parabola_finds_an_optimum_between_grid_points():
    # The basin at alpha * lambda = 2^-16.4 on a grid of step 2 in log2(lambda) but 1 in log2(alpha): the
    # argmax alone would move by whole grid steps; the parabola recovers log2(best lambda) = -16.4 - log2(alpha).
    lambdas = 2.0 ** np.arange(-16, 0, 2.0)
    s = decoupling_slope(grid(lambda a, lam: 0.05 + 0.01 * (np.log2(a * lam) + 16.4) ** 2, lambdas=lambdas,
                              noise=0.0))
    assert s.slope == pytest.approx(-1.0, abs=1e-6)
    ridge = best_lambda_per_alpha(grid(lambda a, lam: 0.05 + 0.01 * (np.log2(lam) + 7.3) ** 2, lambdas=lambdas,
                                       noise=0.0))
    assert np.log2(ridge["lam_fit"]).to_numpy() == pytest.approx(np.full(len(ALPHAS), -7.3))


def test_an_optimum_on_the_grid_edge_is_flagged():
    lambdas = 2.0 ** np.arange(-14, -8)  # the decoupled optimum 2^-8 lies just above the grid
    cells = grid(decoupled, lambdas=lambdas)
    s = decoupling_slope(cells)
    assert set(s.edge) == set(ALPHAS)
    assert best_lambda_per_alpha(cells)["edge"].all()
    assert not decoupling_slope(grid(decoupled)).edge


def test_cells_are_compared_on_the_seeds_they_share():
    cells = grid(decoupled, seeds=3)
    best = (cells["weight_decay"] == 2.0 ** -8) & (cells["alpha"] == ALPHAS[0])
    extra = cells[best].assign(seed=lambda d: d["seed"] + 10, final_val_error=1.0)  # fresh seeds, all bad
    ridge = best_lambda_per_alpha(pd.concat([cells, extra]))
    assert ridge.loc[0, "weight_decay"] == 2.0 ** -8 and ridge.loc[0, "n_seeds"] == 3
