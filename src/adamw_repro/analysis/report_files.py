"""Where the report's files go, so that running the workflow leaves a clone's `git status` clean.

The report job writes into a staging folder under results/ (untracked): the report, its figures, and a sidecar
with what differs from run to run (date, code version, compute). A run of every experiment then publishes the
report and figures into reports/ (tracked), replacing a file only when its bytes changed, by an atomic rename:
an unchanged report leaves the tracked file untouched, and a failed job (whose declared outputs Snakemake deletes)
never deletes the committed report. A run of some experiments is a partial report and stays under results/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

RUN_SIDECAR = "report_run.md"  # beside report.md in the staging folder


def staging_dir(results: str, partial: bool) -> str:
    """results/<scale>/report for a run of every experiment, results/<scale>/partial for a subset."""
    return f"{results}/partial" if partial else f"{results}/report"


def is_partial(selected: list[str], available: list[str]) -> bool:
    """A selection that leaves out any experiment of conf/experiment/ makes a partial report."""
    return not set(available) <= set(selected)


def partial_note(selected: list[str], available: list[str], scale: str, full_report: str) -> str:
    """The line a partial report opens with."""
    return (f"**Partial report**: experiments {', '.join(selected)} only ({len(selected)} of {len(available)} at "
            f"the {scale} scale); findings of the others read *not run*. The full report, {full_report}, is written "
            "only by a run of every experiment.")


def copy_if_changed(src: Path, dest: Path) -> bool:
    """Copy src to dest by an atomic rename, unless dest already holds the same bytes. True if it wrote."""
    src, dest = Path(src), Path(dest)
    data = src.read_bytes()
    if dest.exists() and dest.read_bytes() == data:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        shutil.copymode(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def publish(staging: Path, dest: Path) -> list[Path]:
    """The staged report.md and figures/* into dest (reports/ or reports/<scale>/); the files it changed."""
    staging, dest = Path(staging), Path(dest)
    figures = sorted(f for f in (staging / "figures").glob("*") if f.suffix in (".png", ".pdf"))
    sources = [staging / "report.md", *figures]
    return [dest / src.relative_to(staging) for src in sources
            if src.exists() and copy_if_changed(src, dest / src.relative_to(staging))]
