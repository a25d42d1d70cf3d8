"""Sweeps: what runs an experiment asks for, what each run is called, and which tuned cells get more seeds.

Each experiment (conf/experiment/<name>.yaml) declares its sweep per scale:

    sweep:
      quick:
        seeds: [0]                          # the grid's seeds
        grid:                               # a product of Hydra overrides, or a list of products
          - optimizer: [adam, adamw]
            optimizer.lr: [0.001, 0.003]
        tune:                               # optional second stage
          over: [optimizer.lr]              # pick the best value(s) on validation error ...
          seeds: [1, 2, 3, 4]               # ... and rerun that cell with fresh seeds
          separate_zero: optimizer.weight_decay  # cells where this is 0 are tuned on their own

Every grid block is also one Hydra multirun (`multirun_commands`). A run is named by its experiment and a
short hash of its overrides, so adding a seed or a grid point adds runs and renames none.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from adamw_repro.runconfig import CONF_DIR, NOT_PART_OF_RUN

GROUPS = ("data", "model", "optimizer", "schedule", "scale", "experiment")


class SweepError(ValueError):
    """A sweep that cannot run, reported before any job starts, naming the file and key."""


@dataclass(frozen=True)
class Run:
    experiment: str
    overrides: tuple[str, ...]  # sorted "key=value" Hydra overrides (experiment and scale excluded)
    stage: str = "grid"  # grid | tuned
    choices: dict = field(default_factory=dict, compare=False, hash=False)  # group -> option

    @property
    def run_id(self) -> str:
        return run_id(self.experiment, self.overrides)

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
    digest = hashlib.sha1("\n".join(sorted(overrides)).encode()).hexdigest()[:8]
    return f"{experiment}-{digest}"


def experiment_file(experiment: str, conf_dir: Path = CONF_DIR) -> Path:
    path = conf_dir / "experiment" / f"{experiment}.yaml"
    if not path.exists():
        names = ", ".join(experiments(conf_dir))
        raise SweepError(f"experiment {experiment!r} does not exist; allowed: {names} "
                         f"(files in {conf_dir / 'experiment'}; select with --config experiments=...)")
    return path


def experiments(conf_dir: Path = CONF_DIR) -> list[str]:
    return sorted(p.stem for p in (conf_dir / "experiment").glob("*.yaml"))


def read_yaml(path: Path) -> dict:
    """A YAML file of conf/ as a dict; a syntax error names the file, the line and the problem."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
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


def sweep_spec(experiment: str, scale: str, conf_dir: Path = CONF_DIR) -> dict:
    """The experiment's sweep at this scale, read from its YAML file (no Hydra needed)."""
    path = experiment_file(experiment, conf_dir)
    doc = read_yaml(path)
    sweeps = doc.get("sweep") or {}
    if scale not in sweeps:
        raise SweepError(f"{path}: sweep.{scale} is missing; scales with a sweep: {', '.join(sweeps) or 'none'}")
    spec = sweeps[scale]
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int and s >= 0 for s in seeds):
        raise SweepError(f"{path}: sweep.{scale}.seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    blocks = spec.get("grid") or [{}]
    spec["grid"] = blocks if isinstance(blocks, list) else [blocks]
    for i, block in enumerate(spec["grid"]):
        for key, values in block.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"{path}: sweep.{scale}.grid[{i}].{key} must be a non-empty list")
    return spec


def expand(experiment: str, scale: str, conf_dir: Path = CONF_DIR) -> list[Run]:
    """The grid runs: every block's product times the seeds, without duplicates, in a stable order."""
    spec = sweep_spec(experiment, scale, conf_dir)
    runs, seen = [], set()
    for block in spec["grid"]:
        keys = list(block)
        for values in itertools.product(*(block[k] for k in keys)):
            for seed in spec["seeds"]:
                assignment = dict(zip(keys, values, strict=True)) | {"seed": seed}
                run = make_run(experiment, assignment)
                if run.overrides not in seen:
                    seen.add(run.overrides)
                    runs.append(run)
    return runs


def make_run(experiment: str, assignment: dict, stage: str = "grid") -> Run:
    overrides = tuple(sorted(f"{k}={format_value(v)}" for k, v in assignment.items()))
    choices = {k: str(v) for k, v in assignment.items() if k in GROUPS}
    return Run(experiment, overrides, stage, choices)


def multirun_commands(experiment: str, scale: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The same grid as Hydra multirun commands, one per block."""
    spec = sweep_spec(experiment, scale, conf_dir)
    cmds = []
    for block in spec["grid"]:
        args = [f"{k}={','.join(format_value(v) for v in vals)}" for k, vals in block.items()]
        seeds = ",".join(str(s) for s in spec["seeds"])
        cmds.append(" ".join(["python -m adamw_repro.training.train -m", f"experiment={experiment}", f"scale={scale}",
                              *args, f"seed={seeds}"]))
    return cmds


def assignment(run: Run) -> dict:
    return dict(o.split("=", 1) for o in run.overrides)


def tuned_runs(experiment: str, scale: str, grid_metrics: dict[str, dict],
               conf_dir: Path = CONF_DIR) -> list[Run]:
    """Second stage: the best cell of each group (lowest mean validation error over the grid seeds) rerun
    with the tune seeds. `grid_metrics` maps run_id -> metrics.json of the grid runs."""
    spec = sweep_spec(experiment, scale, conf_dir)
    tune = spec.get("tune")
    if not tune:
        return []
    over, zero_key = list(tune["over"]), tune.get("separate_zero")
    cells: dict[tuple, dict[tuple, list[float]]] = {}
    for run in expand(experiment, scale, conf_dir):
        a = assignment(run)
        m = grid_metrics[run.run_id]
        val = m["final"]["val_error"] if m["status"] == "ok" else 1.0
        group = tuple((k, v) for k, v in sorted(a.items()) if k not in over and k != "seed")
        if zero_key is not None and zero_key in a:
            group += (("decay_is_zero", float(a[zero_key]) == 0.0),)
        setting = tuple((k, a[k]) for k in over if k in a)
        cells.setdefault(group, {}).setdefault(setting, []).append(val)
    runs = []
    for group, settings in sorted(cells.items()):
        best = min(settings, key=lambda s: (sum(settings[s]) / len(settings[s]), s))
        base = {k: v for k, v in group if k != "decay_is_zero"} | dict(best)
        for seed in tune["seeds"]:
            runs.append(make_run(experiment, base | {"seed": seed}, stage="tuned"))
    return runs


# -- validation: compose each distinct group choice once, then check every key and value type ----------------
def validate(experiment: str, scale: str, conf_dir: Path = CONF_DIR) -> int:
    """Check the sweep against the composed Hydra config; raise SweepError naming the file and key.

    Composes once per distinct combination of group choices (~40 ms each), not once per run.
    Returns the number of grid runs.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    path = experiment_file(experiment, conf_dir)
    spec = sweep_spec(experiment, scale, conf_dir)
    runs = expand(experiment, scale, conf_dir)
    combos: dict[tuple, list[Run]] = {}
    for run in runs:
        combos.setdefault(tuple(sorted(run.choices.items())), []).append(run)
    with initialize_config_dir(str(conf_dir), version_base="1.3"):
        for combo, members in combos.items():
            base = [f"experiment={experiment}", f"scale={scale}", *(f"{k}={v}" for k, v in combo)]
            try:
                cfg = compose("config", overrides=base)
            except HydraException as err:
                raise SweepError(f"{path}: sweep.{scale}.grid: {' '.join(base[2:])}: "
                                 f"{str(err).splitlines()[0]}") from None
            for key in assignment(members[0]):
                if key in GROUPS or key == "seed":
                    continue
                _check_key(cfg, key, path, scale, OmegaConf)
            for run in members:
                for key, value in assignment(run).items():
                    if key not in GROUPS and key != "seed":
                        _check_type(cfg, key, value, path, scale, OmegaConf)
            _check_values(cfg, members, path, scale)
    for key in (spec.get("tune") or {}).get("over", []):
        if not any(key in b for b in spec["grid"]):
            raise SweepError(f"{path}: sweep.{scale}.tune.over names {key!r}, which no grid block sweeps")
    return len(runs)


def _check_values(cfg, members: list[Run], path: Path, scale: str) -> None:
    """Each distinct setting (seeds aside) checked as the run will check it: optimizer.lr=-0.1 or a
    warm-restart period T0=0 fail the dry run, not the job."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from adamw_repro.runconfig import ConfigError
    from adamw_repro.training.checks import check_config

    parser, seen, parsed = OverridesParser.create(), set(), {}
    for run in members:
        values = tuple(o for o in run.overrides if o.split("=", 1)[0] not in (*GROUPS, "seed"))
        if values in seen:
            continue
        seen.add(values)
        saved = []  # set each value in place, check, then put the composed values back (no copy per run)
        for override in values:
            if override not in parsed:
                o = parser.parse_override(override)
                parsed[override] = (o.key_or_group, o.value())
            key, value = parsed[override]
            saved.append((key, OmegaConf.select(cfg, key)))
            OmegaConf.update(cfg, key, value, merge=False)
        try:
            check_config(cfg)
        except ConfigError as err:
            shown = " ".join(values) or "(the defaults)"
            raise SweepError(f"{path}: sweep.{scale}.grid: {shown}: {err}") from None
        finally:
            for key, value in reversed(saved):
                OmegaConf.update(cfg, key, value, merge=False)


def _check_key(cfg, key, path, scale, OmegaConf) -> None:
    if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        known = ", ".join(sorted(OmegaConf.select(cfg, parent).keys())) if parent else ""
        raise SweepError(f"{path}: sweep.{scale}.grid: override {key!r} does not exist in the config"
                         + (f" (keys of {parent}: {known})" if known else ""))


def _check_type(cfg, key, value: str, path, scale, OmegaConf) -> None:
    default = OmegaConf.select(cfg, key)
    parsed = yaml.safe_load(value)
    numeric = (int, float)
    if default is None or parsed is None:
        if parsed is not None and not isinstance(parsed, numeric + (str, bool, list)):
            raise SweepError(f"{path}: sweep.{scale}.grid: {key}={value} has an unsupported type")
        return
    ok = (isinstance(default, bool) and isinstance(parsed, bool)) or \
         (isinstance(default, numeric) and not isinstance(default, bool) and isinstance(parsed, numeric)
          and not isinstance(parsed, bool)) or \
         (isinstance(default, str) and isinstance(parsed, str)) or \
         (not isinstance(default, (bool, str, *numeric)))
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(parsed, float):
        ok = False  # epochs=2.5 would fail inside the job
    if not ok:
        raise SweepError(f"{path}: sweep.{scale}.grid: {key}={value} is a {type(parsed).__name__}, "
                         f"but {key} is a {type(default).__name__} (default {default!r})")


# -- which config files a run reads (inputs of its rule) and their content digest ----------------------------
def config_files(run: Run, scale: str, defaults: dict[str, str], conf_dir: Path = CONF_DIR) -> list[Path]:
    """The YAML files composed into this run: config.yaml, its group choices, scale, experiment."""
    choices = dict(defaults) | dict(run.choices) | {"scale": scale, "experiment": run.experiment}
    return [conf_dir / "config.yaml"] + [conf_dir / g / f"{choices[g]}.yaml" for g in GROUPS if g in choices]


_YAML: dict[Path, dict] = {}


def _load(path: Path) -> dict:
    if path not in _YAML:
        _YAML[path] = read_yaml(path)
    return _YAML[path]


def _without(doc: dict, dotted: str) -> dict:
    """`doc` without the (possibly nested) key `dotted`."""
    head, _, rest = dotted.partition(".")
    if head not in doc:
        return doc
    if not rest:
        return {k: v for k, v in doc.items() if k != head}
    if not isinstance(doc[head], dict):
        return doc
    return {**doc, head: _without(doc[head], rest)}


def run_digest(run: Run, files: list[Path], conf_dir: Path = CONF_DIR) -> str:
    """Digest of what the run's config files say about this run: their data (comments and layout ignored),
    minus the keys the run's own overrides replace (so a new default lr retrains only the runs that use the
    default) and minus the keys that do not change a result (train.NOT_PART_OF_RUN: an experiment's sweep,
    a scale's SLURM resources, threads). Adding seeds or grid points thus retrains nothing."""

    overridden = [k for k in assignment(run) if k not in GROUPS]
    parts = []
    for path in files:
        group = path.parent.name if path.parent != conf_dir and path.parent.name not in ("scale", "experiment") \
            else ""
        doc = _load(path)
        if not group:
            doc = {k: v for k, v in doc.items() if k not in NOT_PART_OF_RUN}
        for key in overridden:
            if not group:
                doc = _without(doc, key)
            elif key.startswith(group + "."):
                doc = _without(doc, key[len(group) + 1:])
        parts.append([str(path.relative_to(conf_dir)), doc])
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def default_choices(conf_dir: Path = CONF_DIR) -> dict[str, str]:
    """Group defaults of conf/config.yaml and of the scale files' `override /group` lines."""
    doc = _load(conf_dir / "config.yaml")
    out = {}
    for item in doc.get("defaults", []):
        if isinstance(item, dict):
            for k, v in item.items():
                k = k.replace("optional ", "")
                if v is not None and k in GROUPS:
                    out[k] = v
    return out


def scale_choices(scale: str, conf_dir: Path = CONF_DIR) -> dict[str, str]:
    doc = _load(conf_dir / "scale" / f"{scale}.yaml")
    out = {}
    for item in doc.get("defaults", []):
        if isinstance(item, dict):
            for k, v in item.items():
                if k.startswith("override /"):
                    out[k.removeprefix("override /")] = v
    return out


def experiment_choices(experiment: str, conf_dir: Path = CONF_DIR) -> dict[str, str]:
    doc = _load(experiment_file(experiment, conf_dir))
    out = {}
    for item in doc.get("defaults", []) or []:
        if isinstance(item, dict):
            for k, v in item.items():
                if k.startswith("override /"):
                    out[k.removeprefix("override /")] = v
    return out


# -- command line: the tune stage and the dry-run listing ------------------------------------------------
def main(argv=None) -> None:
    import argparse
    import json

    from adamw_repro import runio

    parser = argparse.ArgumentParser(prog="python -m adamw_repro.workflow.sweeps")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tune", help="write the tuned runs of an experiment from its finished grid runs")
    t.add_argument("--experiment", required=True)
    t.add_argument("--scale", required=True)
    t.add_argument("--runs-dir", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("multirun", help="print the Hydra multirun commands of an experiment's grid")
    m.add_argument("experiment")
    m.add_argument("--scale", default="quick")
    args = parser.parse_args(argv)
    if args.command == "multirun":
        print("\n".join(multirun_commands(args.experiment, args.scale)))
        return
    grid = expand(args.experiment, args.scale)
    metrics = {r.run_id: json.loads((args.runs_dir / r.run_id / "metrics.json").read_text()) for r in grid}
    tuned = tuned_runs(args.experiment, args.scale, metrics)
    runio.write_json(args.out, {r.run_id: list(r.overrides) for r in tuned})
    print(f"{args.experiment}: {len(tuned)} tuned runs")


if __name__ == "__main__":
    main()
