"""The findings as a registry: each finding is a judging function registered by its number with the criteria of
its thresholds, so that conf/claims.yaml is checked against what the code judges, and adding a finding is its
function (under adamw_repro/analysis/findings/, with `@finding`), its conf/claims.yaml entry, its row in
names.FINDINGS (title, experiment) and its paragraph in docs/paper.md section 4.

    @finding(11, {"gap": Effect("<")}, differs="...")
    def judge_11(data: Tables, t: Thresholds) -> ClaimResult: ...

`validate_thresholds` checks conf/claims.yaml against the registered findings (known finding numbers, known
keys, numbers of the right sign, a one-line reason) and raises ValueError with one line naming what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adamw_repro import names, runio

from .criteria import Criterion
from .stats import CI
from .verdicts import ClaimResult, Part

ENTRY_KEYS = ("value", "reason", "changed")  # the keys of one finding's entry in conf/claims.yaml


@dataclass(frozen=True)
class Tables:
    """What a finding is judged on: the aggregated tables of one scale and the identities checked at report time."""

    runs: pd.DataFrame
    history: pd.DataFrame
    identities: list = field(default_factory=list)
    telemetry: pd.DataFrame | None = None  # per run, epoch and layer (results.read_telemetry): finding 12


@dataclass(frozen=True)
class Threshold:
    """One threshold of conf/claims.yaml with the criterion that reads it."""

    criterion: Criterion
    value: float

    def part(self, name: str, quantity: str, ci: CI, n_seeds: int, method: str) -> Part:
        """One judged quantity of a finding."""
        return Part(name, quantity, ci.value, ci.lo, ci.hi, self.criterion.text(self.value),
                    self.criterion.judge(ci.value, ci.lo, ci.hi, self.value), n_seeds, method)

    def missing(self, name: str, quantity: str, why: str) -> Part:
        """A part that could not be measured (its runs are absent)."""
        nan = math.nan
        return Part(name, quantity, nan, nan, nan, self.criterion.text(self.value), "not run", 0, why)


class Thresholds(dict):
    """A finding's thresholds by key; a finding with a single threshold reads it as `t.one`."""

    @property
    def one(self) -> Threshold:
        return self[""]


@dataclass(frozen=True)
class Finding:
    """A registered finding: its number, judging function, the criterion of each threshold key ("" for a single
    value) and what, in a small testbed, differs from the paper's setting (said when it does not reproduce)."""

    number: int
    judge: Callable[[Tables, Thresholds], ClaimResult]
    criteria: Mapping[str, Criterion]
    differs: str

    @property
    def title(self) -> str:
        return names.FINDINGS[self.number].title

    @property
    def experiment(self) -> str:
        return names.FINDINGS[self.number].experiment


REGISTRY: dict[int, Finding] = {}


def finding(number: int, criteria: Criterion | Mapping[str, Criterion], differs: str = "") -> Callable:
    """Register the decorated function as the judge of finding `number` (a row of names.FINDINGS)."""
    if number not in names.FINDINGS:
        raise ValueError(f"finding {number} has no row in names.FINDINGS; add its title and experiment there")

    def register(judge: Callable[[Tables, Thresholds], ClaimResult]) -> Callable:
        table = dict(criteria) if isinstance(criteria, Mapping) else {"": criteria}
        REGISTRY[number] = Finding(number, judge, table, " ".join(differs.split()))
        return judge

    return register


# ---------------------------------------------------------------------------------------------- conf/claims.yaml

def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _entry_problems(number: int, entry: Any, spec: Finding) -> list[str]:
    """What is wrong with one finding's entry (empty when nothing is)."""
    where = f"claim {number}"
    if not isinstance(entry, dict) or "value" not in entry:
        return [f"{where}: needs `value:` and a one-line `reason:`, got {entry!r}"]
    problems = [f"{where}: unknown key `{k}`; allowed: {', '.join(ENTRY_KEYS)}" for k in entry if k not in ENTRY_KEYS]
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
        problems.append(f"{where}: needs a one-line `reason:`, got {reason!r}")
    changed = entry.get("changed")
    if changed is not None and not (isinstance(changed, str) or (
            isinstance(changed, list) and all(isinstance(c, str) for c in changed))):
        problems.append(f"{where}: `changed:` must be a line or a list of lines (from what, and why), got {changed!r}")
    value = entry["value"]
    values = value if isinstance(value, dict) else {"": value}
    if not all(_is_number(v) for v in values.values()):
        return [*problems, f"{where}: value must be a number or a mapping of numbers, got {value!r}"]
    keys = set(spec.criteria)
    if set(values) != keys:
        if keys == {""}:
            return [*problems, f"{where}: value must be one number, got the mapping {value!r}"]
        unknown, absent = sorted(set(values) - keys), sorted(keys - set(values))
        allowed = ", ".join(sorted(keys))
        bits = ([f"unknown key `value.{k}`" for k in unknown] + [f"missing key `value.{k}`" for k in absent]
                if isinstance(value, dict) else [f"value must be a mapping, got {value!r}"])
        return [*problems, f"{where}: {'; '.join(bits)}; allowed: {allowed}"]
    for key, v in values.items():
        label = f"value.{key}" if key else "value"
        if not math.isfinite(v):
            problems.append(f"{where}: {label} must be a finite number, got {v!r}")
            continue
        why = spec.criteria[key].check(float(v))
        if why:
            problems.append(f"{where}: {label}: {why}")
    return problems


def validate_thresholds(raw: dict, source: str = "thresholds") -> dict[int, dict[str, Any]]:
    """Check conf/claims.yaml (as parsed) against the registered findings; return {number: {"value", "reason",
    "changed" (a list of lines)}}. Raises ValueError with one line naming the file, the finding and the key."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: must map finding numbers to entries, got {raw!r}")
    out, problems = {}, []
    for number, spec in sorted(REGISTRY.items()):
        entry = raw.get(number, raw.get(str(number)))
        found = _entry_problems(number, entry, spec)
        problems += found
        if not found:
            changed = entry.get("changed") or []
            out[number] = {"value": entry["value"], "reason": " ".join(str(entry["reason"]).split()),
                           "changed": [changed] if isinstance(changed, str) else list(changed)}
    extra = sorted(str(k) for k in raw if str(k) not in {str(n) for n in REGISTRY})
    if extra:
        problems.append(f"unknown findings {extra}: the registered findings are "
                        f"{', '.join(str(n) for n in sorted(REGISTRY))}")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return out


def load_thresholds(path: str | Path) -> dict[int, dict[str, Any]]:
    """Read and check conf/claims.yaml (see `validate_thresholds`)."""
    raw = runio.load_yaml(Path(path).read_text()) or {}
    return validate_thresholds(raw, source=str(path))


def thresholds_of(number: int, value: Any) -> Thresholds:
    """The Threshold objects of one finding from its (validated) value."""
    spec = REGISTRY[number]
    values = value if isinstance(value, dict) else {"": value}
    return Thresholds({k: Threshold(c, float(values[k])) for k, c in spec.criteria.items()})


def registered() -> Iterable[Finding]:
    """The registered findings in order of their numbers."""
    return [REGISTRY[n] for n in sorted(REGISTRY)]
