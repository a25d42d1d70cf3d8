"""Judging a finding: thresholds (conf/claims.yaml), the verdict of a quantity against its threshold through
its 95 % interval, the verdict of a claim of several parts, and their markdown.

A quantity is judged through its 95 % interval: "reproduced" when the whole interval lies on the finding's
side, "not reproduced" when it lies wholly on the other side, "inconclusive" when it straddles the threshold
or there is no interval (one seed). A claim of several parts is "not reproduced" if any part is, else
"inconclusive" if any part is inconclusive or could not be run, else "reproduced". Its headline quantity is the
part that decided the verdict. "not run": the experiment's rows are absent; the claim still appears.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adamw_repro import names

from .stats import CI

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)
CLAIM_NUMBERS = tuple(names.FINDINGS)
TITLES = {f.number: f.title for f in names.FINDINGS.values()}



@dataclass(frozen=True)
class Part:
    """One tested quantity of a claim."""

    name: str
    quantity: str
    value: float
    lo: float
    hi: float
    threshold: str
    verdict: str
    n_seeds: int
    method: str


@dataclass(frozen=True)
class ClaimResult:
    """The verdict on one finding; value/lo/hi/threshold are those of the part that decided it."""

    number: int
    title: str
    experiment: str
    quantity: str
    value: float
    lo: float
    hi: float
    threshold: str
    verdict: str
    detail: str
    parts: tuple[Part, ...] = ()


# ---------------------------------------------------------------------------------------------- thresholds

def load_thresholds(path: str | Path) -> dict[int, dict[str, Any]]:
    """Read conf/claims.yaml: {claim number: {"value": number or mapping of numbers, "reason": str}}."""
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    return validate_thresholds(raw, source=str(path))


def validate_thresholds(raw: dict, source: str = "thresholds") -> dict[int, dict[str, Any]]:
    """Check that every claim 1..10 has a numeric `value` (or a mapping of them) and a one-line `reason`."""
    out, problems = {}, []
    for number in CLAIM_NUMBERS:
        entry = raw.get(number, raw.get(str(number)))
        if not isinstance(entry, dict) or "value" not in entry or not str(entry.get("reason", "")).strip():
            problems.append(f"claim {number}: needs `value:` and a one-line `reason:`, got {entry!r}")
            continue
        values = entry["value"].values() if isinstance(entry["value"], dict) else [entry["value"]]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            problems.append(f"claim {number}: value must be a number or a mapping of numbers, "
                            f"got {entry['value']!r}")
        out[number] = {"value": entry["value"], "reason": str(entry["reason"]).strip(),
                       "changed": str(entry.get("changed") or "").strip()}  # a moved threshold says from what, why
    extra = sorted(str(k) for k in raw if str(k) not in {str(n) for n in CLAIM_NUMBERS})
    if extra:
        problems.append(f"unknown claim keys {extra}: claims are numbered 1..10")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return out


def _need(value: Any, key: str, number: int) -> float:
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"claim {number}: threshold value needs key `{key}` (conf/claims.yaml), "
                         f"got {value!r}")
    return float(value[key])


# ---------------------------------------------------------------------------------------------- verdicts

def judge(value: float, lo: float, hi: float, op: str, threshold: float) -> str:
    """Verdict of one quantity: op is "<" (finding: quantity < threshold), ">" or "abs<" (|quantity| < t)."""
    if not all(math.isfinite(x) for x in (value, lo, hi)):
        return INCONCLUSIVE
    if op == "<":
        return REPRODUCED if hi < threshold else NOT_REPRODUCED if lo > threshold else INCONCLUSIVE
    if op == ">":
        return REPRODUCED if lo > threshold else NOT_REPRODUCED if hi < threshold else INCONCLUSIVE
    if op == "abs<":
        if -threshold < lo and hi < threshold:
            return REPRODUCED
        return NOT_REPRODUCED if lo > threshold or hi < -threshold else INCONCLUSIVE
    raise ValueError(f"unknown comparison {op!r}: use '<', '>' or 'abs<'")


def _criterion(op: str, threshold: float) -> str:
    threshold += 0.0  # -0.0 -> 0.0: a margin of zero reads "< 0", not "< -0"
    return f"|x| < {threshold:g}" if op == "abs<" else f"{op} {threshold:g}"


def _part(name: str, quantity: str, ci: CI, op: str, threshold: float, n_seeds: int, method: str) -> Part:
    return Part(name, quantity, ci.value, ci.lo, ci.hi, _criterion(op, threshold),
                judge(ci.value, ci.lo, ci.hi, op, threshold), n_seeds, method)


def _missing(name: str, quantity: str, op: str, threshold: float, why: str) -> Part:
    return Part(name, quantity, math.nan, math.nan, math.nan, _criterion(op, threshold), NOT_RUN, 0, why)


def combine(verdicts: Sequence[str]) -> str:
    """A claim's verdict from its parts' (see the module docstring)."""
    if not verdicts or all(v == NOT_RUN for v in verdicts):
        return NOT_RUN
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def _result(number: int, experiment: str, parts: Sequence[Part], notes: Sequence[str] = ()) -> ClaimResult:
    verdict = combine([p.verdict for p in parts])
    decisive = {NOT_REPRODUCED: (NOT_REPRODUCED,), INCONCLUSIVE: (INCONCLUSIVE, NOT_RUN)}.get(verdict, ())
    head = next((p for p in parts if p.verdict in decisive), parts[0] if parts else None)
    if head is None:
        return _not_run(number, experiment, "; ".join(notes) or "no data")
    detail = "\n\n".join([*notes, _parts_table(parts)])
    return ClaimResult(number, TITLES[number], experiment, head.quantity, head.value, head.lo, head.hi,
                       head.threshold, verdict, detail, tuple(parts))


def _not_run(number: int, experiment: str, why: str) -> ClaimResult:
    nan = math.nan
    return ClaimResult(number, TITLES[number], experiment, "-", nan, nan, nan, "-", NOT_RUN, why)


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"


def _fmt_ci(value: float, lo: float, hi: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return _fmt(value) + (f" [{_fmt(lo)}, {_fmt(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else "")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _parts_table(parts: Sequence[Part]) -> str:
    lines = ["| Part | Quantity | Value [95% CI] | Criterion | Seeds | Interval | Verdict |",
             "|---|---|---|---|---|---|---|"]
    for p in parts:
        lines.append(f"| {_cell(p.name)} | {_cell(p.quantity)} | {_fmt_ci(p.value, p.lo, p.hi)} | "
                     f"{_cell(p.threshold)} | {p.n_seeds} | {_cell(p.method)} | {p.verdict} |")
    return "\n".join(lines)


def claims_table_markdown(results: Sequence[ClaimResult]) -> str:
    """Markdown summary table, one row per claim, each number linking to its section (#claim-N)."""
    lines = ["| # | Finding | Quantity | Value [95% CI] | Threshold | Verdict |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.number}](#claim-{r.number}) | {_cell(r.title)} | {_cell(r.quantity)} | "
                     f"{_fmt_ci(r.value, r.lo, r.hi)} | {_cell(r.threshold)} | **{r.verdict}** |")
    return "\n".join(lines)


def claim_section_markdown(result: ClaimResult) -> str:
    """One report section for a claim, headed by the anchor `claim-N` that the summary table links to."""
    r = result
    return "\n".join([
        f'<a id="claim-{r.number}"></a>',
        "",
        f"### Claim {r.number}: {r.title}",
        "",
        f"**Verdict: {r.verdict}.** Experiment: `{r.experiment}`.",
        "",
        f"Deciding quantity: {r.quantity} = {_fmt_ci(r.value, r.lo, r.hi)}; criterion {r.threshold}.",
        "",
        r.detail,
        "",
    ])
