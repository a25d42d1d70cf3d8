"""Smith (WACV 2017), "Cyclical Learning Rates": Fig. 1/Tables 1 and 3 (accuracy vs iteration per schedule,
for SGD and for Adam) and Fig. 3 (the LR range test).

`plot`: validation accuracy (1 - val_error) against iterations for the fixed rate, triangular, triangular2,
exp_range, exponential and decay-only schedules, one panel for SGD and one for Adam; per schedule the setting
with the lowest mean final validation error over the grid seeds, drawn on the tune stage's fresh seeds (the runs
finding 10 reads), mean over seeds with a band. The dashed line is the target of finding 10: the tuned baseline's
(fixed or exponential) final validation accuracy. Smith's finding: triangular/triangular2 reach the fixed-rate
accuracy in fewer iterations, decay-only does worse, and CLR helps Adam little.

`plot_range_test`: accuracy against the linearly increasing learning rate, with the base_lr and
max_lr chosen from it marked.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from adamw_repro.analysis import plotting

SCHEDULES = ("fixed", "triangular", "triangular2", "exp_range", "exponential", "decay_only")
BASELINES = ["fixed", "exponential"]
OPTIMIZERS = ("sgd", "adam")


@plotting.styled
def plot(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_png: Path,
    *,
    experiment: str | None = None,
) -> plotting.Figure:
    """Draw validation accuracy vs iteration per schedule (SGD and Adam panels), save PNG + PDF and return the
    figure."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS), schedule=list(SCHEDULES))
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained", sharey=True, squeeze=False)
    missing, drawn = [], []
    for ax, opt in zip(axes[0], OPTIMIZERS, strict=True):
        mine = sel[sel["optimizer"] == opt]
        chosen = plotting.best_setting(mine, by=["optimizer", "schedule"], fresh=True)
        drawn.append(chosen)
        hist = history[history["run_id"].isin(chosen["run_id"])]
        absent = [plotting.schedule_label(s) for s in SCHEDULES if s not in set(hist["schedule"])]
        if len(absent) == len(SCHEDULES):
            plotting.empty_panel(ax, f"{plotting.optimizer_label(opt)}\nno runs")
            missing.append(plotting.optimizer_label(opt))
            continue
        for sch in SCHEDULES:
            h = hist[hist["schedule"] == sch]
            if h.empty:
                continue
            stats = plotting.curve_stats(
                h.assign(val_acc=100.0 * (1.0 - h["val_error"])), [], "step", "val_acc", bounds=plotting.PERCENT
            )
            final = stats["mean"].iloc[-1]
            plotting.plot_curve(
                ax,
                stats,
                "step",
                color=plotting.SCHEDULE_COLORS[sch],
                linewidth=1.1,
                label=f"{plotting.schedule_label(sch)} ({final:.1f} %)",
            )
        baseline = plotting.best_setting(mine[mine["schedule"].isin(BASELINES)], by=["optimizer"], fresh=True)
        if len(baseline):
            target = 100.0 * (1.0 - baseline["final_val_error"].mean())
            ax.axhline(target, color="0.3", linestyle="--", linewidth=0.9,
                       label=f"target: tuned {plotting.schedule_label(baseline['schedule'].iloc[0])}'s final")
            ax.set_ylim(max(0.0, target - 4.0 * (100.0 - target)), min(100.0, target + 1.5 * (100.0 - target)))
        ax.set(
            xlabel="iteration",
            ylabel="validation accuracy (%)",
            title=plotting.join_notes(plotting.optimizer_label(opt), plotting.missing_note(absent)),
        )
        ax.legend(loc="lower right", title="schedule (final accuracy)")
    shown = pd.concat(drawn) if drawn else sel
    plotting.figure_title(
        fig,
        plotting.join_notes(
            "Cyclical learning rates: validation accuracy vs iteration",
            f"mean over {plotting.n_seeds_text(shown)}, {plotting.band_kind()}",
            "best setting per schedule by mean val. error on the grid seeds, drawn on the fresh seeds",
            plotting.missing_note(missing),
        ),
    )
    plotting.save(fig, out_png)
    return fig


@plotting.styled
def range_optimizer(path: Path) -> str:
    """The optimizer an LR range test file belongs to: lr_range/<optimizer>/range.csv or <optimizer>.csv."""
    return path.parent.name if path.stem == "range" else path.stem


def plot_range_test(csv_paths: Sequence[Path], json_paths: Sequence[Path], out_png: Path) -> None:
    """Draw the LR range test of each optimizer (one panel per CSV) and save PNG + PDF.

    The optimizer of a CSV is its parent folder when the file is named `range.csv` (the workflow's layout,
    lr_range/<optimizer>/range.csv), else its stem (`<optimizer>.csv`); likewise for the JSON.

    The CSVs hold step, lr, train_loss, train_accuracy, val_accuracy (fractions); the JSON beside each
    ({"optimizer", "base_lr", "max_lr"}) is the suggestion drawn as vertical lines. A CSV without JSON is
    drawn without lines.
    """
    suggestions = {}
    for path in json_paths:
        with open(path) as fh:
            s = json.load(fh)
        suggestions[s.get("optimizer", range_optimizer(Path(path)))] = s
    csv_paths = sorted(Path(p) for p in csv_paths)
    fig, axes = plt.subplots(
        1,
        max(len(csv_paths), 1),
        figsize=(4.2 * max(len(csv_paths), 1), 3.4),
        layout="constrained",
        squeeze=False,
    )
    if not csv_paths:
        plotting.empty_panel(axes[0, 0], "no LR range test results")
    for ax, path in zip(axes[0], csv_paths, strict=False):
        opt = range_optimizer(path)
        df = pd.read_csv(path).sort_values("lr")
        for col, kind, style in (("val_accuracy", "validation", "-"), ("train_accuracy", "training", ":")):
            if col in df and df[col].notna().any():
                ax.plot(
                    df["lr"],
                    100.0 * df[col],
                    linestyle=style,
                    linewidth=1.1,
                    color=plotting.OPTIMIZER_COLORS.get(opt, "black"),
                    label=f"{kind} accuracy",
                )
        s = suggestions.get(opt)
        if s is not None:
            for key, style in (("base_lr", "--"), ("max_lr", "-.")):
                ax.axvline(s[key], color="0.3", linestyle=style, linewidth=0.9, label=f"{key} = {s[key]:.3g}")
        lr = df["lr"][df["lr"] > 0]
        if len(lr) and lr.max() / lr.min() > 100:
            ax.set_xscale("log")
        name = {"sgd": "SGD", "adam": "Adam"}.get(opt, plotting.optimizer_label(opt))
        ax.set(
            xlabel="learning rate",
            ylabel="accuracy (%)",
            title=f"{name}: LR range test" + ("" if s is not None else " (no suggestion)"),
        )
        ax.legend(loc="best")
    plotting.figure_title(fig, "LR range test: accuracy while the learning rate rises linearly")
    plotting.save(fig, out_png)


def main(smk) -> None:
    """Snakemake adapter: input.runs + input.history -> `plot`; input.range_csv + input.range_json ->
    `plot_range_test`; either way output.png with output.pdf beside it."""
    if smk.input.get("runs") is not None:
        plotting.run_snakemake(smk, plot)
        return
    out_png = Path(smk.output.png)
    pdf = smk.output.get("pdf")
    if pdf is not None and Path(pdf) != out_png.with_suffix(".pdf"):
        raise ValueError(f"output.pdf must sit beside output.png with the same stem: got {pdf} for {out_png}")
    plot_range_test(list(smk.input.range_csv), list(smk.input.range_json), out_png)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
