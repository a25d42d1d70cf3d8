"""Fig. 2 of Loshchilov & Hutter (ICLR 2019): test error over the (alpha x lambda) grid under cosine annealing
for SGD+L2, SGDW (top row), Adam+L2 and AdamW (bottom row), with the 10 best settings circled. Panels that
fig2_sgd_adam lacks (Adam+L2 and AdamW at the quick scale) are the cosine runs of fig1_schedules.

Cells are mean final test error over seeds; the circles mark the cells with the lowest mean *validation*
error. Each title carries the decoupling slope d log(best lambda) / d log(alpha): about -1 when lambda and
alpha are coupled (SGD+L2), about 0 when decoupled (SGDW, AdamW).
"""

from pathlib import Path

import pandas as pd

from adamw_repro.analysis import plotting

LAYOUT = (("sgd", "sgdw"), ("adam", "adamw"))
FALLBACK = "fig1_schedules"  # its cosine grids (with lambda = 0) are Fig. 2's Adam+L2 and AdamW panels


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    schedule: str = "cosine",
    lam_col: str = "weight_decay",
    n_best: int = 10,
    span: float | None = None,
) -> plotting.Figure:
    """Draw Fig. 2 from the runs table (history is not used), save PNG + PDF and return the figure."""
    optimizers = [o for row in LAYOUT for o in row]
    sel = plotting.select(runs, experiment, optimizer=optimizers, schedule=schedule)
    if experiment is not None:  # panels this experiment lacks come from Fig. 1's cosine runs (the quick scale)
        absent = [o for o in optimizers if o not in set(sel["optimizer"])]
        sel = pd.concat([sel, plotting.select(runs, FALLBACK, optimizer=absent, schedule=schedule)])
    sel, budget_note = plotting.keep_one(plotting.decay_rows(sel, lam_col), "epochs")
    panels, missing = [], []
    for row_opts in LAYOUT:
        row = []
        for opt in row_opts:
            name = plotting.optimizer_label(opt)
            sub = sel[sel["optimizer"] == opt]
            if sub.empty:
                missing.append(name)
            row.append((name, sub))
        panels.append(row)
    epochs = sel["epochs"].dropna().unique()
    title = plotting.join_notes(
        f"Test error (%), {plotting.schedule_label(schedule)}"
        + (f", {epochs[0]:g} epochs" if len(epochs) else ""),
        f"○ {n_best} best (val.)" if n_best else "",
        budget_note,
        plotting.missing_note(missing),
    )
    fig, *_ = plotting.heatmap_figure(
        panels, lam_axes=lam_col, n_best=n_best, slope=True, suptitle=title, span=span
    )
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
