"""Finding 10, read off the cyclical-learning-rate runs (clr), as Smith measured it: the iterations a cyclic
schedule needs to reach the tuned baseline's final accuracy, as censored data; decay-only against triangular2;
and how little CLR helps Adam.

The baseline (fixed or exponential, each over an alpha grid) is chosen on validation over the grid seeds; its
runs on the tune stage's fresh seeds give the target (their final validation error, per seed) and the baseline's
iterations, and every CLR arm is rerun on the same fresh seeds, so time-to-target is measured on runs the choice
never saw. A run that never reaches the target is censored (+inf), never "one evaluation late".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..criteria import Bound, Effect
from ..registry import Tables, Thresholds, finding
from ..selection import by_seed, compare, describe, fresh_only, grid_seeds, rows_of, tune
from ..stats import median_ci, sign_test
from ..verdicts import ClaimResult, not_run, result

CLR_CYCLIC = ("triangular", "triangular2", "exp_range")
BASELINES = ("fixed", "exponential")


def iterations_to_target(arm: pd.DataFrame, baseline: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Per seed both have: the iterations the arm's run needs to reach the baseline run's final validation error,
    over the baseline run's iterations; +inf where it never does (censored)."""
    target = by_seed(baseline, "final_val_error")
    total = by_seed(baseline, "steps")
    out = {}
    for seed, run_id in zip(arm["seed"], arm["run_id"], strict=True):
        if seed not in target.index or not total.get(seed, math.nan) > 0:
            continue
        curve = history[(history["run_id"] == run_id) & history["val_error"].notna()].sort_values("step")
        if curve.empty:
            continue
        hit = curve.loc[curve["val_error"] <= target[seed] + 1e-12, "step"]
        out[seed] = float(hit.iloc[0]) / float(total[seed]) if len(hit) else math.inf
    return pd.Series(out, dtype=float)


def _fresh_note(baseline: pd.DataFrame, rows: pd.DataFrame) -> str:
    if baseline["seed"].isin(grid_seeds(rows)).all():
        return ("No fresh seeds: the target was chosen and measured on the same (grid) seeds, which makes it "
                "optimistic for the baseline.")
    return "Target and time-to-target on the tune stage's fresh seeds only."


@finding(10, {"iter_ratio": Effect("<", null=1.0), "decay_only": Effect(">"), "adam_gain": Bound(">")}, differs="""
    Smith's numbers are Caffe's CIFAR-10 "full" net over 70,000 iterations against an untuned fixed rate; here the
    baseline is tuned over alpha and runs a short budget on a small CNN, so a cycle is a large share of training
    and the cyclic schedules have few cycles to make up ground.""")
def judge_clr(data: Tables, t: Thresholds) -> ClaimResult:
    """SGD triangular(2) reach the tuned baseline's final accuracy sooner (censored time-to-target); decay-only
    ends worse than triangular2; Adam's best cyclic schedule gains little over its tuned baseline."""
    exp = "clr"
    rows, hist = rows_of(data.runs, exp), rows_of(data.history, exp)
    if rows.empty:
        return not_run(10, exp, f"No runs of `{exp}`.")

    def arm(opt: str, schedules: tuple[str, ...]) -> pd.DataFrame:
        return rows[(rows["optimizer"] == opt) & rows["schedule"].isin(schedules)]

    seeds = grid_seeds(rows)  # the grid's: every cell has them; only the tune stage's reruns have more
    baseline = {o: tune(arm(o, BASELINES), fresh=True, grid=seeds) for o in ("sgd", "adam")}
    parts, notes = [], []
    for sched in ("triangular", "triangular2"):
        quantity = (f"iterations for SGD {sched} to reach the tuned baseline's (fixed or exponential) final "
                    "validation error, over the baseline's iterations (median over seeds; inf: never reached)")
        cyclic = fresh_only(tune(arm("sgd", (sched,))), rows)
        if cyclic.empty or baseline["sgd"].empty or hist.empty:
            parts.append(t["iter_ratio"].missing(f"sgd {sched} sooner", quantity,
                                                 f"needs sgd fixed or exponential and {sched} runs with history"))
            continue
        ratio = iterations_to_target(cyclic, baseline["sgd"], hist)
        ci, coverage = median_ci(ratio.to_numpy())
        reached, sooner = int(np.isfinite(ratio).sum()), int((ratio < 1.0).sum())
        interval = (f"sign-test interval of the median ({100 * coverage:.1f} % coverage)" if coverage else
                    f"no interval: {len(ratio)} seeds are too few for a sign-test interval of >= 93 %")
        parts.append(t["iter_ratio"].part(f"sgd {sched} sooner", quantity, ci, len(ratio),
                                          f"{interval}; reached {reached} of {len(ratio)}"))
        notes.append(f"SGD {sched}: reached the target on {reached} of {len(ratio)} seeds, sooner than the baseline on "
                     f"{sooner} (one-sided sign test p = {sign_test(sooner, len(ratio)):.3g}); per seed: "
                     + ", ".join(f"{s}: {'never' if math.isinf(v) else f'{v:.2f}'}" for s, v in ratio.items()) + ".")
    tri2, decay = (fresh_only(tune(arm("sgd", (s,))), rows) for s in ("triangular2", "decay_only"))
    adam_cyclic = tune(arm("adam", CLR_CYCLIC), fresh=True, grid=seeds)  # chosen on the grid seeds
    for name, a, b, thr, quantity in (
            ("sgd decay_only worse", decay, tri2, t["decay_only"],
             "relative final test error, SGD decay-only vs triangular2 (err(decay)/err(tri2) - 1)"),
            ("adam clr gain small", adam_cyclic, baseline["adam"], t["adam_gain"],
             "relative final test error, Adam's best cyclic schedule vs its tuned baseline, fixed or exponential "
             "(err(CLR)/err(baseline) - 1)")):
        if a.empty or b.empty:
            parts.append(thr.missing(name, quantity, "a schedule is missing"))
            continue
        ci, n, method = compare(by_seed(a), by_seed(b))
        parts.append(thr.part(name, quantity, ci, n, method))
    chosen = [f"{o} baseline: {describe(b)}" for o, b in baseline.items() if not b.empty]
    notes.append("Selected on validation over the grid seeds: " + "; ".join(chosen) + ". "
                 + (_fresh_note(baseline["sgd"], rows) if not baseline["sgd"].empty else ""))
    return result(10, exp, parts, notes)
