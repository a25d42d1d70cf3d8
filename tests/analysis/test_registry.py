"""The findings as a registry: every registered finding has its row, its conf/claims.yaml entry and its docs
paragraph; conf/claims.yaml is refused on a wrong type, sign, key or finding, in one line; the three-way rule;
and a new finding is its function, its entry, its row and its paragraph away from the report."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from adamw_repro import names
from adamw_repro.analysis import registry
from adamw_repro.analysis.claims import REGISTRY, claims_table_markdown, evaluate_claims, validate_thresholds
from adamw_repro.analysis.criteria import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Bound,
    Count,
    Effect,
    Margin,
)
from adamw_repro.analysis.stats import CI
from adamw_repro.analysis.verdicts import result
from adamw_repro.schema import HISTORY_COLUMNS, RUN_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "conf" / "claims.yaml"
RAW = yaml.safe_load(CLAIMS.read_text())


# ------------------------------------------------------------------------------------------- one per finding

@pytest.mark.parametrize("number", sorted(REGISTRY))
def test_every_registered_finding_has_its_row_entry_and_paragraph(number):
    spec = REGISTRY[number]
    assert names.FINDINGS[number].title == spec.title
    assert spec.experiment in names.EXPERIMENTS or spec.experiment == "identities"
    assert number in RAW and RAW[number]["reason"].strip()
    section_4 = (ROOT / "docs/paper.md").read_text().split("## 4.")[1]
    assert re.search(rf"^\| {number} \| ", section_4, re.M), f"docs/paper.md section 4 lacks finding {number}"


def test_every_row_is_registered_and_every_entry_known():
    assert set(names.FINDINGS) == set(REGISTRY)
    assert set(RAW) == set(REGISTRY)
    assert sorted(validate_thresholds(RAW, str(CLAIMS))) == sorted(REGISTRY)


def test_every_change_says_from_what_and_the_entry_keys_are_known():
    checked = validate_thresholds(RAW, str(CLAIMS))
    for entry in checked.values():
        assert all("->" in line or "now" in line or "stays" in line for line in entry["changed"]), entry


# ------------------------------------------------------------------------------------------- bad conf/claims.yaml

def _broken(number: int, **entry) -> dict:
    raw = {k: dict(v) for k, v in RAW.items()}
    raw[number] = {**raw[number], **entry}
    return raw


@pytest.mark.parametrize("number, entry, expect", [
    (3, {"value": -0.1}, r"claim 3: value: a margin for \|x\| < m must be > 0, got -0.1"),
    (3, {"value": math.nan}, r"claim 3: value must be a finite number, got nan"),
    (3, {"value": "lots"}, r"claim 3: value must be a number or a mapping of numbers, got 'lots'"),
    (3, {"value": True}, r"claim 3: value must be a number or a mapping of numbers, got True"),
    (3, {"value": None}, r"claim 3: value must be a number or a mapping of numbers, got None"),
    (4, {"value": {"scheduled": -0.1, "fixed": 0.0, "more_with_schedle": 0.0}},
     r"claim 4: unknown key `value.more_with_schedle`; missing key `value.more_with_schedule`; allowed: fixed, "
     r"more_with_schedule, scheduled"),
    (4, {"value": 0.1}, r"claim 4: value must be a mapping, got 0.1; allowed: fixed, more_with_schedule, scheduled"),
    (4, {"value": {"scheduled": 0.1, "fixed": 0.0, "more_with_schedule": 0.0}},
     r"claim 4: value.scheduled: a smallest effect must lie on the paper's side of the null: at most 0, got 0.1"),
    (9, {"value": {"speedup": 0.5, "end": 0.1}},
     r"claim 9: value.speedup: a smallest effect must lie on the paper's side of the null: at least 1, got 0.5"),
    (1, {"value": 0.5}, r"claim 1: value: a count must be a whole number >= 0, got 0.5"),
    (6, {"value": {"x": 0.0}}, r"claim 6: value must be one number"),
    (5, {"resaon": "typo"}, r"claim 5: unknown key `resaon`; allowed: value, reason, changed"),
    (5, {"reason": "two\nlines"}, r"claim 5: needs a one-line `reason:`"),
    (5, {"changed": 3}, r"claim 5: `changed:` must be a line or a list of lines"),
])
def test_a_bad_entry_is_one_line_naming_file_finding_and_key(number, entry, expect):
    with pytest.raises(ValueError) as err:
        validate_thresholds(_broken(number, **entry), source="conf/claims.yaml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("conf/claims.yaml: ")
    assert re.search(expect, message), message


def test_a_missing_or_unknown_finding_is_refused():
    with pytest.raises(ValueError, match=r"claim 7: needs `value:`"):
        validate_thresholds({k: v for k, v in RAW.items() if k != 7})
    with pytest.raises(ValueError, match=r"unknown findings \['99'\]: the registered findings are 1, 2"):
        validate_thresholds({**RAW, 99: {"value": 0, "reason": "x"}})
    with pytest.raises(ValueError, match="must map finding numbers"):
        validate_thresholds([1, 2])


# ------------------------------------------------------------------------------------------- the three-way rule

NAN = math.nan


@pytest.mark.parametrize("criterion, threshold, interval, expected", [
    # a direction below the null 0 with the smallest effect -0.1
    (Effect("<"), -0.1, (-0.15, -0.2, -0.12), REPRODUCED),      # wholly beyond the smallest effect
    (Effect("<"), -0.1, (-0.05, -0.12, -0.01), REPRODUCED),     # excludes 0 and reaches -0.1
    (Effect("<"), -0.1, (-0.05, -0.08, -0.02), NOT_REPRODUCED),  # an effect, but smaller than the paper's
    (Effect("<"), -0.1, (0.05, -0.08, 0.12), NOT_REPRODUCED),    # excludes -0.1, holds 0
    (Effect("<"), -0.1, (0.2, 0.1, 0.3), NOT_REPRODUCED),        # the other way
    (Effect("<"), -0.1, (-0.05, -0.13, 0.04), INCONCLUSIVE),     # holds both 0 and -0.1
    (Effect("<"), -0.1, (-0.05, NAN, NAN), INCONCLUSIVE),        # one seed: no interval
    (Effect("<"), 0.0, (-0.05, -0.08, -0.02), REPRODUCED),       # a direction only
    (Effect("<"), 0.0, (0.05, 0.02, 0.08), NOT_REPRODUCED),
    (Effect("<"), 0.0, (0.01, -0.02, 0.04), INCONCLUSIVE),
    # a ratio above the null 1 with the smallest effect 2 (a speed-up)
    (Effect(">", 1.0), 2.0, (2.5, 1.5, 3.5), REPRODUCED),
    (Effect(">", 1.0), 2.0, (1.5, 1.2, 1.8), NOT_REPRODUCED),
    (Effect(">", 1.0), 2.0, (1.5, 0.8, 2.2), INCONCLUSIVE),
    # a time ratio below 1 with the smallest effect 0.57, a censored upper bound
    (Effect("<", 1.0), 0.57, (0.5, 0.3, 0.9), REPRODUCED),
    (Effect("<", 1.0), 0.57, (0.9, 0.6, math.inf), NOT_REPRODUCED),
    (Effect("<", 1.0), 0.57, (0.9, 0.5, math.inf), INCONCLUSIVE),
    (Effect("<", 1.0), 0.57, (math.inf, math.inf, math.inf), NOT_REPRODUCED),
    (Margin(), 0.1, (0.0, -0.05, 0.05), REPRODUCED),
    (Margin(), 0.1, (0.3, 0.2, 0.4), NOT_REPRODUCED),
    (Margin(), 0.1, (0.05, -0.02, 0.15), INCONCLUSIVE),
    (Bound("<"), 0.1, (0.0, -0.1, 0.05), REPRODUCED),
    (Bound("<"), 0.1, (0.2, 0.15, 0.3), NOT_REPRODUCED),
    (Bound(">"), -0.05, (0.0, -0.03, 0.04), REPRODUCED),
    (Bound(">"), -0.05, (-0.2, -0.3, -0.1), NOT_REPRODUCED),
    (Count(), 0, (0.0, 0.0, 0.0), REPRODUCED),
    (Count(), 0, (1.0, 1.0, 1.0), NOT_REPRODUCED),
])
def test_the_three_way_rule(criterion, threshold, interval, expected):
    assert criterion.judge(*interval, threshold) == expected


def test_criteria_say_what_they_test():
    assert Effect("<").text(-0.1) == "< 0, reaching -0.1"
    assert Effect("<").text(0.0) == "< 0 (direction only)"
    assert Effect(">", 1.0).text(2.0) == "> 1, reaching 2"
    assert Margin().text(0.1) == "|x| < 0.1" and Bound(">").text(-0.05) == "> -0.05" and Count().text(0) == "<= 0"


# ------------------------------------------------------------------------------------------- a new finding

def test_a_new_finding_is_a_function_an_entry_a_row_and_a_paragraph(monkeypatch):
    """The recipe of README's CONTRIBUTING: register a function, give it a conf/claims.yaml entry and a row in
    names.FINDINGS (docs/paper.md holds its paragraph); evaluate_claims and the report's table pick it up."""
    toy = max(names.FINDINGS) + 1
    monkeypatch.setitem(names.FINDINGS, toy, names.Finding(toy, "A toy finding", "fig1_schedules"))
    monkeypatch.setattr(registry, "REGISTRY", dict(REGISTRY))
    monkeypatch.setattr("adamw_repro.analysis.claims.REGISTRY", registry.REGISTRY)

    @registry.finding(toy, {"gap": Effect("<")}, differs="toy")
    def judge_toy(data, t):
        n = len(data.runs)
        return result(toy, "fig1_schedules", [t["gap"].part("toy", "runs, negated", CI(-n, -n - 1, -n + 1), 0, "-")])

    raw = {**RAW, toy: {"value": {"gap": -0.5}, "reason": "A toy reason."}}
    empty = pd.DataFrame(columns=list(RUN_COLUMNS)), pd.DataFrame(columns=list(HISTORY_COLUMNS))
    results = {r.number: r for r in evaluate_claims(*empty, validate_thresholds(raw))}
    assert sorted(results) == list(range(1, toy + 1))
    assert results[toy].verdict == INCONCLUSIVE  # -0 in [-1, 1]
    assert f"| [{toy}](#claim-{toy}) | A toy finding |" in claims_table_markdown(list(results.values()))
    with pytest.raises(ValueError, match=f"claim {toy}: needs `value:`"):
        validate_thresholds(RAW)  # a registered finding without its entry is refused before any job


def test_registering_a_finding_without_its_row_is_refused():
    with pytest.raises(ValueError, match="finding 99 has no row in names.FINDINGS"):
        registry.finding(99, Margin())
