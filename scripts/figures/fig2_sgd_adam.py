"""Fig. 2 of Loshchilov & Hutter (ICLR 2019): test error over the (alpha x lambda) grid under cosine annealing
for SGD+L2, SGDW (top row), Adam+L2 and AdamW (bottom row), with the 10 best settings circled.

Cells are mean final test error over seeds; the circles mark the cells with the lowest mean *validation*
error. Each title carries the decoupling slope d log(best lambda) / d log(alpha): about -1 when lambda and
alpha are coupled (SGD+L2), about 0 when decoupled (SGDW, AdamW).
"""

from pathlib import Path

import pandas as pd

from adamw_repro.analysis import plotting

LAYOUT = (("sgd", "sgdw"), ("adam", "adamw"))


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
    upper_percentile: float = 90.0,
) -> None:
    """Draw Fig. 2 from the runs table (history is not used) and save PNG + PDF."""
    optimizers = [o for row in LAYOUT for o in row]
    sel = plotting.select(runs, experiment, optimizer=optimizers, schedule=schedule)
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
        f"mean over {plotting.n_seeds_text(sel)}",
        f"circles: {n_best} best by mean val. error" if n_best else "",
        budget_note,
        plotting.missing_note(missing),
    )
    fig, *_ = plotting.heatmap_figure(
        panels, lam_axes=lam_col, n_best=n_best, slope=True, suptitle=title, upper_percentile=upper_percentile
    )
    plotting.save(fig, out_png)


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
