"""AdamW in the paper's form beside torch.optim.AdamW (not a figure of the paper; it explains one of its
pitfalls).

Left: the paper's AdamW over (alpha x lambda), lambda decaying the weights by (1 - eta_t*lambda) per step.
Right: torch.optim.AdamW over (alpha x weight_decay), which decays by alpha*eta_t*weight_decay, so
weight_decay = lambda/alpha. Sweeping alpha with torch's weight_decay held fixed couples the two again: the
good region turns diagonal. That is a parameterization effect, not a result. Circles: best cells by mean
validation error.
"""

from pathlib import Path

import pandas as pd

from adamw_repro.analysis import plotting

PANELS = (
    ("adamw", "AdamW (paper form)", "weight decay λ"),
    ("adamw_torch", "torch.optim.AdamW", "torch weight_decay (= λ/α)"),
)


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
    schedule: str | None = None,
    n_best: int = 3,  # of a 3 x 3 grid: circling 10 would mark every cell
    span: float | None = None,
) -> plotting.Figure:
    """Draw the paper-vs-torch AdamW grids from the runs table (history is not used), save PNG + PDF and return
    the figure."""
    sel = plotting.select(runs, experiment, optimizer=[p[0] for p in PANELS], schedule=schedule)
    sel = plotting.decay_rows(sel, "weight_decay")
    sel, schedule_note = plotting.keep_one(sel, "schedule", prefer="cosine")
    sel, budget_note = plotting.keep_one(sel, "epochs")
    row, missing = [], []
    for opt, name, _ in PANELS:
        sub = sel[sel["optimizer"] == opt]
        if sub.empty:
            missing.append(name)
        row.append((name, sub))
    schedules = sel["schedule"].dropna().unique()
    title = plotting.join_notes(
        "Test error (%)" + (f", {plotting.schedule_label(schedules[0])}" if len(schedules) else ""),
        f"○ {n_best} best (val.)" if n_best else "",
        schedule_note,
        budget_note,
        plotting.missing_note(missing),
    )
    fig, *_ = plotting.heatmap_figure(
        [row],
        lam_names=[[p[2] for p in PANELS]],
        n_best=n_best,
        slope=True,
        suptitle=title,
        span=span,
    )
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
