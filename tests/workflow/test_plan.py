"""The plan a dry run ends with: runs per experiment, the total time (tune stage included), where results go."""

from __future__ import annotations

import re

import pytest

from tests.workflow_helpers import copy_workflow, snakemake

pytestmark = [pytest.mark.snakemake, pytest.mark.slow]  # each runs `snakemake -n`: a whole DAG (a few seconds)


def plan_of(stdout: str) -> list[str]:
    lines = stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("plan for scale="))
    return lines[start:]


def test_the_smoke_dry_run_ends_with_cpu_time_and_where_results_go(dry_run):
    out = dry_run("smoke")
    assert out.returncode == 0, out.stderr
    plan = plan_of(out.stdout)
    assert plan[-1] == "results: results/smoke/ (runs/, runs.parquet, logs/); report: reports/smoke/report.md"
    assert "CPU thread" in plan[0] and "measured" in plan[0]
    total = next(line for line in plan if line.strip().startswith("total"))
    assert re.search(r"total\s+\d+ runs\s+[\d.]+ CPU-(seconds|minutes) \(tune stage included\)", total), total


@pytest.mark.parametrize("scale", ["budget", "paper"])
def test_gpu_scales_dry_run_every_experiment_with_a_gpu_hour_total(dry_run, scale):
    out = dry_run(scale)  # no data needed
    work = out.work
    assert out.returncode == 0, out.stderr[-2000:]
    plan = plan_of(out.stdout)
    experiments = sorted(p.stem for p in (work / "conf/experiment").glob("*.yaml"))
    rows = {line.split()[0]: line for line in plan[1:-1] if "runs" in line}
    assert sorted(set(rows) - {"total"}) == experiments
    hours = [float(re.search(r"([\d.]+) GPU-hours", rows[e]).group(1)) for e in experiments]
    total = float(re.search(r"([\d.]+) GPU-hours", rows["total"]).group(1))
    assert all(h > 0 for h in hours) and total == pytest.approx(sum(hours), abs=0.1 * len(hours))
    assert "tuned" in rows["fig1_schedules"]  # the tune stage is counted


def test_a_site_time_limit_shows_in_the_plan_and_a_bad_one_is_one_clear_error(tmp_path, monkeypatch):
    work = copy_workflow(tmp_path / "w")
    monkeypatch.setenv("ADAMW_SLURM_MAX_RUNTIME", "60")
    out = snakemake(work, "-n", "--config", "scale=paper", "experiments=fig3_curves")
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in plan_of(out.stdout) if "SLURM" in x)
    assert re.search(r"jobs of at most 60 min .*continues over up to \d+ job", line), line
    # 1800 epochs of Shake-Shake 2x96d: ~13 estimated GPU-hours, asked for twice over, in jobs of 59 useful minutes
    assert int(re.search(r"up to (\d+) job", line).group(1)) >= 26
    monkeypatch.setenv("ADAMW_SLURM_MAX_RUNTIME", "2h")
    bad = snakemake(work, "-n", "--config", "scale=smoke")
    assert bad.returncode != 0
    assert "ADAMW_SLURM_MAX_RUNTIME='2h' must be a whole number of minutes" in bad.stdout + bad.stderr
