"""How coupled are learning rate and weight decay? The slope of the ridge of an alpha x lambda heatmap.

For each alpha, take the cell with the lowest mean error over seeds and refine its lambda continuously: the
vertex of the parabola in log(lambda) through that cell and its two neighbours (a grid step alone would make
the slope take coarse steps); fit log(best lambda) against log(alpha) by least squares. A best cell on the
edge of the lambda grid cannot be refined (the optimum may lie beyond it): it is kept at the edge and flagged.
The slope is about -1 when the good region runs along the diagonal (coupled: the
product alpha*lambda is what matters, as for SGD+L2) and about 0 when it is axis-aligned (decoupled: SGDW,
AdamW in the paper's form). The slope is computed on each seed's own grid (runs that share a seed share an
initialisation and a batch order, so a seed's grid is one independent replicate); the estimate is the mean of
the per-seed slopes and its interval the t-interval over seeds (tests/analysis/test_coverage.py checks its
coverage). The slope of the grid of seed means (`pooled`) is shown beside it.

The same machinery with the budget (`epochs`) in place of alpha gives the slope of claim 8 (`ridge_slope`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from .stats import mean_ci

# Two cells whose mean errors differ by less than this are a tie; an alpha whose cells all tie (all diverged,
# say) says nothing about where the best lambda lies and is left out of the fit.
TIE_TOLERANCE = 1e-12


class Slope(NamedTuple):
    """Mean over seeds of the per-seed least-squares slope of log(best lambda) on log(x), its t-interval over
    seeds, the x values fitted (on the grid of seed means) and where that grid's best lambda is on an edge."""

    slope: float
    lo: float
    hi: float
    n_alpha: int
    edge: tuple = ()  # x values whose best cell lies on the lowest or highest lambda of the grid
    n_seeds: int = 0  # seeds with a slope (each seed's own grid)
    pooled: float = math.nan  # the slope of the grid of seed means
    per_seed: tuple = ()  # each seed's own slope (NaN where its grid gives none)


class _Grid(NamedTuple):
    xs: np.ndarray        # (X,) sorted x values (alpha or epochs)
    lams: np.ndarray      # (C,) lambda of each cell
    errors: np.ndarray    # (S, X, C) mean error of seed s in cell (x, c); NaN where no run
    n_seeds: int
    left: np.ndarray      # (C,) the cell one lambda step below (same other columns), -1 at the edge
    right: np.ndarray     # (C,) one step above, -1 at the edge


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
    keys = cells.groupby(c_keys, sort=True, dropna=False)[c_keys].first() if len(cells) else pd.DataFrame()
    lams = keys[lam_col].to_numpy(dtype=float) if len(cells) else np.empty(0)
    left, right = np.full(len(lams), -1), np.full(len(lams), -1)
    if len(cells):
        others = keys[list(other_cols)].astype(str).agg("|".join, axis=1) if other_cols else pd.Series(
            "", index=keys.index)
        for _, idx in pd.Series(range(len(lams)), index=keys.index).groupby(others.to_numpy()):
            order = idx.to_numpy()[np.argsort(lams[idx.to_numpy()])]
            left[order[1:]], right[order[:-1]] = order[:-1], order[1:]
    return _Grid(np.sort(cells[x_col].unique().astype(float)), lams, errors, shape[0], left, right)


def _cell_means(errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, X, C) mean over seeds of each cell, seed s counted weights[b, s] times; NaN where no run."""
    s = errors.shape[0]
    present = np.isfinite(errors).reshape(s, -1)
    num = weights @ np.nan_to_num(errors).reshape(s, -1)
    den = weights @ present
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den).reshape(weights.shape[0], *errors.shape[1:])


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> float:
    """x of the vertex of the parabola through three points (x sorted), kept within [x[0], x[2]]; the middle
    x when the points do not curve upwards (a flat or concave triple has no interior minimum)."""
    (x0, x1, x2), (y0, y1, y2) = x, y
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    curvature = (y0 - y1) / (x1 - x0) + (y2 - y1) / (x2 - x1)
    if not (np.isfinite(num) and np.isfinite(den)) or den == 0 or curvature <= 0:
        return float(x1)
    return float(np.clip(x1 - 0.5 * num / den, x0, x2))


def _best_lambdas(means: np.ndarray, grid: _Grid, refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(B, X) best lambda per x (first on ties), refined by the parabola in log(lambda) through the best cell
    and its neighbours; NaN where x has no finite cell. Also (B, X) True where the best cell is on an edge."""
    filled = np.where(np.isfinite(means), means, np.inf)
    arg = np.argmin(filled, axis=-1)
    best = np.log(grid.lams[arg])
    left, right = grid.left[arg], grid.right[arg]
    edge = (left < 0) | (right < 0)
    if refine:
        log_lams = np.log(grid.lams)
        for b, x in zip(*np.nonzero(~edge), strict=True):
            cells = np.array([left[b, x], arg[b, x], right[b, x]])
            y = means[b, x, cells]
            if np.isfinite(y).all():
                best[b, x] = parabola_vertex(log_lams[cells], y)
    ok = np.isfinite(filled).any(axis=-1)
    return np.where(ok, np.exp(best), np.nan), edge & ok


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


def _fit(means: np.ndarray, grid: _Grid) -> tuple[float, int, tuple]:
    """Slope of log(best lambda) on log(x) over one (X, C) grid of mean errors, the x values fitted, and those
    whose best cell is on a lambda edge. x values whose cells all tie (or are all missing) are left out."""
    high = np.where(np.isfinite(means), means, -np.inf).max(axis=1)
    low = np.where(np.isfinite(means), means, np.inf).min(axis=1)
    informative = np.isfinite(high) & (high - low > TIE_TOLERANCE)
    best, edge = _best_lambdas(means[None, informative], grid)
    slope = float(_slopes(np.log(grid.xs[informative]), np.log(best))[0])
    return slope, int(np.isfinite(best).sum()), tuple(float(x) for x in grid.xs[informative][edge[0]])


def ridge_slope(cells: pd.DataFrame, x_col: str, lam_col: str = "weight_decay",
                err_col: str = "final_val_error", other_cols: Sequence[str] = (), seed_col: str = "seed",
                level: float = 0.95) -> Slope:
    """Slope of log(best lambda) on log(x), the best cell per x chosen over lambda (and `other_cols`).

    `cells` holds one row per run; runs with lambda <= 0 are left out, and only the seeds every cell has (the
    grid's) enter. The slope is fitted on each seed's own grid; the result is their mean with the t-interval
    over seeds (NaN with fewer than two seeds), and the slope of the grid of seed means as `pooled`.
    """
    cells = shared_seeds(cells[(cells[lam_col] > 0) & (cells[x_col] > 0)], [x_col, *other_cols, lam_col],
                         seed_col)
    grid = _grid(cells, x_col, lam_col, err_col, other_cols, seed_col)
    if grid.n_seeds == 0:
        return Slope(math.nan, math.nan, math.nan, 0)
    pooled, n_x, edges = _fit(_cell_means(grid.errors, np.ones((1, grid.n_seeds)))[0], grid)
    per_seed = np.array([_fit(grid.errors[s], grid)[0] for s in range(grid.n_seeds)])
    ci = mean_ci(per_seed, level)
    n = int(np.isfinite(per_seed).sum())
    return Slope(ci.value, ci.lo, ci.hi, n_x, edges, n, pooled, tuple(float(x) for x in per_seed))


def decoupling_slope(cells: pd.DataFrame, lam_col: str = "weight_decay", err_col: str = "final_val_error",
                     alpha_col: str = "alpha", seed_col: str = "seed") -> Slope:
    """Slope of log(best lambda) against log(alpha) over one optimizer's alpha x lambda grid.

    About -1: coupled (best lambda ~ 1/alpha, the diagonal basin of SGD+L2); about 0: decoupled.
    `cells` holds one row per run of a single optimizer and schedule (columns alpha_col, lam_col, err_col,
    seed_col); lambda = 0 runs are left out. See `ridge_slope` for the interval.
    """
    return ridge_slope(cells, x_col=alpha_col, lam_col=lam_col, err_col=err_col, seed_col=seed_col)


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
    cells = shared_seeds(cells[keep], [alpha_col, lam_col], seed_col)
    means = (cells.groupby([alpha_col, lam_col], sort=True)[err_col]
             .agg(["mean", "count"]).reset_index())
    rows = []
    for alpha, group in means.groupby(alpha_col, sort=True):
        valid = group.dropna(subset=["mean"])
        if valid.empty:
            continue
        best = valid.loc[valid["mean"].idxmin()]
        tied = bool(valid["mean"].max() - valid["mean"].min() <= TIE_TOLERANCE) and len(valid) > 1
        lams = valid[lam_col].to_numpy(dtype=float)
        i = int(np.flatnonzero(lams == best[lam_col])[0])
        positive = lams > 0
        edge = bool(best[lam_col] > 0 and (best[lam_col] == lams[positive].min() or best[lam_col] == lams.max()))
        fit = float(best[lam_col])
        if not edge and best[lam_col] > 0 and 0 < i < len(lams) - 1 and lams[i - 1] > 0:
            fit = math.exp(parabola_vertex(np.log(lams[i - 1:i + 2]), valid["mean"].to_numpy()[i - 1:i + 2]))
        rows.append({alpha_col: alpha, lam_col: best[lam_col], err_col: best["mean"],
                     "n_seeds": int(best["count"]), "tied": tied, "edge": edge and not tied, "lam_fit": fit})
    return pd.DataFrame(rows, columns=[alpha_col, lam_col, err_col, "n_seeds", "tied", "edge", "lam_fit"])


def shared_seeds(cells: pd.DataFrame, cols: Sequence[str], seed_col: str = "seed") -> pd.DataFrame:
    """The rows whose seed every cell (distinct values of `cols`) has: a cell rerun with extra seeds (a tune
    stage) is compared with the others on the seeds they share, not on its own larger sample."""
    cols = [c for c in cols if c in cells]
    if cells.empty or not cols:
        return cells
    seed_sets = cells.groupby(cols, dropna=False)[seed_col].agg(frozenset)
    common = frozenset.intersection(*seed_sets)
    return cells[cells[seed_col].isin(common)] if common else cells
