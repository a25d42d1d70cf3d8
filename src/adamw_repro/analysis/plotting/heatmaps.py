"""The (alpha x lambda) heatmap: cell tables (each cell the mean over the grid's seeds), a shared colour scale
that resolves the good region (the best cell to twice its error; worse cells saturate), log2 axes with a separate
lambda = 0 row, the best cells circled, a best cell on an edge of the grid named in the title, and the decoupling
slope with its ridge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display on workers or in CI

import matplotlib.cm  # noqa: E402
import matplotlib.colors  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from adamw_repro.analysis.decoupling import shared_seeds  # noqa: E402

from .annotations import decoupling_annotation, edge_note  # noqa: E402
from .rows import _key  # noqa: E402
from .style import HEATMAP_CMAP, MISSING_COLOR, figure_title  # noqa: E402

# ----------------------------------------------------------------------------------------------------
# The (alpha x lambda) heatmap.


def cell_table(runs: pd.DataFrame, lam_col: str = "weight_decay") -> pd.DataFrame:
    """Mean over the grid's seeds per (alpha, lambda) cell: the seeds every cell has, so that a cell the tune
    stage reran on fresh seeds is not a mean over more seeds than its neighbours.

    Columns: alpha, lam, test_error, val_error (mean fractions), n_seeds, n_diverged. A cell counts a seed as
    diverged when its status is "diverged" (its errors are then 1.0, see schema).
    """
    cols = ["alpha", "lam", "test_error", "val_error", "n_seeds", "n_diverged"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    runs = shared_seeds(runs, ["alpha", lam_col])
    df = pd.DataFrame(
        {
            "alpha": runs["alpha"].map(_key),
            "lam": runs[lam_col].map(_key),
            "test_error": runs["final_test_error"].astype(float),
            "val_error": runs["final_val_error"].astype(float),
            "diverged": (runs["status"] == "diverged").astype(int),
        }
    )
    out = (
        df.groupby(["alpha", "lam"])
        .agg(
            test_error=("test_error", "mean"),
            val_error=("val_error", "mean"),
            n_seeds=("test_error", "size"),
            n_diverged=("diverged", "sum"),
        )
        .reset_index()
    )
    return out[cols]


def best_cells(cells: pd.DataFrame, n: int = 10, err_col: str = "val_error") -> pd.DataFrame:
    """The `n` cells with the lowest mean validation error (ties: smaller alpha, then smaller lambda).

    Cells where every seed diverged are never among the best, even on a grid with fewer than `n` cells.
    """
    ok = cells[cells[err_col].notna() & (cells["n_diverged"] < cells["n_seeds"])]
    return ok.sort_values([err_col, "alpha", "lam"], kind="mergesort").head(n)


# The paper's colour scale spans about 3-7 % test error (docs/paper.md section 2): from the best cell to 7/3 of it.
SPAN_RATIO = 7.0 / 3.0


def color_limits(cell_tables: Iterable[pd.DataFrame], span: float | None = None) -> tuple[float, float]:
    """(vmin, vmax) in percent shared by every panel of one figure, resolving the good region as the paper's
    colour scale does: vmin is the best mean test error anywhere in the figure, vmax `span` points above it
    (default: up to SPAN_RATIO times the best error, at least 1 point wider), or the worst cell when that is lower.
    Worse cells (diverged ones too) saturate; the colour bar says so.
    """
    vals = []
    for cells in cell_tables:
        if len(cells):
            ok = cells[(cells["n_diverged"] == 0) & cells["test_error"].notna()]
            vals.append(100.0 * ok["test_error"].to_numpy(float))
    v = np.concatenate(vals) if vals else np.array([])
    if v.size == 0:
        return 0.0, 100.0
    lo = float(np.min(v))
    width = span if span is not None else max((SPAN_RATIO - 1.0) * lo, 1.0)
    hi = min(lo + width, float(np.max(v)), 100.0)
    if hi - lo < 1e-9:  # a single cell, or all equal: give the colour bar some width
        lo, hi = max(lo - 0.5, 0.0), hi + 0.5
    return lo, hi


def _pow10_text(exp: int) -> str:
    return f"{10.0**exp:g}" if -3 <= exp <= 3 else f"$10^{{{exp}}}$"


def log2_labels(values: Sequence[float]) -> tuple[list[str], str]:
    """Tick labels in the paper's units for log2-spaced grid values.

    Finds the power of ten u that makes every positive value an integer power of two (the paper's "x 0.001"),
    then labels value v as "$2^{k}$" with v = u * 2**k; zero is labelled "0". Returns the labels and the unit
    suffix for the axis label (" (×0.001)", or "" when u = 1). Values that are no power of two in any such
    unit get plain "%.3g" labels and no suffix.
    """
    pos = [v for v in values if v > 0]
    for exp in [0, *[e for k in range(1, 9) for e in (-k, k)]]:
        unit = 10.0**exp
        ks = [math.log2(v / unit) for v in pos]
        if all(abs(k - round(k)) < 1e-6 for k in ks):
            break
    else:
        return ["0" if v == 0 else f"{v:.3g}" for v in values], ""
    labels = ["0" if v == 0 else f"$2^{{{round(math.log2(v / unit))}}}$" for v in values]
    return labels, ("" if exp == 0 else f" (×{_pow10_text(exp)})")


LAMBDA_AXIS = {
    "weight_decay": "weight decay λ",
    "lambda_norm": "normalized weight decay λ_norm",
    "lambda_effective": "effective weight decay λ",
}
ZERO_GAP = 0.35  # vertical gap (in cell heights) between the λ = 0 row and the positive rows


@dataclass(frozen=True)
class Grid:
    """Where each alpha and lambda sits on a heatmap (cell centres), so overlays land on the right cell."""

    alphas: tuple[float, ...]
    lams: tuple[float, ...]  # ascending, 0 first when present

    @property
    def has_zero(self) -> bool:
        return bool(self.lams) and self.lams[0] == 0

    def x(self, alpha: float) -> float:
        return self.alphas.index(_key(alpha)) + 0.5

    def y(self, lam: float) -> float:
        i = self.lams.index(_key(lam))
        return i + 0.5 + (ZERO_GAP if self.has_zero and i > 0 else 0.0)


def _text_color(rgba) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def heatmap(
    ax: Axes,
    cells: pd.DataFrame,
    vmin: float,
    vmax: float,
    *,
    lam_axis: str = "weight_decay",
    lam_name: str | None = None,
    best: pd.DataFrame | None = None,
    ridge: pd.DataFrame | None = None,
    annotate: bool | None = None,
    cmap: str = HEATMAP_CMAP,
):
    """Draw mean test error (percent) over the alpha x lambda grid of `cells` (from `cell_table`) on `ax`.

    x = initial learning rate alpha, y = weight decay on `lam_axis`'s scale (axis name `lam_name`), both
    log2-spaced with labels in the paper's units; a lambda = 0 row sits apart at the bottom. Colours use the
    figure-wide [vmin, vmax] (from `color_limits`); values above vmax saturate. Cells with a diverged seed
    carry "×", missing cells are hatched grey, `best` cells get black circles, `ridge` (columns alpha,
    best_lambda) is drawn as a dashed line. Returns the colour mappable (for the colour bar) and the Grid.
    """
    alphas = tuple(sorted(cells["alpha"].unique()))
    lams = tuple(sorted(cells["lam"].unique()))
    grid = Grid(alphas, lams)
    values = np.full((len(lams), len(alphas)), np.nan)
    for row in cells.itertuples(index=False):
        values[lams.index(row.lam), alphas.index(row.alpha)] = 100.0 * row.test_error
    norm = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax)
    colormap = sns.color_palette(cmap, as_cmap=True)
    xedges = np.arange(len(alphas) + 1)
    blocks = [(0, 1), (1, len(lams))] if grid.has_zero else [(0, len(lams))]
    mesh = None
    for start, stop in blocks:
        if stop <= start:
            continue
        offset = ZERO_GAP if grid.has_zero and start > 0 else 0.0
        yedges = np.arange(start, stop + 1) + offset
        mesh = ax.pcolormesh(
            xedges,
            yedges,
            np.ma.masked_invalid(values[start:stop]),
            cmap=colormap,
            norm=norm,
            edgecolors="white",
            linewidth=0.4,
        )
    # Missing cells: hatched so they cannot be mistaken for a low error.
    for i, lam in enumerate(lams):
        for j, _alpha in enumerate(alphas):
            if np.isnan(values[i, j]):
                y0 = grid.y(lam) - 0.5
                ax.add_patch(
                    matplotlib.patches.Rectangle(
                        (j, y0), 1, 1, facecolor=MISSING_COLOR, hatch="///", edgecolor="0.6", linewidth=0
                    )
                )
    small = len(alphas) * len(lams) <= 36  # numbers in cells only where they stay legible
    if annotate is None:
        annotate = small
    for row in cells.itertuples(index=False):
        x, y = grid.x(row.alpha), grid.y(row.lam)
        rgba = colormap(norm(100.0 * row.test_error)) if pd.notna(row.test_error) else (1, 1, 1, 1)
        if row.n_diverged > 0:
            ax.text(x, y, "×", ha="center", va="center", color=_text_color(rgba), fontsize=11 if small else 7)
        elif annotate and pd.notna(row.test_error):
            ax.text(
                x,
                y,
                f"{100.0 * row.test_error:.1f}",
                ha="center",
                va="center",
                color=_text_color(rgba),
                fontsize=5.5,
            )
    if best is not None and len(best):
        ax.scatter(
            [grid.x(a) for a in best["alpha"]],
            [grid.y(lam) for lam in best["lam"]],
            s=150 if small else 60,
            facecolors="none",
            edgecolors="black",
            linewidths=1.1,
            zorder=3,
        )
    if ridge is not None and len(ridge):
        pts = [
            (grid.x(a), grid.y(b))
            for a, b in zip(ridge["alpha"], ridge["best_lambda"], strict=True)
            if _key(a) in alphas and _key(b) in lams
        ]
        if len(pts) >= 2:  # one point is no ridge
            xs, ys = zip(*sorted(pts), strict=True)
            ax.plot(
                xs, ys, color="#1f9ed1", linestyle="--", linewidth=1.2, marker=".", markersize=4, zorder=4
            )
    _grid_axes(ax, grid, lam_name or LAMBDA_AXIS.get(lam_axis, lam_axis))
    if mesh is None:  # nothing drawn: still return a mappable carrying the shared limits
        mesh = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
    return mesh, grid


def _grid_axes(ax: Axes, grid: Grid, lam_name: str) -> None:
    xl, xunit = log2_labels(grid.alphas)
    yl, yunit = log2_labels(grid.lams)
    ax.set_xticks([grid.x(a) for a in grid.alphas], xl)
    ax.set_yticks([grid.y(lam) for lam in grid.lams], yl)
    ax.set_xlim(0, max(len(grid.alphas), 1))
    ax.set_ylim(0, max(len(grid.lams), 1) + (ZERO_GAP if grid.has_zero and len(grid.lams) > 1 else 0.0))
    ax.set_xlabel(f"initial learning rate α{xunit}")
    ax.set_ylabel(f"{lam_name}{yunit}")
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)


def empty_panel(ax: Axes, text: str) -> None:
    """A panel that says what is missing instead of drawing nothing."""
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4", wrap=True
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)


def heatmap_figure(
    panels: Sequence[Sequence[tuple[str, pd.DataFrame] | None]],
    *,
    lam_axes: Sequence[Sequence[str]] | str = "weight_decay",
    lam_names: Sequence[Sequence[str | None]] | None = None,
    n_best: int = 0,
    slope: bool = False,
    suptitle: str = "",
    panel_size: tuple[float, float] = (2.6, 2.3),
    span: float | None = None,
) -> tuple[Figure, np.ndarray, tuple[float, float], list]:
    """A grid of heatmaps sharing one colour scale: `panels[r][c]` is (title, runs of that panel) or None.

    Each panel shows `cell_table` of its runs (mean over the grid's seeds); None leaves the place blank.
    `lam_axes` names the decay column of each panel (one name for all, or per panel), `lam_names` optionally
    overrides the y-axis names; `n_best` circles that many cells per panel (by mean validation error); `slope`
    adds the decoupling slope to each title and the best-lambda ridge to each panel. A panel whose best cell
    lies on an edge of its grid says so in its title. The suptitle gets the seeds each cell averages.

    Returns the figure, its axes, the shared (vmin, vmax) in percent and the drawn mappables (tests check that
    every mappable carries the shared limits).
    """
    nrows, ncols = len(panels), max(len(r) for r in panels)

    def lam_axis_of(r: int, c: int) -> str:
        return lam_axes if isinstance(lam_axes, str) else lam_axes[r][c]

    tables = {
        (r, c): cell_table(entry[1], lam_axis_of(r, c))
        for r, row in enumerate(panels)
        for c, entry in enumerate(row)
        if entry is not None
    }
    vmin, vmax = color_limits(tables.values(), span)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols + 0.8, panel_size[1] * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    mappables = []
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            entry = panels[r][c] if c < len(panels[r]) else None
            if entry is None:
                ax.set_visible(False)
                continue
            lam_axis, (title, runs), cells = lam_axis_of(r, c), entry, tables[(r, c)]
            if cells.empty:
                empty_panel(ax, f"{title}\nno runs")
                continue
            best = best_cells(cells, n_best) if n_best else None
            ridge = None
            notes = [edge_note(runs)]
            if slope:
                text, ridge = decoupling_annotation(runs, lam_axis)
                notes.insert(0, text)
            title = "\n".join([title, *[n for n in notes if n]])
            lam_name = lam_names[r][c] if lam_names is not None else None
            m, _ = heatmap(
                ax, cells, vmin, vmax, lam_axis=lam_axis, lam_name=lam_name, best=best, ridge=ridge
            )
            mappables.append(m)
            ax.set_title(title)
    norm = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax)
    bar = matplotlib.cm.ScalarMappable(norm=norm, cmap=sns.color_palette(HEATMAP_CMAP, as_cmap=True))
    worst = max((100.0 * t["test_error"].max() for t in tables.values() if len(t)), default=vmax)
    saturated = worst > vmax + 1e-9
    label = "test error (%)" + (f"; ≥ {vmax:.1f} saturate" if saturated else "")
    fig.colorbar(bar, ax=axes.ravel().tolist(), label=label, extend="max" if saturated else "neither", shrink=0.8)
    seeds = sorted({int(n) for t in tables.values() for n in t["n_seeds"]})
    seeds_text = (f"each cell the mean over its {seeds[0]} grid seed{'s' if seeds[0] > 1 else ''}"
                  if len(seeds) == 1 else f"each cell the mean over {seeds[0]}–{seeds[-1]} grid seeds" if seeds
                  else "")
    figure_title(fig, "; ".join(p for p in (suptitle, seeds_text) if p))
    return fig, axes, (vmin, vmax), mappables
