"""Fig. 4 of Loshchilov & Hutter (ICLR 2019): test error vs epoch for Adam+L2 and AdamW under one cosine
annealing run, and AdamWR and SGDWR under warm restarts (SGDR schedule); dashed lines mark the restarts.

For each curve the hyperparameter setting with the lowest mean final validation error is shown (mean over
seeds, with a band). The dotted line is finding 9's target: AdamWR's test error at its first restart (epoch T0);
the ring marks the epoch at which the single cosine run's mean curve first reaches it (the speed-up is that epoch
over T0; the finding reads it per seed). The paper's finding: warm restarts reach at the first restart what one
cosine run needs far longer for (up to ~10x), and end with the same results.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adamw_repro.analysis import plotting

CURVES = (("adam", "cosine"), ("adamw", "cosine"), ("adamw", "warm_restarts"), ("sgdw", "warm_restarts"))


def restart_epochs(T0: float, T_mult: float, last_epoch: float) -> list[float]:
    """Epochs at which SGDR restarts: T0, T0*(1+T_mult), T0*(1+T_mult+T_mult^2), ... up to `last_epoch`."""
    if not (np.isfinite(T0) and T0 > 0):
        return []
    mult = T_mult if np.isfinite(T_mult) and T_mult > 0 else 1.0
    out, period, at = [], float(T0), float(T0)
    while at <= last_epoch and len(out) < 1000:
        out.append(at)
        period *= mult
        at += period
    return out


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
) -> plotting.Figure:
    """Draw Fig. 4 from the runs and history tables, save PNG + PDF and return the figure."""
    sel = plotting.select(
        runs, experiment, optimizer=sorted({o for o, _ in CURVES}), schedule=sorted({s for _, s in CURVES})
    )
    sel, budget_note = plotting.keep_one(sel, "epochs")
    fig, ax = plt.subplots(figsize=(6.0, 3.8), layout="constrained")
    missing, restarts, drawn, curves = [], set(), [], {}
    for opt, sch in CURVES:
        label = plotting.optimizer_label(opt, sch)
        chosen = plotting.best_setting(
            sel[(sel["optimizer"] == opt) & (sel["schedule"] == sch)], by=["optimizer", "schedule"]
        )
        hist = history[history["run_id"].isin(chosen["run_id"])]
        if hist.empty:
            missing.append(label)
            continue
        stats = plotting.curve_stats(
            hist.assign(test_pct=100.0 * hist["test_error"]), [], "epoch", "test_pct", bounds=plotting.PERCENT
        )
        curves[opt, sch] = (stats, chosen)
        color = plotting.OPTIMIZER_COLORS[opt]
        dashes = "-" if sch == "warm_restarts" else (0, (4, 1.5))
        plotting.plot_curve(
            ax,
            stats,
            "epoch",
            color=color,
            linestyle=dashes,
            linewidth=1.2,
            label=f"{label}" if sch == "warm_restarts" else f"{label} ({sch})",
        )
        drawn.append(stats)
        if sch == "warm_restarts":
            first = chosen.iloc[0]
            restarts.update(restart_epochs(first["T0"], first["T_mult"], hist["epoch"].max()))
    last_epoch = max((float(d["epoch"].max()) for d in drawn), default=0.0)
    for epoch in sorted(restarts):
        if epoch < last_epoch:  # a restart at or after the last epoch drawn was never seen
            ax.axvline(epoch, color="0.5", linestyle="--", linewidth=0.7, zorder=0)
    speedup = _mark_speedup(ax, curves)
    if drawn:
        _zoom(ax, pd.concat(drawn))
        ax.legend(loc="upper right")
    ax.set(xlabel="epoch", ylabel="test error (%)")
    plotting.integer_epochs(ax)
    plotting.figure_title(
        fig,
        plotting.join_notes(
            "Test error vs epoch (dashed vertical: restarts)",
            f"mean over {plotting.n_seeds_text(sel)}, {plotting.band_kind()}",
            "best setting per curve by mean val. error",
            speedup,
            budget_note,
            plotting.missing_note(missing),
        ),
    )
    plotting.save(fig, out_png)
    return fig


def _mark_speedup(ax, curves: dict) -> str:
    """Finding 9's measure on the mean curves: AdamWR's error at epoch T0 (dotted) and the first epoch at which
    AdamW's single cosine run reaches it (ring). Returns the title's note ("" when either curve is missing)."""
    if ("adamw", "warm_restarts") not in curves or ("adamw", "cosine") not in curves:
        return ""
    wr, chosen = curves["adamw", "warm_restarts"]
    cos, _ = curves["adamw", "cosine"]
    T0 = float(chosen["T0"].iloc[0])
    at = wr[np.isclose(wr["epoch"], T0)]
    if at.empty:
        return ""
    target = float(at["mean"].iloc[0])
    ax.axhline(target, color=plotting.OPTIMIZER_COLORS["adamw"], linestyle=":", linewidth=0.9, zorder=1)
    hit = cos[cos["mean"] <= target + 1e-12]
    if hit.empty:
        return f"cosine never reaches AdamWR's epoch-{T0:g} error (dotted)"
    epoch = float(hit["epoch"].iloc[0])
    ax.scatter([epoch], [float(hit["mean"].iloc[0])], s=90, facecolors="none",
               edgecolors=plotting.OPTIMIZER_COLORS["adamw"], linewidths=1.2, zorder=5)
    return f"cosine reaches AdamWR's epoch-{T0:g} error (dotted) at epoch {epoch:g}: {epoch / T0:.1f}x"


def _zoom(ax, stats: pd.DataFrame) -> None:
    """Leave the first tenth of training out of the y range: early errors would flatten what matters."""
    late = stats[stats["epoch"] >= stats["epoch"].min() + 0.1 * (stats["epoch"].max() - stats["epoch"].min())]
    vals = late[["mean", "hi"]].to_numpy(float)
    vals = vals[np.isfinite(vals)]
    lows = stats[["mean", "lo"]].to_numpy(float)
    lows = lows[np.isfinite(lows)]
    if vals.size and lows.size and vals.max() > lows.min():
        ax.set_ylim(0.95 * lows.min(), min(100.0, 1.05 * vals.max()))


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
