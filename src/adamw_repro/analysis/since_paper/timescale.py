"""Finding 11, the EMA timescale (Wang & Aitchison, ICML 2025; docs/paper.md section 5), on the `timescale`
experiment: AdamW at one alpha on nested training sets of N samples, a lambda grid at each N.

AdamW's weights are an exponential moving average of their updates with timescale tau_iter = 1/(eta*lambda) steps,
tau_epoch = tau_iter/ceil(N/b) epochs. If the best tau_epoch stays put as N grows, the best lambda falls as 1/N
(slope -1 of ln(best lambda) on ln(N)); the paper's normalized decay, lambda = lambda_norm*sqrt(b/(N*T)), predicts
1/sqrt(N) (slope -1/2). Per seed, the best lambda at each N is the vertex of the parabola in ln(lambda) through
the cell with the lowest validation error and its two neighbours (a best cell on the grid's edge stays there and is
flagged); the slope is fitted per seed and the interval is a t-interval over the per-seed slopes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adamw_repro import units

from ..decoupling import parabola_vertex, shared_seeds
from ..stats import CI
from .common import fmt, fmt_ci, seed_ci, slope

EXPERIMENT = "timescale"
EMA_SLOPE, NORMALIZED_SLOPE = -1.0, -0.5  # the two predictions for ln(best lambda) on ln(N)
TIE = 1e-12  # cells closer than this in error are a tie: a size whose cells all tie says nothing
BEST_COLUMNS = ("seed", "alpha", "train_size", "batch_size", "lam_cell", "lam_best", "err_best", "edge", "tied")


def _best_of(lams: np.ndarray, errs: np.ndarray) -> tuple[float, float, float, bool, bool]:
    """(grid lambda of the best cell, refined lambda, its error, on an edge, all tied) over sorted lambdas."""
    ok = np.isfinite(errs)
    if not ok.any():
        return math.nan, math.nan, math.nan, False, False
    if ok.sum() > 1 and np.nanmax(errs) - np.nanmin(errs) <= TIE:
        return math.nan, math.nan, float(np.nanmin(errs)), False, True
    i = int(np.nanargmin(errs))
    edge = i == 0 or i == len(lams) - 1
    best = math.log(lams[i])
    if not edge and np.isfinite(errs[i - 1:i + 2]).all():
        best = parabola_vertex(np.log(lams[i - 1:i + 2]), errs[i - 1:i + 2])
    return float(lams[i]), math.exp(best), float(errs[i]), edge, False


def best_lambdas(rows: pd.DataFrame, *, size_col: str = "train_size", lam_col: str = "weight_decay",
                 err_col: str = "final_val_error", pooled: bool = False) -> pd.DataFrame:
    """The best lambda (> 0) at each seed, alpha and training-set size, chosen on `err_col` (BEST_COLUMNS, with
    `train_size` holding `size_col`). pooled=True: one curve per size from the mean over the seeds every cell has
    (seed -1), as a reader of the figure sees it."""
    rows = rows[(rows[lam_col] > 0) & (rows[size_col] > 0)]
    if pooled:
        rows = shared_seeds(rows, ["alpha", size_col, lam_col]).assign(seed=-1)
    out = []
    for (seed, alpha, size), group in rows.groupby(["seed", "alpha", size_col], sort=True):
        means = group.groupby(lam_col, sort=True)[err_col].mean()
        cell, best, err, edge, tied = _best_of(means.index.to_numpy(float), means.to_numpy(float))
        out.append({"seed": seed, "alpha": alpha, "train_size": size, "batch_size": group["batch_size"].iloc[0],
                    "lam_cell": cell, "lam_best": best, "err_best": err, "edge": edge, "tied": tied})
    return pd.DataFrame(out, columns=list(BEST_COLUMNS))


@dataclass(frozen=True)
class TimescaleFit:
    """The slope of ln(best lambda) on ln(N): per seed, its t-interval, and the best lambda per size."""

    per_seed: pd.Series     # slope per seed (the mean over alphas where a sweep holds several)
    slope: CI               # mean of the per-seed slopes and its t-interval
    n_seeds: int
    pooled_slope: float     # the slope of the best lambdas of the seed-mean curves
    best: pd.DataFrame      # best_lambdas per seed
    per_size: pd.DataFrame  # alpha, train_size, lam_geo (geometric mean over seeds), lam_pooled, tau_epoch, ...


def timescale_fit(runs: pd.DataFrame, experiment: str = EXPERIMENT, optimizer: str = "adamw",
                  lam_col: str = "weight_decay") -> TimescaleFit | None:
    """Finding 11's quantity from the runs table; None without runs of `optimizer` at two sizes or more."""
    rows = runs[(runs["experiment"] == experiment) & (runs["optimizer"] == optimizer)]
    if rows.empty or rows["train_size"].nunique() < 2:
        return None
    best = best_lambdas(rows, lam_col=lam_col)
    per_alpha = [{"seed": s, "alpha": a, "slope": slope(np.log(g["train_size"]), np.log(g["lam_best"]))}
                 for (s, a), g in best.groupby(["seed", "alpha"], sort=True)]
    per_seed = pd.DataFrame(per_alpha).groupby("seed")["slope"].mean()
    ci, n = seed_ci(per_seed)
    pooled = best_lambdas(rows, lam_col=lam_col, pooled=True)
    pooled_slope = float(np.nanmean([slope(np.log(g["train_size"]), np.log(g["lam_best"]))
                                     for _, g in pooled.groupby("alpha")])) if not pooled.empty else math.nan
    per_size = (best.assign(log_lam=np.log(best["lam_best"]))
                .groupby(["alpha", "train_size"], sort=True)
                .agg(lam_geo=("log_lam", lambda v: math.exp(v.mean()) if v.notna().any() else math.nan),
                     n_seeds=("lam_best", "count"), n_edge=("edge", "sum"), batch_size=("batch_size", "first"))
                .reset_index())
    per_size = per_size.merge(pooled[["alpha", "train_size", "lam_best"]].rename(columns={"lam_best": "lam_pooled"}),
                              on=["alpha", "train_size"], how="left")
    per_size["tau_epoch"] = units.tau_epoch(optimizer, per_size["alpha"], per_size["lam_geo"],
                                            batch_size=per_size["batch_size"], train_size=per_size["train_size"])
    return TimescaleFit(per_seed, ci, n, pooled_slope, best, per_size)


def excluded_text(ci: CI) -> str:
    """Which of the two predictions, -1 (constant tau_epoch) and -1/2 (normalized decay), the interval excludes."""
    if not all(math.isfinite(v) for v in ci):
        return "Without an interval (one seed) neither prediction can be excluded."
    names = {EMA_SLOPE: "-1 (constant tau_epoch, the EMA view)",
             NORMALIZED_SLOPE: "-1/2 (the paper's normalized decay)"}
    out = [n for s, n in names.items() if ci.hi < s or ci.lo > s]
    kept = [n for s, n in names.items() if not (ci.hi < s or ci.lo > s)]
    if not out:
        return f"The interval {fmt_ci(ci)} holds both {kept[0]} and {kept[1]}: it excludes neither."
    said = f"The interval {fmt_ci(ci)} excludes {' and '.join(out)}"
    return said + (f" and holds {kept[0]}." if kept else ": neither prediction fits.")


def notes(fit: TimescaleFit) -> list[str]:
    """Finding 11's notes: which prediction the interval excludes, the best lambda and tau_epoch per size, edges."""
    sizes = "; ".join(
        f"N = {int(r.train_size)}: best lambda {fmt(r.lam_geo)} (geometric mean over {int(r.n_seeds)} seeds"
        + (f", {int(r.n_edge)} on a grid edge" if r.n_edge else "") + f"), tau_epoch {fmt(r.tau_epoch)} epochs"
        for r in fit.per_size.itertuples())
    tau_slope = -1.0 - fit.slope.value  # tau_epoch ~ b/(N*lambda): ln tau_epoch = -ln N - ln lambda + const
    out = [
        f"{excluded_text(fit.slope)} Slope of the seed-mean curves' optima: {fmt(fit.pooled_slope)}.",
        f"Best lambda and its EMA timescale per training-set size (at the peak rate): {sizes}. Constant tau_epoch "
        f"means a slope of 0 of ln(tau_epoch) on ln(N), normalized decay -1/2; measured {fmt(tau_slope)}.",
    ]
    edges = fit.best[fit.best["edge"]]
    if not edges.empty:
        out.append(f"**{len(edges)} of {len(fit.best)} per-seed optima lie on an edge of the lambda grid** (kept "
                   "at the edge: the optimum may lie beyond it), at N = "
                   + ", ".join(str(int(n)) for n in sorted(edges["train_size"].unique())) + ".")
    return out
