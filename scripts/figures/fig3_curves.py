"""Fig. 3 of Loshchilov & Hutter (ICLR 2019): Adam+L2 against AdamW at one learning rate, one curve per weight
decay.

Panels: (a) training loss vs epoch (log scale), (b) test error vs epoch, (c) final test error vs raw lambda,
(d) final test error vs final training loss (one point per optimizer and lambda). Adam+L2 is swept over its L2
coefficient (weight_decay), AdamW over the normalized lambda_norm (raw weight_decay where lambda_norm is NaN).
Every value is a mean over seeds. The paper's finding: the curves coincide early, then AdamW reaches a lower
training loss and a lower test error, and at equal training loss AdamW generalizes better.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from adamw_repro.analysis import plotting

OPTIMIZERS = ("adam", "adamw")


def decay_value(runs: pd.DataFrame) -> pd.Series:
    """The raw lambda of each run, so panel (c) has one unit on its axis: weight_decay, or for a run given by
    lambda_norm the lambda it used (lambda_effective = lambda_norm * sqrt(b / (B * T)))."""
    raw = runs["weight_decay"].where(runs["lambda_norm"].isna())
    return raw.fillna(runs["lambda_effective"]).map(plotting._key)


def _shades(optimizer: str, n: int) -> list:
    """Light-to-dark shades of the optimizer's colour: darker = larger lambda."""
    base = plotting.OPTIMIZER_COLORS[optimizer]
    if n <= 1:
        return [base]
    light = tuple(0.65 + 0.35 * c for c in base)
    dark = tuple(0.55 * c for c in base)
    return sns.blend_palette([light, base, dark], max(n, 1))


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    schedule: str | None = None,
) -> None:
    """Draw Fig. 3 from the runs and history tables and save PNG + PDF."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS), schedule=schedule)
    sel, schedule_note = plotting.keep_one(sel, "schedule", prefer="cosine")
    sel, alpha_note = plotting.keep_one(sel, "alpha")
    sel, budget_note = plotting.keep_one(sel, "epochs")
    sel = sel.assign(lam=decay_value(sel))
    hist = history[history["run_id"].isin(sel["run_id"])]
    hist = hist.assign(
        lam=hist["run_id"].map(sel.set_index("run_id")["lam"]), test_pct=100.0 * hist["test_error"]
    )
    loss = plotting.curve_stats(hist, ["optimizer", "lam"], "epoch", "train_loss")
    err = plotting.curve_stats(hist, ["optimizer", "lam"], "epoch", "test_pct")
    final = plotting.curve_stats(
        sel.assign(test_pct=100.0 * sel["final_test_error"]), ["optimizer"], "lam", "test_pct"
    )
    trade = sel.groupby(["optimizer", "lam"])[["final_train_loss", "final_test_error"]].mean().reset_index()
    trade = trade[np.isfinite(trade["final_train_loss"]) & (trade["final_train_loss"] > 0)]

    fig, axes = plt.subplots(2, 2, figsize=(8.0, 6.0), layout="constrained")
    (ax_loss, ax_err), (ax_lam, ax_trade) = axes
    missing, handles = [], []
    for opt in OPTIMIZERS:
        lams = sorted(sel.loc[sel["optimizer"] == opt, "lam"].dropna().unique())
        if not lams:
            missing.append(plotting.optimizer_label(opt))
            continue
        shades = dict(zip(lams, _shades(opt, len(lams)), strict=True))
        for lam in lams:
            for ax, stats in ((ax_loss, loss), (ax_err, err)):
                s = stats[(stats["optimizer"] == opt) & (stats["lam"] == lam)]
                s = s[s["mean"] > 0] if ax is ax_loss else s
                ax.plot(s["epoch"], s["mean"], color=shades[lam], linewidth=1.0)
        f = final[final["optimizer"] == opt]
        color = plotting.OPTIMIZER_COLORS[opt]
        pos = f[f["lam"] > 0]
        ax_lam.errorbar(
            pos["lam"],
            pos["mean"],
            yerr=plotting.error_bars(pos),
            color=color,
            marker="o",
            markersize=3,
            capsize=2,
            linewidth=1.0,
        )
        for zero in f.loc[f["lam"] == 0, "mean"]:
            ax_lam.axhline(zero, color=color, linestyle=":", linewidth=1.0)
        t = trade[trade["optimizer"] == opt].sort_values("lam")
        ax_trade.plot(
            t["final_train_loss"], 100.0 * t["final_test_error"], color=color, linewidth=0.6, alpha=0.6
        )
        ax_trade.scatter(
            t["final_train_loss"],
            100.0 * t["final_test_error"],
            c=[shades[v] for v in t["lam"]],
            edgecolors=color,
            linewidths=0.6,
            s=22,
            zorder=3,
        )
        decay = (
            "λ_norm"
            if opt == "adamw" and sel.loc[sel["optimizer"] == opt, "lambda_norm"].notna().any()
            else "λ"
        )
        plural = "s" if len(lams) > 1 else ""
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                marker="o",
                markersize=3,
                label=f"{plotting.optimizer_label(opt)} ({len(lams)} {decay} value{plural})",
            )
        )
    plotting.integer_epochs(ax_loss)
    plotting.integer_epochs(ax_err)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="training loss", title="(a) training loss")
    ax_err.set(xlabel="epoch", ylabel="test error (%)", title="(b) test error")
    if (final["lam"] > 0).any():
        ax_lam.set_xscale("log", base=2)
    ax_lam.set(
        xlabel="raw λ (AdamW's λ_norm converted)",
        ylabel="final test error (%)",
        title="(c) final test error vs weight decay (dotted: λ = 0)",
    )
    if len(trade):
        ax_trade.set_xscale("log")
    ax_trade.set(
        xlabel="final training loss", ylabel="final test error (%)", title="(d) test error vs training loss"
    )
    if handles:
        ax_err.legend(handles=handles, title="darker = larger decay", loc="upper right")
    alphas = sel["alpha"].dropna().unique()
    schedules = sel["schedule"].dropna().unique()
    plotting.figure_title(
        fig,
        plotting.join_notes(
            "Adam+L2 vs AdamW"
            + (f", α = {plotting.number_text(alphas[0])}" if len(alphas) else "")
            + (f", {plotting.schedule_label(schedules[0])}" if len(schedules) else ""),
            f"mean over {plotting.n_seeds_text(sel)}",
            schedule_note,
            alpha_note,
            budget_note,
            plotting.missing_note(missing),
        ),
    )
    plotting.save(fig, out_png)


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
