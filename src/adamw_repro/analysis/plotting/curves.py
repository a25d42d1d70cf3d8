"""Curves over epochs or steps: the mean over seeds with a 95 % t-band (an error rate's clipped to [0, 100] %).
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

from adamw_repro.analysis.stats import mean_ci  # noqa: E402

# ----------------------------------------------------------------------------------------------------
# Curves over epochs or steps: mean over seeds with a band.


def _band(values: np.ndarray, bounds: tuple[float, float] | None) -> tuple[float, float, float]:
    """Mean over seeds and its 95 % t-interval, clipped to `bounds` (an error rate cannot leave [0, 100] %)."""
    mean, lo, hi = mean_ci(values)
    if bounds is not None and np.isfinite(lo):
        lo, hi = min(max(lo, bounds[0]), bounds[1]), max(min(hi, bounds[1]), bounds[0])
    return float(mean), float(lo), float(hi)


def band_kind() -> str:
    """What the shaded band around a mean curve is, for legends and titles."""
    return "band: 95% t-interval over seeds"


PERCENT = (0.0, 100.0)  # the bounds of an error rate or accuracy in percent


def curve_stats(history: pd.DataFrame, keys: Sequence[str], x: str, y: str,
                bounds: tuple[float, float] | None = None) -> pd.DataFrame:
    """Mean of `y` over runs (seeds) per `keys` and `x`, with band lo/hi (clipped to `bounds`, e.g. PERCENT) and
    the number of runs n.

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
            mean, lo, hi = _band(v, bounds)
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
