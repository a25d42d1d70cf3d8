"""What the workflow refuses or sets aside before any job starts: names that are not names, runs it cannot trust,
aggregated tables that no longer read.

Experiment and scale names reach shell commands, paths and Hydra overrides, so each is a name (NAME: letters,
digits, `_`, `.`, `-`, never first `.` or `-`, so never `..` or a `/`) and one of conf/'s files, checked when the
DAG is built. A run is trusted when runio.finished_run says its files parse, agree and hold the digest its
config asks for now; otherwise it is due again, and what it left is moved aside (never deleted) before its pack
job starts, because Snakemake deletes a job's outputs before running it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from adamw_repro import runio
from adamw_repro.runconfig import ConfigError

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
NAME_RULE = "letters, digits, '_', '.' and '-' (not first)"
TABLES = ("runs.parquet", "history.parquet", "telemetry.parquet")  # what the aggregate rule writes


def is_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def group_names(conf: Path, group: str) -> list[str]:
    """The options of a conf/ group (its files' stems); ConfigError naming the first file whose stem is not a
    name: it would reach a shell command or a path."""
    names = sorted(p.stem for p in (conf / group).glob("*.yaml"))
    for name in names:
        if not is_name(name):
            raise ConfigError(f"{conf / group / (name + '.yaml')}: {name!r} is not a usable {group} name; allowed: "
                              f"{NAME_RULE}; rename or remove the file")
    return names


def check_choice(option: str, value: str, allowed: list[str], where: str) -> str:
    """`value` unless it is not a name or not one of `allowed`: then one line naming the option and the fix."""
    if not is_name(value):
        raise ConfigError(f"{option}={value} is not a name (allowed: {NAME_RULE}); allowed values: "
                          f"{', '.join(allowed)} ({where})")
    if value not in allowed:
        raise ConfigError(f"{option}={value} is unknown; allowed: {', '.join(allowed)} ({where})")
    return value


# -- runs the workflow trusts ----------------------------------------------------------------------------------
def run_problem(run_dir: Path, digest: str) -> str | None:
    """Why the run in `run_dir` is not a finished run of config `digest` (None: it is; "" when it has no
    metrics.json: never finished, nothing to set aside)."""
    metrics, problem = runio.finished_run(run_dir, digest)
    if metrics is not None:
        return None
    return problem or ""


def set_aside(run_dir: Path, problem: str) -> None:
    """Move an untrusted run's files out of its pack job's way (Snakemake would delete them): a whole run of
    another config into superseded-<digest>/ (runio.set_aside_run, as a training run does), damaged files renamed
    .corrupt-<time>. A run directory another process holds (runio.RunLock) is left alone: its pack job stops
    with that process's PID."""
    run_dir = Path(run_dir)
    try:
        with runio.RunLock(run_dir):
            other, _ = runio.finished_run(run_dir)  # whole and agreeing, but of another config?
            if other is not None:
                runio.set_aside_run(run_dir, other["config_digest"])
                return
            moved = [runio.move_aside(run_dir / f, "corrupt").name for f in ("metrics.json", "history.csv")
                     if (run_dir / f).exists()]
            print(f"warning: {run_dir} is not a finished run ({problem}); moved {', '.join(moved)} aside; "
                  "it is trained again", file=sys.stderr)
    except runio.RunLocked as err:
        print(f"warning: {err}", file=sys.stderr)


class Lapsed(NamedTuple):
    """A run the workflow had finished that is due again: its experiment, its stamp, why."""

    experiment: str
    stamp: str
    problem: str


def mark_lapsed(lapsed: dict[str, Lapsed], results: Path | str, dryrun: bool) -> None:
    """Make Snakemake see runs it had finished as due again. It looks at a missing input only below a job it runs
    anyway, and the workflow asks only for the report and runs.parquet: so the runs' stamps and their experiments'
    done/ markers go, and runs.parquet, built from them, is moved aside (.stale-<time>); the aggregation, the
    figures and the report follow. A dry run only names them."""
    if not lapsed:
        return
    first, why = sorted(lapsed.items())[0][0], sorted(lapsed.items())[0][1].problem
    said = f"warning: {len(lapsed)} run(s) the workflow had finished are due again (first: {first}: {why})"
    if dryrun:
        print(f"{said}; a run without -n trains them again and rebuilds the tables", file=sys.stderr)
        return
    for run in lapsed.values():
        Path(run.stamp).unlink(missing_ok=True)
        Path(results, "done", f"{run.experiment}.txt").unlink(missing_ok=True)
    table = Path(results, "runs.parquet")
    moved = f"; {table} moved to {runio.move_aside(table, 'stale').name}" if table.exists() else ""
    print(f"{said}; they are trained again and the tables rebuilt{moved}", file=sys.stderr)


# Snakemake calls that run no job: they may name what is due, never move a file.
NO_JOBS = ("-n", "--dry-run", "--dryrun", "--just-print", "-t", "--touch", "--unlock", "-S", "--summary", "-D",
           "--detailed-summary", "--list-rules", "-l", "--list-target-rules", "--lt", "--list-changes", "--lc",
           "--list-code-changes", "--list-input-changes", "--li", "--list-params-changes", "--lp",
           "--list-untracked", "--lu", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--lint", "--report",
           "--cleanup-metadata", "--cm", "--delete-all-output", "--delete-temp-output", "--containerize",
           "--archive", "--export-cwl", "--print-compilation", "--generate-unit-tests", "--conda-create-envs-only")


def dry_run(argv: Iterable[str]) -> bool:
    """Whether this Snakemake call runs no job (-n, --touch, --unlock, a listing, ...): the Snakefile is parsed
    before Snakemake knows its executor, so the command line says it."""
    return any(a.split("=", 1)[0] in NO_JOBS or re.fullmatch(r"-[pqrFk]*[nt][pqrFknt]*", a) for a in argv)


# -- aggregated tables -------------------------------------------------------------------------------------------
def table_problem(path: Path) -> str | None:
    """Why a parquet table does not read (None: it reads, or is absent)."""
    if not path.exists():
        return None
    try:
        import pyarrow.parquet as pq

        pq.read_metadata(path)
    except Exception as err:  # noqa: BLE001 pyarrow's errors for a torn or foreign file are of several kinds
        return f"{type(err).__name__}: {' '.join(str(err).split())[:120]}"
    return None


def damaged_tables(results: Path, names: Iterable[str] = TABLES) -> dict[Path, str]:
    """{table: why} of the aggregated tables in `results` that do not read."""
    out = {}
    for name in names:
        problem = table_problem(Path(results) / name)
        if problem:
            out[Path(results) / name] = problem
    return out


def rebuild_damaged_tables(results: Path, dryrun: bool) -> list[Path]:
    """Move damaged aggregated tables (and their CSV copies) aside, so that the aggregate rule, whose outputs are
    now missing, runs again and rebuilds them; a dry run only names them. Returns the damaged tables."""
    damaged = damaged_tables(results)
    for path, problem in damaged.items():
        if dryrun:
            print(f"warning: {path} is damaged ({problem}); a run without -n moves it aside and rebuilds it",
                  file=sys.stderr)
            continue
        moved = runio.move_aside(path, "corrupt")
        print(f"warning: {path} is damaged ({problem}); moved to {moved.name}; the aggregate job rebuilds it",
              file=sys.stderr)
    return list(damaged)
