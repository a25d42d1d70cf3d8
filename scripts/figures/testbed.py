"""The testbed pilot (not a figure of the paper): final test error against weight decay lambda for each
candidate model, one panel per optimizer; lambda = 0 sits at the left, apart from the log2 axis of lambda > 0.
A testbed on which the curve dips well below its lambda = 0 point, by more than the seed band, is one where
weight decay matters, so the paper's findings about decay can be decided on it.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adamw_repro.analysis import plotting

OPTIMIZERS = ("sgd", "adamw")
MARKERS = ("o", "s", "^", "D", "v")


@plotting.styled
def plot(runs: pd.DataFrame, history: pd.DataFrame, out_png: Path, *, experiment: str | None = None
         ) -> plotting.Figure:
    """Draw final test error vs lambda per model and optimizer (mean over seeds, t-interval bars), save and return
    the figure."""
    sel = plotting.select(runs, experiment, optimizer=list(OPTIMIZERS))
    fig, axes = plt.subplots(1, len(OPTIMIZERS), figsize=(8.0, 3.4), layout="constrained", squeeze=False)
    missing = []
    for ax, opt in zip(axes[0], OPTIMIZERS, strict=True):
        mine = sel[sel["optimizer"] == opt]
        name = plotting.optimizer_label(opt)
        if mine.empty:
            plotting.empty_panel(ax, f"{name}\nno runs")
            missing.append(name)
            continue
        if not (mine["weight_decay"] == 0).any():  # the comparison the pilot is for
            missing.append(f"λ = 0 ({name})")
        positive = np.log2(mine.loc[mine["weight_decay"] > 0, "weight_decay"])
        zero_x = (positive.min() - 1.5) if len(positive) else 0.0  # lambda = 0, left of the log2 axis
        for k, (model, runs_m) in enumerate(mine.groupby("model", sort=True)):
            x = np.where(runs_m["weight_decay"] > 0, np.log2(runs_m["weight_decay"].clip(lower=1e-300)), zero_x)
            stats = plotting.curve_stats(runs_m.assign(x=x, test_pct=100.0 * runs_m["final_test_error"]), [],
                                         "x", "test_pct", bounds=plotting.PERCENT)
            line = ax.errorbar(stats["x"], stats["mean"], yerr=plotting.error_bars(stats),
                               marker=MARKERS[k % len(MARKERS)], markersize=4, linewidth=1.0, capsize=2, label=model)
            ax.axhline(stats["mean"].iloc[0], color=line[0].get_color(), linestyle=":", linewidth=0.8)
        ticks = sorted(set(np.round(positive).astype(int)))
        ax.set_xticks([zero_x, *ticks], ["0", *(f"$2^{{{t}}}$" for t in ticks)])
        ax.set(xlabel="weight decay λ", ylabel="final test error (%)", title=name)
        ax.legend(title="model (dotted: λ = 0)", loc="best")
    plotting.figure_title(fig, plotting.join_notes(
        "Testbed pilot: final test error against λ", f"mean over {plotting.n_seeds_text(sel)}, "
        "error bars: 95% t-interval over seeds", plotting.missing_note(missing)))
    plotting.save(fig, out_png)
    return fig


def main(smk) -> None:
    plotting.run_snakemake(smk, plot)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
