"""What the three findings made since the paper share: their titles, how a part is judged through its 95 %
interval, per-seed slopes with a t-interval over seeds, and the verdict of a finding from its parts.

The criteria follow the analysis layer's three-way rule (docs/paper.md section 4):
- `Bound(direction)`: a one-sided bound; reproduced when the interval lies wholly on the finding's side of the
  threshold, not reproduced when wholly on the other, else inconclusive;
- `Margin()`: |x| below the threshold: reproduced inside (-m, m), not reproduced wholly outside, else inconclusive;
- `Band()`: a ratio within a factor m of 1, i.e. a Margin on its logarithm: reproduced inside [1/m, m], not
  reproduced wholly outside, else inconclusive;
- `Effect(direction, null)`: a direction with a smallest effect (the threshold; equal to the null where the claim
  gives only a direction): reproduced when the interval excludes the null in the claim's direction and reaches
  the smallest effect, not reproduced when it excludes the smallest effect, else inconclusive.
A quantity without an interval (one seed) is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats import CI, mean_ci
from ..verdicts import ClaimResult, Part, combine

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"

TITLES = {
    11: "EMA timescale: the best lambda falls as 1/N (constant tau_epoch), not as 1/sqrt(N)",
    12: "Rotational equilibrium: AdamW's scale-invariant layers turn at the predicted angle, alike and "
        "independent of alpha",
    13: "Decay helps through a large learning rate: its gain grows with alpha and vanishes at small alpha",
}
T_OVER_SEEDS = "t over per-seed values"


def _no_interval(ci: CI) -> bool:
    return any(not math.isfinite(x) for x in ci)


@dataclass(frozen=True)
class Bound:
    direction: str  # "<": the quantity lies below the threshold

    def judge(self, ci: CI, threshold: float) -> str:
        if _no_interval(ci):
            return INCONCLUSIVE
        below, above = ci.hi < threshold, ci.lo > threshold
        if self.direction == "<":
            return REPRODUCED if below else NOT_REPRODUCED if above else INCONCLUSIVE
        return REPRODUCED if above else NOT_REPRODUCED if below else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        return f"{self.direction} {threshold + 0.0:g}"


@dataclass(frozen=True)
class Margin:
    def judge(self, ci: CI, threshold: float) -> str:
        if _no_interval(ci):
            return INCONCLUSIVE
        if -threshold < ci.lo and ci.hi < threshold:
            return REPRODUCED
        return NOT_REPRODUCED if ci.lo > threshold or ci.hi < -threshold else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        return f"|x| < {threshold:g}"


@dataclass(frozen=True)
class Band:
    def judge(self, ci: CI, threshold: float) -> str:
        if _no_interval(ci) or min(ci) <= 0:
            return INCONCLUSIVE
        return Margin().judge(CI(*np.log(ci)), math.log(threshold))

    def text(self, threshold: float) -> str:
        return f"in [{1 / threshold:.3g}, {threshold:g}]"


@dataclass(frozen=True)
class Effect:
    direction: str
    null: float = 0.0

    def judge(self, ci: CI, threshold: float) -> str:
        if _no_interval(ci):
            return INCONCLUSIVE
        if self.direction == "<":
            if ci.lo > threshold:
                return NOT_REPRODUCED
            return REPRODUCED if ci.hi < self.null else INCONCLUSIVE
        if ci.hi < threshold:
            return NOT_REPRODUCED
        return REPRODUCED if ci.lo > self.null else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        if threshold == self.null:
            return f"{self.direction} {self.null + 0.0:g} (direction only)"
        return f"{self.direction} {self.null + 0.0:g}, reaching {threshold + 0.0:g}"


Criterion = Bound | Margin | Band | Effect


def part(name: str, quantity: str, ci: CI, criterion: Criterion, threshold: float, n_seeds: int,
         method: str = T_OVER_SEEDS) -> Part:
    """One judged quantity of a finding."""
    return Part(name, quantity, ci.value, ci.lo, ci.hi, criterion.text(threshold), criterion.judge(ci, threshold),
                n_seeds, method)


def missing(name: str, quantity: str, criterion: Criterion, threshold: float, why: str) -> Part:
    """A part whose runs are absent."""
    return Part(name, quantity, math.nan, math.nan, math.nan, criterion.text(threshold), NOT_RUN, 0, why)


def threshold(value, key: str, number: int) -> float:
    """One threshold of a finding's conf/claims.yaml value (a number, or a mapping of numbers by key)."""
    if isinstance(value, dict):
        if key not in value:
            raise ValueError(f"claim {number}: threshold value needs key `{key}` (conf/claims.yaml), got {value!r}")
        return float(value[key])
    return float(value)


def fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"


def fmt_ci(ci: CI) -> str:
    if not math.isfinite(ci.value):
        return "n/a"
    return fmt(ci.value) + (f" [{fmt(ci.lo)}, {fmt(ci.hi)}]" if not _no_interval(ci) else " (no interval)")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def result(number: int, experiment: str, parts: Sequence[Part], notes: Sequence[str] = ()) -> ClaimResult:
    """A finding's verdict from its parts (any "not reproduced" decides; then any inconclusive or not run), with its
    notes and a table of the parts as detail; the headline is the part that decided."""
    notes = [n for n in notes if n]
    if not parts:
        return not_run(number, experiment, " ".join(notes) or "no data")
    verdict = combine([p.verdict for p in parts])
    decisive = {NOT_REPRODUCED: (NOT_REPRODUCED,), INCONCLUSIVE: (INCONCLUSIVE, NOT_RUN)}.get(verdict, ())
    head = next((p for p in parts if p.verdict in decisive), parts[0])
    table = ["| Part | Quantity | Value [95% CI] | Criterion | Seeds | Interval | Verdict |",
             "|---|---|---|---|---|---|---|"]
    table += [f"| {_cell(p.name)} | {_cell(p.quantity)} | {fmt_ci(CI(p.value, p.lo, p.hi))} | {_cell(p.threshold)} "
              f"| {p.n_seeds} | {_cell(p.method)} | {p.verdict} |" for p in parts]
    return ClaimResult(number, TITLES[number], experiment, head.quantity, head.value, head.lo, head.hi,
                       head.threshold, verdict, "\n\n".join([*notes, "\n".join(table)]), tuple(parts))


def not_run(number: int, experiment: str, why: str) -> ClaimResult:
    nan = math.nan
    return ClaimResult(number, TITLES[number], experiment, "-", nan, nan, nan, "-", NOT_RUN, why)


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
