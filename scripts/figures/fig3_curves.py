"""Fig. 3 of Loshchilov & Hutter (ICLR 2019): Adam+L2 against AdamW under cosine annealing at one initial learning
rate alpha, one curve per weight decay.

Panels: (a) training loss vs epoch (log scale), (b) test error vs epoch, (c) Adam+L2's final test error vs its L2
coefficient lambda, (d) AdamW's final test error vs its normalized lambda_norm (raw lambda where the grid gives it
raw), each in the optimizer's own unit (one quantity per axis), (e) final test error vs final training loss (one
point per optimizer and lambda: finding 7 compares the optimizers at equal training loss). Every value is a mean
over seeds, with a 95 % t-interval where there are two or more. The paper's finding: the curves coincide early,
then AdamW reaches a lower training loss and a lower test error, and at equal training loss AdamW generalizes
better.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from adamw_repro.analysis import plotting

OPTIMIZERS = ("adam", "adamw")
DECAY_AXES = {"weight_decay": "L2 coefficient λ", "lambda_norm": "normalized weight decay λ_norm"}


def decay_column(runs: pd.DataFrame) -> str:
    """The unit an optimizer's lambda grid is given in: lambda_norm where set, else weight_decay."""
    return "lambda_norm" if len(runs) and runs["lambda_norm"].notna().all() else "weight_decay"


def _shades(optimizer: str, n: int) -> list:
    """Light-to-dark shades of the optimizer's colour: darker = larger lambda."""
    base = plotting.OPTIMIZER_COLORS[optimizer]
    if n <= 1:
        return [base]
    light = tuple(0.65 + 0.35 * c for c in base)
    dark = tuple(0.55 * c for c in base)
    return sns.blend_palette([light, base, dark], max(n, 1))


def _layout() -> tuple[plt.Figure, dict]:
    fig = plt.figure(figsize=(9.6, 6.4), layout="constrained")
    grid = fig.add_gridspec(2, 6)
    axes = {"loss": fig.add_subplot(grid[0, 0:3]), "err": fig.add_subplot(grid[0, 3:6]),
            "adam": fig.add_subplot(grid[1, 0:2]), "adamw": fig.add_subplot(grid[1, 2:4]),
            "trade": fig.add_subplot(grid[1, 4:6])}
    axes["adamw"].sharey(axes["adam"])
    return fig, axes


def _decay_panel(ax, final: pd.DataFrame, opt: str, lam_col: str, letter: str) -> None:
    """Final test error against the optimizer's own lambda (log2 axis); lambda = 0 as a dotted line."""
    color = plotting.OPTIMIZER_COLORS[opt]
    pos = final[final["lam"] > 0]
    if len(pos):
        ax.errorbar(pos["lam"], pos["mean"], yerr=plotting.error_bars(pos), color=color, marker="o", markersize=3,
                    capsize=2, linewidth=1.0)
        ax.set_xscale("log", base=2)
    for zero in final.loc[final["lam"] == 0, "mean"]:
        ax.axhline(zero, color=color, linestyle=":", linewidth=1.0)
    ax.set(xlabel=DECAY_AXES[lam_col], ylabel="final test error (%)",
           title=f"({letter}) {plotting.optimizer_label(opt)}" + (" (dotted: λ = 0)" if (final["lam"] == 0).any()
                                                                else ""))


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    schedule: str | None = None,
) -> plotting.Figure:
    """Draw Fig. 3 from the runs and history tables, save PNG + PDF and return the figure."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS), schedule=schedule)
    sel, schedule_note = plotting.keep_one(sel, "schedule", prefer="cosine")
    sel, alpha_note = plotting.keep_one(sel, "alpha")
    sel, budget_note = plotting.keep_one(sel, "epochs")
    units = {o: decay_column(sel[sel["optimizer"] == o]) for o in OPTIMIZERS}
    lam = pd.Series(np.nan, index=sel.index)
    for opt, col in units.items():  # each optimizer's lambda in its own unit
        mine = sel["optimizer"] == opt
        lam[mine] = sel.loc[mine, col].fillna(0.0)
    sel = sel.assign(lam=lam.map(plotting._key))
    hist = history[history["run_id"].isin(sel["run_id"])]
    hist = hist.assign(lam=hist["run_id"].map(sel.set_index("run_id")["lam"]), test_pct=100.0 * hist["test_error"])
    loss = plotting.curve_stats(hist, ["optimizer", "lam"], "epoch", "train_loss", bounds=(0.0, np.inf))
    err = plotting.curve_stats(hist, ["optimizer", "lam"], "epoch", "test_pct", bounds=plotting.PERCENT)
    final = plotting.curve_stats(sel.assign(test_pct=100.0 * sel["final_test_error"]), ["optimizer"], "lam",
                                 "test_pct", bounds=plotting.PERCENT)
    trade = sel.groupby(["optimizer", "lam"])[["final_train_loss", "final_test_error"]].mean().reset_index()
    trade = trade[np.isfinite(trade["final_train_loss"]) & (trade["final_train_loss"] > 0)]

    fig, ax = _layout()
    missing, handles = [], []
    for letter, opt in zip("cd", OPTIMIZERS, strict=True):
        lams = sorted(sel.loc[sel["optimizer"] == opt, "lam"].dropna().unique())
        if not lams:
            missing.append(plotting.optimizer_label(opt))
            plotting.empty_panel(ax[opt], f"({letter}) {plotting.optimizer_label(opt)}\nno runs")
            continue
        shades = dict(zip(lams, _shades(opt, len(lams)), strict=True))
        for lam in lams:
            for key, stats in (("loss", loss), ("err", err)):
                s = stats[(stats["optimizer"] == opt) & (stats["lam"] == lam)]
                s = s[s["mean"] > 0] if key == "loss" else s
                ax[key].plot(s["epoch"], s["mean"], color=shades[lam], linewidth=1.0,
                             marker="." if key == "err" else None, markersize=3)
        _decay_panel(ax[opt], final[final["optimizer"] == opt], opt, units[opt], letter)
        color = plotting.OPTIMIZER_COLORS[opt]
        t = trade[trade["optimizer"] == opt].sort_values("final_train_loss")
        ax["trade"].plot(t["final_train_loss"], 100.0 * t["final_test_error"], color=color, linewidth=0.6, alpha=0.6)
        ax["trade"].scatter(t["final_train_loss"], 100.0 * t["final_test_error"], c=[shades[v] for v in t["lam"]],
                            edgecolors=color, linewidths=0.6, s=22, zorder=3)
        unit = "λ_norm" if units[opt] == "lambda_norm" else "λ"
        handles.append(Line2D([], [], color=color, marker="o", markersize=3,
                              label=f"{plotting.optimizer_label(opt)} ({len(lams)} {unit} value"
                                    f"{'s' if len(lams) > 1 else ''})"))
    plotting.integer_epochs(ax["loss"])
    plotting.integer_epochs(ax["err"])
    plotting.log_axis(ax["loss"], "y", loss["mean"])
    ax["loss"].set(xlabel="epoch", ylabel="training loss", title="(a) training loss")
    ax["err"].set(xlabel="epoch", ylabel="test error (%)", title="(b) test error")
    plotting.log_axis(ax["trade"], "x", trade["final_train_loss"])
    ax["trade"].set(xlabel="final training loss", ylabel="final test error (%)",
                    title="(e) test error vs training loss")
    if handles:
        ax["err"].legend(handles=handles, title="darker = larger decay", loc="upper right")
    alphas = sel["alpha"].dropna().unique()
    schedules = sel["schedule"].dropna().unique()
    plotting.figure_title(
        fig,
        plotting.join_notes(
            "Adam+L2 vs AdamW"
            + (f", α = {plotting.number_text(alphas[0])}" if len(alphas) else "")
            + (f", {plotting.schedule_label(schedules[0])}" if len(schedules) else ""),
            f"mean over {plotting.n_seeds_text(sel)}, error bars: 95% t-interval",
            schedule_note,
            alpha_note,
            budget_note,
            plotting.missing_note(missing),
        ),
    )
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
