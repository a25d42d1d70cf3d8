"""Fig. 1 of Loshchilov & Hutter (ICLR 2019): test error over the (alpha x lambda) grid for Adam+L2 (top row)
and AdamW (bottom row) under a fixed learning rate, step-drop and cosine annealing (columns).

Each cell is the mean final test error over seeds; all six panels share one colour scale. The paper's finding:
AdamW's good region is axis-aligned (alpha and lambda separable) and lower under every schedule.
"""

from pathlib import Path

import pandas as pd

from adamw_repro.analysis import plotting

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("fixed", "step", "cosine")


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    lam_col: str = "weight_decay",
    n_best: int = 10,
    span: float | None = None,
) -> plotting.Figure:
    """Draw Fig. 1 from the runs table (history is not used), save PNG + PDF and return the figure."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS), schedule=list(SCHEDULES))
    sel, budget_note = plotting.keep_one(plotting.decay_rows(sel, lam_col), "epochs")
    panels, missing = [], []
    for opt in OPTIMIZERS:
        row = []
        for sch in SCHEDULES:
            name = f"{plotting.optimizer_label(opt)}, {plotting.schedule_label(sch)}"
            sub = sel[(sel["optimizer"] == opt) & (sel["schedule"] == sch)]
            if sub.empty:
                missing.append(name)
            row.append((name, sub))
        panels.append(row)
    epochs = sel["epochs"].dropna().unique()
    title = plotting.join_notes(
        f"Test error (%) after {epochs[0]:g} epochs" if len(epochs) else "Test error (%)",
        f"○ {n_best} best (val.)" if n_best else "",
        budget_note,
        plotting.missing_note(missing),
    )
    fig, *_ = plotting.heatmap_figure(
        panels, lam_axes=lam_col, n_best=n_best, suptitle=title, span=span
    )
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
