"""Atomic file writes and provenance: a half-written file never looks finished."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import platform
import subprocess
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename over the target (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_yaml(path: Path, obj) -> None:
    import yaml

    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_csv(path: Path, fields, rows) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    write_text(path, buf.getvalue())


def move_aside(path: Path, why: str) -> Path:
    """Rename `path` to `<name>.<why>-<UTC time>` beside it (never deleted: a person may want it back)."""
    import time

    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    os.replace(path, target)
    return target


RUN_FILES = ("config.yaml", "history.csv", "metrics.json", "checkpoint.pt", "telemetry.csv")


def set_aside_run(run_dir: Path, old_digest: str) -> Path:
    """Move another config's run out of the way, into `run_dir/superseded-<its digest>/`, and say so on
    stderr: a run directory given to two configs keeps both, and the one asked for now trains there.
    (Refusing instead would stop the workflow, which reruns a run directory after its config changed.)"""
    import sys

    run_dir = Path(run_dir)
    name = f"superseded-{str(old_digest)[:12]}"
    target, n = run_dir / name, 1
    while target.exists():
        n += 1
        target = run_dir / f"{name}-{n}"
    target.mkdir()
    for file in RUN_FILES:
        if (run_dir / file).exists():
            os.replace(run_dir / file, target / file)
    print(f"warning: {run_dir} held a run of another config (digest {str(old_digest)[:12]}); moved it to "
          f"{target}", file=sys.stderr)
    return target


def remove_stale_tmp(folder: Path) -> list[Path]:
    """Delete the temporary files of `write_bytes` left by a writer that was killed: `.NAME.tmpPID` whose
    process is gone. A live writer's file is kept. Returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp*"):
        pid = tmp.name.rsplit(".tmp", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# What the workflow itself writes into the tree (figures, the report, the results): changing these is the
# workflow's output, not a change to the code that made them, so they never make a commit "dirty".
# Git glob pathspecs: the quick scale writes reports/, other scales reports/<scale>/.
WORKFLOW_OUTPUTS = ("reports/**/figures/**", "reports/**/report.md", "results/**")


def git_commit(root: Path | None = None) -> str:
    """The commit of the code that ran (with '+dirty' when tracked files other than the workflow's own
    outputs, WORKFLOW_OUTPUTS, had changes), or 'unknown'."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    excludes = [f":(exclude,glob){p}" for p in WORKFLOW_OUTPUTS]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                                "--", ".", *excludes], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def provenance(**device_info) -> dict:
    """Where a run ran: code version, Python and library versions, host; the caller adds what it knows of the
    device (torch version, device, threads, GPU or CPU name: the training layer, which imports torch)."""
    return {
        "git_commit": _this_commit(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "hydra": _version("hydra-core"),
        "host": platform.node(),
        "platform": platform.platform(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),  # set when the run went through sbatch
        **device_info,
    }


@functools.cache
def _this_commit() -> str:
    """This checkout's commit, asked once per process (two git calls, ~20 ms: a pack's members share it)."""
    return git_commit()


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
