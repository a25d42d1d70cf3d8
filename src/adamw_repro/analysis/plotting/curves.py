"""Curves over epochs or steps: the mean over seeds with a 95 % bootstrap band (never outside [0, 100] %
for an error rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on workers or in CI

import matplotlib.cm  # noqa: E402
import matplotlib.colors  # noqa: E402
import matplotlib.patches  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from adamw_repro.analysis.stats import proportion_ci  # noqa: E402

# ----------------------------------------------------------------------------------------------------
# Curves over epochs or steps: mean over seeds with a band.


def _band(values: np.ndarray) -> tuple[float, float, float]:
    """Mean over seeds and a 95 % percentile-bootstrap band: it stays between the seeds' values, so an error
    rate's band never leaves [0, 100] %."""
    mean, lo, hi = proportion_ci(values)
    return float(mean), float(lo), float(hi)


def band_kind() -> str:
    """What the shaded band around a mean curve is, for legends and titles."""
    return "band: 95% bootstrap CI over seeds"


def curve_stats(history: pd.DataFrame, keys: Sequence[str], x: str, y: str) -> pd.DataFrame:
    """Mean of `y` over runs (seeds) per `keys` and `x`, with band lo/hi and the number of runs n.

    Seeds that stopped early (diverged) simply contribute fewer points; the band needs two or more values.
    """
    cols = [*keys, x, "mean", "lo", "hi", "n"]
    df = history[[*keys, x, y]].dropna(subset=[x, y])
    if df.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for group, sub in df.groupby([*keys, x], sort=True, dropna=False):
        v = sub[y].to_numpy(float)
        if len(v) >= 2:
            mean, lo, hi = _band(v)
        else:
            mean, lo, hi = float(v[0]), float("nan"), float("nan")
        rows.append((*group, mean, lo, hi, len(v)))
    return pd.DataFrame(rows, columns=cols)


def plot_curve(ax: Axes, stats: pd.DataFrame, x: str, *, scale: float = 1.0, **line) -> None:
    """One mean curve with its band (where there are two or more seeds)."""
    ax.plot(stats[x], scale * stats["mean"], **line)
    if stats["lo"].notna().any():
        ax.fill_between(
            stats[x],
            scale * stats["lo"],
            scale * stats["hi"],
            color=line.get("color"),
            alpha=0.2,
            linewidth=0,
        )


def error_bars(stats: pd.DataFrame):
    """Error bars (2 x n, for `Axes.errorbar`) from a band of `curve_stats`, or None with a single seed."""
    if stats["lo"].isna().all():
        return None
    lo = (stats["mean"] - stats["lo"]).fillna(0).clip(lower=0)
    hi = (stats["hi"] - stats["mean"]).fillna(0).clip(lower=0)
    return np.vstack([lo.to_numpy(), hi.to_numpy()])
