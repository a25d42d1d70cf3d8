"""What the person running the workflow reads: one line per finished run, a progress line for the whole workflow,
and a run that continues past a SLURM time limit reported as continuing, the same on a laptop and on SLURM.

Snakemake's own job listing is off in the profiles (`quiet: [rules, progress]`); instead the main Snakemake process
watches the training logs (results/<scale>/logs/train/, on the shared filesystem, written by local and SLURM jobs
alike) from a thread started in `onstart`, and prints the result lines the pack processes write there, plus

    progress: 12 of 49 runs done, about 4 min left
    fig3_curves-1a2b3c4d: continuing from its checkpoint (epoch 7), job 2 of ~5

Time left is measured, not guessed: the estimated seconds (conf/throughput.yaml) of the runs still to do, scaled by
how fast this workflow has got through the estimated seconds of the runs it finished.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

RESULT = re.compile(r"\((?P<run>[\w.-]+)\): (ok|diverged), test error ")
STOPPED = re.compile(r"stopped on \S+ at epoch (?P<epoch>\d+) step \d+; checkpoint \S*/(?P<run>[\w.-]+)/checkpoint\.pt")
# The next job's first line for that run: a continuation is seen even when the stopped job's log was replaced by the
# retry's before it was read (the poll comes every 2 s; Snakemake deletes a retried job's log first).
RESUMED = re.compile(r"resumed at epoch (?P<epoch>\d+) step \d+ from \S*/(?P<run>[\w.-]+)/checkpoint\.pt")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


@dataclass
class Console:
    """Follows the training logs under `logs` and turns them into the lines a person reads. `runs` maps each
    run id of the workflow to its estimated seconds (None: no rate), `jobs` to the SLURM jobs it may take."""

    logs: Path
    runs: Mapping[str, float | None]
    jobs: Mapping[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    finished: set[str] = field(default_factory=set)
    continued: dict[str, set[str]] = field(default_factory=dict)  # run -> epochs it continued from, each once
    _offsets: dict[Path, tuple[int, int, bytes]] = field(default_factory=dict)  # log: inode, bytes read, head

    def __post_init__(self):
        self.logs = Path(self.logs)
        self.started = self.clock()
        self.done_before = set(self.finished)  # finished before this workflow started: no rate from them
        # what the logs held before this workflow started was printed by an earlier one (a job that reruns
        # starts its log afresh, which _new_lines notices)
        for path in self.logs.glob("*.log") if self.logs.is_dir() else []:
            self._offsets[path] = (path.stat().st_ino, path.stat().st_size, _head(path))

    def poll(self) -> list[str]:
        """The lines to print for what the logs gained since the last poll."""
        out = []
        for line in self._new_lines():
            if m := RESULT.search(line):
                if m["run"] not in self.runs:  # a tune stage's run, named once the grid is done
                    known = [v for v in self.runs.values() if v is not None]
                    self.runs = {**self.runs, m["run"]: sum(known) / len(known) if known else None}
                if m["run"] not in self.finished:
                    self.finished.add(m["run"])
                    out.append(line)
            elif (m := STOPPED.search(line) or RESUMED.search(line)) and m["run"] in self.runs:
                epochs = self.continued.setdefault(m["run"], set())
                if m["epoch"] in epochs:
                    continue
                epochs.add(m["epoch"])
                k = len(epochs)
                total = self.jobs.get(m["run"])
                of = f" of ~{max(total, k + 1)}" if total else ""
                out.append(f"{m['run']}: continuing from its checkpoint (epoch {m['epoch']}), job {k + 1}{of}")
        if out:
            out.append(self.progress())
        return out

    def progress(self) -> str:
        done = len(self.finished & set(self.runs))
        line = f"progress: {done} of {len(self.runs)} runs done"
        left = self.seconds_left()
        return line + (f", about {duration(left)} left" if left is not None and done < len(self.runs) else "")

    def seconds_left(self) -> float | None:
        """Estimated seconds of the runs to do, at the pace measured on the runs finished since the start."""
        new = [self.runs[r] for r in self.finished - self.done_before if r in self.runs]
        if not new or None in new or sum(new) <= 0:
            return None
        todo = [s for r, s in self.runs.items() if r not in self.finished]
        if None in todo:
            return None
        return sum(todo) * (self.clock() - self.started) / sum(new)

    def _new_lines(self) -> list[str]:
        lines = []
        for path in sorted(self.logs.glob("*.log")) if self.logs.is_dir() else []:
            try:
                stat = path.stat()
                inode, start, head = self._offsets.get(path, (stat.st_ino, 0, b""))
                # a retried job's log starts afresh: Snakemake deletes it before the job: a new file, shorter, or
                # beginning differently
                if inode != stat.st_ino or stat.st_size < start or _head(path)[:len(head)] != head:
                    start = 0
                size = stat.st_size
                with path.open("rb") as fh:
                    fh.seek(start)
                    data = fh.read(size - start)
            except OSError:
                continue
            complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
            self._offsets[path] = (stat.st_ino, start + len(complete), _head(path))
            lines += complete.decode(errors="replace").splitlines()
        return lines

    def follow(self, interval: float = 2.0, stream=None) -> Callable[[], None]:
        """Poll every `interval` seconds in a daemon thread; the returned function polls once more and stops it."""
        stream = stream or sys.stdout
        stop = threading.Event()

        def loop():
            while True:
                stopping = stop.wait(interval)
                for line in self.poll():
                    print(line, file=stream, flush=True)
                if stopping:
                    return

        thread = threading.Thread(target=loop, name="adamw-console", daemon=True)
        thread.start()

        def finish():
            stop.set()
            thread.join(timeout=30)

        return finish


def failures(jobs) -> list[str]:
    """One line per job that failed for good (Snakemake's own error blocks are off with `quiet: rules`): its
    rule, its log and the log's last line, which is where a training or report error says what went wrong."""
    lines = []
    for job in sorted(jobs, key=lambda j: str(j.rule.name)):
        logs = [str(f) for f in job.log]
        last = next((line.strip() for log in logs if Path(log).is_file()
                     for line in reversed(Path(log).read_text(errors="replace").splitlines()) if line.strip()), "")
        where = f"; log {', '.join(logs)}" if logs else ""
        lines.append(f"error: rule {job.rule.name} failed{where}" + (f": {last}" if last else ""))
    return lines


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(256)


def for_dag(dag) -> Console:
    """The console of a workflow.Dag whose packs are formed: every known run, and the jobs of its pack."""
    runs = dag.known_runs()
    todo = {run.run_id for run in dag.unfinished(runs)}
    jobs = {run.run_id: dag.job_plan(members).jobs for members in dag.packs.values() for run in members}
    return Console(Path(dag.results) / "logs" / "train", {run.run_id: dag.run_seconds(run) for run in runs}, jobs,
                   finished={run.run_id for run in runs} - todo)
