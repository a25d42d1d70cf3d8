"""The report's paragraph on weight decay as a timescale: the paper's findings and the three made since, side by
side in tau terms, from the tables (docs/paper.md section 5; the units come from adamw_repro.units).

Every decay is read at the peak rate (eta = 1): the per-step decay d = eta*lambda (SGD+L2's effective
alpha*lambda'/(1-m)), tau_iter = 1/d steps and tau_epoch = tau_iter/ceil(B/b) epochs. The paper's normalized decay,
lambda = lambda_norm*sqrt(b/(B*T)), makes tau_epoch = sqrt(b*T/B)/lambda_norm: it grows as sqrt(T) and falls as
1/sqrt(B). The EMA view (Wang & Aitchison) keeps tau_epoch a fixed fraction of the run: it grows as T and does not
depend on B.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from adamw_repro import units

from ..decoupling import shared_seeds
from .common import fmt, fmt_ci, slope
from .decay_gain import LABELS, cosine_grid, gain_by_alpha, gains, lambda_column
from .rotation import rotation_parts
from .timescale import timescale_fit

TAU_COLUMNS = ("optimizer", "alpha", "lam", "decay", "tau_epoch", "epochs", "val_error")


def best_cells(rows: pd.DataFrame, by: tuple[str, ...] = ("alpha",)) -> pd.DataFrame:
    """For each value of `by`, the lambda > 0 cell with the lowest mean validation error over the grid seeds, with
    its per-step decay and tau_epoch at the peak rate (TAU_COLUMNS plus `by`)."""
    if rows.empty:
        return pd.DataFrame(columns=[*TAU_COLUMNS, *by])
    lam_col = lambda_column(rows)
    rows = rows[rows[lam_col].fillna(0) > 0]
    cell = [*dict.fromkeys([*by, "alpha", lam_col, "epochs"])]
    rows = shared_seeds(rows, cell)
    labels = [c for c in ("optimizer", "batch_size", "train_size", "weight_decay", "lambda_norm") if c not in cell]
    means = rows.groupby(cell, dropna=False).agg(val_error=("final_val_error", "mean"),
                                                 **{c: (c, "first") for c in labels}).reset_index()
    best = means.loc[means.groupby(list(by))["val_error"].idxmin()].copy()
    best["lam"] = best[lam_col]
    budget = {"batch_size": best["batch_size"], "train_size": best["train_size"], "epochs": best["epochs"]}
    best["decay"] = units.decay_per_step(best["optimizer"], best["alpha"], best["weight_decay"], best["lambda_norm"],
                                         **budget)
    best["tau_epoch"] = units.tau_epoch(best["optimizer"], best["alpha"], best["weight_decay"], best["lambda_norm"],
                                        **budget)
    return best[[*TAU_COLUMNS, *(c for c in by if c not in TAU_COLUMNS)]].reset_index(drop=True)


def _range(values: pd.Series, digits: str = ".2g") -> str:
    v = values.dropna()
    if v.empty:
        return "n/a"
    lo, hi = v.min(), v.max()
    return f"{lo:{digits}}" if math.isclose(lo, hi, rel_tol=1e-9) else f"{lo:{digits}}-{hi:{digits}}"


def _grids_sentence(runs: pd.DataFrame) -> str:
    bits = []
    for opt in ("sgd", "sgdw", "adamw"):
        _, rows = cosine_grid(runs, opt)
        per_alpha = best_cells(rows)
        if per_alpha.empty:
            continue
        tuned = per_alpha.loc[per_alpha["val_error"].idxmin()]
        doublings = np.log2(per_alpha["decay"].max() / per_alpha["decay"].min())
        bits.append(f"{LABELS[opt]} d = {fmt(tuned['decay'])}, tau_epoch {fmt(tuned['tau_epoch'])} epochs "
                    f"({fmt(tuned['tau_epoch'] / tuned['epochs'])} of the {int(tuned['epochs'])}-epoch run); across "
                    f"{len(per_alpha)} alphas its best d spans {_range(per_alpha['decay'])} ({doublings:.1f} "
                    f"doublings, alpha {fmt(per_alpha['alpha'].max() / per_alpha['alpha'].min())}x)")
    if not bits:
        return ""
    return ("**The paper's grids.** Tuned on validation (cosine, best cell over the grid seeds; cells a doubling "
            "apart), at the peak rate: "
            + "; ".join(bits) + ". Adam+L2 has no per-step decay (its L2 term is divided by sqrt(v_hat)). A best d "
            "that stays put while alpha moves is finding 2 in these units: SGD+L2's L2 coefficient must then fall "
            "as 1/alpha, since its d is alpha*lambda'/(1-m), while SGDW's and AdamW's lambda is d itself.")


def _budgets_sentence(runs: pd.DataFrame) -> str:
    rows = runs[(runs["experiment"] == "figS3_budgets") & (runs["optimizer"] == "adamw") & runs["lambda_norm"].isna()]
    if rows.empty or rows["epochs"].nunique() < 2:
        return ""
    per_budget = best_cells(rows, by=("epochs",)).sort_values("epochs")
    k = slope(np.log(per_budget["epochs"]), np.log(per_budget["tau_epoch"]))
    listed = ", ".join(f"T = {int(r.epochs)}: tau_epoch {fmt(r.tau_epoch)} ({fmt(r.tau_epoch / r.epochs)} of the run)"
                       for r in per_budget.itertuples())
    return (f"**Budgets (finding 8).** AdamW's best raw lambda per budget as a timescale: {listed}; tau_epoch grows "
            f"as T^{fmt(k)} (best cells on the seed means). Normalized decay predicts T^0.5, a fixed fraction of "
            "the run (the EMA view) T^1.")


def _timescale_sentence(runs: pd.DataFrame) -> str:
    fit = timescale_fit(runs)
    if fit is None:
        return ""
    listed = ", ".join(f"N = {int(r.train_size)}: {fmt(r.tau_epoch)}" for r in fit.per_size.itertuples())
    tau_slope = -1.0 - fit.slope.value
    return (f"**Training-set size (finding 11).** AdamW's best tau_epoch at a fixed alpha and budget: {listed} "
            f"epochs. The slope of ln(best lambda) on ln(N) is {fmt_ci(fit.slope)} (the EMA view -1, normalized "
            f"decay -1/2), that of ln(tau_epoch) about {fmt(tau_slope)} (0 and -1/2).")


def _rotation_sentence(runs: pd.DataFrame, telemetry: pd.DataFrame | None) -> str:
    if telemetry is None or telemetry.empty or not (telemetry["experiment"] == "rotation").any():
        return ""
    p = rotation_parts(telemetry, runs)
    if not math.isfinite(p.ratio.value):
        return ""
    return ("**Rotation (finding 12).** In tau terms AdamW's predicted equilibrium angle is "
            "sqrt(2*(1-beta1)/((1+beta1)*tau_iter)) radians a step: a layer turns by about one radian in "
            f"sqrt(tau_iter*(1+beta1)/(2*(1-beta1))) steps. Measured/predicted: {fmt_ci(p.ratio)}; its slope on "
            f"ln(alpha) {fmt_ci(p.alpha_slope)}: the timescale, not alpha, sets how fast AdamW's layers turn.")


def _gain_sentence(runs: pd.DataFrame) -> str:
    bits = []
    for opt in ("sgd", "sgdw", "adamw"):
        _, rows = cosine_grid(runs, opt)
        table = gains(rows) if not rows.empty else pd.DataFrame()
        if table.empty:
            continue
        by = gain_by_alpha(table)
        bits.append(f"{LABELS[opt]} {fmt(by['gain'].iloc[0])} at alpha {fmt(by['alpha'].iloc[0])} to "
                    f"{fmt(by['gain'].iloc[-1])} at {fmt(by['alpha'].iloc[-1])}")
    if not bits:
        return ""
    return ("**Learning rate (finding 13).** Tuned decay's gain over none (err(best lambda)/err(0) - 1, "
            "leave-one-seed-out): " + "; ".join(bits) + ".")


def _closer(measured: float, normalized: float, ema: float) -> str:
    if not math.isfinite(measured):
        return "neither (no estimate)"
    return "normalized decay's" if abs(measured - normalized) < abs(measured - ema) else "the EMA view's"


def _summary_sentence(runs: pd.DataFrame) -> str:
    """Which prediction each measured scaling lies closer to: budgets (tau_epoch ~ T^k: 1/2 or 1) and training-set
    size (best lambda ~ N^s: -1/2 or -1)."""
    bits = []
    rows = runs[(runs["experiment"] == "figS3_budgets") & (runs["optimizer"] == "adamw") & runs["lambda_norm"].isna()]
    if not rows.empty and rows["epochs"].nunique() >= 2:
        per_budget = best_cells(rows, by=("epochs",))
        k = slope(np.log(per_budget["epochs"]), np.log(per_budget["tau_epoch"]))
        bits.append(f"over budgets the best tau_epoch grows as T^{fmt(k)}, closer to {_closer(k, 0.5, 1.0)} "
                    "prediction")
    fit = timescale_fit(runs)
    if fit is not None:
        bits.append(f"over training-set sizes the best lambda falls as N^{fmt(fit.slope.value)}, closer to "
                    f"{_closer(fit.slope.value, -0.5, -1.0)} (findings 8 and 11 judge these with their intervals)")
    if not bits:
        return ""
    return "**Side by side.** " + "; ".join(bits)[0].upper() + "; ".join(bits)[1:] + "."


def tau_paragraph(runs: pd.DataFrame, history: pd.DataFrame | None = None, *,
                  telemetry: pd.DataFrame | None = None) -> str:
    """The report's paragraph (markdown) on weight decay as a timescale, from the tables of one scale; the parts
    whose experiments did not run are left out."""
    sentences = [_grids_sentence(runs), _budgets_sentence(runs), _timescale_sentence(runs),
                 _rotation_sentence(runs, telemetry), _gain_sentence(runs), _summary_sentence(runs)]
    sentences = [s for s in sentences if s]
    if not sentences:
        return ""
    head = ("Every decay below is read at the peak rate (eta = 1) in the units of `python -m adamw_repro.units` "
            "(docs/paper.md section 5): per-step decay d = eta*lambda, tau_iter = 1/d steps, tau_epoch = "
            "tau_iter/ceil(B/b) epochs. The paper's normalized decay sets tau_epoch = sqrt(b*T/B)/lambda_norm (it "
            "grows as sqrt(T) and falls as 1/sqrt(B)); the EMA view keeps tau_epoch a fixed fraction of the run "
            "(it grows as T and does not depend on B).")
    return "\n\n".join([head, *sentences])
