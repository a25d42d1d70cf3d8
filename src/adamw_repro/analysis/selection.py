"""Selecting and comparing cells of a sweep: the rows of an experiment, the cell tuned on validation, its
fresh seeds, whether it lies on an edge of its grid, and the relative difference of two tuned settings.

- Hyperparameters are selected on validation error (mean over the grid's seeds of `final_val_error`); the test
  error (`final_test_error`) of that selection is reported.
- A tuned comparison uses the fresh seeds of each chosen cell (the tune stage's, never the grid seeds the
  choice was made on) when it has them.
- Differences are relative, per seed: err(A) / err(B) - 1 (-0.15: A has 15 % lower error), paired over seeds
  with a t-interval when at least two seeds pair; otherwise Welch's t on log errors (unpaired).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from adamw_repro import names

from .stats import CI, NAN_CI, paired_diff_ci, ratio_ci_unpaired

# Columns that tell one cell of a sweep from another; seeds of the same cell share all of them.
HYPER_COLS = ("optimizer", "schedule", "alpha", "weight_decay", "lambda_norm", "epochs", "T0", "T_mult",
              "stepsize_epochs", "train_size")  # train_size: the timescale experiment sweeps it
LABELS = {o.name: o.label for o in names.OPTIMIZERS.values()}


def rows_of(table: pd.DataFrame | None, experiment: str, **labels: Any) -> pd.DataFrame:
    """Rows of one experiment whose labels equal the given values (a tuple value means any of them)."""
    if table is None or table.empty:
        return pd.DataFrame()
    mask = table["experiment"] == experiment
    for col, want in labels.items():
        mask &= table[col].isin(want) if isinstance(want, tuple) else table[col] == want
    return table[mask]


def cell_codes(runs: pd.DataFrame) -> pd.Series:
    """One integer per cell (hyperparameters equal, seeds aside)."""
    cols = [c for c in (*HYPER_COLS, "model") if c in runs]
    return runs.groupby(cols, dropna=False, sort=True).ngroup()


def grid_seeds(runs: pd.DataFrame) -> frozenset:
    """The seeds every cell has: the grid's (a tune stage adds fresh seeds to its winners only)."""
    if runs.empty:
        return frozenset()
    sets = runs.groupby(cell_codes(runs))["seed"].agg(frozenset)
    return frozenset.intersection(*sets)


def tune(runs: pd.DataFrame, fresh: bool = False, grid: frozenset | None = None) -> pd.DataFrame:
    """The runs (one per seed) of the cell with the lowest mean validation error; ties: the first cell.

    Cells are compared on the seeds every cell has (the grid's seeds): in a two-stage sweep the winner's
    extra seeds (the workflow's tune stage) must not change which cell wins. fresh=True returns only the
    winner's seeds outside the grid's (the tune stage's: its test error is not biased by the choice) when it
    has any, else all its seeds. `grid` gives the grid seeds where `runs` alone cannot tell them (several arms
    that were all rerun on the fresh seeds: pass their experiment's `grid_seeds`).
    """
    if runs.empty:
        return runs
    codes = cell_codes(runs)
    common = grid_seeds(runs) if grid is None else grid
    chosen = runs["seed"].isin(common) if common else pd.Series(True, index=runs.index)
    means = runs["final_val_error"][chosen].groupby(codes[chosen]).mean().dropna()
    if means.empty:
        return runs.iloc[0:0]
    best = runs[codes == means.idxmin()]
    if fresh and (codes.nunique() > 1 or grid is not None):
        new = best[~best["seed"].isin(common)]
        return new if not new.empty else best
    return best


def fresh_only(cell: pd.DataFrame, experiment_rows: pd.DataFrame) -> pd.DataFrame:
    """A single cell's runs on seeds outside its experiment's grid seeds (a rerun arm of the tune stage), or
    all its runs when it has none there."""
    common = grid_seeds(experiment_rows)
    new = cell[~cell["seed"].isin(common)]
    return new if not new.empty else cell


def by_seed(rows: pd.DataFrame, col: str = "final_test_error") -> pd.Series:
    """One value per seed of one cell."""
    return rows.set_index("seed")[col].astype(float)


def describe(rows: pd.DataFrame) -> str:
    """The hyperparameters of one cell, e.g. 'adamw, cosine, alpha=0.001, weight_decay=0.025 (3 seeds)'."""
    if rows.empty:
        return "(none)"
    first = rows.iloc[0]
    bits = [f"{first['optimizer']}, {first['schedule']}"]
    for col in HYPER_COLS[2:-1]:  # the training set's size is the scale's, but where an experiment sweeps it
        if col in rows and pd.notna(first[col]):
            bits.append(f"{col}={first[col]:.4g}")
    return ", ".join(bits) + f" ({rows['seed'].nunique()} seeds)"


def compare(a_by_seed: pd.Series, b_by_seed: pd.Series) -> tuple[CI, int, str]:
    """Relative difference a/b - 1 with its interval, the seeds it rests on, and how it was computed."""
    a, b = a_by_seed.dropna(), b_by_seed.dropna()
    if a.empty or b.empty:
        return NAN_CI, 0, "no values"
    common = a.index.intersection(b.index)
    if len(common) >= 2:
        return paired_diff_ci(a, b, relative=True), len(common), "paired t over seeds"
    if len(a) >= 2 and len(b) >= 2:
        return ratio_ci_unpaired(a, b), min(len(a), len(b)), "Welch t on log errors (unpaired)"
    return CI(a.mean() / b.mean() - 1.0, math.nan, math.nan), 1, "one seed: no interval"


def rel_by_seed(a: pd.Series, b: pd.Series) -> pd.Series:
    """err(a)/err(b) - 1 per seed the two share."""
    common = a.index.intersection(b.index)
    return a.loc[common] / b.loc[common] - 1.0


def heatmap_rows(runs: pd.DataFrame, optimizer: str) -> tuple[str, pd.DataFrame]:
    """One optimizer's cosine alpha x lambda grid: fig2's, else fig1's cosine runs (at the quick scale Fig. 2's
    Adam+L2 and AdamW panels are those runs). Returns the experiment it came from and its rows."""
    rows = rows_of(runs, "fig2_sgd_adam", optimizer=optimizer)
    if not rows.empty:
        return "fig2_sgd_adam", rows
    rows = rows_of(runs, "fig1_schedules", optimizer=optimizer)
    return "fig1_schedules", rows[rows["schedule"] == "cosine"] if not rows.empty else rows


def lambda_column(rows: pd.DataFrame) -> str:
    """`lambda_norm` where the grid sets it (paper scale), else `weight_decay`."""
    return "lambda_norm" if not rows.empty and rows["lambda_norm"].notna().all() else "weight_decay"


# ---------------------------------------------------------------------------------------------- grid edges

@dataclass(frozen=True)
class Edge:
    """The tuned cell lies on the smallest or largest value of one axis of its grid; the neighbour is the best cell
    (on validation) one step inward on that axis, over the other axis: whether the grid's optimum would move on if
    the grid were extended. NaN errors when that step was not measured."""

    axis: str          # "alpha" or the lambda column
    side: str          # "smallest" | "largest"
    value: float       # the tuned cell's value on that axis
    error: float       # its mean validation error over the grid seeds
    neighbour: float   # the value one step inward on that axis
    neighbour_error: float  # the best mean validation error there
    neighbour_other: float = math.nan  # that best cell's value on the other axis

    def text(self) -> str:
        name = _AXIS_NAMES.get(self.axis, self.axis)
        where = f"on the {self.side} {name} of its grid ({name} {self.value:.4g})"
        if math.isnan(self.neighbour_error):
            return where + f"; {name} {self.neighbour:.4g}, one step inward, was not measured"
        other = "λ" if self.axis == "alpha" else "α"
        diff = 100.0 * (self.neighbour_error - self.error)
        return (f"{where}; the best cell one step inward ({name} {self.neighbour:.4g}, {other} "
                f"{self.neighbour_other:.4g}) has val. error {100 * self.neighbour_error:.2f} % against the tuned "
                f"cell's {100 * self.error:.2f} % ({diff:+.2f} points)")


_AXIS_NAMES = {"alpha": "α", "weight_decay": "λ", "lambda_norm": "λ_norm"}


def _same_cell(table: pd.DataFrame, cell: pd.Series, cols: list[str]) -> pd.Series:
    """Rows of `table` equal to `cell` on `cols` (NaN equals NaN; floats to rounding)."""
    mask = pd.Series(True, index=table.index)
    for c in cols:
        v = cell[c]
        if pd.isna(v):
            mask &= table[c].isna()
        elif isinstance(v, str):
            mask &= table[c] == v
        else:
            mask &= np.isclose(table[c].astype(float), float(v))
    return mask


def grid_edges(rows: pd.DataFrame, chosen: pd.DataFrame) -> list[Edge]:
    """Where the chosen cell (from `tune(rows)`) sits on an edge of the alpha or the lambda (> 0) axis of the grid
    it was chosen from, each with the best cell one step inward. Cells are compared on the grid seeds."""
    if rows.empty or chosen.empty:
        return []
    seeds = grid_seeds(rows)
    grid = rows[rows["seed"].isin(seeds)] if seeds else rows
    lam = lambda_column(grid)
    cols = [c for c in HYPER_COLS if c in grid]
    means = grid.groupby(cols, dropna=False)["final_val_error"].mean().reset_index()
    best = chosen.iloc[0]
    plane = means[_same_cell(means, best, [c for c in cols if c not in ("alpha", lam)])]  # the alpha x lambda grid
    plane = plane[plane[lam].fillna(0) > 0]
    out = []
    for axis, other in (("alpha", lam), (lam, "alpha")):
        values = np.sort(plane[axis].unique())
        if len(values) < 2 or not best[axis] > 0:
            continue
        i = int(np.argmin(np.abs(values - best[axis])))
        if 0 < i < len(values) - 1:
            continue
        side, inward = ("smallest", values[1]) if i == 0 else ("largest", values[-2])
        err = float(plane.loc[_same_cell(plane, best, ["alpha", lam]), "final_val_error"].mean())
        ring = plane[np.isclose(plane[axis], inward)].dropna(subset=["final_val_error"])
        if ring.empty:
            out.append(Edge(axis, side, float(best[axis]), err, float(inward), math.nan))
            continue
        nb = ring.loc[ring["final_val_error"].idxmin()]
        out.append(Edge(axis, side, float(best[axis]), err, float(inward), float(nb["final_val_error"]),
                        float(nb[other])))
    return out


def edge_text(rows: pd.DataFrame, chosen: pd.DataFrame, label: str = "") -> str:
    """A sentence flagging a tuned cell on a grid edge (alpha or lambda), or "" when it lies inside."""
    edges = grid_edges(rows, chosen)
    if not edges:
        return ""
    who = f"{label}: " if label else ""
    return f"**{who}the tuned cell lies " + "; and ".join(e.text() for e in edges) + "**: the optimum may lie outside."
