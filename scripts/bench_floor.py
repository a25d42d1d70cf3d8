"""Benchmark: a finished scale's workflow against the machine's floor, its training steps at the bare-step rate.

    time snakemake --cores all                                   # the quick scale, from a fresh clone
    python scripts/bench_floor.py --results results/quick --wall 2400 --cores 2

Counts the training steps of every run of the scale (runs.parquet's `steps`, and the LR range tests' range.json),
times the bare step (scripts/bench_train.py's tight loop: the quick testbed, plain torch AdamW, one thread, median
of --repeats), and prints the floor on --cores cores (steps x bare step / cores) and, given the workflow's wall
seconds (--wall), their ratio: what the workflow spends beyond training (start-up, evaluation, checkpoints, the
aggregation, figures and report, and cores left idle). Run it on the idle machine that timed the workflow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import bare_step_seconds, compose  # noqa: E402  (the same tight loop as the loop benchmark)


def training_steps(results: Path) -> tuple[int, int]:
    """The steps of the scale's runs and of its LR range tests."""
    runs = int(pd.read_parquet(results / "runs.parquet")["steps"].sum())
    ranges = sum(json.loads(p.read_text())["steps"] for p in (results / "lr_range").glob("*/range.json"))
    return runs, ranges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/quick"))
    parser.add_argument("--wall", type=float, help="wall seconds of the workflow that trained --results")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the bare loop per repeat")
    args = parser.parse_args()
    if not (args.results / "runs.parquet").exists():
        sys.exit(f"error: --results {args.results} has no runs.parquet; run the workflow first (snakemake --cores all)")
    import torch

    from adamw_repro.training.data import load_splits

    torch.set_num_threads(1)
    runs, ranges = training_steps(args.results)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        splits = load_splits(compose(f"data.root={Path(tmp) / 'data'}").data, "cpu")
        bare = statistics.median(bare_step_seconds(splits, args.epochs) for _ in range(args.repeats))
    floor = (runs + ranges) * bare / args.cores
    print(f"{args.results}: {runs:,} training steps in runs + {ranges:,} in LR range tests; bare step "
          f"{bare * 1e3:.3f} ms (1 thread, median of {args.repeats}; load average {load[0]:.2f} before)")
    print(f"floor on {args.cores} cores: {floor:.0f} s ({floor / 60:.1f} min)")
    if args.wall:
        print(f"workflow: {args.wall:.0f} s ({args.wall / 60:.1f} min) = {args.wall / floor:.2f}x the floor")


if __name__ == "__main__":
    main()
