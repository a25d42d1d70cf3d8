"""Supplementary Fig. 3 of Loshchilov & Hutter (ICLR 2019), drawn as lines: AdamW's final test error against the
weight decay, one line per training budget, with the raw lambda (left) and the normalized lambda_norm (right).

Each point is the mean over seeds (95 % t-interval bars) at one lambda; where the grid has several alphas, the
alpha with the lowest mean validation error at that lambda. A ring marks each budget's best lambda (validation).
The paper's finding: the best raw lambda moves with the budget (about 1/sqrt(T)); the best lambda_norm stays put.
Each panel's title gives the slope of log(best lambda) against log(budget) that finding 8 judges.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from adamw_repro.analysis import plotting
from adamw_repro.analysis.decoupling import ridge_slope

PANELS = (("weight_decay", "raw weight decay λ", "raw λ"), ("lambda_norm", "normalized weight decay λ_norm", "λ_norm"))


def profile(rows: pd.DataFrame, lam_col: str) -> pd.DataFrame:
    """Per lambda: the runs of the alpha with the lowest mean validation error there (all alphas when one)."""
    if rows.empty:
        return rows
    means = rows.groupby([lam_col, "alpha"])["final_val_error"].mean().reset_index()
    best = means.loc[means.groupby(lam_col)["final_val_error"].idxmin(), [lam_col, "alpha"]]
    return rows.merge(best, on=[lam_col, "alpha"])


def _slope_text(rows: pd.DataFrame, lam_col: str) -> str:
    if rows["epochs"].nunique() < 2:
        return "one budget: no slope"
    s = ridge_slope(rows, x_col="epochs", lam_col=lam_col, other_cols=("alpha",))
    ci = f" [{s.lo:+.2f}, {s.hi:+.2f}]" if np.isfinite(s.lo) else ""
    return f"best ∝ $T^{{{s.slope:+.2f}}}${ci}" if np.isfinite(s.slope) else "slope n/a"


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    optimizer: str = "adamw",
    schedule: str | None = None,
) -> plotting.Figure:
    """Draw Supp. Fig. 3 from the runs table (history is not used), save PNG + PDF and return the figure.

    `schedule=None` keeps the most common schedule (cosine when present) so budgets are never mixed with
    schedules.
    """
    sel = plotting.select(runs, experiment, optimizer=optimizer, schedule=schedule)
    sel, schedule_note = plotting.keep_one(sel, "schedule", prefer="cosine")
    budgets = sorted(sel["epochs"].dropna().unique())
    colours = dict(zip(budgets, sns.color_palette("mako_r", len(budgets) + 1)[1:], strict=False))
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained", sharey=True, squeeze=False)
    missing = []
    for ax, (lam_col, name, short) in zip(axes[0], PANELS, strict=True):
        rows = plotting.decay_rows(sel, lam_col)
        rows = rows[rows[lam_col] > 0]
        if rows.empty:
            plotting.empty_panel(ax, f"{name}\nno runs")
            missing.append(name)
            continue
        edges = []
        for epochs in budgets:
            mine = profile(rows[rows["epochs"] == epochs], lam_col)
            if mine.empty:
                missing.append(f"{name}, {epochs:g} epochs")
                continue
            stats = plotting.curve_stats(mine.assign(test_pct=100.0 * mine["final_test_error"]), [], lam_col,
                                         "test_pct", bounds=plotting.PERCENT)
            colour = colours[epochs]
            ax.errorbar(stats[lam_col], stats["mean"], yerr=plotting.error_bars(stats), color=colour, marker="o",
                        markersize=3, capsize=2, linewidth=1.1, label=f"{epochs:g} epochs")
            best = plotting.best_setting(mine, by=["epochs"]).iloc[0]
            at = stats.loc[np.isclose(stats[lam_col], best[lam_col]), "mean"]
            ax.scatter([best[lam_col]], at.iloc[:1], s=110, facecolors="none", edgecolors=colour, linewidths=1.3,
                       zorder=4)
            note = plotting.edge_note(mine)
            if note:
                edges.append(f"{epochs:g} ep.: {note}")
        ax.set_xscale("log", base=2)
        plotting.log_axis(ax, "y", 100.0 * rows["final_test_error"], min_span=3.0)  # budgets far apart in error
        ax.set(xlabel=name, ylabel="final test error (%)",
               title="\n".join([f"{short}: {_slope_text(rows, lam_col)}", *edges]))
        if not axes[0, 0].get_legend():  # one legend: both panels share the budgets' colours
            ax.legend(title="budget (ring: best, val.)", loc="center right")
    alphas = sel["alpha"].dropna().unique()
    plotting.figure_title(
        fig,
        plotting.join_notes(
            f"{plotting.optimizer_label(optimizer)}"
            + (f", {plotting.schedule_label(sel['schedule'].iloc[0])}" if len(sel) else "")
            + ": final test error vs weight decay per budget",
            f"α = {plotting.number_text(alphas[0])}" if len(alphas) == 1 else "best α per λ (val.)",
            f"mean over {plotting.n_seeds_text(sel)}, error bars: 95% t-interval",
            schedule_note,
            plotting.missing_note(missing),
        ),
    )
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
