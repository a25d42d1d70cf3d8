"""The project's workflow on a live SLURM cluster (scripts/ci/slurm-up.sh) through profiles/slurm-ci: the smoke
runs really go through sbatch and give what a local run gives; a training job cancelled (scancel) or killed
(SIGKILL) mid-way resumes from its checkpoint on the rerun and ends with the uninterrupted run's metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.test_slurm_cluster import cluster_skip_reason
from tests.workflow_helpers import ROOT, copy_workflow, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.snakemake]
TIMING = ["wall_seconds", "steps_per_second"]


@pytest.fixture(scope="module")
def cluster() -> None:
    reason = cluster_skip_reason()
    if reason:
        if os.environ.get("CI"):  # CI brings a cluster up: its absence is a failure there, not a skip
            pytest.fail(reason)
        pytest.skip(reason)


def slurm_snakemake(work: Path, *args: str, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["ADAMW_REPRO_DATA"] = str(work / "data")
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(ROOT / "profiles/slurm-ci"), "-s",
           str(work / "Snakefile"), "--directory", str(work), *args]
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_smoke_runs_go_through_sbatch_and_equal_a_local_run(cluster, tmp_path):
    config = ["--config", "scale=smoke", "experiments=fig1_schedules,clr"]
    remote = copy_workflow(tmp_path / "slurm")
    out = slurm_snakemake(remote, *config)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    local = copy_workflow(tmp_path / "local")
    assert snakemake(local, "--cores", "2", *config).returncode == 0

    runs_dir = remote / "results/smoke/runs"
    job_ids = {json.loads((d / "metrics.json").read_text())["provenance"]["slurm_job_id"] for d in runs_dir.iterdir()}
    assert None not in job_ids  # every run ran inside a SLURM allocation
    assert len(job_ids) < len(list(runs_dir.iterdir()))  # short runs were grouped into fewer sbatch jobs
    assert list((remote / ".snakemake/slurm_logs").rglob("*.log"))  # the plugin's per-job logs

    a = pd.read_parquet(remote / "results/smoke/runs.parquet").drop(columns=TIMING)
    b = pd.read_parquet(local / "results/smoke/runs.parquet").drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b)
    assert (remote / "reports/smoke/report.md").exists()


def long_experiment(work: Path) -> str:
    """A smoke-scale experiment with one run long enough (~10 s) to interrupt mid-way."""
    doc = {"experiment_name": "long_smoke", "test_every": 0,
           "sweep": {"smoke": {"seeds": [0], "grid": {"epochs": [400], "model.width": [16]}}}}
    (work / "conf/experiment/long_smoke.yaml").write_text("# @package _global_\n" + yaml.safe_dump(doc))
    return "long_smoke"


def wait_for_progress(log: Path, epoch: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and f"epoch {epoch}:" in log.read_text():
            return
        time.sleep(0.5)
    raise AssertionError(f"no 'epoch {epoch}:' in {log} after {timeout} s")


def running_job_ids() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("interrupt", ["scancel", "sigkill"])
def test_an_interrupted_training_job_resumes_and_matches(cluster, tmp_path, interrupt):
    work = copy_workflow(tmp_path / "w")
    config = ["--config", "scale=smoke", f"experiments={long_experiment(work)}"]
    proc = slurm_snakemake(work, *config, popen=True)
    logs = work / "results/smoke/logs/train"
    deadline = time.time() + 120
    while not (logs.exists() and list(logs.glob("*.log"))) and time.time() < deadline:
        time.sleep(0.5)
    (log,) = list(logs.glob("*.log"))  # the run's pack job: pack-<id>.log, its members in packs/<id>.json
    pack_id = log.stem.removeprefix("pack-")
    runs_file = work / f"results/smoke/packs/{pack_id}.json"
    while not runs_file.exists() and time.time() < deadline:
        time.sleep(0.5)
    (member,) = json.loads(runs_file.read_text())["members"]
    run_dir = work / member["run_dir"]
    wait_for_progress(log, 120)
    if interrupt == "scancel":
        for job in running_job_ids():
            subprocess.run(["scancel", job], check=True)
    else:
        pattern = f"^[^ ]*python[^ ]* -m adamw_repro[.]training[.]pack .*{pack_id}"  # the training process itself
        pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        assert pids, f"no training process matches {pattern}"
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
    proc.communicate(timeout=300)
    # The pack rule retries once, so the same invocation may already have resumed the run; if it gave up,
    # running the workflow again must finish it. Either way the run must resume, not restart.
    if proc.returncode != 0:
        assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
        again = slurm_snakemake(work, *config)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    # kill -9 may land between the epoch-120 progress line and its checkpoint
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= 119

    reference = tmp_path / "reference"
    overrides = member["overrides"]
    subprocess.run([sys.executable, "-m", "adamw_repro.training.train", *overrides,
                    f"hydra.run.dir={reference}", f"data.root={work / 'data'}"], check=True, cwd=work,
                   capture_output=True, env=dict(os.environ, PYTHONPATH=str(work / "src")))
    expected = json.loads((reference / "metrics.json").read_text())
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]
