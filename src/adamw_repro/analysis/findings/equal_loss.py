"""Finding 7, read off Fig. 3's runs (fig3_curves): at equal training loss AdamW has the lower test error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..criteria import Effect
from ..registry import Tables, Thresholds, finding
from ..selection import cell_codes, rows_of
from ..stats import mean_ci
from ..verdicts import ClaimResult, not_run, result

N_LOSS_LEVELS = 5  # train-loss levels, log-spaced inside the range both optimizers' settings cover


def equal_loss_gap(points: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over loss levels of err(AdamW)/err(Adam+L2) - 1 at equal final train loss. points[opt] holds
    (log final train loss, final test error) of each lambda setting; each optimizer's points are joined in log
    loss and read at levels inside the range both cover (NaN when the ranges do not overlap)."""
    lo = max(x.min() for x, _ in points.values())
    hi = min(x.max() for x, _ in points.values())
    if not lo < hi:
        return math.nan
    levels = np.linspace(lo, hi, N_LOSS_LEVELS + 2)[1:-1]
    at = {}
    for opt, (x, y) in points.items():
        order = np.argsort(x)
        at[opt] = np.interp(levels, x[order], y[order])
    return float(np.mean(at["adamw"] / at["adam"] - 1.0))


@finding(7, Effect("<"), differs="""
    The paper's Fig. 3 runs 1800 epochs of Shake-Shake 26 2x96d on CIFAR-10; here a small CNN trains a short budget,
    so the two optimizers' final training losses overlap over a narrow range and a gap at equal loss has little room
    to open.""")
def judge_equal_loss(data: Tables, t: Thresholds) -> ClaimResult:
    """Per seed: final test error against final training loss across each optimizer's lambda settings, AdamW's
    relative to Adam+L2's at the losses both reach; a t-interval over seeds."""
    exp = "fig3_curves"
    rows = rows_of(data.runs, exp, optimizer=("adam", "adamw"))
    if rows.empty or set(rows["optimizer"]) != {"adam", "adamw"}:
        return not_run(7, exp, f"No runs of `{exp}` for both adam and adamw.")
    quantity = ("relative final test error at equal final train loss, AdamW vs Adam+L2, across lambda settings "
                "(err(AdamW)/err(Adam) - 1, mean over loss levels)")
    rows = rows.assign(setting=cell_codes(rows), loss=np.log(rows["final_train_loss"].astype(float).clip(lower=1e-12)),
                       test=rows["final_test_error"].astype(float))
    rows = rows[np.isfinite(rows["loss"]) & np.isfinite(rows["test"])]
    gaps = {}
    for seed, mine in rows.groupby("seed", sort=True):
        points = {o: (g["loss"].to_numpy(), g["test"].to_numpy()) for o, g in mine.groupby("optimizer")}
        if set(points) == {"adam", "adamw"} and all(len(x) >= 2 for x, _ in points.values()):
            gaps[seed] = equal_loss_gap(points)
    gaps = pd.Series(gaps, dtype=float)
    means = rows.groupby(["optimizer", "setting"])[["loss", "test"]].mean()
    pooled = equal_loss_gap({o: (g["loss"].to_numpy(), g["test"].to_numpy()) for o, g in means.groupby(level=0)})
    if not np.isfinite(gaps).any():
        part = t.one.missing("equal train loss", quantity, "the final train losses do not overlap on any seed")
        return result(7, exp, [part], ["The two optimizers' final train-loss ranges do not overlap."])
    ci = mean_ci(gaps.to_numpy())
    n = int(np.isfinite(gaps).sum())
    notes = [f"{rows['setting'].nunique()} settings; per seed, each optimizer's settings are points (final train "
             "loss, final test error), joined in log(train loss) and read at "
             f"{N_LOSS_LEVELS} levels inside the range both cover on that seed; the gap is then averaged over "
             f"{n} seeds (t-interval). Per seed: " + ", ".join(f"{s}: {g:+.3f}" for s, g in gaps.items()) + "."
             + (f" On the seed means the gap is {pooled:+.3f}." if np.isfinite(pooled) else "")]
    if n < len(gaps):
        notes.append(f"{len(gaps) - n} seed(s) left out: their loss ranges do not overlap.")
    return result(7, exp, [t.one.part("equal train loss", quantity, ci, n, "t over per-seed gaps")], notes)
