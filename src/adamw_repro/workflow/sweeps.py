"""Sweeps: what runs an experiment asks for, what each run is called, and which best cells get fresh seeds.

Each experiment (conf/experiment/<name>.yaml) declares its sweep per scale:

    sweep:
      quick:
        seeds: [0]                          # the grid's seeds
        grid:                               # a product of Hydra overrides, or a list of products
          - optimizer: [adam, adamw]
            optimizer.lr: [0.001, 0.003]
        tune:                               # optional second stage, the reseed stage:
          over: [optimizer.lr]              # pick the best value(s) on validation error ...
          seeds: [1, 2, 3, 4]               # ... and rerun that cell with fresh seeds
          separate_zero: optimizer.weight_decay  # cells where this is 0 are tuned on their own

Every grid block is also one Hydra multirun (`multirun_commands`). A run is named by its experiment and a short
hash of its overrides, so adding a seed or a grid point adds runs and renames none. This module is plain
Python on the sweep's data; `workflow.resolver` asks Hydra for it and for each run's config and digest, and
`python -m adamw_repro.workflow.cli` is the command line (the tune stage's reseed, the multirun listing).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import yaml

from adamw_repro import runio
from adamw_repro.runconfig import CONF_DIR, experiment_names
from adamw_repro.workflow.guard import is_name


class SweepError(ValueError):
    """A sweep that cannot run, reported before any job starts, naming the file and key."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep, before it runs: its experiment and its sorted "key=value" Hydra overrides
    (group choices, values and the seed; the experiment and the scale are not among them)."""

    experiment: str
    overrides: tuple[str, ...]

    @property
    def run_id(self) -> str:
        return run_id(self.experiment, self.overrides)

    @property
    def assignment(self) -> dict[str, str]:
        """The overrides as a dict: key -> value as written on the command line."""
        return dict(o.split("=", 1) for o in self.overrides)

    def hydra_overrides(self, scale: str) -> list[str]:
        return [f"experiment={self.experiment}", f"scale={scale}", *self.overrides]


def format_value(value) -> str:
    """Hydra override syntax for a YAML value, stable so that the run hash is stable."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def run_id(experiment: str, overrides) -> str:
    """`<experiment>-<first 8 hex of sha1 of the sorted overrides>`: the run's directory name."""
    digest = hashlib.sha1("\n".join(sorted(overrides)).encode()).hexdigest()[:8]
    return f"{experiment}-{digest}"


def make_run(experiment: str, assignment: dict) -> RunSpec:
    """The run that sets these keys to these values (YAML values, or strings as written on a command line)."""
    return RunSpec(experiment, tuple(sorted(f"{k}={format_value(v)}" for k, v in assignment.items())))


class _UniqueKeys:
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one silently, so a
    threshold or a grid written twice would judge or train with whichever came last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping; "
                                                        "keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    pass


class _UniqueKeyCLoader(_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def read_yaml(path: Path) -> dict:
    """A YAML file of conf/ as a dict; a syntax error names the file, the line and the problem."""
    try:
        doc = runio.load_yaml(Path(path).read_text(), (_UniqueKeyCLoader, _UniqueKeyLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SweepError(f"{path}:{where}: not valid YAML ({problem}); fix the file") from None
    except OSError as err:
        raise SweepError(f"{path}: cannot be read ({err.strerror})") from None
    if doc is not None and not isinstance(doc, dict):
        raise SweepError(f"{path}: expected a mapping of keys, got a {type(doc).__name__}")
    return doc or {}


def experiment_file(experiment: str, conf_dir: Path = CONF_DIR) -> Path:
    path = conf_dir / "experiment" / f"{experiment}.yaml"
    if not is_name(experiment) or not path.exists():  # a name, never a path: ../x would read outside conf/
        names = ", ".join(experiment_names(conf_dir))
        raise SweepError(f"experiment {experiment!r} does not exist; allowed: {names} "
                         f"(files in {conf_dir / 'experiment'}; select with --config experiments=...)")
    return path


def check_sweep(path: Path, scale: str, sweep: dict) -> dict:
    """The `sweep.<scale>` entry of an experiment's `sweep` node, checked; its `grid` always a list of blocks.
    `path` names the experiment file in errors."""
    if scale not in sweep:
        raise SweepError(f"{path}: sweep.{scale} is missing; scales with a sweep: {', '.join(sweep) or 'none'}")
    spec = dict(sweep[scale])
    grid = spec.get("grid")
    spec["grid"] = [grid or {}] if isinstance(grid, dict | None) else grid
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int and s >= 0 for s in seeds):
        raise SweepError(f"{path}: sweep.{scale}.seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    for i, block in enumerate(spec["grid"]):
        for key, values in block.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"{path}: sweep.{scale}.grid[{i}].{key} must be a non-empty list")
    for key in (spec.get("tune") or {}).get("over", []):
        if not any(key in block for block in spec["grid"]):
            raise SweepError(f"{path}: sweep.{scale}.tune.over names {key!r}, which no grid block sweeps")
    return spec


def expand(experiment: str, spec: dict) -> list[RunSpec]:
    """The grid runs of a checked sweep: every block's product times the seeds, without duplicates, in a
    stable order."""
    runs, seen = [], set()
    for block in spec["grid"]:
        keys = list(block)
        for values in itertools.product(*(block[k] for k in keys)):
            for seed in spec["seeds"]:
                run = make_run(experiment, dict(zip(keys, values, strict=True)) | {"seed": seed})
                if run.overrides not in seen:
                    seen.add(run.overrides)
                    runs.append(run)
    return runs


def multirun_commands(experiment: str, scale: str, spec: dict) -> list[str]:
    """The same grid as Hydra multirun commands, one per block."""
    cmds = []
    for block in spec["grid"]:
        args = [f"{k}={','.join(format_value(v) for v in vals)}" for k, vals in block.items()]
        seeds = ",".join(str(s) for s in spec["seeds"])
        cmds.append(" ".join(["python -m adamw_repro.training.train -m", f"experiment={experiment}",
                              f"scale={scale}", *args, f"seed={seeds}"]))
    return cmds


def tune_group(run: RunSpec, tune: dict) -> tuple:
    """The group of a grid run in the tune stage: its settings other than the tuned keys and the seed (and,
    with `separate_zero`, whether that key is 0). The stage reruns the best cell of each group."""
    a = run.assignment
    group = tuple((k, v) for k, v in sorted(a.items()) if k not in tune["over"] and k != "seed")
    zero_key = tune.get("separate_zero")
    if zero_key is not None and zero_key in a:
        group += (("separate_zero", float(a[zero_key]) == 0.0),)
    return group


def tuned_count(spec: dict, grid: list[RunSpec]) -> int:
    """How many runs the tune stage will add: one per group and tune seed (known before the grid is trained)."""
    tune = spec.get("tune")
    return len({tune_group(run, tune) for run in grid}) * len(tune["seeds"]) if tune else 0


def reseed(experiment: str, spec: dict, grid: list[RunSpec], grid_metrics: dict[str, dict]) -> list[RunSpec]:
    """The reseed stage: the best cell of each group (lowest mean validation error over the grid seeds; a
    diverged run counts as error 1) rerun with the `tune.seeds`. `grid_metrics`: run_id -> metrics.json."""
    tune = spec.get("tune")
    if not tune:
        return []
    cells: dict[tuple, dict[tuple, list[float]]] = {}
    for run in grid:
        m = grid_metrics[run.run_id]
        val = m["final"]["val_error"] if m["status"] == "ok" else 1.0
        setting = tuple((k, run.assignment[k]) for k in tune["over"] if k in run.assignment)
        cells.setdefault(tune_group(run, tune), {}).setdefault(setting, []).append(val)
    runs = []
    for group, settings in sorted(cells.items()):
        best = min(settings, key=lambda s: (sum(settings[s]) / len(settings[s]), s))
        base = {k: v for k, v in group if k != "separate_zero"} | dict(best)
        runs += [make_run(experiment, base | {"seed": seed}) for seed in tune["seeds"]]
    return runs
