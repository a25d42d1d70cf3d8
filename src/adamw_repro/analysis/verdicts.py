"""A finding's verdict: the parts it judges (each a quantity, its 95 % interval, its criterion and verdict, see
adamw_repro.analysis.criteria), the verdict of the whole, and their markdown.

A finding of several parts is "not reproduced" if any part is, else "inconclusive" if any part is inconclusive
or could not be run, else "reproduced". Its headline quantity is the part that decided the verdict. "not run":
the experiment's rows are absent; the finding still appears and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from adamw_repro import names

from .criteria import INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, REPRODUCED, VERDICTS  # noqa: F401


@dataclass(frozen=True)
class Part:
    """One judged quantity of a finding."""

    name: str
    quantity: str
    value: float
    lo: float
    hi: float
    threshold: str  # the criterion in words, e.g. "< 0, reaching -0.1"
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


def combine(verdicts: Sequence[str]) -> str:
    """A finding's verdict from its parts' (see the module docstring)."""
    if not verdicts or all(v == NOT_RUN for v in verdicts):
        return NOT_RUN
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def result(number: int, experiment: str, parts: Sequence[Part], notes: Sequence[str] = ()) -> ClaimResult:
    """The verdict of a finding from its parts, with its notes and a table of the parts as detail."""
    verdict = combine([p.verdict for p in parts])
    decisive = {NOT_REPRODUCED: (NOT_REPRODUCED,), INCONCLUSIVE: (INCONCLUSIVE, NOT_RUN)}.get(verdict, ())
    head = next((p for p in parts if p.verdict in decisive), parts[0] if parts else None)
    if head is None:
        return not_run(number, experiment, "; ".join(notes) or "no data")
    detail = "\n\n".join([*[n for n in notes if n], parts_table(parts)])
    return ClaimResult(number, names.FINDINGS[number].title, experiment, head.quantity, head.value, head.lo,
                       head.hi, head.threshold, verdict, detail, tuple(parts))


def not_run(number: int, experiment: str, why: str) -> ClaimResult:
    """A finding whose experiment is absent from the tables."""
    nan = math.nan
    return ClaimResult(number, names.FINDINGS[number].title, experiment, "-", nan, nan, nan, "-", NOT_RUN, why)


def fmt(x: float) -> str:
    """A number for a table: 3 significant digits, "inf" for a censored bound, "n/a" for none."""
    if x is None or math.isnan(x):
        return "n/a"
    return "inf" if math.isinf(x) and x > 0 else "-inf" if math.isinf(x) else f"{x:.3g}"


def fmt_ci(value: float, lo: float, hi: float) -> str:
    """"value [lo, hi]", or the value alone without an interval."""
    if value is None or math.isnan(value):
        return "n/a"
    return fmt(value) + (f" [{fmt(lo)}, {fmt(hi)}]" if not (math.isnan(lo) or math.isnan(hi)) else "")


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def parts_table(parts: Sequence[Part]) -> str:
    lines = ["| Part | Quantity | Value [95% CI] | Criterion | Seeds | Interval | Verdict |",
             "|---|---|---|---|---|---|---|"]
    for p in parts:
        lines.append(f"| {cell(p.name)} | {cell(p.quantity)} | {fmt_ci(p.value, p.lo, p.hi)} | "
                     f"{cell(p.threshold)} | {p.n_seeds} | {cell(p.method)} | {p.verdict} |")
    return "\n".join(lines)


def claims_table_markdown(results: Sequence[ClaimResult]) -> str:
    """Markdown summary table, one row per finding, each number linking to its section (#claim-N)."""
    lines = ["| # | Finding | Deciding quantity | Value [95% CI] | Criterion | Verdict |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.number}](#claim-{r.number}) | {cell(r.title)} | {cell(r.quantity)} | "
                     f"{fmt_ci(r.value, r.lo, r.hi)} | {cell(r.threshold)} | **{r.verdict}** |")
    return "\n".join(lines)


def claim_section_markdown(result: ClaimResult, differs: str = "") -> str:
    """One report section for a finding, headed by the anchor `claim-N` that the summary table links to;
    `differs` (what in this testbed differs from the paper's setting) is said when it does not reproduce."""
    r = result
    lines = [f'<a id="claim-{r.number}"></a>', "", f"### Claim {r.number}: {r.title}", "",
             f"**Verdict: {r.verdict}.** Experiment: `{r.experiment}`.", "",
             f"Deciding quantity: {r.quantity} = {fmt_ci(r.value, r.lo, r.hi)}; criterion {r.threshold}.", ""]
    if differs and r.verdict == NOT_REPRODUCED:
        lines += [f"*What differs from the paper's setting:* {differs}", ""]
    return "\n".join([*lines, r.detail, ""])
