"""The workflow's command line on sweeps: the tune stage's reseed (the `tune` rule runs it) and the Hydra
multirun listing of a grid.

    python -m adamw_repro.workflow.cli multirun fig1_schedules [--scale quick]
    python -m adamw_repro.workflow.cli reseed --experiment E --scale S --runs-dir DIR --out TUNED.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adamw_repro import runio
from adamw_repro.workflow.resolver import Resolver
from adamw_repro.workflow.sweeps import SweepError, multirun_commands, reseed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adamw_repro.workflow.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("reseed", help="write the reseed stage's runs of an experiment from its finished grid runs")
    t.add_argument("--experiment", required=True)
    t.add_argument("--scale", required=True)
    t.add_argument("--runs-dir", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("multirun", help="print the Hydra multirun commands of an experiment's grid")
    m.add_argument("experiment")
    m.add_argument("--scale", default="quick")
    args = parser.parse_args(argv)
    resolver = Resolver(args.scale)
    try:
        spec, grid = resolver.sweep(args.experiment), resolver.grid(args.experiment)
    except SweepError as err:
        raise SystemExit(f"error: {err}") from None
    if args.command == "multirun":
        print("\n".join(multirun_commands(args.experiment, args.scale, spec)))
        return
    metrics = {r.run_id: json.loads((args.runs_dir / r.run_id / "metrics.json").read_text()) for r in grid}
    reseeded = reseed(args.experiment, spec, grid, metrics)
    runio.write_json(args.out, {r.run_id: list(r.overrides) for r in reseeded})
    print(f"{args.experiment}: {len(reseeded)} runs with fresh seeds")


if __name__ == "__main__":
    main()
