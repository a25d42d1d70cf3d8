"""Packs of runs for the workflow: which runs are left to train, and how they are cut into pack jobs.

A pack is an execution detail: one job, one process (`python -m adamw_repro.training.pack`), many runs, each
with its own run directory and outputs. Snakemake deletes a job's outputs before running it, so a pack must
never list a finished run: packs are formed, when the DAG is built, from the runs that are not finished
(metrics.json or its stamp conf-<digest>.done absent, the digest being of the run's current config files:
a changed value gives a new stamp name, which the downstream rules ask for), in a stable
order, within groups of runs that can share one stacked model, `scale.pack_size` at a time. A pack's id is a
hash of its members and their digests, so a changed config, an added seed or a killed pack gives new ids
and the finished runs are never touched again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

# Overrides that runs of one stacked model may differ in (per-member tensors in training/vectorized.py);
# any other override (model, data, batch size, budget, optimizer) starts another group.
STACKABLE = ("seed", "optimizer.lr", "optimizer.weight_decay", "optimizer.lambda_norm", "schedule")


def done_file(run_dir: Path | str, digest: str) -> str:
    """The stamp a pack writes after the run's metrics.json: named by the run's config-file digest."""
    return f"{run_dir}/conf-{digest}.done"


def is_finished(run_dir: Path | str, digest: str) -> bool:
    """metrics.json is there and was written for the config-file digest the workflow now computes (a run
    trained outside a pack has no stamp: it is trained again, to the same numbers, once). The workflow also
    asks that its files be trusted (guard.run_problem: runio.finished_run with this digest)."""
    return Path(run_dir, "metrics.json").exists() and Path(done_file(run_dir, digest)).exists()


def stack_key(experiment: str, overrides: Iterable[str]) -> tuple:
    """Runs with the same key may share a stacked model: same experiment, same non-stackable overrides."""
    fixed = []
    for o in sorted(overrides):
        key = o.split("=", 1)[0]
        if not any(key == s or key.startswith(s + ".") for s in STACKABLE):
            fixed.append(o)
    return (experiment, tuple(fixed))


def pack_id(members: list[tuple[str, str]]) -> str:
    """Hash of the (run id, digest) pairs of a pack."""
    return hashlib.sha1(json.dumps(sorted(members)).encode()).hexdigest()[:10]


def form_packs(runs: list, size: int, digest_of: Callable, key_of: Callable, mix: bool = False) -> dict[str, list]:
    """{pack id: runs} for the given unfinished runs, `size` a pack, in run-id order within groups of one `key_of`.
    mix=False: a pack holds one group's runs (a GPU pack is one stacked model); mix=True: the groups follow one
    another and a pack may hold the end of one and the start of the next (a CPU pack stacks each group it holds,
    training/pack.py), so few packs hold many small groups."""
    if size < 1:
        raise ValueError(f"scale.pack_size={size} must be a positive integer (conf/scale/)")
    groups: dict[tuple, list] = {}
    for run in sorted(runs, key=lambda r: r.run_id):
        groups.setdefault(key_of(run), []).append(run)
    ordered = [groups[key] for key in sorted(groups, key=repr)]
    chunks = []
    for members in ([[run for g in ordered for run in g]] if mix else ordered):
        chunks += [members[i:i + size] for i in range(0, len(members), size)]
    return {pack_id([(r.run_id, digest_of(r)) for r in chunk]): chunk for chunk in chunks}


def runs_file(members: list[dict]) -> str:
    """The JSON that `python -m adamw_repro.training.pack --runs-file` reads."""
    return json.dumps({"members": members}, sort_keys=True)
