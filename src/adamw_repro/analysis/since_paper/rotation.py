"""Finding 12, rotational equilibrium (Kosson, Messmer & Jaggi, ICML 2024; docs/paper.md section 5), on the
`rotation` experiment's per-layer telemetry: fixed-rate AdamW and Adam+L2 at three alphas and three lambdas.

A weight made scale-invariant by the BatchNorm after it settles, under AdamW, to an angular update per step of
sqrt(2*eta*lambda*(1-beta1)/(1+beta1)) radians (eta = 1 at a fixed rate), the same in every such layer and
independent of alpha; under Adam+L2 the layers' angles differ. Three parts:
(a) AdamW's measured/predicted equilibrium angle, a geometric mean over the judged layers and cells, per seed;
(b) AdamW's slope of ln(angle) on ln(alpha) at a fixed lambda, per seed;
(c) the spread of the equilibrium angle across the judged layers (coefficient of variation), AdamW's over Adam+L2's,
    a ratio of geometric means over cells, per seed.
Each part's interval is a t-interval over seeds (on the log scale for the ratios).

Which layers are judged (fixed before the runs): the scale-invariant weights (telemetry `scale_invariant`) except
the network's first weight, the input layer. Its filters read the raw input through very few weights (1 channel x
kernel 5 = 5 here, 3 x 3 x 3 = 27 in a CIFAR net, where every later conv has 96 or more), while the prediction
treats a filter's update as a sum over many weakly correlated coordinates, nearly orthogonal to the filter. The
input layer is shown (notes, figure), never judged. The equilibrium is the mean over the last third of the epochs
(ceil(E/3) epochs); the drift from the third before says whether it was reached. Diverged runs are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adamw_repro import units

from ..stats import CI
from .common import exp_ci, fmt, fmt_ci, seed_ci, slope

EXPERIMENT = "rotation"
BETA1 = 0.9  # conf/optimizer/adamw.yaml and adam.yaml
CELL = ["run_id", "experiment", "seed", "optimizer", "schedule", "alpha", "weight_decay", "lambda_norm",
        "batch_size", "train_size", "epochs"]


def predicted_angle(decay_per_step, beta1: float = BETA1):
    """sqrt(2*d*(1-beta1)/(1+beta1)) rad: AdamW's equilibrium angular update per step at per-step decay d."""
    return np.sqrt(2.0 * np.asarray(decay_per_step, dtype=float) * (1.0 - beta1) / (1.0 + beta1))


def equilibrium(telemetry: pd.DataFrame, runs: pd.DataFrame | None = None, *, experiment: str = EXPERIMENT,
                fraction: float = 1 / 3, beta1: float = BETA1) -> pd.DataFrame:
    """One row per run and weight: the mean angular update over the last `fraction` of the run's epochs (`angle`),
    over the same number of epochs before (`angle_before`), `input_layer`, `judged` (scale-invariant and not the
    input layer), and for the decoupled optimizers the predicted angle at eta = 1 and `ratio`. Runs the runs table
    marks diverged are left out."""
    tel = telemetry[telemetry["experiment"] == experiment] if experiment else telemetry
    if runs is not None and "status" in runs and not tel.empty:
        tel = tel[~tel["run_id"].isin(runs.loc[runs["status"] == "diverged", "run_id"])]
    if tel.empty:
        return pd.DataFrame(columns=[*CELL, "layer", "layer_order", "scale_invariant", "angle", "angle_before",
                                     "input_layer", "judged", "predicted", "ratio"])
    if "layer_order" not in tel:  # a table built without results.collect_telemetry: the rows' own order
        tel = tel.assign(layer_order=tel.groupby("run_id")["layer"].transform(lambda s: pd.factorize(s)[0]))
    last = tel.groupby("run_id")["epoch"].transform("max")
    n = np.ceil(last * fraction).clip(lower=1)
    tail = tel["epoch"] > last - n
    before = (tel["epoch"] > last - 2 * n) & ~tail
    keys = [*(c for c in CELL if c in tel), "layer", "layer_order", "scale_invariant"]
    angle = tel[tail].groupby(keys, dropna=False)["angular_update"].mean().rename("angle")
    earlier = tel[before].groupby(keys, dropna=False)["angular_update"].mean().rename("angle_before")
    out = pd.concat([angle, earlier], axis=1).reset_index()
    out["input_layer"] = out["layer_order"] == out.groupby("run_id")["layer_order"].transform("min")
    out["judged"] = out["scale_invariant"].astype(bool) & ~out["input_layer"]
    decay = units.decay_per_step(out["optimizer"], out["alpha"], out["weight_decay"], out["lambda_norm"],
                                 batch_size=out["batch_size"], train_size=out["train_size"], epochs=out["epochs"])
    out["predicted"] = predicted_angle(decay, beta1)
    out["ratio"] = out["angle"] / out["predicted"]
    return out


def _cv(angles: pd.Series) -> float:
    """Coefficient of variation over the layers (population form: the spread of these layers, not an estimate)."""
    a = angles.dropna().to_numpy(float)
    return float(a.std() / a.mean()) if a.size >= 2 and a.mean() > 0 else math.nan


def spread(eq: pd.DataFrame) -> pd.DataFrame:
    """Per run: the coefficient of variation of the equilibrium angle over its judged layers (`cv`)."""
    judged = eq[eq["judged"]]
    keys = [c for c in CELL if c in judged]
    return judged.groupby(keys, dropna=False)["angle"].agg(_cv).rename("cv").reset_index()


def alpha_slopes(eq: pd.DataFrame, optimizer: str) -> pd.Series:
    """Per seed: the slope of ln(equilibrium angle) (mean of ln over the judged layers) on ln(alpha) at each lambda,
    averaged over the lambdas."""
    rows = eq[(eq["optimizer"] == optimizer) & eq["judged"] & (eq["angle"] > 0)]
    per_run = rows.assign(log=np.log(rows["angle"])).groupby(["seed", "weight_decay", "alpha"])["log"].mean()
    slopes = [{"seed": s, "slope": slope(np.log(g["alpha"]), g["log"])}
              for (s, _), g in per_run.reset_index().groupby(["seed", "weight_decay"])]
    return pd.DataFrame(slopes, columns=["seed", "slope"]).groupby("seed")["slope"].mean()


@dataclass(frozen=True)
class RotationParts:
    """Finding 12's three quantities: the per-seed values and their intervals (ratios on the ratio scale)."""

    ratio_by_seed: pd.Series        # geometric mean of AdamW's measured/predicted angle, per seed
    ratio: CI
    alpha_slope_by_seed: pd.Series  # slope of ln(angle) on ln(alpha), mean over lambdas, per seed
    alpha_slope: CI
    balance_by_seed: pd.Series      # geometric-mean CV of AdamW over that of Adam+L2, per seed
    balance: CI
    equilibrium: pd.DataFrame


def rotation_parts(telemetry: pd.DataFrame, runs: pd.DataFrame | None = None, *, experiment: str = EXPERIMENT,
                   decoupled: str = "adamw", coupled: str = "adam", beta1: float = BETA1) -> RotationParts:
    """Finding 12's quantities from the telemetry table (results.TELEMETRY_COLUMNS)."""
    eq = equilibrium(telemetry, runs, experiment=experiment, beta1=beta1)
    w = eq[(eq["optimizer"] == decoupled) & eq["judged"] & (eq["ratio"] > 0)]
    ratio = w.assign(log=np.log(w["ratio"])).groupby("seed")["log"].mean()
    alpha_slope = alpha_slopes(eq, decoupled)
    cv = spread(eq)
    cv = cv[cv["cv"] > 0].assign(log=lambda t: np.log(t["cv"]))
    log_cv = cv.groupby(["seed", "optimizer"])["log"].mean().unstack("optimizer")
    balance = (log_cv[decoupled] - log_cv[coupled]) if {decoupled, coupled} <= set(log_cv) else pd.Series(dtype=float)
    return RotationParts(np.exp(ratio), exp_ci(seed_ci(ratio)[0]), alpha_slope, seed_ci(alpha_slope)[0],
                         np.exp(balance.dropna()), exp_ci(seed_ci(balance.dropna())[0]), eq)


def _n(series: pd.Series) -> int:
    return int(np.isfinite(np.asarray(series, dtype=float)).sum())


def notes(p: RotationParts) -> list[str]:
    """Finding 12's notes: which layers are judged, each layer's ratio and drift, Adam+L2 for contrast."""
    eq = p.equilibrium
    notes = ["Judged layers: the scale-invariant weights except the input layer (the network's first weight, whose "
             "filters have few weights: see adamw_repro/analysis/since_paper/rotation.py); equilibrium = mean "
             "angular update over the last third of the epochs; predicted sqrt(2*eta*lambda*(1-beta1)/(1+beta1)) at "
             f"eta = 1, beta1 = {BETA1}."]
    adamw = eq[eq["optimizer"] == "adamw"]
    for (layer, judged, inv), g in adamw.groupby(["layer", "judged", "scale_invariant"], sort=False):
        ratio = CI(float(np.exp(np.log(g["ratio"]).mean())), math.nan, math.nan)
        kind = "judged" if judged else "input layer, shown only" if inv else "not scale-invariant, shown only"
        drift = (g["angle"] / g["angle_before"]).median()
        notes.append(f"AdamW `{layer}` ({kind}): measured/predicted {fmt_ci(ratio)} over {len(g)} runs; "
                     f"last third / third before: {fmt(drift)} (median).")
    coupled = alpha_slopes(eq, "adam")
    if _n(coupled):
        notes.append(f"For contrast (shown, not judged): Adam+L2's slope of ln(angle) on ln(alpha) "
                     f"{fmt_ci(seed_ci(coupled)[0])} over {_n(coupled)} seed{'' if _n(coupled) == 1 else 's'}.")
    for opt, g in spread(eq).groupby("optimizer"):
        notes.append(f"{opt}: CV of the equilibrium angle across judged layers, geometric mean over {len(g)} runs: "
                     f"{fmt(float(np.exp(np.log(g['cv'][g['cv'] > 0]).mean())) if (g['cv'] > 0).any() else math.nan)}.")
    return notes
