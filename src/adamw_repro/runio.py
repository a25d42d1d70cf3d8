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
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk: the old file stays whole, the half-written one goes, the error names it
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def load_yaml(text: str, loaders: tuple[type, type] | None = None):
    """yaml.safe_load of `text`, parsed by libyaml where PyYAML has it (~10x faster: every Snakemake start-up
    reads conf/, the aggregate job every run's config.yaml). A file that does not parse is parsed again by the
    pure-Python loader, so that the error raised, and the one line that quotes it, reads the same on every
    machine. `loaders`: (fast, exact) loader classes to use instead of (CSafeLoader, SafeLoader)."""
    import yaml

    fast, exact = loaders or (getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=fast)  # noqa: S506 a SafeLoader
    except yaml.YAMLError:
        return yaml.load(text, Loader=exact)  # noqa: S506 raises again, worded by PyYAML's own parser


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
    excludes = [f":(exclude,glob){p}" for p in WORKFLOW_OUTPUTS]
    return _commit(root, ["rev-parse", "HEAD"], [".", *excludes])


# What a report is made from: the code and configuration (tests, docs and the README do not change a report).
REPORT_SOURCES = ("src", "conf", "scripts/figures", "rules", "Snakefile")


def source_commit(root: Path | None = None) -> str:
    """The last commit that changed what a report is made from (REPORT_SOURCES), with '+dirty' when those files
    have uncommitted changes, or 'unknown': a report names it, and it stays the same over commits that change
    nothing a report depends on (a reports-only or README commit), so a regenerated report stays byte-identical."""
    return _commit(root, ["log", "-1", "--format=%H", "--", *REPORT_SOURCES], list(REPORT_SOURCES))


def _commit(root: Path | None, which: list[str], paths: list[str]) -> str:
    """The commit `git <which>` names, '+dirty' when tracked files under `paths` changed since; 'unknown'."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=5).stdout.strip()

    try:
        commit = git(*which)
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *paths)
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


# -- one writer per run directory ----------------------------------------------------------------------------
LOCK_FILE = ".lock"


class RunLocked(RuntimeError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """An exclusive OS lock (flock) on `run_dir/.lock`, held while a process writes the run: a second process
    that asks for it gets RunLocked naming the holder's PID instead of overwriting the first one's files. The
    kernel drops the lock when its holder dies (kill -9 included), so a dead process's lock never blocks."""

    def __init__(self, run_dir: Path):
        self.path, self.fd, self.made = Path(run_dir) / LOCK_FILE, None, False

    def __enter__(self) -> RunLock:
        import fcntl

        self.made = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{self.path.parent} is being written by another process (PID {holder}); wait for it "
                            f"to finish or stop it: two runs in one folder would overwrite each other") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, kind, *exc) -> None:
        if self.fd is None:
            return
        if kind is not None and self.made and [p.name for p in self.path.parent.iterdir()] == [LOCK_FILE]:
            self.path.unlink()  # refused before anything was written: leave no folder behind
            self.path.parent.rmdir()
        os.close(self.fd)  # closing releases the lock; the file stays (removing it would race a new holder)
        self.fd = None


# -- a finished run: its files parse and agree -----------------------------------------------------------------
def history_rows(path: Path) -> int | None:
    """Rows of a run's history.csv when every row has the header's fields (schema.HISTORY_FIELDS), else None."""
    from adamw_repro.schema import HISTORY_FIELDS

    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or tuple(rows[0]) != HISTORY_FIELDS or any(len(r) != len(HISTORY_FIELDS) for r in rows[1:]):
        return None
    return len(rows) - 1


def finished_run(run_dir: Path, digest: str | None = None) -> tuple[dict | None, str | None]:
    """(metrics, None) when `run_dir` holds a finished run (of config `digest`, when given) whose metrics.json
    passes schema.metrics_problems and agrees with its history.csv; (None, None) when it holds no metrics.json;
    (None, why) when its outputs are damaged or belong to another config. Every layer asks this one question."""
    from adamw_repro.schema import metrics_problems

    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.exists():
        return None, None
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return None, f"metrics.json is unreadable ({type(err).__name__})"
    rows = history_rows(run_dir / "history.csv")
    problems = metrics_problems(metrics, -1 if rows is None else rows)
    if problems:
        return None, "; ".join(problems)
    if digest is not None and metrics["config_digest"] != digest:
        return None, f"it is a run of another config (digest {metrics['config_digest'][:12]})"
    return metrics, None
