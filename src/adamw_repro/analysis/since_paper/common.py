"""What the three findings made since the paper share: per-seed slopes and t-intervals over seeds (scipy.stats),
and the formatting of their notes. Their criteria and verdicts are the analysis layer's (criteria.py,
registry.py); their judges are registered in adamw_repro/analysis/findings/since_paper.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..stats import CI, mean_ci
from ..verdicts import fmt
from ..verdicts import fmt_ci as _fmt_ci

__all__ = ["exp_ci", "fmt", "fmt_ci", "seed_ci", "slope", "slopes_by_seed"]


def fmt_ci(ci: CI) -> str:
    """A value with its interval, from a CI."""
    return _fmt_ci(*ci)


# ------------------------------------------------------------------------------------------- per-seed slopes
def slope(x, y) -> float:
    """Least-squares slope of y on x over the finite pairs; NaN with fewer than two distinct x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


def slopes_by_seed(table: pd.DataFrame, x: str, y: str, seed_col: str = "seed") -> pd.Series:
    """One slope of `y` on `x` per seed (NaN where a seed has fewer than two points)."""
    out = {s: slope(g[x], g[y]) for s, g in table.groupby(seed_col, sort=True)}
    return pd.Series(out, dtype=float).rename_axis(seed_col)


def seed_ci(values: pd.Series | Sequence[float]) -> tuple[CI, int]:
    """Mean over seeds with its t-interval (scipy.stats), and the number of seeds it rests on."""
    arr = np.asarray(values, dtype=float)
    return mean_ci(arr), int(np.isfinite(arr).sum())


def exp_ci(ci: CI) -> CI:
    """An interval on the log scale back on the ratio scale (the geometric mean and its interval)."""
    return CI(*(math.exp(v) if math.isfinite(v) else math.nan for v in ci))
