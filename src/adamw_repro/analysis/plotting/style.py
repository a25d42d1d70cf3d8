"""The shared look of every figure: palettes, paper labels, rc settings, titles and notes, atomic saves
of PNG + PDF, and the one Snakemake adapter every figure script uses.

Importing this module never opens a window (the Agg backend is selected before pyplot loads).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on workers or in CI

import matplotlib.cm  # noqa: E402
import matplotlib.colors  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from adamw_repro import names  # noqa: E402

# ----------------------------------------------------------------------------------------------------
# Names and colours: one per optimizer and one per schedule, from the tables of adamw_repro/names.py.
OPTIMIZER_COLORS = {o.name: matplotlib.colors.to_rgb(o.colour) for o in names.OPTIMIZERS.values()}
SCHEDULE_COLORS = {s.name: matplotlib.colors.to_rgb(s.colour) for s in names.SCHEDULES.values()}
# Low error is light, so the black circles on the best cells stay visible; high error is dark.
HEATMAP_CMAP = "rocket_r"
MISSING_COLOR = (0.86, 0.86, 0.86)
RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # editable text in the PDF
}
# What tells one setting from another.
SETTING_COLUMNS = ("alpha", "weight_decay", "lambda_norm", "epochs", "T0", "T_mult", "stepsize_epochs")

DPI = 150


optimizer_label = names.optimizer_label
schedule_label = names.schedule_label


def optimizer_color(name: str):
    """The optimizer's colour from its row in adamw_repro/names.py (black for a name outside the table)."""
    row = names.OPTIMIZERS.get(name)
    return matplotlib.colors.to_rgb(row.colour) if row else (0.0, 0.0, 0.0)


def styled(plot: Callable[..., None]) -> Callable[..., None]:
    """Decorate a figure's `plot` so it draws and saves under the house rc settings, restored after."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return plot(*args, **kwargs)

    return wrapper


def figure_title(fig: Figure, text: str, min_points: float = 7.0) -> None:
    """Figure title on one line: the font shrinks to fit the figure's width (down to `min_points`); only a
    title still too long then (long notes about missing runs) wraps."""
    if text:
        points = FontProperties(size=plt.rcParams["figure.titlesize"]).get_size_in_points()
        fitted = max(min_points, min(points, fig.get_figwidth() * 72 / (0.55 * len(text))))
        width = max(40, int(fig.get_figwidth() * 72 / (0.55 * fitted)))
        fig.suptitle(textwrap.fill(text, width=width, break_long_words=False), fontsize=fitted)


def number_text(value) -> str:
    """A value for a title: "$2^{-8}$" for an exact power of two, else "%g" (strings pass through)."""
    if isinstance(value, str):
        return value
    v = float(value)
    if v > 0 and v != 1 and abs(math.log2(v) - round(math.log2(v))) < 1e-9 and not v.is_integer():
        return f"$2^{{{round(math.log2(v))}}}$"
    return f"{v:g}"


def log_axis(ax: Axes, which: str, values, min_span: float = 10.0) -> None:
    """A log scale on `which` ("x" or "y") where the positive `values` span `min_span` times or more, ticked with
    plain numbers; a narrower range stays linear (a log axis over a short range gets
    crowded or empty tick labels). Ticks at 1, 2, 3, 5 x 10^k thin out to 1 x 10^k as the range widens."""
    v = pd.Series(values, dtype=float)
    v = v[v > 0]
    if not len(v) or v.max() / v.min() < min_span:
        return
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    decades = math.log10(v.max() / v.min()) / (2.0 if which == "x" else 1.0)  # x labels are wider than y labels
    subs = (1.0, 2.0, 3.0, 5.0) if decades < 0.8 else (1.0, 2.0, 5.0) if decades < 1.6 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def integer_epochs(ax: Axes) -> None:
    """Epoch axes tick at whole epochs only (tiny smoke runs otherwise get 1.25, 1.5, ...)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def join_notes(*parts: str) -> str:
    """Title fragments joined by "; ", empty ones dropped."""
    return "; ".join(p for p in parts if p)


def missing_note(missing: Sequence[str]) -> str:
    return f"missing: {', '.join(missing)}" if missing else ""


def n_seeds_text(runs: pd.DataFrame) -> str:
    """ "1 seed" / "3 seeds" / "1–3 seeds" (per drawn setting: what one point or curve averages) for titles."""
    if runs.empty:
        return "0 seeds"
    keys = SETTING_COLUMNS + ("optimizer", "schedule", "model", "experiment")
    per = runs.groupby([c for c in keys if c in runs.columns], dropna=False)["seed"].nunique()
    lo, hi = int(per.min()), int(per.max())
    return f"{lo} seed{'s' if lo > 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"


# ----------------------------------------------------------------------------------------------------
# Writing and the Snakemake adapter.


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(fig: Figure, out_png: Path | str) -> tuple[Path, Path]:
    """Write `fig` as PNG and as PDF beside it (same stem), atomically, then close it.

    Both files are written under temporary names in the target folder and renamed only when both are complete,
    so a half-written figure never looks finished.
    """
    out_png = Path(out_png)
    out_pdf = out_png.with_suffix(".pdf")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        for target, fmt, meta in (
            (out_png, "png", {"Software": None}),
            (out_pdf, "pdf", {"CreationDate": None}),
        ):
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temps.append((tmp, target))
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
            # The PDF keeps the PNG's layout: laying the figure out again takes a third of a figure job's time.
            fig.set_layout_engine("none")
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a figure is for everyone to read
        for tmp, target in temps:
            os.replace(tmp, target)
    finally:
        plt.close(fig)
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out_png, out_pdf


def run_snakemake(smk, plot: Callable[..., None]) -> None:
    """Snakemake adapter shared by the figure scripts.

    Reads input.runs and input.history (parquet), passes the rule's params as options, and writes output.png
    with output.pdf beside it. stderr (warnings) goes to the rule's log when it has one.
    """
    out_png = Path(smk.output.png)
    pdf = smk.output.get("pdf")
    if pdf is not None and Path(pdf) != out_png.with_suffix(".pdf"):
        raise ValueError(
            f"output.pdf must sit beside output.png with the same stem: got {pdf} for {out_png}; "
            "fix the figure rule's output: in the Snakefile"
        )
    # The caption is for the report only; `code`, the script's digest, only makes Snakemake redraw on an edit.
    options = {k: v for k, v in smk.params.items() if k not in ("caption", "code")}
    log = smk.log[0] if len(smk.log) else os.devnull
    from adamw_repro.analysis.results import RunError, read_table

    with open(log, "w") as fh, contextlib.redirect_stderr(fh):
        try:
            runs, history = read_table(Path(smk.input.runs)), read_table(Path(smk.input.history))
        except RunError as err:  # a damaged table: one line in the log and on stderr, no traceback
            print(f"error: {err}", file=fh, flush=True)
            print(f"error: {err}", file=sys.__stderr__, flush=True)
            sys.exit(2)
        plot(runs, history, out_png, **options)
