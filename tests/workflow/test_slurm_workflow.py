"""The project's workflow on a live SLURM cluster (scripts/ci/slurm-up.sh) through profiles/slurm, the users' profile,
with the CI cluster's site settings (scripts/ci/slurm-ci.env): the smoke scale goes through sbatch with no job larger
than the node and gives what a local run gives; a training job cancelled (scancel) or killed (SIGKILL) mid-way
resumes from its checkpoint; a run longer than the site's time limit continues job after job until done. Each
ends with the uninterrupted run's metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.test_slurm_cluster import PROFILE, require_cluster, scontrol_job, site_env
from tests.workflow_helpers import copy_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.snakemake]
TIMING = ["wall_seconds", "steps_per_second"]


@pytest.fixture(scope="module")
def cluster() -> None:
    require_cluster()


def slurm_snakemake(work: Path, *args: str, popen: bool = False, env: dict | None = None):
    """`snakemake --profile profiles/slurm ARGS` on the copy in `work`, with the CI cluster's site settings."""
    env = site_env(ADAMW_REPRO_DATA=str(work / "data"), **(env or {}))
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--slurm-keep-successful-logs", "-s",
           str(work / "Snakefile"), "--directory", str(work), *args]
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)


def node_size() -> tuple[int, int]:
    """CPUs and memory (MB) of the cluster's (one) node."""
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%c %m"], capture_output=True, text=True, check=True).stdout
    cpus, mem = out.split()[:2]
    return int(cpus), int(mem)


# Every kind of job of the workflow in one experiment of the smoke scale: clr is tuned (the tune stage's
# checkpoint and its packs) and has the LR range tests, and feeds two figures, the tables and the report.
SLURM_SMOKE = "clr"


def test_smoke_scale_through_the_users_profile_fits_the_node_and_equals_a_local_run(cluster, tmp_path,
                                                                                     smoke_workflow):
    # What CI and a user run, `snakemake --profile profiles/slurm --config scale=smoke`, on SLURM_SMOKE; the local
    # run is the session's (tests/workflow/conftest.py).
    remote = copy_workflow(tmp_path / "slurm")
    out = slurm_snakemake(remote, "--config", "scale=smoke", f"experiments={SLURM_SMOKE}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    runs_dir = remote / "results/smoke/runs"
    job_ids = {json.loads((d / "metrics.json").read_text())["provenance"]["slurm_job_id"] for d in runs_dir.iterdir()}
    assert None not in job_ids  # every run ran inside a SLURM allocation
    assert len(job_ids) < len(list(runs_dir.iterdir()))  # short runs shared jobs
    cpus, mem = node_size()
    for job_id in job_ids:  # each job asked for what one training process uses, never more than the node has
        job = scontrol_job(str(job_id))
        assert int(job["NumCPUs"]) <= cpus, job
        assert int(job.get("MinMemoryNode", "0M").rstrip("M")) <= mem, job
    assert list((remote / ".snakemake/slurm_logs").rglob("*.log"))  # the plugin's per-job logs

    def table(work: Path) -> pd.DataFrame:
        runs = pd.read_parquet(work / "results/smoke/runs.parquet").drop(columns=TIMING)
        runs = runs[runs["experiment"].isin(SLURM_SMOKE.split(","))]
        return runs.sort_values("run_id").reset_index(drop=True)

    a, b = table(remote), table(smoke_workflow)
    assert set(a["experiment"]) == set(SLURM_SMOKE.split(","))
    pd.testing.assert_frame_equal(a, b)
    assert (remote / "results/smoke/partial/report.md").exists()  # a subset's report, marked partial


def long_experiment(work: Path, epochs: int = 400) -> str:
    """A smoke-scale experiment with one run long enough (400 epochs: ~10 s) to interrupt mid-way."""
    doc = {"experiment_name": "long_smoke", "test_every": 0, "checkpoint_seconds": 0.5, "progress_seconds": 0,
           "sweep": {"smoke": {"seeds": [0], "grid": {"epochs": [epochs], "model.width": [16]}}}}
    (work / "conf/experiment/long_smoke.yaml").write_text("# @package _global_\n" + yaml.safe_dump(doc))
    return "long_smoke"


def wait_for_progress(log: Path, epoch: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and f"epoch {epoch}:" in log.read_text():
            return
        time.sleep(0.5)
    raise AssertionError(f"no 'epoch {epoch}:' in {log} after {timeout} s")


def running_job_ids(work: Path) -> list[str]:
    """The running jobs of the workflow in `work` (by their working directory: other tests share the cluster)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %Z"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if Path(line.split(maxsplit=1)[1]) == work.resolve()]


def processes_in(work: Path, pattern: str) -> list[int]:
    """The processes matching `pattern` (pgrep -f) whose working directory is `work`."""
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    def cwd(pid: str) -> Path | None:
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            return None
    return [int(pid) for pid in pids if cwd(pid) == work.resolve()]


@pytest.mark.parametrize("interrupt", ["scancel", "sigkill"])
def test_an_interrupted_training_job_resumes_and_matches(cluster, tmp_path, interrupt):
    work = copy_workflow(tmp_path / "w")
    config = ["--config", "scale=smoke", f"experiments={long_experiment(work)}"]
    proc = slurm_snakemake(work, *config, popen=True)
    logs = work / "results/smoke/logs/train"
    deadline = time.time() + 300  # the job may wait for a CPU behind other tests' jobs
    while not (logs.exists() and list(logs.glob("*.log"))) and time.time() < deadline:
        time.sleep(0.5)
    (log,) = list(logs.glob("*.log"))  # the run's pack job: pack-<id>.log, its members in packs/<id>.json
    pack_id = log.stem.removeprefix("pack-")
    runs_file = work / f"results/smoke/packs/{pack_id}.json"
    while not runs_file.exists() and time.time() < deadline:
        time.sleep(0.5)
    (member,) = json.loads(runs_file.read_text())["members"]
    run_dir = work / member["run_dir"]
    # The uninterrupted reference trains here meanwhile, while the job waits on SLURM.
    reference = tmp_path / "reference"
    uninterrupted = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", *member["overrides"],
                                      f"hydra.run.dir={reference}", f"data.root={work / 'data'}"], cwd=work,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, PYTHONPATH=str(work / "src")))
    wait_for_progress(log, 120)
    if interrupt == "scancel":
        for job in running_job_ids(work):
            subprocess.run(["scancel", job], check=True)
    else:
        pattern = f"^[^ ]*python[^ ]* -m adamw_repro[.]training[.]pack .*{pack_id}"  # the training process itself
        pids = processes_in(work, pattern)
        assert pids, f"no training process in {work} matches {pattern}"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=300)
    # The pack rule retries once, so the same invocation may already have resumed the run; if it gave up,
    # running the workflow again must finish it. Either way the run must resume, not restart.
    if proc.returncode != 0:
        assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
        again = slurm_snakemake(work, *config)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    # scancel sends SIGTERM: the run checkpoints where it is (epoch 120 or later). kill -9 leaves only the last
    # periodic checkpoint (every half second: dozens of epochs), well past the start once epoch 120's line is out.
    least = 119 if interrupt == "scancel" else 60
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= least

    assert uninterrupted.wait(timeout=600) == 0
    expected = json.loads((reference / "metrics.json").read_text())
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]


def train_here(work: Path, out: Path, *overrides: str, popen: bool = False):
    """The long run trained here, outside the workflow and SLURM, without interruption."""
    cmd = [sys.executable, "-m", "adamw_repro.training.train", "experiment=long_smoke", "scale=smoke", *overrides,
           f"hydra.run.dir={out}", f"data.root={work / 'data'}"]
    env = dict(os.environ, PYTHONPATH=str(work / "src"))
    if popen:
        return subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, check=True)


def epochs_per_second(work: Path, tmp: Path, epochs: int = 400) -> float:
    """The cluster's speed on the long run's config (400 epochs; start-up and evaluation included) as a SLURM job,
    so that the run needs two jobs on a fast cluster as on a slow one (a busy one needs more)."""
    long_experiment(work)
    train_here(work, tmp / "data-ready", "epochs=1")  # data generated before the clock starts
    start = time.perf_counter()
    subprocess.run(["srun", "-t", "2", "-c", "1", sys.executable, "-m", "adamw_repro.training.train",
                    "experiment=long_smoke", "scale=smoke", f"epochs={epochs}", "model.width=16",
                    f"hydra.run.dir={tmp / 'calibrate'}", f"data.root={work / 'data'}"],
                   check=True, cwd=work, capture_output=True, env=site_env(PYTHONPATH=str(work / "src")))
    return epochs / (time.perf_counter() - start)


@pytest.mark.slowest
def test_a_run_longer_than_the_time_limit_continues_job_after_job(cluster, tmp_path):
    # A site whose jobs may last 1 minute (SLURM's smallest limit; a job gets ~50 s of training before the SIGTERM
    # SLURM sends at the limit) and a run of ~2 such jobs: a job is stopped, checkpoints and exits 75; Snakemake
    # resubmits it (retries sized by the plan from conf/throughput.yaml) and the next job continues from the
    # checkpoint, until the run is done. (Each job costs ~2 minutes here, the scheduler's and the plugin's polling
    # included; a resumed run stopped and resumed again, as a third job would, is
    # tests/training/test_train.py::test_sigterm_writes_a_mid_epoch_checkpoint_and_the_rerun_matches.)
    work = copy_workflow(tmp_path / "w")
    epochs = int(100 * epochs_per_second(work, tmp_path))  # ~2 jobs' worth: >= 2 even if the load eases
    experiment = long_experiment(work, epochs=epochs)
    config = ["--config", "scale=smoke", f"experiments={experiment}"]
    site = {"ADAMW_SLURM_MAX_RUNTIME": "1"}
    plan = slurm_snakemake(work, "-n", *config, env=site)
    assert "jobs of at most 1 min" in plan.stdout, plan.stdout[-2000:]

    # The uninterrupted reference trains here meanwhile (the cluster's node is this machine: one CPU each).
    reference = train_here(work, tmp_path / "reference", f"epochs={epochs}", "model.width=16", "seed=0", popen=True)
    # The experiment's runs, not the tables, figures and report they feed (the smoke test above sends those).
    out = slurm_snakemake(work, f"results/smoke/done/{experiment}.txt", *config, env=site)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # what the user reads: the continuation as such, with its job count, never as an error
    console = out.stdout + out.stderr
    assert re.search(r": continuing from its checkpoint \(epoch \d+\), job 2 of ~\d+", console), console[-3000:]
    assert "Error" not in console and "CalledProcessError" not in console, console[-3000:]
    (run_dir,) = list((work / "results/smoke/runs").iterdir())
    resumed = json.loads((run_dir / "metrics.json").read_text())
    logs = work / ".snakemake/slurm_logs"  # rule_train/<run>/<job>.log, group_train_*/ or rule_train_pack_*/
    jobs = [log for log in logs.rglob("*.log") if "train" in log.relative_to(logs).parts[0]]
    assert len(jobs) >= 2, f"{len(jobs)} training jobs: {jobs}"
    assert resumed["resumed_from"] is not None and resumed["epochs"] == epochs
    # Jobs were stopped by the limit, the last one was not. (A job that ends its run just as the limit strikes is
    # marked failed too; its retry only summarizes the run from the final checkpoint.)
    jobs.sort(key=lambda log: int(log.stem))
    timed_out = [log for log in jobs if "DUE TO TIME LIMIT" in log.read_text()]
    assert len(timed_out) >= 1 and jobs[-1] not in timed_out, [log.read_text()[-500:] for log in jobs]

    assert reference.wait(timeout=1200) == 0
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert resumed["config_digest"] == expected["config_digest"]
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]
    a = pd.read_csv(run_dir / "history.csv").drop(columns="seconds")
    b = pd.read_csv(tmp_path / "reference" / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
