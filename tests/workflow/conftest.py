"""Fixtures of the workflow tests: a copy of the real conf/ that a test may edit, and the smoke scale trained once
per test session by the real `snakemake`."""

from __future__ import annotations

import shutil
from pathlib import Path

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


@pytest.fixture(scope="session")
def smoke_workflow(tmp_path_factory) -> Path:
    """A copy of the workflow after `snakemake --cores 2 --config scale=smoke`: trained once per test session and
    read by every test that needs its results (the end-to-end checks, the SLURM run's local twin). A test that
    edits a file of it puts the file back, and none changes its results."""
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    out = snakemake(work, "--cores", "2", "--config", "scale=smoke")
    assert out.returncode == 0, out.stderr[-4000:]
    return work

