"""Findings read off Fig. 1's grids (fig1_schedules): 4 (tuned AdamW beats tuned Adam+L2, by more under a schedule)
and 6 (cosine < step-drop < fixed), each tuned cell read on its fresh seeds.
"""

from __future__ import annotations

import pandas as pd

from ..criteria import Effect
from ..registry import Tables, Thresholds, finding
from ..selection import LABELS, by_seed, compare, describe, edge_text, lambda_column, rel_by_seed, rows_of, tune
from ..stats import mean_ci
from ..verdicts import ClaimResult, not_run, result

SCHEDULES = ("fixed", "step", "cosine")


def _decayed(rows: pd.DataFrame) -> pd.DataFrame:
    """Fig. 1's cells with lambda > 0 (its schedules all tune lambda > 0)."""
    return rows[rows[lambda_column(rows)].fillna(0) > 0] if not rows.empty else rows


@finding(4, {"scheduled": Effect("<"), "fixed": Effect("<"), "more_with_schedule": Effect(">")}, differs="""
    The paper's ~15 % is Shake-Shake on CIFAR-10 over 100 epochs, where Adam+L2's adaptive scaling weakens the
    decay of weights with large gradients. Here BatchNorm follows every convolution, so tuned L2 and decoupled decay
    both act mainly on the effective learning rate of scale-invariant filters, and a short budget on a small CNN
    leaves little room between them.""")
def judge_adamw_beats_adam(data: Tables, t: Thresholds) -> ClaimResult:
    """Tuned AdamW vs tuned Adam+L2 under each schedule; the gain under step/cosine vs under fixed."""
    exp = "fig1_schedules"
    rows = _decayed(rows_of(data.runs, exp))
    if rows.empty:
        return not_run(4, exp, f"No runs of `{exp}`.")
    parts, notes, rel = [], [], {}
    for sched in SCHEDULES:
        mine = rows[rows["schedule"] == sched]
        grids = {o: mine[mine["optimizer"] == o] for o in ("adamw", "adam")}
        w, a = (tune(grids[o], fresh=True) for o in ("adamw", "adam"))
        thr = t["fixed"] if sched == "fixed" else t["scheduled"]
        quantity = f"relative test error, tuned AdamW vs tuned Adam+L2, {sched} (err(AdamW)/err(Adam) - 1)"
        if w.empty or a.empty:
            parts.append(thr.missing(f"beats, {sched}", quantity, f"no adam/adamw {sched} runs"))
            continue
        ci, n, method = compare(by_seed(w), by_seed(a))
        parts.append(thr.part(f"beats, {sched}", quantity, ci, n, method))
        rel[sched] = rel_by_seed(by_seed(w), by_seed(a))
        notes.append(f"{sched}: AdamW {describe(w)}; Adam+L2 {describe(a)}.")
        notes += [edge_text(g, tune(g), f"{LABELS[o]}, {sched}") for o, g in grids.items()]
    for sched in ("step", "cosine"):
        thr = t["more_with_schedule"]
        quantity = f"extra relative gain of AdamW under {sched} over fixed (rel(fixed) - rel({sched}), paired by seed)"
        if sched not in rel or "fixed" not in rel:
            parts.append(thr.missing(f"gain {sched} > fixed", quantity, "a schedule is missing"))
            continue
        common = rel["fixed"].index.intersection(rel[sched].index)
        extra = rel["fixed"].loc[common] - rel[sched].loc[common]
        parts.append(thr.part(f"gain {sched} > fixed", quantity, mean_ci(extra.to_numpy()), len(common),
                              "paired t over seeds"))
    return result(4, exp, parts, notes)


@finding(6, Effect("<"), differs="""
    A short budget compresses the schedules: step-drop's three drops and cosine's annealing happen within a few
    epochs, where the paper's 100 epochs on CIFAR-10 give each its full course.""")
def judge_schedule_order(data: Tables, t: Thresholds) -> ClaimResult:
    """Per optimizer, tuned per schedule: cosine below step, step below fixed (relative, paired)."""
    exp = "fig1_schedules"
    rows = _decayed(rows_of(data.runs, exp))
    if rows.empty:
        return not_run(6, exp, f"No runs of `{exp}`.")
    parts, notes = [], []
    for opt in ("adam", "adamw"):
        mine = rows[rows["optimizer"] == opt]
        tuned = {s: tune(mine[mine["schedule"] == s], fresh=True) for s in SCHEDULES}
        notes.append(f"{LABELS[opt]}: " + "; ".join(f"{s}: {describe(c)}" for s, c in tuned.items()))
        for better, worse in (("cosine", "step"), ("step", "fixed")):
            name = f"{opt}: {better} < {worse}"
            quantity = f"relative test error, {LABELS[opt]}, {better} vs {worse} (err({better})/err({worse}) - 1)"
            if tuned[better].empty or tuned[worse].empty:
                parts.append(t.one.missing(name, quantity, f"no {opt} {better}/{worse} runs"))
                continue
            ci, n, method = compare(by_seed(tuned[better]), by_seed(tuned[worse]))
            parts.append(t.one.part(name, quantity, ci, n, method))
    return result(6, exp, parts, notes)
