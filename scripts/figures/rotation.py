"""Finding 12 (Kosson, Messmer & Jaggi, ICML 2024): rotational equilibrium of the scale-invariant layers, from the
`rotation` experiment's per-layer telemetry (telemetry.parquet beside runs.parquet). (a), (b) the angular update per
step of each weight over the epochs, AdamW and Adam+L2 at their middle alpha and lambda (mean over seeds; shaded:
the last third, where the equilibrium is read; dashed: AdamW's prediction); (c) AdamW's equilibrium angle against
the prediction sqrt(2*eta*lambda*(1-beta1)/(1+beta1)) for every cell and layer (mean over seeds; band: a factor
1.25 either way; hollow: not judged); (d) the equilibrium angle against alpha at each lambda, AdamW solid (flat if
independent of alpha, dotted: its prediction) and Adam+L2 dashed (geometric mean over the judged layers and seeds).
"""

import functools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adamw_repro import names
from adamw_repro.analysis import plotting
from adamw_repro.analysis.results import read_telemetry
from adamw_repro.analysis.since_paper import equilibrium, rotation_parts

OPTIMIZERS = ("adamw", "adam")
BAND = 1.25
LAYER_COLOURS = plt.cm.tab10.colors


def _decay(optimizer: str) -> str:
    """How a panel names the optimizer's weight_decay: the paper's λ, or Adam+L2's L2 coefficient λ'."""
    row = names.OPTIMIZERS.get(optimizer)
    return "λ" if row is None or row.decoupled else "L2 λ'"


def _middle(values) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def _layer_colours(eq: pd.DataFrame) -> dict:
    layers = eq.drop_duplicates("layer").sort_values("layer_order")["layer"]
    return {layer: LAYER_COLOURS[i % len(LAYER_COLOURS)] for i, layer in enumerate(layers)}


def _curves(ax, tel: pd.DataFrame, eq: pd.DataFrame, optimizer: str, colours: dict) -> None:
    """Panel (a) or (b): the angle per epoch of each layer in the optimizer's middle cell, mean over seeds."""
    rows = tel[tel["optimizer"] == optimizer]
    name = plotting.optimizer_label(optimizer)
    if rows.empty:
        plotting.empty_panel(ax, f"{name}\nno telemetry")
        return
    alpha = _middle(rows["alpha"].unique())
    lam = _middle(rows.loc[rows["alpha"] == alpha, "weight_decay"].unique())
    cell = rows[(rows["alpha"] == alpha) & (rows["weight_decay"] == lam)]
    kinds = eq.drop_duplicates("layer").set_index("layer")
    for layer, g in cell.groupby("layer", sort=False):
        curve = g.groupby("epoch")["angular_update"].mean()
        judged = bool(kinds.loc[layer, "judged"]) if layer in kinds.index else False
        ax.plot(curve.index, curve.to_numpy(), color=colours.get(layer, "0.3"), linewidth=1.2 if judged else 0.8,
                linestyle="-" if judged else (0, (1, 1)), label=layer + ("" if judged else " (not judged)"))
    last = int(cell["epoch"].max())
    ax.axvspan(last - np.ceil(last / 3) + 0.5, last + 0.5, color="0.92", zorder=0)
    predicted = eq.loc[(eq["optimizer"] == optimizer) & (eq["alpha"] == alpha) & (eq["weight_decay"] == lam),
                       "predicted"].dropna()
    if not predicted.empty:
        ax.axhline(predicted.iloc[0], color="black", linestyle="--", linewidth=0.9, label="predicted")
    ax.set_yscale("log")
    plotting.integer_epochs(ax)
    ax.set(xlabel="epoch", ylabel="angular update per step (rad)",
           title=f"({'a' if optimizer == OPTIMIZERS[0] else 'b'}) {name}, α = {plotting.number_text(alpha)}, "
                 f"{_decay(optimizer)} = {plotting.number_text(lam)}")
    ax.legend(loc="best")


def _versus_predicted(ax, eq: pd.DataFrame, colours: dict) -> None:
    """Panel (c): AdamW's equilibrium angle (mean over seeds) against the prediction, per cell and layer."""
    rows = eq[(eq["optimizer"] == OPTIMIZERS[0]) & eq["scale_invariant"].astype(bool) & eq["predicted"].notna()]
    if rows.empty:
        plotting.empty_panel(ax, "(c) AdamW\nno telemetry")
        return
    cells = rows.groupby(["layer", "alpha", "weight_decay", "judged"], sort=False)[["angle", "predicted"]].mean()
    cells = cells.reset_index()
    for (layer, judged), g in cells.groupby(["layer", "judged"], sort=False):
        colour = colours.get(layer, "0.3")
        ax.scatter(g["predicted"], g["angle"], s=18, edgecolors=colour, facecolors=colour if judged else "none",
                   label=layer + ("" if judged else " (input layer, not judged)"), zorder=3)
    span = np.array([cells[["angle", "predicted"]].min().min() / 1.5, cells[["angle", "predicted"]].max().max() * 1.5])
    ax.plot(span, span, color="black", linewidth=0.8, label="measured = predicted")
    ax.fill_between(span, span / BAND, span * BAND, color="0.9", zorder=0, label=f"factor {BAND:g} either way")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="predicted √(2ηλ(1-β₁)/(1+β₁)) (rad)", ylabel="measured equilibrium angle (rad)",
           title="(c) AdamW: measured against predicted")
    ax.legend(loc="best")


def _versus_alpha(ax, eq: pd.DataFrame) -> None:
    """Panel (d): the equilibrium angle against alpha at each lambda (geometric mean over judged layers, seeds)."""
    rows = eq[eq["judged"]]
    if rows.empty:
        plotting.empty_panel(ax, "(d)\nno judged layers")
        return
    shades = {opt: plt.cm.Blues if opt == "adamw" else plt.cm.Oranges for opt in OPTIMIZERS}
    for opt, style in zip(OPTIMIZERS, ("-", "--"), strict=True):
        mine = rows[rows["optimizer"] == opt]
        lams = sorted(mine["weight_decay"].unique())
        for k, lam in enumerate(lams):
            g = mine[mine["weight_decay"] == lam].assign(log=lambda t: np.log(t["angle"]))
            curve = np.exp(g.groupby("alpha")["log"].mean())
            colour = shades[opt](0.45 + 0.5 * k / max(len(lams) - 1, 1))
            ax.plot(curve.index, curve.to_numpy(), marker="o", markersize=3, linestyle=style, color=colour,
                    label=f"{plotting.optimizer_label(opt)}, {_decay(opt)} = {plotting.number_text(lam)}")
            if opt == "adamw":
                ax.axhline(g["predicted"].iloc[0], color=colour, linestyle=":", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="learning rate α", ylabel="equilibrium angle (rad)", title="(d) equilibrium angle against α")
    ax.legend(loc="best", ncols=2)


@plotting.styled
def plot(runs: pd.DataFrame, history: pd.DataFrame, out_png: Path, *, experiment: str | None = "rotation",
         telemetry: pd.DataFrame | None = None) -> plotting.plt.Figure:
    """Draw the four panels from the telemetry table (runs marks diverged runs), save PNG + PDF, return the figure."""
    experiment = experiment or "rotation"
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.6), layout="constrained")
    tel = telemetry[telemetry["experiment"] == experiment] if telemetry is not None else pd.DataFrame()
    if tel.empty:
        for ax in axes.flat:
            plotting.empty_panel(ax, f"no telemetry of `{experiment}`")
        plotting.figure_title(fig, f"Rotational equilibrium; missing: telemetry of {experiment}")
        plotting.save(fig, out_png)
        return fig
    tel = tel[~tel["run_id"].isin(runs.loc[runs["status"] == "diverged", "run_id"])] if "status" in runs else tel
    eq = equilibrium(tel, runs, experiment=experiment)
    colours = _layer_colours(eq)
    _curves(axes[0, 0], tel, eq, OPTIMIZERS[0], colours)
    _curves(axes[0, 1], tel, eq, OPTIMIZERS[1], colours)
    _versus_predicted(axes[1, 0], eq, colours)
    _versus_alpha(axes[1, 1], eq)
    p = rotation_parts(tel, runs, experiment=experiment)
    seeds = tel["seed"].nunique()
    plotting.figure_title(fig, plotting.join_notes(
        "Rotational equilibrium of scale-invariant weights (fixed rate)", f"{seeds} seed{'s' if seeds > 1 else ''}",
        f"AdamW measured/predicted {_ci_text(p.ratio)}", f"slope on ln α {_ci_text(p.alpha_slope)}",
        f"CV across layers AdamW/Adam+L2 {_ci_text(p.balance)}"))
    plotting.save(fig, out_png)
    return fig


def _ci_text(ci) -> str:
    """"0.93 [0.88, 0.98]", or the value alone without an interval ("n/a" without a value)."""
    if not np.isfinite(ci.value):
        return "n/a"
    text = f"{ci.value + 0.0:.2f}"
    return text + (f" [{ci.lo + 0.0:.2f}, {ci.hi + 0.0:.2f}]" if np.isfinite(ci.lo) and np.isfinite(ci.hi) else "")


def main(smk) -> None:
    """The Snakemake adapter: the aggregated telemetry table (results/<scale>/telemetry.parquet)."""
    telemetry = read_telemetry(Path(smk.input.telemetry).parent)
    plotting.run_snakemake(smk, functools.partial(plot, telemetry=telemetry))


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
