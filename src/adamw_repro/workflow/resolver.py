"""Hydra is the only resolver: the sweep of each experiment, the composed config of each run, its digest and
its config files, each asked of Hydra once per workflow invocation.

Hydra composes once per distinct choice of config groups (~40-100 ms a call, so not once per run); each run's
remaining value overrides are parsed by Hydra's override parser and set on the composition as Hydra itself
sets them after composing (OmegaConf.update). A run's digest is `runconfig.config_digest` of its resolved
config: the value its training run records in metrics.json, so the workflow retrains exactly the runs whose
resolved config changed (not for a comment, a sweep, a scale's resources or a new seed).
"""

from __future__ import annotations

import copy
from pathlib import Path

from adamw_repro.runconfig import CONF_DIR, config_digest, run_config
from adamw_repro.workflow.sweeps import RunSpec, SweepError, check_sweep, expand, experiment_file, read_yaml

_MISSING = object()


class Resolver:
    """Hydra's answers for one scale and conf/ folder, each asked once: the sweeps, the composed config of
    every run, its digest and its config files. Build one per workflow invocation (it caches what it read)."""

    def __init__(self, scale: str, conf_dir: Path | None = None):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.scale, self.conf_dir = scale, Path(conf_dir or CONF_DIR).resolve()  # Hydra wants it absolute
        # config groups are conf/'s folders: an override of one is a group choice, anything else a value
        self.groups = frozenset(p.name for p in self.conf_dir.iterdir() if p.is_dir())
        self._parser = OverridesParser.create()
        self._bases: dict[tuple, tuple] = {}  # (experiment, group choices) -> (config, choices, plain config)
        self._sweeps: dict[str, dict] = {}
        self._grids: dict[str, list[RunSpec]] = {}
        self._run_configs: dict[RunSpec, dict] = {}
        self._digests: dict[RunSpec, str] = {}
        self._parsed: dict[str, object] = {}

    # -- composition ----------------------------------------------------------------------------------------
    def _composed(self, experiment: str | None, choices: tuple = ()) -> tuple:
        """Hydra's composition of `experiment` (None: none) at this scale with these group choices, without
        its `hydra` and `sweep` nodes (no run reads them), and the group -> option choices Hydra made."""
        key = (experiment, choices)
        if key in self._bases:
            return self._bases[key]
        if choices and (experiment, ()) in self._bases:  # the options the defaults pick: the same composition
            base = self._bases[experiment, ()]
            if all(base[1].get(g) == c for g, c in choices):
                self._bases[key] = base
                return base
        from hydra import compose, initialize_config_dir
        from hydra.errors import HydraException
        from omegaconf import OmegaConf, open_dict, read_write
        from omegaconf.errors import OmegaConfBaseException

        path = experiment_file(experiment, self.conf_dir) if experiment else \
            self.conf_dir / "scale" / f"{self.scale}.yaml"
        overrides = [f"scale={self.scale}", *(f"{g}={c}" for g, c in choices)]
        read_yaml(path)  # a syntax error named by file and line (Hydra would say "<unicode string>")
        if experiment:
            overrides.insert(0, f"experiment={experiment}")
        try:
            with initialize_config_dir(str(self.conf_dir), version_base="1.3"):
                cfg = compose("config", overrides=overrides, return_hydra_config=True)
        except (HydraException, OmegaConfBaseException) as err:
            where = f"sweep.{self.scale}.grid: {' '.join(overrides[2:])}: " if choices else ""
            raise SweepError(f"{path}: {where}{str(err).splitlines()[0]}") from None
        picked = {g: str(c) for g, c in cfg.hydra.runtime.choices.items() if g in self.groups and c is not None}
        if experiment and experiment not in self._sweeps:
            self._sweeps[experiment] = OmegaConf.to_container(cfg.sweep, resolve=True) if "sweep" in cfg else {}
        with read_write(cfg), open_dict(cfg):  # as compose(return_hydra_config=False) does
            del cfg["hydra"]
            cfg.pop("sweep", None)  # large and never read by a run: not copied for every run
        # the resolved run config, to which a run's plain values can be set directly, unless a value it keeps
        # is an interpolation (which a run's override might change): then each run resolves its own copy
        plain = run_config(cfg)
        raw = OmegaConf.to_container(cfg, resolve=False)
        kept = {k: raw[k] for k in plain} | {"data": {k: raw["data"][k] for k in plain["data"]}}
        if _interpolates(kept):
            plain = None
        self._bases[key] = (cfg, picked, plain)
        return self._bases[key]

    def scale_config(self) -> dict:
        """The `scale` node of the composed config (name, resources, ...): what the workflow asks of a job."""
        from omegaconf import OmegaConf

        return OmegaConf.to_container(self._composed(None)[0].scale, resolve=True)

    def _split(self, run: RunSpec) -> tuple[tuple, list[tuple[str, str]]]:
        """The run's overrides as (sorted group choices, [(key, value text)] of everything else)."""
        a = run.assignment
        return tuple(sorted((k, v) for k, v in a.items() if k in self.groups)), \
            [(k, v) for k, v in a.items() if k not in self.groups]

    def choices(self, run: RunSpec) -> dict[str, str]:
        """group -> option of every config group the run composes (config.yaml's, the scale's, its own)."""
        return dict(self._composed(run.experiment, self._split(run)[0])[1])

    def config_files(self, run: RunSpec) -> list[Path]:
        """The YAML files composed into this run: config.yaml and the chosen option of each group."""
        return [self.conf_dir / "config.yaml"] + \
            [self.conf_dir / g / f"{c}.yaml" for g, c in sorted(self.choices(run).items())]

    def _values(self, run: RunSpec) -> tuple:
        """(composed base, its plain run config or None, [(key, value)] of the run's value overrides, each
        parsed as Hydra parses it and checked to exist in the base and to keep its type)."""
        choices, texts = self._split(run)
        base, _, plain = self._composed(run.experiment, choices)
        values = []
        for key, text in texts:
            value = self._value(run, key, text)
            self._check(base, run, key, text, value)
            values.append((key, value))
        return base, plain, values

    def config(self, run: RunSpec):
        """The run's composed config (an OmegaConf DictConfig): Hydra's composition of its group choices with
        its value overrides set on a copy, as Hydra sets them after composing."""
        from omegaconf import OmegaConf

        base, _, values = self._values(run)
        cfg = copy.deepcopy(base)
        for key, value in values:
            OmegaConf.update(cfg, key, value, merge=True)  # what Hydra does with a key=value override
        return cfg

    def run_config(self, run: RunSpec) -> dict:
        """The run's resolved config minus what does not change its result (runconfig.run_config): what its
        training run writes to config.yaml. Do not modify it."""
        if run not in self._run_configs:
            base, plain, values = self._values(run)
            simple = (int, float, str, bool, type(None))
            if plain is not None and all(isinstance(v, simple) and "${" not in str(v) for _, v in values):
                # no interpolation to re-resolve: set the values on a copy of the resolved base (a plain
                # dict: ~100x faster to copy than the DictConfig; `test_sweeps` checks both give one digest)
                rc = copy.deepcopy(plain)
                for key, value in values:
                    _set_kept(rc, key, value)
            else:
                rc = run_config(self.config(run))
            self._run_configs[run] = rc
        return self._run_configs[run]

    def digest(self, run: RunSpec) -> str:
        """sha1 of `run_config(run)`: the `config_digest` its metrics.json records. Comments, an experiment's
        sweep, a scale's resources and new seeds leave it alone."""
        if run not in self._digests:
            self._digests[run] = config_digest(self.run_config(run))
        return self._digests[run]

    def _where(self, run: RunSpec) -> str:
        return f"{experiment_file(run.experiment, self.conf_dir)}: sweep.{self.scale}.grid"

    def _value(self, run: RunSpec, key: str, text: str):
        """The value as Hydra parses `key=text` on a command line."""
        from hydra.errors import HydraException

        line = f"{key}={text}"
        if line not in self._parsed:
            try:
                (override,) = self._parser.parse_overrides([line])
            except HydraException as err:
                raise SweepError(f"{self._where(run)}: {line}: {str(err).splitlines()[0]}") from None
            if override.is_sweep_override():
                raise SweepError(f"{self._where(run)}: {line} is a sweep of values; give each value as its own "
                                 "list element")
            self._parsed[line] = override.value()
        return self._parsed[line]

    def _check(self, base, run: RunSpec, key: str, text: str, value) -> None:
        """`key` exists in the composed config and `value` keeps the type of its default."""
        from omegaconf import OmegaConf

        default = OmegaConf.select(base, key, default=_MISSING)
        if default is _MISSING:
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            node = OmegaConf.select(base, parent) if parent else None
            known = ", ".join(sorted(node.keys())) if OmegaConf.is_dict(node) else ""
            raise SweepError(f"{self._where(run)}: override {key!r} does not exist in the config"
                             + (f" (keys of {parent}: {known})" if known else ""))
        if not _same_kind(default, value):
            raise SweepError(f"{self._where(run)}: {key}={text} is a {type(value).__name__}, "
                             f"but {key} is a {type(default).__name__} (default {default!r})")

    # -- sweeps -------------------------------------------------------------------------------------------
    def sweep(self, experiment: str) -> dict:
        """The experiment's sweep at this scale (its composed `sweep.<scale>` node), checked."""
        self._composed(experiment)
        return check_sweep(experiment_file(experiment, self.conf_dir), self.scale, self._sweeps[experiment])

    def grid(self, experiment: str) -> list[RunSpec]:
        """The experiment's grid runs at this scale (`sweeps.expand`)."""
        if experiment not in self._grids:
            self._grids[experiment] = expand(experiment, self.sweep(experiment))
        return self._grids[experiment]

    def validate(self, experiment: str) -> int:
        """Resolve every grid run's config (which checks every key and value type); raise SweepError naming
        the file and key. Returns the number of grid runs."""
        runs = self.grid(experiment)
        for run in runs:
            self.run_config(run)
        self._check_values(runs)
        return len(runs)

    def _check_values(self, runs: list[RunSpec]) -> None:
        """Each distinct setting (seeds aside) checked as the run will check it (training.checks): a grid with
        optimizer.lr=-0.1 or a warm-restart period T0=0 fails the dry run, not the job."""
        from omegaconf import OmegaConf

        from adamw_repro.runconfig import ConfigError
        from adamw_repro.training.checks import check_config

        seen = set()
        for run in runs:
            choices, texts = self._split(run)
            setting = (choices, tuple((k, t) for k, t in texts if k != "seed"))
            if setting in seen:
                continue
            seen.add(setting)
            base, _, values = self._values(run)
            saved = []  # set each value in place, check, then put the composed values back (no copy per run)
            try:
                for key, value in values:
                    saved.append((key, OmegaConf.select(base, key)))
                    OmegaConf.update(base, key, value, merge=False)
                check_config(base)
            except ConfigError as err:
                shown = " ".join(f"{k}={t}" for k, t in setting[1]) or "(the defaults)"
                raise SweepError(f"{self._where(run)}: {shown}: {err}") from None
            finally:
                for key, value in reversed(saved):
                    OmegaConf.update(base, key, value, merge=False)


def _interpolates(node) -> bool:
    """Whether a raw (unresolved) container holds an interpolation anywhere."""
    if isinstance(node, dict):
        return any(_interpolates(v) for v in node.values())
    if isinstance(node, list):
        return any(_interpolates(v) for v in node)
    return isinstance(node, str) and "${" in node


def _set_kept(rc: dict, key: str, value) -> None:
    """Set dotted `key` in a plain run config, unless run_config dropped it (it does not change the result)."""
    *parents, leaf = key.split(".")
    for part in parents:
        if not isinstance(rc.get(part), dict):
            return
        rc = rc[part]
    if leaf in rc:  # the key exists in the composed config (checked): absent here only when dropped
        rc[leaf] = value


def _same_kind(default, value) -> bool:
    """Whether an override `value` may replace `default`: numbers for numbers (no float for an int: epochs=2.5
    would fail inside the job), strings for strings, booleans for booleans; anything simple for a null."""
    numeric = (int, float)
    if default is None or value is None:
        return value is None or isinstance(value, numeric + (str, bool, list))
    if not isinstance(default, numeric + (str,)):
        return True  # lists and dicts: Hydra merges them
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, numeric)
    return isinstance(value, str)
