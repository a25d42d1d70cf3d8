"""Bad input to the workflow: every file it reads is checked while it builds the DAG, and a mistake is one line on
stderr (exit 2) that names the file, the value and what is allowed; nothing is written and nothing finished is
deleted.

The checks themselves run in this process, as rules/common.smk calls them at parse time (`dag.Dag`, then the
report's thresholds); a few cases go through the real `snakemake` (marked) to show the wiring: one line, exit 2, no
trace, no results/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from adamw_repro.analysis.claims import validate_thresholds
from adamw_repro.workflow import dag, sweeps
from tests.workflow_helpers import ROOT, copy_workflow, snakemake


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("bad_input"))


@pytest.fixture
def conf_copy(tmp_path) -> Path:
    """A folder holding a copy of conf/ (all a DAG reads before any job), whose files a test may edit."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    return text


def one_error_line(out) -> str:
    """The run failed with exactly one `error:` line and no Python or Snakemake trace."""
    assert out.returncode != 0, out.stdout[-2000:]
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, out.stderr
    assert "Traceback" not in out.stderr and 'File "' not in out.stderr, out.stderr
    return errors[0]


def parse_time_error(basedir: Path, config: dict) -> str:
    """The one line rules/common.smk prints for `--config CONFIG` (via dag.fail), from its two parse-time checks:
    the DAG (scale, experiments, every run's keys and values) and the report's thresholds."""
    try:
        d = dag.Dag(basedir, config, {})
        validate_thresholds(sweeps.read_yaml(d.claims), source=str(d.claims))
    except ValueError as err:
        return "error: " + " ".join(str(err).split())
    raise AssertionError(f"--config {config} was accepted")


BAD_FILES = [
    ("conf/experiment/fig4_restarts.yaml", "schedule.T0: [1]", "schedule.T0: [0]",
     r"fig4_restarts.yaml: sweep.smoke.grid: .*schedule.T0=0: schedule.T0=0 is not allowed; allowed: a number "
     r"of epochs > 0 \(conf/schedule/warm_restarts.yaml"),
    ("conf/experiment/fig4_restarts.yaml", "schedule.T0: [1]", "schedule.T0: [1]\n        optimizer.lr: [-0.1]",
     r"fig4_restarts.yaml: sweep.smoke.grid: .*optimizer.lr=-0.1.*: optimizer.lr=-0.1 must be a positive number"),
    ("conf/experiment/fig4_restarts.yaml", "schedule.T0: [1]", "schedule.T0: [1]\n        schedule.T_mult: [0]",
     r"schedule.T_mult=0 is not allowed; allowed: an integer >= 1"),
    ("conf/experiment/fig4_restarts.yaml", "schedule.T0: [1]", "schedule.T0: [1, 2",
     r"fig4_restarts.yaml: line \d+, column \d+: not valid YAML \(.*\); fix the file"),
    ("conf/experiment/fig4_restarts.yaml", "seeds: [0]", "seeds: [0, abc]",
     r"fig4_restarts.yaml: sweep.smoke.seeds must be a non-empty list of integers >= 0, got \[0, 'abc'\]"),
    ("conf/claims.yaml", "3:\n  value: 0.10", "3:\n  value: lots",
     r"claims.yaml: claim 3: value must be a number or a mapping of numbers, got 'lots'"),
    ("conf/claims.yaml", "3:\n  value: 0.10", "3:\n  reason_only: 0.10",
     r"claims.yaml: claim 3: needs `value:`"),
    ("conf/claims.yaml", "1:\n  value: 0", "1:\n  value: [0",
     r"claims.yaml: line \d+, column \d+: not valid YAML"),
]


@pytest.mark.parametrize("file,old,new,expect", BAD_FILES)
def test_a_bad_file_is_refused_while_the_dag_is_built_naming_file_and_value(conf_copy, file, old, new, expect):
    _edit(conf_copy / file, old, new)
    line = parse_time_error(conf_copy, {"scale": "smoke", "experiments": "fig4_restarts"})
    assert re.search(expect, line), line
    assert not (conf_copy / "results").exists()


@pytest.mark.snakemake
@pytest.mark.parametrize("case", [BAD_FILES[0], BAD_FILES[5]], ids=["experiment", "claims"])
def test_through_snakemake_a_bad_file_is_one_line_and_exit_2(work, case):
    file, old, new, expect = case
    original = _edit(work / file, old, new)
    try:
        out = snakemake(work, "-n", "--config", "scale=smoke", "experiments=fig4_restarts")
    finally:
        (work / file).write_text(original)
    line = one_error_line(out)
    assert out.returncode == 2 and re.search(expect, line), out.stderr
    assert "claims" not in file or line.endswith("(fix conf/claims.yaml)")
    assert not (work / "results").exists()


@pytest.mark.parametrize("value", ["", ","])
def test_an_empty_experiment_list_is_one_line(value):
    line = parse_time_error(ROOT, {"scale": "smoke", "experiments": value})
    assert line.startswith("error: --config experiments=")
    assert "names no experiment; allowed: all, or a comma-separated list of blog_decays, clr" in line


@pytest.mark.snakemake
def test_a_bad_threshold_fails_before_forcerun_deletes_the_old_report(tmp_path):
    """`--forcerun report` would delete report.md before the report job fails; the check comes first."""
    work = copy_workflow(tmp_path)
    report = work / "reports/smoke/report.md"
    report.parent.mkdir(parents=True)
    report.write_text("the old report\n")
    _edit(work / "conf/claims.yaml", "5:\n  value: 0.10", "5:\n  value: null")
    out = snakemake(work, "--cores", "1", "--config", "scale=smoke", "experiments=fig4_restarts",
                    "--forcerun", "report")
    assert "claim 5" in one_error_line(out)
    assert report.read_text() == "the old report\n"
    assert not (work / "results").exists()


def _outputs_of_the_plan(stdout: str) -> list[str]:
    return [f.strip() for ln in stdout.splitlines() if ln.strip().startswith("output:")
            for f in ln.split(":", 1)[1].split(",")]


@pytest.mark.snakemake
@pytest.mark.slow
def test_a_changed_threshold_reruns_the_report(tmp_path):
    """conf/claims.yaml is a real input of the report (not `ancient`): editing a threshold rewrites it."""
    work = copy_workflow(tmp_path)
    config = ("--config", "scale=smoke", "experiments=fig4_restarts")
    plan = snakemake(work, "-n", "--quiet", "host", *config)
    assert plan.returncode == 0, plan.stderr
    for name in _outputs_of_the_plan(plan.stdout):  # every output present, stamped up to date by --touch
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).touch()
    assert snakemake(work, "--touch", "--cores", "1", *config).returncode == 0
    assert "Nothing to be done" in snakemake(work, "-n", *config).stdout
    _edit(work / "conf/claims.yaml", "9:\n  value:\n    speedup: 2.0", "9:\n  value:\n    speedup: 2.5")
    again = snakemake(work, "-n", "--quiet", "host", *config)
    assert re.search(r"^report\s+1$", again.stdout, re.M), again.stdout
    assert re.search(r"reason: Updated input files: .*claims.yaml", again.stdout), again.stdout
    assert not re.search(r"^train\s+\d+$", again.stdout, re.M)


@pytest.mark.snakemake
@pytest.mark.slow
def test_after_kill_9_of_snakemake_unlock_then_the_same_command_finishes(tmp_path):
    """What the README says to do after an interrupted workflow, done: kill -9 of snakemake leaves its lock;
    the same command stops on it, `snakemake --unlock` removes it, and the same command then finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    work = copy_workflow(tmp_path)
    config = ("--cores", "1", "--config", "scale=smoke", "experiments=fig4_restarts")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(work / "Snakefile"), "--directory", str(work), *config]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, ADAMW_REPRO_DATA=str(work / "data")))
    deadline = time.time() + 120
    while not list((work / "results/smoke/logs/train").glob("*.log")) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    locked = snakemake(work, *config)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    assert snakemake(work, "--unlock", *config).returncode == 0
    again = snakemake(work, *config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (work / "results/smoke/partial/report.md").exists()  # a subset's report: never reports/
