"""Finding 13, decay helps through a large learning rate (D'Angelo, Andriushchenko, Varre & Flammarion, NeurIPS
2024; docs/paper.md section 5), read off the cosine alpha x lambda grids that hold lambda = 0 at every alpha
(fig2_sgd_adam; at the quick scale Adam+L2's and AdamW's are fig1_schedules' cosine runs).

Per optimizer, alpha and seed: the gain of tuned decay over none, err(best lambda > 0)/err(lambda = 0) - 1 on the
final test error (-0.2: decay cuts the error by 20 %). The best lambda is chosen on validation by leaving the
measured seed out: for seed s, the cell with the lowest mean validation error over the other grid seeds, so that
the seed that measures the gain never chose it (choosing and measuring on the same seeds would favour decay, which
has many cells to pick from where lambda = 0 has one). With a single grid seed there is nothing to leave out: the
choice is made on that seed and the note says so. The claim's quantities: the slope of the gain on log2(alpha), per
seed (negative: decay's benefit grows with alpha), and the gain at the grid's smallest alpha (about zero), each with
a t-interval over seeds. An alpha at which every run of the grid diverged is left out (it says nothing about decay).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..decoupling import shared_seeds
from ..stats import CI
from .common import seed_ci, slopes_by_seed

OPTIMIZERS = ("sgd", "sgdw", "adam", "adamw")
JUDGED = ("sgd", "sgdw")  # D'Angelo et al.'s vision experiments train with SGD; the Adam variants are shown
LABELS = {"sgd": "SGD+L2", "sgdw": "SGDW", "adam": "Adam+L2", "adamw": "AdamW"}
GAIN_COLUMNS = ("alpha", "seed", "lam_chosen", "err_decay", "err_zero", "gain", "selection")


def cosine_grid(runs: pd.DataFrame, optimizer: str) -> tuple[str, pd.DataFrame]:
    """One optimizer's cosine alpha x lambda grid: fig2_sgd_adam's, else fig1_schedules' cosine runs."""
    for experiment in ("fig2_sgd_adam", "fig1_schedules"):
        rows = runs[(runs["experiment"] == experiment) & (runs["optimizer"] == optimizer)
                    & (runs["schedule"] == "cosine")]
        if not rows.empty:
            return experiment, rows
    return "fig2_sgd_adam", runs.iloc[0:0]


def lambda_column(rows: pd.DataFrame) -> str:
    """`lambda_norm` where the grid sets it (paper scale), else `weight_decay`."""
    return "lambda_norm" if not rows.empty and rows["lambda_norm"].notna().all() else "weight_decay"


def gains(rows: pd.DataFrame, lam_col: str | None = None, *, val: str = "final_val_error",
          test: str = "final_test_error") -> pd.DataFrame:
    """One row per alpha and grid seed (GAIN_COLUMNS): decay's gain with lambda chosen leaving that seed out."""
    lam_col = lam_col or lambda_column(rows)
    rows = shared_seeds(rows.assign(_lam=rows[lam_col].fillna(0.0)), ["alpha", "_lam"])  # the grid seeds
    out = []
    for alpha, grid in rows.groupby("alpha", sort=True):
        if "status" in grid and (grid["status"] == "diverged").all():
            continue
        zero, decay = grid[grid["_lam"] == 0], grid[grid["_lam"] > 0]
        if zero.empty or decay.empty:
            continue
        seeds = sorted(set(zero["seed"]) & set(decay["seed"]))
        for seed in seeds:
            others = decay[decay["seed"] != seed] if len(seeds) > 1 else decay
            means = others.groupby("_lam")[val].mean().dropna()
            if means.empty:
                continue
            lam = float(means.idxmin())
            err_decay = decay.loc[(decay["_lam"] == lam) & (decay["seed"] == seed), test].mean()
            err_zero = zero.loc[zero["seed"] == seed, test].mean()
            out.append({"alpha": alpha, "seed": seed, "lam_chosen": lam, "err_decay": err_decay, "err_zero": err_zero,
                        "gain": err_decay / err_zero - 1.0 if err_zero > 0 else math.nan,
                        "selection": "leave-one-seed-out" if len(seeds) > 1 else "same seed"})
    return pd.DataFrame(out, columns=list(GAIN_COLUMNS))


def gain_by_alpha(table: pd.DataFrame) -> pd.DataFrame:
    """Per alpha: the mean gain over seeds with its t-interval (gain, lo, hi, n_seeds)."""
    rows = []
    for alpha, g in table.groupby("alpha", sort=True):
        ci, n = seed_ci(g["gain"])
        rows.append({"alpha": alpha, "gain": ci.value, "lo": ci.lo, "hi": ci.hi, "n_seeds": n})
    return pd.DataFrame(rows, columns=["alpha", "gain", "lo", "hi", "n_seeds"])


def gain_slope(table: pd.DataFrame) -> tuple[CI, int, pd.Series]:
    """The slope of the gain on log2(alpha), per seed, with its t-interval over seeds."""
    per_seed = slopes_by_seed(table.assign(log2_alpha=np.log2(table["alpha"])), "log2_alpha", "gain")
    ci, n = seed_ci(per_seed)
    return ci, n, per_seed


def smallest_alpha_gain(table: pd.DataFrame) -> tuple[CI, int, float]:
    """The gain at the grid's smallest alpha with its t-interval over seeds, and that alpha."""
    if table.empty:
        return CI(math.nan, math.nan, math.nan), 0, math.nan
    alpha = float(table["alpha"].min())
    ci, n = seed_ci(table.loc[table["alpha"] == alpha, "gain"])
    return ci, n, alpha
