"""Shared fixtures: the real conf/ composed by Hydra and shrunk to a tiny CPU run; and the check that keeps the
fast tier honest (a test that trains or spawns snakemake or SLURM without its marker fails)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def compose_config(*overrides: str, data_root: Path | None = None):
    """The real config tree with `overrides`, at the smoke scale unless a scale is given."""
    ov = list(overrides)
    if not any(o.startswith("scale=") for o in ov):
        ov.insert(0, "scale=smoke")
    if data_root is not None:
        ov.append(f"data.root={data_root}")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=ov)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One generated MNIST-1D cache shared by every test of the session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_cfg(data_root):
    return lambda *ov: compose_config(*ov, data_root=data_root)


# What a test may only do under its marker (pyproject.toml): the fast tier, `-m "not slow and not runs and not
# snakemake and not slurm"`, then holds no training, no snakemake and no SLURM command.
SLURM_COMMANDS = {"sbatch", "srun", "salloc", "scancel", "squeue", "sinfo", "scontrol", "sacctmgr"}


def _spawned_needs(argv) -> str | None:
    """The marker a subprocess with this argv needs, or None."""
    words = [Path(str(a)).name for a in ([argv] if isinstance(argv, str | bytes | Path) else argv)]
    if not words:
        return None
    if "snakemake" in words[:3]:  # snakemake ... or python -m snakemake ...
        return "snakemake"
    if words[0] in SLURM_COMMANDS:
        return "slurm"
    return None


def pytest_collection_modifyitems(items):
    """The longest tests first (SLURM, then snakemake, then training): pytest-xdist hands tests out in this order,
    so they start while the short ones fill the other workers, instead of ending the session alone."""
    def rank(item) -> int:
        marks = {m.name for m in item.iter_markers()}
        return next((i for i, mark in enumerate(("slowest", "slurm", "snakemake", "runs", "slow")) if mark in marks), 5)

    items.sort(key=rank)  # stable: the collection's order within each rank


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker per CPU and one more, for the time the SLURM and snakemake tests spend waiting."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture(autouse=True)
def _marked_as_it_runs(request, monkeypatch):
    marks = {m.name for m in request.node.iter_markers()}
    loop = sys.modules.get("adamw_repro.training.loop")  # imported by every module that trains (torch: not here)
    if loop is not None and not marks & {"runs", "slow"}:
        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} trains a model: mark it `runs` (or `slow`)")
        monkeypatch.setattr(loop, "train_members", refuse)

    class CheckedPopen(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            need = _spawned_needs(args)
            if need is not None and need not in marks:
                raise AssertionError(f"{request.node.nodeid} runs {need}: mark it `{need}`")
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", CheckedPopen)
