"""How a quantity's 95 % interval is judged against its threshold in conf/claims.yaml: four kinds of criterion.

- `Effect`: a direction the paper claims, with the smallest effect that would count as the paper's (the
  threshold, on the quantity's own scale, fixed before the runs from the paper's own numbers; equal to the null
  where the paper gives only a direction). *reproduced*: the interval excludes the null (no effect) in the
  paper's direction and reaches the smallest effect; *not reproduced*: it excludes the smallest effect (lies
  wholly between it and the null, or beyond the null); *inconclusive*: it holds both.
- `Margin`: an equivalence, |x| below a margin > 0: reproduced when the interval lies inside (-m, m), not
  reproduced when it lies wholly outside, inconclusive when it straddles an edge.
- `Band`: a ratio within a factor m of 1 (an equivalence on the log scale).
- `Bound`: a one-sided bound (non-inferiority, "helps little"): reproduced when the interval lies on the
  finding's side, not reproduced when it lies wholly on the other.
- `Count`: an exact count (failing identities) at most the threshold; no interval.

A quantity without an interval (NaN: one seed) is inconclusive; +-inf bounds (a censored median) are allowed.
Each criterion also checks its threshold's sign (`check`), so conf/claims.yaml is refused before any job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)


def _g(x: float) -> str:
    return f"{x + 0.0:g}"  # -0.0 -> 0


def _no_interval(value: float, lo: float, hi: float) -> bool:
    return any(math.isnan(x) for x in (value, lo, hi))


@dataclass(frozen=True)
class Effect:
    """The paper's direction ("<": the quantity lies below the null, ">": above) and its null (no effect)."""

    direction: str
    null: float = 0.0

    def check(self, threshold: float) -> str | None:
        """Why `threshold` cannot be this finding's smallest effect, or None when it can."""
        side = threshold <= self.null if self.direction == "<" else threshold >= self.null
        if not side:
            word = "at most" if self.direction == "<" else "at least"
            return (f"a smallest effect must lie on the paper's side of the null: {word} {_g(self.null)}, "
                    f"got {_g(threshold)}")
        return None

    def judge(self, value: float, lo: float, hi: float, threshold: float) -> str:
        if _no_interval(value, lo, hi):
            return INCONCLUSIVE
        if self.direction == "<":
            if lo > threshold:
                return NOT_REPRODUCED
            return REPRODUCED if hi < self.null else INCONCLUSIVE
        if hi < threshold:
            return NOT_REPRODUCED
        return REPRODUCED if lo > self.null else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        if threshold == self.null:
            return f"{self.direction} {_g(self.null)} (direction only)"
        return f"{self.direction} {_g(self.null)}, reaching {_g(threshold)}"


@dataclass(frozen=True)
class Margin:
    """An equivalence: |quantity| below the threshold (a margin > 0)."""

    def check(self, threshold: float) -> str | None:
        return None if threshold > 0 else f"a margin for |x| < m must be > 0, got {_g(threshold)}"

    def judge(self, value: float, lo: float, hi: float, threshold: float) -> str:
        if _no_interval(value, lo, hi):
            return INCONCLUSIVE
        if -threshold < lo and hi < threshold:
            return REPRODUCED
        return NOT_REPRODUCED if lo > threshold or hi < -threshold else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        return f"|x| < {_g(threshold)}"


@dataclass(frozen=True)
class Band:
    """A ratio within a factor m of 1, i.e. a Margin on its logarithm: reproduced when the interval lies inside
    [1/m, m], not reproduced when wholly outside, inconclusive when it straddles an edge."""

    def check(self, threshold: float) -> str | None:
        return None if threshold > 1 else f"a factor m for a ratio within [1/m, m] must be > 1, got {_g(threshold)}"

    def judge(self, value: float, lo: float, hi: float, threshold: float) -> str:
        if _no_interval(value, lo, hi) or min(value, lo, hi) <= 0:
            return INCONCLUSIVE
        return Margin().judge(*(math.log(x) for x in (value, lo, hi)), math.log(threshold))

    def text(self, threshold: float) -> str:
        return f"in [{1 / threshold:.3g}, {_g(threshold)}]"


@dataclass(frozen=True)
class Bound:
    """A one-sided bound: the quantity below ("<") or above (">") the threshold, which may have any sign."""

    direction: str

    def check(self, threshold: float) -> str | None:
        return None

    def judge(self, value: float, lo: float, hi: float, threshold: float) -> str:
        if _no_interval(value, lo, hi):
            return INCONCLUSIVE
        below, above = hi < threshold, lo > threshold
        if self.direction == "<":
            return REPRODUCED if below else NOT_REPRODUCED if above else INCONCLUSIVE
        return REPRODUCED if above else NOT_REPRODUCED if below else INCONCLUSIVE

    def text(self, threshold: float) -> str:
        return f"{self.direction} {_g(threshold)}"


@dataclass(frozen=True)
class Count:
    """An exact count (no interval) at most the threshold, a whole number >= 0."""

    def check(self, threshold: float) -> str | None:
        ok = threshold >= 0 and float(threshold).is_integer()
        return None if ok else f"a count must be a whole number >= 0, got {_g(threshold)}"

    def judge(self, value: float, lo: float, hi: float, threshold: float) -> str:
        if math.isnan(value):
            return INCONCLUSIVE
        return REPRODUCED if value <= threshold else NOT_REPRODUCED

    def text(self, threshold: float) -> str:
        return f"<= {_g(threshold)}"


Criterion = Effect | Margin | Bound | Count
