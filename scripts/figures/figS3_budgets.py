"""Supplementary Fig. 3 of Loshchilov & Hutter (ICLR 2019): the (alpha x lambda) test-error grid at three
training budgets (columns = epochs), with the raw weight decay lambda (top row) and the normalized lambda_norm
(bottom row).

The paper's finding: the best raw lambda moves with the budget (about 1/sqrt(T)); the best lambda_norm stays
put. Circles mark the best cell of each panel by mean validation error.
"""

from pathlib import Path

import pandas as pd

from adamw_repro.analysis import plotting

ROWS = (("weight_decay", "raw λ"), ("lambda_norm", "normalized λ_norm"))


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    optimizer: str = "adamw",
    schedule: str | None = None,
    n_best: int = 1,
    upper_percentile: float = 90.0,
) -> None:
    """Draw Supp. Fig. 3 from the runs table (history is not used) and save PNG + PDF.

    `schedule=None` keeps the most common schedule (cosine when present) so budgets are never mixed with
    schedules.
    """
    sel = plotting.select(runs, experiment, optimizer=optimizer, schedule=schedule)
    sel, schedule_note = plotting.keep_one(sel, "schedule", prefer="cosine")
    budgets = sorted(sel["epochs"].dropna().unique())
    panels, missing = [], []
    for lam_col, row_name in ROWS:
        rows = plotting.decay_rows(sel, lam_col)
        row = []
        for epochs in budgets:
            name = f"{row_name}, {epochs:g} epochs"
            sub = rows[rows["epochs"] == epochs]
            if sub.empty:
                missing.append(name)
            row.append((name, sub))
        panels.append(row)
    if not budgets:
        panels = [[(plotting.optimizer_label(optimizer), sel.iloc[:0])]]
    schedules = sel["schedule"].dropna().unique()
    title = plotting.join_notes(
        f"{plotting.optimizer_label(optimizer)}"
        + (f", {plotting.schedule_label(schedules[0])}" if len(schedules) else "")
        + ": test error (%)",
        f"mean over {plotting.n_seeds_text(sel)}",
        "circle: best by mean val. error"
        if n_best == 1
        else (f"○ {n_best} best (val.)" if n_best else ""),
        schedule_note,
        plotting.missing_note(missing),
    )
    lam_axes = [[lam_col] * max(len(budgets), 1) for lam_col, _ in ROWS][: len(panels)]
    fig, *_ = plotting.heatmap_figure(
        panels, lam_axes=lam_axes, n_best=n_best, suptitle=title, upper_percentile=upper_percentile
    )
    plotting.save(fig, out_png)


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
