"""End-to-end tests against a live SLURM cluster (bash scripts/ci/slurm-up.sh) through profiles/slurm, the users'
profile, with the CI cluster's site settings (scripts/ci/slurm-ci.env).

They run the real `snakemake --profile profiles/slurm` in a subprocess, so a job goes through sbatch,
srun inside the allocation, squeue status polling and the plugin's log files. Without a cluster they
skip and say how to start one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adamw_repro.workflow.slurm_check import check_slurm_request

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "slurm"
CI_SETTINGS = ROOT / "scripts" / "ci" / "slurm-ci.env"
SNAKEMAKE_TIMEOUT_S = 300

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.snakemake]


def cluster_skip_reason() -> str | None:
    """Why the live-cluster tests cannot run here, or None when a node is ready for jobs."""
    start = "start one with: bash scripts/ci/slurm-up.sh"
    if shutil.which("sinfo") is None:
        return f"sinfo is not on PATH, so there is no SLURM cluster; {start}"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=15, check=True
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        return f"sinfo cannot reach slurmctld ({getattr(e, 'stderr', '') or e}); {start}"
    states = dict(line.split() for line in out.splitlines() if line.strip())
    # A node busy with other tests' jobs (alloc, or comp while one ends) is up: its jobs queue (slurm-up.sh's set).
    if not any(s.rstrip("*~#") in ("idle", "mix", "alloc", "comp") for s in states.values()):
        return f"no SLURM node is up (nodes: {states or 'none'}); {start}"
    return None


def require_cluster() -> None:
    """Skip without a live cluster; under CI, which brings one up, fail instead."""
    reason = cluster_skip_reason()
    if reason:
        if os.environ.get("CI"):  # CI brings a cluster up: its absence is a failure there, not a skip
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    require_cluster()


def site_env(**extra: str) -> dict[str, str]:
    """This process's environment with the CI cluster's site settings, as `source scripts/ci/slurm-ci.env` gives.

    A test run inside a SLURM allocation must not leak that job's identity into the submissions, nor a
    developer's own site settings into the CI cluster's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "ADAMW_SLURM_"))}
    for line in CI_SETTINGS.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
    return env | extra


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real snakemake CLI with the users' SLURM profile in `workdir`, as a user would."""
    env = site_env()
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--slurm-keep-successful-logs",
           "--directory", str(workdir)]
    cmd += ["--snakefile", str(workdir / "Snakefile"), *args]
    return subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT_S
    )


def write_snakefile(workdir: Path, text: str) -> None:
    (workdir / "Snakefile").write_text(textwrap.dedent(text))


def scontrol_job(job_id: str) -> dict[str, str]:
    """Fields of `scontrol show job` (finished jobs stay visible for MinJobAge=300 s)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def test_two_rule_workflow_runs_as_real_slurm_jobs(slurm_cluster, tmp_path):
    write_snakefile(
        tmp_path,
        """
        rule all:
            input: "second.txt"

        rule first:
            output: "first.txt"
            shell: 'echo "host=$(hostname) job=$SLURM_JOB_ID" > {output}'

        rule second:
            input: "first.txt"
            output: "second.txt"
            shell: 'cat {input} > {output} && echo "host=$(hostname) job=$SLURM_JOB_ID" >> {output}'
        """,
    )
    result = run_snakemake(tmp_path)
    assert result.returncode == 0, f"snakemake failed:\n{result.stdout}\n{result.stderr}"

    lines = (tmp_path / "second.txt").read_text().splitlines()
    records = [dict(re.fullmatch(r"host=(?P<host>\S+) job=(?P<job>\d+)", line).groupdict()) for line in lines]
    assert len(records) == 2, lines
    first, second = records
    assert first["job"] != second["job"], "each rule must be its own SLURM job"
    for rule, record in zip(("first", "second"), records, strict=True):
        job = scontrol_job(record["job"])
        assert job["JobState"] == "COMPLETED", job
        assert job["NodeList"] == record["host"], job
        assert job["Comment"] == f"rule_{rule}", job  # the plugin labels each job with its rule
        log = tmp_path / ".snakemake" / "slurm_logs" / f"rule_{rule}" / f"{record['job']}.log"
        assert log.is_file(), f"missing plugin log {log}"
        assert f"rule {rule}:" in log.read_text()


def test_gpu_request_on_gpu_less_cluster_fails_at_submission(slurm_cluster, tmp_path):
    # Without a pre-check, sbatch itself refuses; Snakemake reports its message and the rule, no job runs. (The
    # profile's quiet: [rules, progress] hides Snakemake's error blocks, which the project's Snakefile replaces
    # with its own one-line errors; a foreign Snakefile asks for them back with the README's --quiet host.)
    write_snakefile(
        tmp_path,
        """
        rule needs_gpu:
            output: "gpu.txt"
            resources: gpu=1
            shell: "nvidia-smi > {output}"
        """,
    )
    result = run_snakemake(tmp_path, "--quiet", "host")
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "Error in rule needs_gpu" in log, log
    assert "Invalid generic resource (gres) specification" in log, log
    assert "--gpus=1" in log, log  # the failing sbatch call is shown
    assert not (tmp_path / "gpu.txt").exists()


def test_pre_submission_check_stops_gpu_request_before_any_job(slurm_cluster, tmp_path):
    # The pattern for the project's Snakefile: check in onstart (main process, after the DAG, before
    # the first submission) and fail with the setting to change.
    write_snakefile(
        tmp_path,
        """
        from adamw_repro.workflow.slurm_check import check_slurm_request

        onstart:
            if workflow.executor_plugin.name == "slurm":
                check_slurm_request(None, None, 1)

        rule needs_gpu:
            output: "gpu.txt"
            resources: gpu=1
            shell: "nvidia-smi > {output}"
        """,
    )
    result = run_snakemake(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "ADAMW_SLURM_GPU_PARTITION" in log, log
    assert "has been submitted with SLURM jobid" not in log, log


def test_check_slurm_request_against_live_cluster(slurm_cluster):
    default = check_slurm_request(None, None, 0)
    assert check_slurm_request(default, None, 0) == default
    with pytest.raises(ValueError, match=r"has 0 per node.*ADAMW_SLURM_GPU_PARTITION"):
        check_slurm_request(default, None, 1)
    with pytest.raises(ValueError, match=r"'no-such-partition' does not exist.*SBATCH_PARTITION"):
        check_slurm_request("no-such-partition", None, 0)
