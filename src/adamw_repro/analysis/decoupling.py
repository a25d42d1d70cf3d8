"""How coupled are learning rate and weight decay? The slope of the ridge of an alpha x lambda heatmap.

For each alpha, take the lambda whose cell has the lowest mean error over seeds; fit log(best lambda) against
log(alpha) by least squares. The slope is about -1 when the good region runs along the diagonal (coupled: the
product alpha*lambda is what matters, as for SGD+L2) and about 0 when it is axis-aligned (decoupled: SGDW,
AdamW in the paper's form). The interval resamples seeds jointly across all cells (a cluster bootstrap): runs
that share a seed share an initialisation and a batch order, so they are resampled together.

The same machinery with the budget (`epochs`) in place of alpha gives the slope of claim 8 (`ridge_slope`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

# Two cells whose mean errors differ by less than this are a tie; an alpha whose cells all tie (all diverged,
# say) says nothing about where the best lambda lies and is left out of the fit.
TIE_TOLERANCE = 1e-12


class Slope(NamedTuple):
    """Least-squares slope of log(best lambda) on log(x), its bootstrap interval, and the points fitted."""

    slope: float
    lo: float
    hi: float
    n_alpha: int


class _Grid(NamedTuple):
    xs: np.ndarray        # (X,) sorted x values (alpha or epochs)
    lams: np.ndarray      # (C,) lambda of each cell
    errors: np.ndarray    # (S, X, C) mean error of seed s in cell (x, c); NaN where no run
    n_seeds: int


def _grid(cells: pd.DataFrame, x_col: str, lam_col: str, err_col: str, other_cols: Sequence[str],
          seed_col: str) -> _Grid:
    missing = [c for c in (x_col, lam_col, err_col, seed_col, *other_cols) if c not in cells]
    if missing:
        raise KeyError(f"ridge slope needs columns {missing}; the table has {list(cells.columns)}")
    cells = cells[(cells[lam_col] > 0) & (cells[x_col] > 0)]  # log(0): lambda = 0 has no place on a log axis
    s = cells.groupby(seed_col, sort=True).ngroup().to_numpy()
    x = cells.groupby(x_col, sort=True).ngroup().to_numpy()
    c_keys = [*other_cols, lam_col]
    c = cells.groupby(c_keys, sort=True, dropna=False).ngroup().to_numpy()
    shape = (s.max() + 1, x.max() + 1, c.max() + 1) if len(cells) else (0, 0, 0)
    total, count = np.zeros(shape), np.zeros(shape)
    err = cells[err_col].to_numpy(dtype=float)
    ok = np.isfinite(err)
    np.add.at(total, (s[ok], x[ok], c[ok]), err[ok])
    np.add.at(count, (s[ok], x[ok], c[ok]), 1.0)
    with np.errstate(invalid="ignore"):
        errors = total / count
    lams = (cells.groupby(c_keys, sort=True, dropna=False)[lam_col].first().to_numpy(dtype=float)
            if len(cells) else np.empty(0))
    return _Grid(np.sort(cells[x_col].unique().astype(float)), lams, errors, shape[0])


def _cell_means(errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, X, C) mean over seeds of each cell, seed s counted weights[b, s] times; NaN where no run."""
    s = errors.shape[0]
    present = np.isfinite(errors).reshape(s, -1)
    num = weights @ np.nan_to_num(errors).reshape(s, -1)
    den = weights @ present
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den).reshape(weights.shape[0], *errors.shape[1:])


def _best_lambdas(means: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """(B, X) lambda of the lowest-error cell per x (first on ties); NaN where x has no finite cell."""
    filled = np.where(np.isfinite(means), means, np.inf)
    best = lams[np.argmin(filled, axis=-1)]
    return np.where(np.isfinite(filled).any(axis=-1), best, np.nan)


def _slopes(log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of log_y (B, X) on log_x, over its finite points; NaN with < 2."""
    m = np.isfinite(log_y)
    n = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = (m * log_x).sum(axis=1) / n
        ybar = np.where(m, log_y, 0.0).sum(axis=1) / n
        dx = np.where(m, log_x - xbar[:, None], 0.0)
        dy = np.where(m, log_y - ybar[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * dy).sum(axis=1) / sxx
    return np.where((n >= 2) & (sxx > 0), slope, np.nan)


def ridge_slope(cells: pd.DataFrame, x_col: str, lam_col: str = "weight_decay",
                err_col: str = "final_val_error", other_cols: Sequence[str] = (), n_boot: int = 1000,
                seed: int = 0, seed_col: str = "seed", level: float = 0.95) -> Slope:
    """Slope of log(best lambda) on log(x), the best cell per x chosen over lambda (and `other_cols`).

    `cells` holds one row per run. Runs with lambda <= 0 are left out. x values whose cells all tie are left
    out of the fit (`n_alpha` counts the x values fitted). The interval is a percentile bootstrap that
    resamples seeds jointly; NaN with fewer than two seeds or when most resamples leave fewer than two points.
    """
    grid = _grid(cells, x_col, lam_col, err_col, other_cols, seed_col)
    if grid.n_seeds == 0:
        return Slope(math.nan, math.nan, math.nan, 0)
    point = _cell_means(grid.errors, np.ones((1, grid.n_seeds)))[0]
    high = np.where(np.isfinite(point), point, -np.inf).max(axis=1)
    low = np.where(np.isfinite(point), point, np.inf).min(axis=1)
    informative = np.isfinite(high) & (high - low > TIE_TOLERANCE)
    log_x = np.log(grid.xs[informative])
    best = _best_lambdas(point[None, informative], grid.lams)
    slope = float(_slopes(log_x, np.log(best))[0])
    n_x = int(np.isfinite(best).sum())
    if grid.n_seeds < 2 or not math.isfinite(slope):
        return Slope(slope, math.nan, math.nan, n_x)
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, grid.n_seeds))
    draws = rng.integers(0, grid.n_seeds, (n_boot, grid.n_seeds))
    np.add.at(weights, (np.repeat(np.arange(n_boot), grid.n_seeds), draws.ravel()), 1.0)
    boot_best = _best_lambdas(_cell_means(grid.errors, weights)[:, informative], grid.lams)
    boots = _slopes(log_x, np.log(boot_best))
    boots = boots[np.isfinite(boots)]
    if boots.size < n_boot / 2:
        return Slope(slope, math.nan, math.nan, n_x)
    lo, hi = np.quantile(boots, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return Slope(slope, float(lo), float(hi), n_x)


def decoupling_slope(cells: pd.DataFrame, lam_col: str = "weight_decay", err_col: str = "final_val_error",
                     n_boot: int = 1000, seed: int = 0, alpha_col: str = "alpha",
                     seed_col: str = "seed") -> Slope:
    """Slope of log(best lambda) against log(alpha) over one optimizer's alpha x lambda grid.

    About -1: coupled (best lambda ~ 1/alpha, the diagonal basin of SGD+L2); about 0: decoupled.
    `cells` holds one row per run of a single optimizer and schedule (columns alpha_col, lam_col, err_col,
    seed_col); lambda = 0 runs are left out. See `ridge_slope` for the interval.
    """
    return ridge_slope(cells, x_col=alpha_col, lam_col=lam_col, err_col=err_col, n_boot=n_boot, seed=seed,
                       seed_col=seed_col)


def best_lambda_per_alpha(cells: pd.DataFrame, lam_col: str = "weight_decay",
                          err_col: str = "final_val_error", alpha_col: str = "alpha",
                          seed_col: str = "seed", include_zero: bool = False) -> pd.DataFrame:
    """The ridge of a heatmap: for each alpha, the lambda with the lowest mean error over seeds.

    Returns one row per alpha (sorted) with columns alpha_col, lam_col, err_col (the mean over seeds of the
    best cell), "n_seeds" (runs in that cell) and "tied" (True when every lambda at that alpha has the same
    mean error, e.g. all diverged: the choice means nothing). include_zero keeps lambda = 0 as a candidate
    (for drawing on a heatmap that has a lambda = 0 column; the slope never uses it).
    """
    keep = cells[lam_col] >= 0 if include_zero else cells[lam_col] > 0
    means = (cells[keep].groupby([alpha_col, lam_col], sort=True)[err_col]
             .agg(["mean", "count"]).reset_index())
    rows = []
    for alpha, group in means.groupby(alpha_col, sort=True):
        valid = group.dropna(subset=["mean"])
        if valid.empty:
            continue
        best = valid.loc[valid["mean"].idxmin()]
        tied = bool(valid["mean"].max() - valid["mean"].min() <= TIE_TOLERANCE) and len(valid) > 1
        rows.append({alpha_col: alpha, lam_col: best[lam_col], err_col: best["mean"],
                     "n_seeds": int(best["count"]), "tied": tied})
    return pd.DataFrame(rows, columns=[alpha_col, lam_col, err_col, "n_seeds", "tied"])
