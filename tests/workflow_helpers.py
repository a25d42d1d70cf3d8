"""Helpers for tests that run the real `snakemake` on a copy of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("Snakefile", "rules", "conf", "scripts", "src", "envs", "profiles", "reports/captions")


def copy_workflow(dst: Path) -> Path:
    """The workflow's own files (not results, data or reports) in `dst`, so a test may edit conf/."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real snakemake command on the workflow in `workdir` (data generated under workdir/data)."""
    env = dict(os.environ, ADAMW_REPRO_DATA=str(workdir / "data"))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(workdir / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
