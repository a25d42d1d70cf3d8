"""The findings judged on learning curves (the history table): 7 (test error at equal training loss),
9 (warm restarts before each restart) and 10 (cyclical learning rates against tuned baselines).

Same rules as adamw_repro.analysis.claims, whose `evaluate_claims` calls them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .selection import HYPER_COLS, LABELS, _by_seed, _rows, compare, describe, tune
from .stats import CI, mean_ci
from .verdicts import (
    ClaimResult,
    _fmt_ci,
    _missing,
    _need,
    _not_run,
    _part,
    _result,
)

CLR_CYCLIC = ("triangular", "triangular2", "exp_range")


N_LOSS_LEVELS = 5  # claim 7: train-loss levels, log-spaced inside the range both optimizers' settings cover


def _equal_loss_gap(tables: dict[str, tuple[np.ndarray, np.ndarray]], draw: np.ndarray) -> float:
    """Mean over loss levels of err(AdamW)/err(Adam+L2) - 1 at equal final train loss. tables[opt] holds
    (log loss, test error) arrays of shape (settings, seeds); each setting's point is its mean over the seed
    columns `draw` (a bootstrap draw may repeat seeds), and each optimizer's points are joined in log loss."""
    points = {o: (x[:, draw].mean(axis=1), y[:, draw].mean(axis=1)) for o, (x, y) in tables.items()}
    lo = max(x.min() for x, _ in points.values())
    hi = min(x.max() for x, _ in points.values())
    if not lo < hi:
        return math.nan
    levels = np.linspace(lo, hi, N_LOSS_LEVELS + 2)[1:-1]
    at = {}
    for o, (x, y) in points.items():
        order = np.argsort(x)
        at[o] = np.interp(levels, x[order], y[order])
    return float(np.mean(at["adamw"] / at["adam"] - 1.0))


def claim_7(runs: pd.DataFrame, history: pd.DataFrame | None, value: float) -> ClaimResult:
    """fig3 as the paper measures it: final test error against final training loss across the lambda settings
    of each optimizer; AdamW's test error at the training losses both reach, relative to Adam+L2's."""
    exp = "fig3_curves"
    rows = _rows(runs, exp, optimizer=("adam", "adamw"))
    if rows.empty or set(rows["optimizer"]) != {"adam", "adamw"}:
        return _not_run(7, exp, f"No runs of `{exp}` for both adam and adamw.")
    quantity = ("relative final test error at equal final train loss, AdamW vs Adam+L2, across lambda settings "
                "(err(AdamW)/err(Adam) - 1, mean over loss levels)")
    cols = [c for c in HYPER_COLS if c in rows]
    finals = rows.assign(setting=rows.groupby(cols, dropna=False, sort=True).ngroup(),
                         loss=rows["final_train_loss"].astype(float).clip(lower=1e-12),
                         test=rows["final_test_error"].astype(float))[["optimizer", "setting", "seed", "loss", "test"]]
    seeds = np.array(sorted(set.intersection(*(set(finals.loc[finals["optimizer"] == o, "seed"])
                                               for o in ("adam", "adamw")))))
    finals = finals[finals["seed"].isin(seeds)].assign(loss=lambda d: np.log(d["loss"]))
    tables = {o: tuple(finals[finals["optimizer"] == o].pivot_table(index="setting", columns="seed", values=v)
                       .reindex(columns=seeds).to_numpy() for v in ("loss", "test")) for o in ("adam", "adamw")}
    complete = all(np.isfinite(t).all() for pair in tables.values() for t in pair)
    value_here = _equal_loss_gap(tables, np.arange(seeds.size)) if seeds.size and complete else math.nan
    if not math.isfinite(value_here):
        part = _missing("equal train loss", quantity, "<", -value, "the final train losses do not overlap")
        return _result(7, exp, [part], ["The two optimizers' final train-loss ranges do not overlap."])
    rng = np.random.default_rng(0)
    boots = np.array([_equal_loss_gap(tables, rng.integers(0, seeds.size, seeds.size)) for _ in range(1000)])
    boots = boots[np.isfinite(boots)]
    ci = (CI(value_here, *np.quantile(boots, [0.025, 0.975])) if seeds.size > 1 and boots.size > 500
          else CI(value_here, math.nan, math.nan))
    notes = [f"{rows.groupby(cols, dropna=False).ngroups} settings on {seeds.size} seeds. Each setting is one point "
             "(final train loss, final test error), mean over seeds; each optimizer's points are joined in "
             f"log(train loss) and read at {N_LOSS_LEVELS} levels inside the range both cover. Interval: "
             "bootstrap over seeds."]
    return _result(7, exp, [_part("equal train loss", quantity, ci, "<", -value, int(seeds.size),
                                  "bootstrap over seeds")], notes)


LAST_EPOCHS = 3  # claim 9: the test error of a cycle is its mean over the last 3 epochs (one epoch is noisy)


def _cycle_ends(T0: float, T_mult: float, budget: float) -> list[float]:
    """Epochs at which a warm-restart cycle ends, up to and including the end of the budget."""
    out, end, period = [], T0, T0
    while end <= budget + 1e-9 and period > 0:
        out.append(end)
        period *= T_mult
        end += period
    return out


def _cycle_mean(hist: pd.DataFrame, rows: pd.DataFrame, start: float, end: float) -> pd.Series:
    """Per seed: mean test error over the epochs in (start, end]."""
    epochs = hist["epoch"].astype(float)
    sel = hist[hist["run_id"].isin(rows["run_id"]) & (epochs > start + 1e-9) & (epochs <= end + 1e-9)]
    return sel.groupby("seed")["test_error"].mean().astype(float)


def claim_9(runs: pd.DataFrame, history: pd.DataFrame | None, value: float) -> ClaimResult:
    """fig4: test error at the end of each warm-restart cycle (mean of its last epochs) vs one cosine run of the
    same optimizer at the same epochs."""
    exp = "fig4_restarts"
    rows, hist = _rows(runs, exp), _rows(history, exp)
    if rows.empty or hist.empty:
        return _not_run(9, exp, f"No runs, or no per-epoch history, of `{exp}`.")
    opts = [o for o in sorted(rows["optimizer"].unique())
            if {"warm_restarts", "cosine"} <= set(rows.loc[rows["optimizer"] == o, "schedule"])]
    if not opts:
        return _not_run(9, exp, f"`{exp}` has no optimizer with both warm_restarts and cosine runs.")
    parts, notes = [], []
    for opt in opts:
        mine = rows[rows["optimizer"] == opt]
        wr, cos = tune(mine[mine["schedule"] == "warm_restarts"]), tune(mine[mine["schedule"] == "cosine"])
        first = wr.iloc[0]
        t_mult = first["T_mult"] if pd.notna(first["T_mult"]) else 2.0
        ends = _cycle_ends(float(first["T0"]), float(t_mult), float(first["epochs"]))
        notes.append(f"{LABELS.get(opt, opt)}: warm restarts {describe(wr)}; cosine {describe(cos)}.")
        budget = float(first["epochs"])
        for k, epoch in enumerate(ends, start=1):
            start = max(epoch - LAST_EPOCHS, ends[k - 2] if k > 1 else 0.0)  # within the cycle
            name = f"{opt}, cycle {k}"
            quantity = (f"relative test error over epochs {start + 1:g}-{epoch:g} (end of cycle {k}), "
                        f"{LABELS.get(opt, opt)} warm restarts vs one cosine run (err(WR)/err(cosine) - 1)")
            a, b = _cycle_mean(hist, wr, start, epoch), _cycle_mean(hist, cos, start, epoch)
            if epoch >= budget - 1e-9:  # both schedules have annealed to the end: shown, not judged
                if not a.empty and not b.empty:
                    notes.append(f"{opt} at the end of the budget (epochs {start + 1:g}-{epoch:g}, "
                                 f"not judged: the cosine run ends there too): {_fmt_ci(*compare(a, b)[0])}.")
                continue
            if a.empty or b.empty:
                parts.append(_missing(name, quantity, "<", -value, f"no history rows up to epoch {epoch:g}"))
                continue
            ci, n, method = compare(a, b)
            parts.append(_part(name, quantity, ci, "<", -value, n, method))
        if not [e for e in ends if e < budget - 1e-9]:
            notes.append(f"{opt}: no cycle ends before the budget (T0={first['T0']:g}).")
    notes.append(f"Each cycle's error is the mean over its last {LAST_EPOCHS} epochs (one epoch's error is noisy).")
    return _result(9, exp, parts, notes)


def _iterations_ratio(clr: pd.DataFrame, fixed: pd.DataFrame, hist: pd.DataFrame) -> pd.Series:
    """Per seed: iterations the CLR run needs to reach the fixed run's final validation error, over the fixed
    run's iterations. A run that never reaches it counts as reaching it one evaluation after its last one
    (a lower bound on a censored value)."""
    targets = _by_seed(fixed, "final_val_error")
    totals = _by_seed(fixed, "steps")
    for seed, run_id in zip(fixed["seed"], fixed["run_id"], strict=True):
        if not math.isfinite(totals.get(seed, math.nan)):  # steps missing: the history's last step
            totals[seed] = hist.loc[hist["run_id"] == run_id, "step"].max()
    out = {}
    for seed, run_id in zip(clr["seed"], clr["run_id"], strict=True):
        curve = hist[hist["run_id"] == run_id].sort_values("step")
        target, total = targets.get(seed, targets.mean()), totals.get(seed, totals.median())
        if curve.empty or not total > 0:
            continue
        hit = curve.loc[curve["val_error"] <= target + 1e-12, "step"]
        steps = curve["step"].to_numpy(dtype=float)
        never = steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else steps[-1])
        out[seed] = (hit.iloc[0] if len(hit) else never) / total
    return pd.Series(out, dtype=float)


def claim_10(runs: pd.DataFrame, history: pd.DataFrame | None, value: Any) -> ClaimResult:
    """clr: SGD triangular(2) reach the fixed rate's final accuracy sooner; decay-only ends worse than
    triangular2; Adam's best cyclic schedule gains little over its fixed rate."""
    exp = "clr"
    rows, hist = _rows(runs, exp), _rows(history, exp)
    if rows.empty:
        return _not_run(10, exp, f"No runs of `{exp}`.")
    ratio_max = _need(value, "iter_ratio_max", 10)
    excess, gain = _need(value, "decay_only_min_excess", 10), _need(value, "adam_gain_max", 10)
    tuned = {(o, s): tune(rows[(rows["optimizer"] == o) & (rows["schedule"] == s)])
             for o in ("sgd", "adam") for s in ("fixed", "exponential", "triangular", "triangular2", "decay_only")}
    tuned["adam", "cyclic"] = tune(rows[(rows["optimizer"] == "adam") & rows["schedule"].isin(CLR_CYCLIC)])
    for o in ("sgd", "adam"):  # the baseline: fixed or exponential, each tuned over alpha, whichever is better
        tuned[o, "baseline"] = tune(rows[(rows["optimizer"] == o) & rows["schedule"].isin(("fixed", "exponential"))])
    parts = []
    for sched in ("triangular", "triangular2"):
        clr, fixed = tuned["sgd", sched], tuned["sgd", "baseline"]
        quantity = (f"iterations for SGD {sched} to reach the tuned baseline's (fixed or exponential) final "
                    "validation error, over the baseline's iterations")
        if clr.empty or fixed.empty or hist.empty:
            parts.append(_missing(f"sgd {sched} sooner", quantity, "<", ratio_max,
                                  f"needs sgd fixed or exponential and {sched} runs with history"))
            continue
        ratio = _iterations_ratio(clr, fixed, hist)
        parts.append(_part(f"sgd {sched} sooner", quantity, mean_ci(ratio.to_numpy()), "<", ratio_max,
                           len(ratio), "t over seeds (target paired by seed)"))
    for name, a, b, op, thr, quantity in (
            ("sgd decay_only worse", tuned["sgd", "decay_only"], tuned["sgd", "triangular2"], ">", excess,
             "relative final test error, SGD decay-only vs triangular2 (err(decay)/err(tri2) - 1)"),
            ("adam clr gain small", tuned["adam", "cyclic"], tuned["adam", "baseline"], ">", -gain,
             "relative final test error, Adam best cyclic schedule vs the tuned baseline, fixed or exponential "
             "(err(CLR)/err(baseline) - 1)")):
        if a.empty or b.empty:
            parts.append(_missing(name, quantity, op, thr, "a schedule is missing"))
            continue
        ci, n, method = compare(_by_seed(a), _by_seed(b))
        parts.append(_part(name, quantity, ci, op, thr, n, method))
    chosen = dict.fromkeys(describe(t) for t in tuned.values() if not t.empty)  # the baselines repeat one
    notes = ["Selected on validation: " + "; ".join(chosen) + "."]
    return _result(10, exp, parts, notes)
