"""conf/claims.yaml is checked against its schema before any job (issue 18): numbers only, finite, of the sign
their criterion reads, known finding ids, known keys, each key once. Each mistake is one line naming the file,
the finding, the key, the value and what is allowed; through snakemake the dry run fails with it (exit 2),
before any job, and the committed report stays."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from adamw_repro.analysis.claims import validate_thresholds
from tests.workflow_helpers import copy_workflow, snakemake

CLAIMS = Path(__file__).resolve().parents[2] / "conf" / "claims.yaml"
RAW = yaml.safe_load(CLAIMS.read_text())
SRC = "conf/claims.yaml"


def _set(path, value):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _rename(path, new):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])
    return edit


@pytest.mark.parametrize("edit,line", [
    (_set((3, "value"), -0.1), "claim 3: value: a margin for |x| < m must be > 0, got -0.1"),
    (_set((3, "value"), float("nan")), "claim 3: value must be a finite number, got nan"),
    (_set((3, "value"), float("inf")), "claim 3: value must be a finite number, got inf"),
    (_set((3, "value"), True), "claim 3: value must be a number or a mapping of numbers, got True"),
    (_set((3, "value"), "0.1"), "claim 3: value must be a number or a mapping of numbers, got '0.1'"),
    (_set((3, "value"), {"margin": 0.1}), "claim 3: value must be one number, got the mapping {'margin': 0.1}"),
    (_rename((2, "value", "decoupled"), "decoupld"),
     "claim 2: unknown key `value.decoupld`; missing key `value.decoupled`; allowed: coupled, decoupled"),
    (_set((4, "value", "scheduled"), 0.1),
     "claim 4: value.scheduled: a smallest effect must lie on the paper's side of the null: at most 0, got 0.1"),
    (_rename((3, "reason"), "resaon"),
     "claim 3: unknown key `resaon`; allowed: value, reason, changed; claim 3: needs a one-line `reason:`, got None"),
    (_set((3, "reason"), "two\nlines"), "claim 3: needs a one-line `reason:`, got 'two\\nlines'"),
    (_set((3, "changed"), 5), "claim 3: `changed:` must be a line or a list of lines (from what, and why), got 5"),
    (_set((99,), {"value": 1, "reason": "x"}),
     "unknown findings ['99']: the registered findings are 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"),
])
def test_each_mistake_is_one_line_naming_the_key_and_what_is_allowed(edit, line):
    raw = copy.deepcopy(RAW)
    edit(raw)
    with pytest.raises(ValueError) as err:
        validate_thresholds(raw, source=SRC)
    assert str(err.value) == f"{SRC}: {line}"


def test_the_committed_claims_pass():
    assert sorted(validate_thresholds(copy.deepcopy(RAW), source=SRC)) == list(range(1, 14))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("claims"))
    report = work / "reports/smoke/report.md"
    report.parent.mkdir(parents=True)
    report.write_text("the committed report\n")
    return work


@pytest.mark.snakemake
@pytest.mark.parametrize("old,new,line", [
    ("3:\n  value: 0.10", "3:\n  value: -0.10", "claim 3: value: a margin for |x| < m must be > 0, got -0.1"),
    ("3:\n  value: 0.10", "3:\n  value: .nan", "claim 3: value must be a finite number, got nan"),
    ("    decoupled: 0.5", "    decoupld: 0.5", "claim 2: unknown key `value.decoupld`; missing key "
                                                 "`value.decoupled`; allowed: coupled, decoupled"),
    ("3:\n  value: 0.10", "3:\n  value: 0.10\n  value: 0.5", "line {n}, column 3: not valid YAML (key 'value' appears "
                                                              "twice in one mapping; keep one); fix the file"),
])
def test_a_bad_claims_file_fails_the_dry_run_and_the_report_stays(work, old, new, line):
    path = work / "conf/claims.yaml"
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new, 1))
    line = line.replace("{n}", str(original[:original.index(old)].count("\n") + new.count("\n") + 1))
    try:
        out = snakemake(work, "-n", "--config", "scale=smoke", "experiments=fig4_restarts")
    finally:
        path.write_text(original)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 2 and len(errors) == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert errors[0].startswith(f"error: {path}") and line in errors[0], errors[0]
    assert errors[0].endswith("(fix conf/claims.yaml)")
    assert (work / "reports/smoke/report.md").read_text() == "the committed report\n"
    assert not (work / "results").exists()
