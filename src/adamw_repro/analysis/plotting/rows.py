"""Row selection shared by the figure scripts: one experiment's rows, one decay column, one budget, and
the setting chosen on validation (the claims' rule, so a figure shows what they judge).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on workers or in CI

import matplotlib.cm  # noqa: E402
import matplotlib.colors  # noqa: E402
import matplotlib.patches  # noqa: E402
import pandas as pd  # noqa: E402

from adamw_repro.analysis.selection import grid_seeds, tune  # noqa: E402

from .style import SETTING_COLUMNS, number_text  # noqa: E402

# ----------------------------------------------------------------------------------------------------
# Row selection shared by the figure scripts.


def _key(value: float) -> float:
    """Grid value rounded to 12 significant digits so 0.1*2**-3 and 0.0125 land in the same cell."""
    return float(f"{value:.12g}") if pd.notna(value) else float("nan")


def select(df: pd.DataFrame, experiment: str | Sequence[str] | None = None, **equal) -> pd.DataFrame:
    """Rows of `df` from `experiment` (all when None) whose columns equal the given values (a list: any of
    them)."""
    mask = pd.Series(True, index=df.index)
    if experiment is not None:
        allowed = [experiment] if isinstance(experiment, str) else list(experiment)
        mask &= df["experiment"].isin(allowed)
    for col, want in equal.items():
        if want is None:
            continue
        allowed = list(want) if isinstance(want, list | tuple | set) else [want]
        mask &= df[col].isin(allowed)
    return df[mask]


def decay_rows(runs: pd.DataFrame, lam_col: str) -> pd.DataFrame:
    """Runs whose decay is given on `lam_col`: lambda_norm rows, or raw rows (lambda_norm NaN) for
    weight_decay."""
    if lam_col == "lambda_norm":
        return runs[runs["lambda_norm"].notna()]
    return runs[runs["lambda_norm"].isna() & runs[lam_col].notna()]


def keep_one(df: pd.DataFrame, col: str, prefer: float | str | None = None) -> tuple[pd.DataFrame, str]:
    """Keep the rows of one value of `col` (`prefer` if present, else the most frequent, ties to the largest).

    Returns the rows and a note for the title ("" when `col` had one value), so a figure never silently mixes
    budgets or learning rates.
    """
    values = df[col].dropna().unique()
    if len(values) <= 1:
        return df, ""
    if prefer is not None and prefer in set(values):
        chosen = prefer
    else:
        counts = df[col].value_counts()
        chosen = max(counts.index, key=lambda v: (counts[v], v))
    return df[df[col] == chosen], f"only {col} = {number_text(chosen)} shown"




def best_setting(runs: pd.DataFrame, by: Sequence[str], err_col: str = "final_val_error",
                 fresh: bool = False) -> pd.DataFrame:
    """For each group of `by`, the runs (all seeds) of the hyperparameter setting with the lowest mean
    `err_col` over the grid's seeds.

    Selection is on validation error by default, as the report states: test error is only ever read off the
    chosen setting. fresh=True keeps only the chosen settings' runs on the tune stage's fresh seeds (those the
    findings read) where there are any; `runs` must then hold the whole experiment, whose grid seeds tell them.
    """
    if err_col == "final_val_error":  # the report's and the claims' rule, so a figure shows what they judge
        if runs.empty:
            return runs
        seeds = grid_seeds(runs)
        return pd.concat([tune(group, fresh=fresh, grid=seeds)
                          for _, group in runs.groupby(list(by), dropna=False, sort=True)])
    settings = [c for c in SETTING_COLUMNS if c in runs.columns and c not in by]
    if runs.empty:
        return runs
    keys = list(by) + settings
    means = runs.groupby(keys, dropna=False)[err_col].mean().reset_index().dropna(subset=[err_col])
    if means.empty:
        return runs.iloc[:0]
    best = means.loc[means.groupby(list(by), dropna=False)[err_col].idxmin()]
    return runs.merge(best[keys], on=keys, how="inner")


