"""ExponentialLR and ReduceLROnPlateau beside cosine annealing for Adam+L2 and AdamW (not a figure of the
paper: the two decays named by the blog post that motivated this project).

Top row: test error vs epoch; bottom row: the learning rate actually used in each epoch (the `lr` column), one
panel per optimizer. Per schedule the setting with the lowest mean final validation error is shown, as a mean
over seeds with a band.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from adamw_repro.analysis import plotting

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "exponential", "plateau")


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
) -> plotting.Figure:
    """Draw test error and learning rate vs epoch per schedule for Adam+L2 and AdamW, save PNG + PDF and return
    the figure."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS), schedule=list(SCHEDULES))
    sel, budget_note = plotting.keep_one(sel, "epochs")
    fig, axes = plt.subplots(
        2, 2, figsize=(8.0, 5.6), layout="constrained", sharex="col", gridspec_kw={"height_ratios": [3, 2]}
    )
    missing = []
    for c, opt in enumerate(OPTIMIZERS):
        ax_err, ax_lr = axes[0, c], axes[1, c]
        chosen = plotting.best_setting(sel[sel["optimizer"] == opt], by=["optimizer", "schedule"])
        hist = history[history["run_id"].isin(chosen["run_id"])]
        absent = []
        for sch in SCHEDULES:
            h = hist[hist["schedule"] == sch]
            if h.empty:
                absent.append(plotting.schedule_label(sch))
                continue
            color = plotting.SCHEDULE_COLORS[sch]
            err = plotting.curve_stats(h.assign(test_pct=100.0 * h["test_error"]), [], "epoch", "test_pct",
                                       bounds=plotting.PERCENT)
            plotting.plot_curve(
                ax_err,
                err,
                "epoch",
                color=color,
                linewidth=1.1,
                label=f"{plotting.schedule_label(sch)} ({err['mean'].iloc[-1]:.2f} %)",
            )
            lr = plotting.curve_stats(h, [], "epoch", "lr")
            ax_lr.plot(lr["epoch"], lr["mean"], color=color, linewidth=1.1)
        name = plotting.optimizer_label(opt)
        if len(absent) == len(SCHEDULES):
            missing.append(name)
        ax_err.set(ylabel="test error (%)", title=plotting.join_notes(name, plotting.missing_note(absent)))
        if ax_err.lines:
            ax_err.legend(loc="upper right", title="schedule (final error)")
        if ax_lr.lines and (hist["lr"] > 0).all():
            ax_lr.set_yscale("log")
        ax_lr.set(xlabel="epoch", ylabel="learning rate")
        plotting.integer_epochs(ax_lr)
    plotting.figure_title(
        fig,
        plotting.join_notes(
            "Learning-rate decays: test error and the rate used",
            f"mean over {plotting.n_seeds_text(sel)}, {plotting.band_kind()}",
            "best setting per schedule by mean val. error",
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
