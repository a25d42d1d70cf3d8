"""Fixtures of the workflow tests: a copy of the real conf/ that a test may edit, and the smoke scale trained once
per test session by the real `snakemake`."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.workflow_helpers import copy_workflow, snakemake

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def conf(tmp_path) -> Path:
    """A copy of the real conf/ whose files a test may edit."""
    dst = tmp_path / "conf"
    shutil.copytree(CONF, dst)
    return dst


def write_experiment(conf: Path, name: str, quick: dict) -> None:
    """conf/experiment/<name>.yaml with this sweep at the quick scale."""
    doc = {"experiment_name": name, "sweep": {"quick": quick}}
    (conf / "experiment" / f"{name}.yaml").write_text("# @package _global_\n" + yaml.safe_dump(doc))


def once_per_session(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `make` filled, made once per test session: with pytest-xdist, by the first worker that asks,
    while the others wait for it (a lock beside the folder in the session's shared temporary directory)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' own folders sit side by side in the session's one
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a failed attempt of another worker
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def smoke_workflow(tmp_path_factory) -> Path:
    """A copy of the workflow after `snakemake --cores 2 --config scale=smoke`: trained once per test session and
    read by every test that needs its results (the end-to-end checks, the SLURM run's local twin). A test that
    edits a file of it puts the file back, and none changes its results."""

    def train(work: Path) -> None:
        copy_workflow(work)
        out = snakemake(work, "--cores", "2", "--config", "scale=smoke")
        assert out.returncode == 0, out.stderr[-4000:]

    return once_per_session(tmp_path_factory, "smoke", train)


@pytest.fixture(scope="session")
def dry_run(tmp_path_factory) -> Callable[[str], SimpleNamespace]:
    """`snakemake -n --config scale=SCALE` on an untouched copy of the workflow, once per session and scale
    (returncode, stdout, stderr), read by every test of what a dry run prints."""

    def run(scale: str) -> SimpleNamespace:
        def plan(folder: Path) -> None:
            out = snakemake(copy_workflow(folder / "w"), "-n", "--config", f"scale={scale}")
            for stream in ("stdout", "stderr"):
                (folder / stream).write_text(getattr(out, stream))
            (folder / "returncode").write_text(str(out.returncode))

        folder = once_per_session(tmp_path_factory, f"dry-run-{scale}", plan)
        return SimpleNamespace(returncode=int((folder / "returncode").read_text()), work=folder / "w",
                               **{s: (folder / s).read_text() for s in ("stdout", "stderr")})

    return run

