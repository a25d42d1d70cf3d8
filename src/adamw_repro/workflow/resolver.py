"""Hydra is the only resolver: the sweep of each experiment, the composed config of each run, its digest and
its config files, each asked once per workflow invocation.

Composition is adamw_repro.compose's, the one a pack's training process uses too: Hydra composes once per
distinct choice of config groups, and each run's value overrides are set on it as Hydra sets them. A run's
digest is `runconfig.config_digest` of its resolved config: the value its training run records in
metrics.json, so the workflow retrains exactly the runs whose resolved config changed (not for a comment, a
sweep, a scale's resources or a new seed). Every run's keys and values are checked here (adamw_repro.checks,
the checks every training entry point makes), so a bad grid fails the dry run, not a job.
"""

from __future__ import annotations

from pathlib import Path

from adamw_repro.checks import check_config
from adamw_repro.compose import Composer
from adamw_repro.runconfig import CONF_DIR, ConfigError, config_digest, run_config
from adamw_repro.workflow.sweeps import RunSpec, SweepError, check_sweep, expand, experiment_file, read_yaml


class Resolver:
    """Hydra's answers for one scale and conf/ folder, each asked once: the sweeps, the composed config of
    every run, its digest and its config files. Build one per workflow invocation (it caches what it read)."""

    def __init__(self, scale: str, conf_dir: Path | None = None):
        self.scale, self.conf_dir = scale, Path(conf_dir or CONF_DIR).resolve()
        self.composer = Composer(self.conf_dir)
        self._read: set[Path] = set()
        self._sweeps: dict[str, dict] = {}
        self._grids: dict[str, list[RunSpec]] = {}
        self._run_configs: dict[RunSpec, dict] = {}
        self._digests: dict[RunSpec, str] = {}

    # -- composition ----------------------------------------------------------------------------------------
    def _composition(self, experiment: str | None, overrides: tuple[str, ...] = ()):
        """The composition of `experiment` (None: none) at this scale with these group choices; SweepError
        naming the file (and the grid's choices) when Hydra cannot compose it."""
        path = experiment_file(experiment, self.conf_dir) if experiment else \
            self.conf_dir / "scale" / f"{self.scale}.yaml"
        if path not in self._read:
            read_yaml(path)  # a syntax error named by file and line (Hydra would say "<unicode string>")
            self._read.add(path)
        try:
            choices = self.composer.split(overrides)[0]
        except ConfigError as err:  # an override Hydra cannot parse
            raise SweepError(f"{path}: sweep.{self.scale}.grid: {err}") from None
        lines = ([f"experiment={experiment}"] if experiment else []) + [f"scale={self.scale}", *choices]
        try:
            return self.composer.composition(lines)
        except ConfigError as err:
            where = f"sweep.{self.scale}.grid: {' '.join(choices)}: " if choices else ""
            raise SweepError(f"{path}: {where}{err}") from None

    def _where(self, run: RunSpec) -> str:
        return f"{experiment_file(run.experiment, self.conf_dir)}: sweep.{self.scale}.grid"

    def _resolved(self, run: RunSpec) -> dict:
        """The run's config resolved to plain Python (adamw_repro.compose), its values checked to exist and
        keep their kind; SweepError naming the file and the override."""
        self._composition(run.experiment, run.overrides)
        try:
            return self.composer.resolved(run.hydra_overrides(self.scale))
        except ConfigError as err:
            raise SweepError(f"{self._where(run)}: {err}") from None

    def scale_config(self) -> dict:
        """The `scale` node of the composed config (name, resources, ...): what the workflow asks of a job."""
        return self._composition(None).node("scale")

    def choices(self, run: RunSpec) -> dict[str, str]:
        """group -> option of every config group the run composes (config.yaml's, the scale's, its own)."""
        return dict(self._composition(run.experiment, run.overrides).choices)

    def config_files(self, run: RunSpec) -> list[Path]:
        """The YAML files composed into this run: config.yaml and the chosen option of each group."""
        return [self.conf_dir / "config.yaml"] + \
            [self.conf_dir / g / f"{c}.yaml" for g, c in sorted(self.choices(run).items())]

    def config(self, run: RunSpec):
        """The run's composed config (an OmegaConf DictConfig): what Hydra's compose() gives for its overrides."""
        self._composition(run.experiment, run.overrides)
        try:
            return self.composer.compose(run.hydra_overrides(self.scale))
        except ConfigError as err:
            raise SweepError(f"{self._where(run)}: {err}") from None

    def run_config(self, run: RunSpec) -> dict:
        """The run's resolved config minus what does not change its result (runconfig.run_config): what its
        training run writes to config.yaml. Do not modify it."""
        if run not in self._run_configs:
            self._run_configs[run] = run_config(self._resolved(run))
        return self._run_configs[run]

    def digest(self, run: RunSpec) -> str:
        """sha1 of `run_config(run)`: the `config_digest` its metrics.json records. Comments, an experiment's
        sweep, a scale's resources and new seeds leave it alone."""
        if run not in self._digests:
            self._digests[run] = config_digest(self.run_config(run))
        return self._digests[run]

    # -- sweeps -------------------------------------------------------------------------------------------
    def sweep(self, experiment: str) -> dict:
        """The experiment's sweep at this scale (its composed `sweep.<scale>` node), checked."""
        if experiment not in self._sweeps:
            self._sweeps[experiment] = self._composition(experiment).node("sweep")
        return check_sweep(experiment_file(experiment, self.conf_dir), self.scale, self._sweeps[experiment])

    def grid(self, experiment: str) -> list[RunSpec]:
        """The experiment's grid runs at this scale (`sweeps.expand`)."""
        if experiment not in self._grids:
            self._grids[experiment] = expand(experiment, self.sweep(experiment))
        return self._grids[experiment]

    def validate(self, experiment: str) -> int:
        """Resolve every grid run's config and check each distinct setting (seeds aside) as its run will
        (adamw_repro.checks: its keys, and values such as optimizer.lr=-0.1 or a restart period T0=0); raise
        SweepError naming the file and key. Returns the number of grid runs."""
        runs, seen = self.grid(experiment), set()
        for run in runs:
            setting = tuple(o for o in run.overrides if not o.startswith("seed="))
            if setting in seen:
                self.run_config(run)
                continue
            seen.add(setting)
            resolved = self._resolved(run)
            self._run_configs.setdefault(run, run_config(resolved))
            try:
                check_config(resolved, self.choices(run), self.conf_dir)
            except ConfigError as err:
                values = [o for o in setting if not self.composer.is_choice(self.composer.parse(o))]
                shown = " ".join(values) or "(the defaults)"
                raise SweepError(f"{self._where(run)}: {shown}: {err}") from None
        return len(runs)
