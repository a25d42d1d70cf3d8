"""Finding 11 (Wang & Aitchison, ICML 2025): AdamW's best weight decay as the training set grows, at a fixed alpha
and budget. (a) validation error against lambda for each training-set size N (mean over seeds); (b) the best lambda
per N (each seed's parabola vertex, their geometric mean with a t-interval) on log-log axes, with the fitted slope
and the two predictions through the same centre: -1 (constant EMA timescale tau_epoch) and -1/2 (the paper's
normalized decay); (c) the best tau_epoch per N (at the peak rate), flat under the EMA view, falling as 1/sqrt(N)
under normalized decay.
"""

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adamw_repro.analysis import plotting
from adamw_repro.analysis.since_paper import timescale_fit
from adamw_repro.analysis.stats import mean_ci

PREDICTIONS = ((-1.0, "slope -1: constant τ_epoch", "--"), (-0.5, "slope -1/2: normalized decay", ":"))


def _size_ticks(ax, sizes) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [f"{n / 1000:g}k" if n >= 1000 else f"{n:g}" for n in sizes])
    ax.minorticks_off()


def _epoch_ticks(ax) -> None:
    """Plain epoch numbers on a log axis (a timescale is read in epochs, not in powers of two)."""
    lo, hi = ax.get_ylim()
    nice = [v for v in (0.125, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024)
            if lo <= v <= hi]
    if len(nice) >= 2:
        ax.set_yticks(nice, [f"{v:g}" for v in nice])
    ax.minorticks_off()


def _reference(ax, sizes, centre_x, centre_y, slope, label, style) -> None:
    x = np.array([min(sizes), max(sizes)], dtype=float)
    ax.plot(x, centre_y * (x / centre_x) ** slope, linestyle=style, color="0.35", linewidth=0.9, label=label)


@plotting.styled
def plot(runs: pd.DataFrame, history: pd.DataFrame, out_png: Path, *, experiment: str | None = "timescale",
         optimizer: str = "adamw") -> plotting.plt.Figure:
    """Draw the three panels from the runs table (history is not used), save PNG + PDF and return the figure."""
    experiment = experiment or "timescale"
    rows = plotting.select(runs, experiment, optimizer=optimizer)
    rows = rows[rows["weight_decay"] > 0]
    fig, axes = plt.subplots(1, 3, figsize=(10.0, 3.3), layout="constrained")
    fit = timescale_fit(runs, experiment, optimizer)
    if rows.empty or fit is None:
        for ax in axes:
            plotting.empty_panel(ax, f"no {optimizer} runs of `{experiment}` at two training-set sizes")
        plotting.figure_title(fig, f"EMA timescale: best λ against training-set size; missing: {experiment}")
        plotting.save(fig, out_png)
        return fig
    sizes = sorted(rows["train_size"].unique())
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(sizes)))

    ax = axes[0]  # (a) the error curves
    for size, colour in zip(sizes, colours, strict=True):
        curve = rows[rows["train_size"] == size].groupby("weight_decay")["final_val_error"].mean()
        ax.plot(curve.index, 100 * curve.to_numpy(), marker="o", markersize=3, color=colour, linewidth=1.0,
                label=f"N = {size:g}")
        ax.plot([curve.idxmin()], [100 * curve.min()], marker="o", markersize=7, markerfacecolor="none",
                markeredgecolor="black", linestyle="none")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="weight decay λ", ylabel="final validation error (%)", title="(a) error against λ, per N")
    ax.legend(title="circle: best cell", loc="best")

    ax = axes[1]  # (b) the best lambda per N
    best = fit.best.dropna(subset=["lam_best"])
    ax.scatter(best["train_size"], best["lam_best"], s=12, edgecolors="0.5", label="per seed (hollow: grid edge)",
               facecolors=["none" if e else "0.6" for e in best["edge"]], zorder=2)
    geo = []
    for size in sizes:
        logs = np.log(best.loc[best["train_size"] == size, "lam_best"])
        ci = mean_ci(logs)
        geo.append((size, *(math.exp(v) if math.isfinite(v) else math.nan for v in ci)))
    geo = pd.DataFrame(geo, columns=["train_size", "lam", "lo", "hi"])
    ax.errorbar(geo["train_size"], geo["lam"], yerr=[geo["lam"] - geo["lo"], geo["hi"] - geo["lam"]], fmt="o",
                color=plotting.optimizer_color(optimizer), capsize=2, markersize=4, label="geometric mean, 95% t",
                zorder=3)
    cx = math.exp(np.log(geo["train_size"]).mean())
    cy = math.exp(np.log(geo["lam"]).mean())
    _reference(ax, sizes, cx, cy, fit.slope.value, f"fit: slope {_ci_text(fit.slope)}", "-")
    for slope, label, style in PREDICTIONS:
        _reference(ax, sizes, cx, cy, slope, label, style)
    ax.set_yscale("log", base=2)
    _size_ticks(ax, sizes)
    ax.set(xlabel="training-set size N", ylabel="best λ (parabola vertex)", title="(b) best λ against N")
    ax.legend(loc="best")

    ax = axes[2]  # (c) the best tau_epoch per N
    per_size = fit.per_size.sort_values("train_size")
    ax.plot(per_size["train_size"], per_size["tau_epoch"], marker="o", color=plotting.optimizer_color(optimizer),
            label="best τ_epoch (geometric-mean λ)")
    tx = math.exp(np.log(per_size["train_size"]).mean())
    ty = math.exp(np.log(per_size["tau_epoch"]).mean())
    _reference(ax, sizes, tx, ty, 0.0, "EMA view: constant", "--")
    _reference(ax, sizes, tx, ty, -0.5, "normalized decay: ∝ 1/√N", ":")
    ax.set_yscale("log", base=2)
    _size_ticks(ax, sizes)
    _epoch_ticks(ax)
    ax.set(xlabel="training-set size N", ylabel="τ_epoch = 1/(ηλ·steps per epoch), η = 1 (epochs)",
           title="(c) best EMA timescale against N")
    ax.legend(loc="best")

    alphas = ", ".join(plotting.number_text(a) for a in sorted(rows["alpha"].unique()))
    plotting.figure_title(fig, plotting.join_notes(
        f"{plotting.optimizer_label(optimizer)}, α = {alphas}: best λ against training-set size",
        f"{fit.n_seeds} seed{'' if fit.n_seeds == 1 else 's'}",
        f"slope {_ci_text(fit.slope)} (constant τ_epoch: -1, normalized decay: -1/2)"))
    plotting.save(fig, out_png)
    return fig


def _ci_text(ci) -> str:
    if not all(math.isfinite(v) for v in ci):
        return f"{ci.value:.2f}"
    return f"{ci.value:.2f} [{ci.lo:.2f}, {ci.hi:.2f}]"


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
