"""Selecting and comparing cells of a sweep: the rows of an experiment, the cell tuned on validation, its
fresh seeds, and the relative difference of two tuned settings over the seeds they share.

- Hyperparameters are selected on validation error (mean over the grid's seeds of `final_val_error`); the test
  error (`final_test_error`) of that selection is reported.
- A tuned comparison uses the fresh seeds of each chosen cell (the tune stage's, never the grid seeds the
  choice was made on) when it has them.
- Differences are relative, per seed: err(A) / err(B) - 1 (-0.15: A has 15 % lower error), paired over seeds
  with a t-interval when at least two seeds pair; otherwise a bootstrap over seeds of the ratio of means.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from adamw_repro import names

from .stats import CI, NAN_CI, bootstrap_ci, paired_diff_ci

# Columns that tell one cell of a sweep from another; seeds of the same cell share all of them.
HYPER_COLS = ("optimizer", "schedule", "alpha", "weight_decay", "lambda_norm", "epochs", "T0", "T_mult",
              "stepsize_epochs")
LABELS = {o.name: o.label for o in names.OPTIMIZERS.values()}


def _rows(table: pd.DataFrame | None, experiment: str, **labels: Any) -> pd.DataFrame:
    """Rows of one experiment whose labels equal the given values (a tuple value means any of them)."""
    if table is None or table.empty:
        return pd.DataFrame()
    mask = table["experiment"] == experiment
    for col, want in labels.items():
        mask &= table[col].isin(want) if isinstance(want, tuple) else table[col] == want
    return table[mask]


def tune(runs: pd.DataFrame, fresh: bool = False) -> pd.DataFrame:
    """The runs (one per seed) of the cell with the lowest mean validation error; ties: the first cell.

    Cells are compared on the seeds every cell has (the grid's seeds): in a two-stage sweep the winner's
    extra seeds (the workflow's tune stage) must not change which cell wins. fresh=True returns only the
    winner's seeds outside the grid's (the tune stage's: its test error is not biased by the choice) when it
    has any, else all its seeds.
    """
    if runs.empty:
        return runs
    cols = [c for c in HYPER_COLS if c in runs]
    codes = runs.groupby(cols, dropna=False, sort=True).ngroup()
    seed_sets = runs.groupby(codes)["seed"].agg(frozenset)
    common = frozenset.intersection(*seed_sets) if len(seed_sets) else frozenset()
    chosen = runs["seed"].isin(common) if common else pd.Series(True, index=runs.index)
    means = runs["final_val_error"][chosen].groupby(codes[chosen]).mean().dropna()
    if means.empty:
        return runs.iloc[0:0]
    best = runs[codes == means.idxmin()]
    if fresh and len(seed_sets) > 1:
        new = best[~best["seed"].isin(common)]
        return new if not new.empty else best
    return best


def _by_seed(rows: pd.DataFrame, col: str = "final_test_error") -> pd.Series:
    return rows.set_index("seed")[col].astype(float)


def describe(rows: pd.DataFrame) -> str:
    """The hyperparameters of one cell, e.g. 'adamw, cosine, alpha=0.001, weight_decay=0.025 (3 seeds)'."""
    if rows.empty:
        return "(none)"
    first = rows.iloc[0]
    bits = [f"{first['optimizer']}, {first['schedule']}"]
    for col in HYPER_COLS[2:]:
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
        ci = bootstrap_ci([a.to_numpy(), b.to_numpy()], lambda g: g[0].mean() / g[1].mean() - 1.0)
        return ci, min(len(a), len(b)), "bootstrap over seeds (unpaired)"
    return CI(a.mean() / b.mean() - 1.0, math.nan, math.nan), 1, "one seed: no interval"


def _rel_by_seed(a: pd.Series, b: pd.Series) -> pd.Series:
    common = a.index.intersection(b.index)
    return a.loc[common] / b.loc[common] - 1.0


