"""Fixtures of the workflow tests: a copy of the real conf/ that a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

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
