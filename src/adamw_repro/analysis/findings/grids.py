"""Findings read off the cosine alpha x lambda grids of Fig. 2 (fig2_sgd_adam, or fig1_schedules' cosine runs for
Adam+L2 and AdamW at the quick scale): 2 (coupled vs decoupled basins), 3 (Adam+L2 gains nothing from L2) and
5 (AdamW close to SGD(W)).
"""

from __future__ import annotations

import pandas as pd

from ..criteria import Bound, Effect, Margin
from ..decoupling import best_lambda_per_alpha, decoupling_slope
from ..registry import Tables, Thresholds, finding
from ..selection import (
    LABELS,
    by_seed,
    compare,
    describe,
    edge_text,
    heatmap_rows,
    lambda_column,
    tune,
)
from ..stats import CI
from ..verdicts import ClaimResult, fmt_ci, not_run, result

SLOPE_METHOD = "t over per-seed slopes (each seed's own grid; grid seeds)"


def decay_split(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lambda > 0 rows, lambda = 0 rows) of one grid."""
    lam = rows[lambda_column(rows)].fillna(0)
    return rows[lam > 0], rows[lam == 0]


@finding(2, {"coupled": Effect("<"), "decoupled": Margin()}, differs="""
    The paper reads its basins off Shake-Shake on CIFAR-10 over 100 epochs; here each ridge rests on a few alphas of
    a short budget, log2 steps apart, so a basin that bends within one grid step is not resolved.""")
def judge_decoupling(data: Tables, t: Thresholds) -> ClaimResult:
    """Ridge slopes: SGD+L2 below zero reaching the coupled threshold; |SGDW| and |AdamW| within the margin."""
    exp = "fig2_sgd_adam"
    if all(heatmap_rows(data.runs, o)[1].empty for o in ("sgd", "sgdw", "adamw")):
        return not_run(2, exp, f"No runs of `{exp}` (nor cosine runs of `fig1_schedules`).")
    parts, notes = [], []
    for opt, thr in (("sgd", t["coupled"]), ("sgdw", t["decoupled"]), ("adamw", t["decoupled"]), ("adam", None)):
        source, cells = heatmap_rows(data.runs, opt)
        quantity = f"slope of log(best lambda) vs log(alpha), {LABELS[opt]}"
        if cells.empty:
            if thr:
                parts.append(thr.missing(opt, quantity, f"no {opt} runs"))
            continue
        lam = lambda_column(cells)
        s = decoupling_slope(cells, lam_col=lam)
        ridge = best_lambda_per_alpha(cells, lam_col=lam)
        pairs = zip(ridge["alpha"], ridge["lam_fit"], ridge["edge"], strict=True)
        notes.append(f"{LABELS[opt]} (`{source}`, {lam}): slope {fmt_ci(s.slope, s.lo, s.hi)} (mean of {s.n_seeds} "
                     f"per-seed slopes; the grid of seed means gives {fmt_ci(s.pooled, float('nan'), float('nan'))}) "
                     f"over {s.n_alpha} alphas; best lambda per alpha on the seed means (parabola in log lambda): "
                     + ", ".join(f"{a:.3g} -> {v:.3g}{' (grid edge)' if e else ''}" for a, v, e in pairs))
        if s.edge:
            notes.append(f"**{LABELS[opt]}: the best lambda lies on the edge of the lambda grid at alpha "
                         + ", ".join(f"{x:.3g}" for x in s.edge) + "**: the ridge may continue outside the grid.")
        positive = decay_split(cells)[0]
        notes.append(edge_text(positive, tune(positive), f"{LABELS[opt]} (lambda > 0)"))
        if thr:
            parts.append(thr.part(opt, quantity, CI(s.slope, s.lo, s.hi), s.n_seeds, SLOPE_METHOD))
    notes.append("Slope about -1: coupled (best lambda ~ 1/alpha); about 0: decoupled. Adam+L2 is shown, "
                 "not judged. lambda = 0 cells are left out (log scale).")
    return result(2, exp, parts, notes)


@finding(3, Margin(), differs="""
    Every convolution here is followed by BatchNorm, so its filters are scale-invariant and L2 on them also sets
    their effective learning rate, as decoupled decay does: tuned L2 can then help Adam through the learning-rate
    dynamics. A short budget on a small MNIST-1D CNN is not a 100-epoch Shake-Shake on CIFAR-10.""")
def judge_adam_l2(data: Tables, t: Thresholds) -> ClaimResult:
    """Adam+L2 tuned over lambda > 0 vs tuned at lambda = 0, on the fresh seeds of each (cosine grid)."""
    exp, rows = heatmap_rows(data.runs, "adam")
    if rows.empty:
        return not_run(3, "fig2_sgd_adam, fig1_schedules",
                       "No Adam+L2 runs in `fig2_sgd_adam` or cosine ones in `fig1_schedules`.")
    quantity = "relative test error, tuned Adam+L2 with lambda > 0 vs lambda = 0 (err(L2)/err(0) - 1)"
    positive, zero = decay_split(rows)
    pos, none = tune(positive, fresh=True), tune(zero, fresh=True)
    if pos.empty or none.empty:
        why = f"`{exp}` has no Adam+L2 runs with lambda = 0, or none with lambda > 0."
        return result(3, exp, [t.one.missing("adam", quantity, "the grid lacks lambda = 0 or lambda > 0")], [why])
    ci, n, method = compare(by_seed(pos), by_seed(none))
    notes = [f"From `{exp}`: best lambda > 0: {describe(pos)}; best lambda = 0: {describe(none)}. lambda > 0 is "
             "tuned over alpha x lambda, lambda = 0 over alpha, as in the paper's Fig. 2; each side's test error is "
             "read on its own fresh seeds.",
             edge_text(positive, tune(positive), "Adam+L2 (lambda > 0)"),
             edge_text(zero, tune(zero), "Adam+L2 (lambda = 0)")]
    return result(3, exp, [t.one.part("adam", quantity, ci, n, method)], notes)


@finding(5, Bound("<"), differs="""
    SGD(W) and AdamW are each tuned here over the same short budget; the paper's SGD results rest on Shake-Shake's
    long schedule on CIFAR-10, where momentum SGD is at its strongest.""")
def judge_adamw_vs_sgd(data: Tables, t: Thresholds) -> ClaimResult:
    """Tuned AdamW (cosine grid) vs the better (on validation) of tuned SGD+L2 and tuned SGDW, on the fresh
    seeds of each."""
    exp = "fig2_sgd_adam"
    quantity = "relative test error, tuned AdamW vs best tuned SGD(W) (err(AdamW)/err(SGD) - 1)"
    source, adamw_rows = heatmap_rows(data.runs, "adamw")
    adamw = tune(adamw_rows, fresh=True)
    sgds = [(tune(r), r) for r in (heatmap_rows(data.runs, o)[1] for o in ("sgd", "sgdw")) if not r.empty]
    if adamw.empty or not sgds:
        part = t.one.missing("adamw vs sgd(w)", quantity, "needs adamw and sgd or sgdw runs")
        return result(5, exp, [part], [f"`{exp}` lacks AdamW runs or SGD(W) runs."])
    _, sgd_rows = min(sgds, key=lambda pair: pair[0]["final_val_error"].mean())  # chosen on the grid seeds
    sgd = tune(sgd_rows, fresh=True)
    ci, n, method = compare(by_seed(adamw), by_seed(sgd))
    notes = [f"AdamW (`{source}`): {describe(adamw)}; best SGD variant on validation: {describe(sgd)}.",
             edge_text(adamw_rows, tune(adamw_rows), "AdamW"),
             edge_text(sgd_rows, tune(sgd_rows), LABELS[sgd.iloc[0]["optimizer"]])]
    return result(5, exp, [t.one.part("adamw vs sgd(w)", quantity, ci, n, method)], notes)
