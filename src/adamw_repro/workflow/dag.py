"""What the Snakefile wires, as plain Python: the selected scale and experiments, the run table, each run's
outputs, the packs of unfinished runs, what a job asks of SLURM, and the plan a dry run ends with.

rules/*.smk hold inputs, outputs, resources and shell commands only; every decision they need is a method of
one `Dag`, built once per Snakemake process from (the workflow's folder, its --config, the environment), and
tested without Snakemake (tests/workflow/test_dag.py). Paths are relative to the working directory, as
Snakemake's are. Bad input (an unknown scale or experiment, a bad grid, a bad site setting) is a ValueError
naming the option, the value and what is allowed: `fail` turns it into one line before any job starts.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from adamw_repro import runio
from adamw_repro.runconfig import ConfigError
from adamw_repro.workflow import guard, packs, sweeps, throughput
from adamw_repro.workflow.resolver import Resolver
from adamw_repro.workflow.sweeps import RunSpec

DEFAULT_SCALE = "quick"


def fail(err: BaseException | str) -> None:
    """Bad input: one line on stderr and exit code 2, before any job starts (a WorkflowError would add
    Snakemake's trace lines)."""
    print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
    sys.exit(2)


def select_scale(conf: Path, config: Mapping) -> str:
    """`--config scale=...` (default quick), one of conf/scale/'s files; a name, never a path."""
    scales = guard.group_names(conf, "scale")
    return guard.check_choice("--config scale", str(config.get("scale", DEFAULT_SCALE)), scales, "files in conf/scale/")


def select_experiments(conf: Path, config: Mapping) -> list[str]:
    """`--config experiments=...`: all (the default), or a comma-separated list (or a YAML list) of conf/experiment/'s
    files, each a name (it reaches shell commands and paths)."""
    known = guard.group_names(conf, "experiment")
    chosen = config.get("experiments", "all")
    if isinstance(chosen, list | tuple):
        chosen = ",".join(str(e) for e in chosen)
    chosen = "" if chosen is None else str(chosen)
    names = known if chosen == "all" else [e.strip() for e in chosen.split(",") if e.strip()]
    if not names:
        raise ConfigError(f"--config experiments={chosen} names no experiment; allowed: all, or a comma-separated "
                          f"list of {', '.join(known)} (files in conf/experiment/)")
    for name in names:
        guard.check_choice("--config experiments", name, known, "all, or a comma-separated list; files in "
                           "conf/experiment/")
    return names


def site_max_runtime(environ: Mapping[str, str]) -> int | None:
    """The site's longest job in minutes (ADAMW_SLURM_MAX_RUNTIME), or None when unset."""
    value = environ.get("ADAMW_SLURM_MAX_RUNTIME", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"ADAMW_SLURM_MAX_RUNTIME={value!r} must be a whole number of minutes >= 1 (your site's "
                          "longest job); set it in ~/.config/adamw-repro/slurm.env (see "
                          "profiles/slurm/settings.example.env)")
    return int(value)


def report_notice(config: Mapping, argv: Iterable[str]) -> str | None:
    """`snakemake --report` without a scale reports the default scale, which may not be the one that ran."""
    if "--report" in argv and "scale" not in config:
        return f"snakemake --report: the {DEFAULT_SCALE} scale's results; add --config scale=... for another"
    return None


class Dag:
    """Everything the rules ask, for one scale and selection of experiments. Every run's config is resolved
    (and checked: each key and value) when it is built, before any job starts."""

    def __init__(self, basedir: Path | str, config: Mapping, environ: Mapping[str, str]):
        self.basedir = Path(basedir)
        self.conf = self.basedir / "conf"
        self.environ = environ
        self.scale = select_scale(self.conf, config)
        # Hydra answers every question about a run (its config, digest, files), composing each distinct group
        # choice once per invocation.
        self.resolver = Resolver(self.scale, self.conf)
        scale_doc = self.resolver.scale_config()
        self.experiments = select_experiments(self.conf, config)
        self.grid = {e: self.resolver.grid(e) for e in self.experiments}
        for experiment in self.experiments:  # every run's config resolved: each key and value checked
            self.resolver.validate(experiment)
        self.tuned_experiments = [e for e in self.experiments if self.resolver.sweep(e).get("tune")]
        self.claims = self.conf / "claims.yaml"
        self.results = f"results/{self.scale}"
        self.report_dir = "reports" if self.scale == DEFAULT_SCALE else f"reports/{self.scale}"
        self.runs: dict[str, RunSpec] = {run.run_id: run for runs in self.grid.values() for run in runs}
        self.resources = scale_doc.get("resources", {})
        self.pack_size = int(scale_doc.get("pack_size", 1))
        self.pack_mode = str(scale_doc.get("pack_mode", "auto"))
        self.cpus = int(self.resources.get("cpus_per_task", 1))
        self.gpus = int(self.resources.get("gpu", 0))
        self.figures = [e for e in self.experiments if (self.basedir / "scripts" / "figures" / f"{e}.py").exists()]
        # The optimizers whose bounds the clr experiment itself states (Hydra's composition would merge in
        # config.yaml's bounds of every optimizer, so this one key is read from the file).
        clr = runio.load_yaml((self.conf / "experiment" / "clr.yaml").read_text()) if "clr" in self.experiments else {}
        self.range_optimizers = list(clr["lr_range"]["bounds"]) if clr else []
        for optimizer in self.range_optimizers:  # a wildcard of the lr_range rule: a name and a known optimizer
            guard.check_choice("lr_range.bounds: optimizer", str(optimizer), guard.group_names(self.conf, "optimizer"),
                               f"keys of lr_range.bounds in {self.conf / 'experiment' / 'clr.yaml'}")
        self.range_epochs = int(clr["lr_range"].get("epochs", 1)) if clr else 0
        self.site_max_runtime = site_max_runtime(environ)
        self.throughput = throughput.load_table(self.conf / "throughput.yaml")
        self.run_device = self.throughput["default_gpu"] if self.gpus else "cpu"
        self.packs: dict[str, list[RunSpec]] = {}
        self._seconds: dict[str, float | None] = {}
        self._retries: tuple[dict, int] | None = None  # (the packs it was planned for, train_retries)
        self._plan_registered = False
        self.untrusted: dict[str, str] = {}  # run directory -> why its files are not trusted (`unfinished`)
        self.lapsed: dict[str, guard.Lapsed] = {}  # runs the workflow had finished that are due again

    # -- runs --------------------------------------------------------------------------------------------------
    def tuned_file(self, experiment: str) -> Path:
        return Path(self.results) / "tuned" / f"{experiment}.json"

    def run_of(self, run_id: str) -> RunSpec:
        """The RunSpec behind a run directory: from the grid, or from an experiment's tune stage."""
        if run_id not in self.runs:
            self.known_runs()
        if run_id not in self.runs:
            raise KeyError(f"run {run_id} belongs to no sweep of scale {self.scale}")
        return self.runs[run_id]

    def known_runs(self) -> list[RunSpec]:
        """Every run known while the DAG is built: the grids, and the tuned runs of tune stages already done."""
        for experiment in self.tuned_experiments:
            path = self.tuned_file(experiment)
            if path.exists():
                for rid, overrides in json.loads(path.read_text()).items():
                    self.runs.setdefault(rid, RunSpec(experiment, tuple(overrides)))
        return [self.runs[rid] for rid in sorted(self.runs)]

    def run_dir(self, run: RunSpec) -> str:
        return f"{self.results}/runs/{run.run_id}"

    def done_file(self, run: RunSpec) -> str:
        """The stamp a pack writes after the run's metrics.json, named by the digest of its config."""
        return packs.done_file(self.run_dir(run), self.resolver.digest(run))

    def run_outputs(self, run_ids: Iterable[str]) -> list[str]:
        """What a finished run leaves: metrics.json and the stamp named by its config digest (a changed value
        asks for a new stamp, so its pack runs even though an old metrics.json is there)."""
        out = []
        for rid in run_ids:
            run = self.run_of(rid)
            out += [f"{self.run_dir(run)}/metrics.json", self.done_file(run)]
        return out

    def grid_outputs(self, experiment: str) -> list[str]:
        return self.run_outputs(run.run_id for run in self.grid[experiment])

    def experiment_outputs(self, experiment: str) -> list[str]:
        """Grid runs, plus the tune stage's runs of a tuned experiment. The rule asks the tune stage's
        checkpoints first, so its file of tuned runs is there when this is called."""
        ids = [run.run_id for run in self.grid[experiment]]
        if experiment in self.tuned_experiments:
            ids += list(json.loads(self.tuned_file(experiment).read_text()))
        return self.run_outputs(ids)

    # -- packs of runs ---------------------------------------------------------------------------------------
    # One job trains a pack of runs in one process (python -m adamw_repro.training.pack): imports, data and
    # kernels once. Packs are formed while the DAG is built, from the runs that are not finished
    # (workflow/packs.py says why): a finished run is the output of no job, so Snakemake never deletes it.
    def pack_plan(self) -> Path:
        """Where the main process writes the packs it formed, for the jobs' own Snakemake processes."""
        return Path(self.results) / "packs" / "plan.json"

    def form_packs(self, main_process: bool) -> dict[str, list[RunSpec]]:
        """{pack id: runs}. The main process forms them from the unfinished runs; a job's own Snakemake (on a
        SLURM node) reads back what the main process formed (`write_pack_plan`): runs finished in between
        would reshuffle its packs, and the rule of the pack it runs would vanish under it."""
        if main_process:
            self.packs = packs.form_packs(self.unfinished(self.known_runs()), self.pack_size,
                                          digest_of=self.resolver.digest, key_of=self.pack_key, mix=not self.gpus)
        else:
            plan = json.loads(self.pack_plan().read_text()) if self.pack_plan().exists() else {}
            self.packs = {pid: [self.run_of(rid) for rid in ids] for pid, ids in plan.items()}
        return self.packs

    def write_pack_plan(self) -> None:
        runio.write_json(self.pack_plan(), {pid: [run.run_id for run in runs] for pid, runs in self.packs.items()})

    def unfinished(self, runs: Iterable[RunSpec]) -> list[RunSpec]:
        """Runs without their stamp, or whose files the workflow cannot trust (guard.run_problem: damaged, or
        another config's: remembered in `untrusted` for `set_aside_untrusted`). Those the workflow had finished
        (untrusted, or stamped but without metrics.json) are also remembered in `lapsed` (guard.mark_lapsed)."""
        out = []
        for r in runs:
            digest, run_dir = self.resolver.digest(r), self.run_dir(r)
            problem = guard.run_problem(Path(run_dir), digest)
            if problem:
                self.untrusted[run_dir] = problem
            if problem or (problem == "" and Path(self.done_file(r)).exists()):
                self.lapsed[run_dir] = guard.Lapsed(r.experiment, self.done_file(r), problem or "no metrics.json")
            if problem is not None or not packs.is_finished(run_dir, digest):
                out.append(r)
        return out

    def set_aside_untrusted(self) -> None:
        """Before the pack jobs start (onstart: never in a dry run): untrusted runs' files moved aside, not deleted
        by Snakemake with the outputs of the job that trains them again."""
        for run_dir, problem in sorted(self.untrusted.items()):
            guard.set_aside(Path(run_dir), problem)

    def pack_key(self, run: RunSpec) -> tuple:
        """Packs that may be stacked (pack_mode auto or vectorized: on a GPU, and on a CPU where the batched form
        covers the model) hold runs of one stack key, so a pack trains as few stacks as it can; sequential packs
        take any runs (in run-id order, so mostly one experiment's), as few as pack_size allows."""
        if self.pack_mode in ("vectorized", "auto"):
            return packs.stack_key(run.experiment, run.overrides)
        return ()

    def pack_member(self, run: RunSpec) -> dict:
        """A run as the pack process reads it: its Hydra overrides, run directory and config-digest stamp."""
        return {"run_dir": self.run_dir(run), "overrides": [*run.hydra_overrides(self.scale), f"threads={self.cpus}"],
                "done_file": self.done_file(run)}

    def runs_file(self, runs: Iterable[RunSpec]) -> str:
        """The pack file (JSON) of these runs."""
        return packs.runs_file([self.pack_member(run) for run in runs])

    def conf_files(self, runs: Iterable[RunSpec]) -> list[str]:
        """The config files composed into any of these runs."""
        return sorted({str(f) for run in runs for f in self.resolver.config_files(run)})

    def outputs(self, runs: Iterable[RunSpec], name: str) -> list[str]:
        return [f"{self.run_dir(run)}/{name}" for run in runs]

    def done_files(self, runs: Iterable[RunSpec]) -> list[str]:
        return [self.done_file(run) for run in runs]

    def stale_stamps(self, runs: Iterable[RunSpec]) -> str:
        """Shell globs of the runs' stamps, older configs' included: a run edited back to one of them must not
        look finished, so the pack job removes them first."""
        return " ".join(f"{self.run_dir(run)}/conf-*.done" for run in runs)

    def tuned_chunks(self, experiment: str) -> int:
        """The tune stage's runs are trained in one pack per tune seed (their number is known before the grid)."""
        return max(1, len(self.resolver.sweep(experiment)["tune"]["seeds"]))

    def tuned_pack(self, experiment: str, chunk: int) -> str:
        """The pack file of chunk `chunk` of the tuned runs, less those a pack above trains. Finished runs stay
        listed (the pack process skips them), so that the job's params, and Snakemake's rerun decision, stay."""
        tuned = sorted(json.loads(self.tuned_file(experiment).read_text()))
        packed = {run.run_id for runs in self.packs.values() for run in runs}
        chunk_ids = tuned[int(chunk)::self.tuned_chunks(experiment)]
        return self.runs_file(self.run_of(rid) for rid in chunk_ids if rid not in packed)

    # -- SLURM: resources, time limits and continuation --------------------------------------------------------
    # A run's time from conf/throughput.yaml, capped by the site's longest job; a run that needs more jobs
    # continues from its checkpoint (SIGTERM at the limit, then a Snakemake retry).
    def run_seconds(self, run: RunSpec) -> float | None:
        """Estimated seconds of one run on this scale's device (None where conf/throughput.yaml has no rate)."""
        if run.run_id not in self._seconds:
            model = self.resolver.choices(run)["model"]
            self._seconds[run.run_id] = throughput.run_seconds(self.resolver.run_config(run), model,
                                                               self.throughput, self.run_device)
        return self._seconds[run.run_id]

    def job_plan(self, runs: list[RunSpec]) -> throughput.JobPlan:
        """Time limit and number of jobs for one SLURM job training `runs` one after another."""
        seconds = [self.run_seconds(run) for run in runs]
        if None in seconds:  # no rate for this model here: the scale's runtime, one job
            return throughput.JobPlan(int(self.resources.get("runtime", 60)), 1)
        return throughput.job_plan(sum(seconds), self.site_max_runtime)

    def pack_resources(self, runs: list[RunSpec] | None = None) -> dict:
        """What a job asks for: the scale's CPUs, memory and GPUs; its time limit from its runs (`job_plan`), or
        the scale's `runtime` (the LR range test). GPU jobs go to ADAMW_SLURM_GPU_PARTITION when it is set."""
        minutes = (self.job_plan(runs) if runs is not None else self.range_job_plan()).runtime_minutes
        lead = throughput.signal_lead_seconds(minutes)
        out = {"mem_mb": int(self.resources.get("mem_mb", 2000)), "cpus_per_task": self.cpus, "gpu": self.gpus,
               "runtime": minutes, "slurm_extra": f"--signal=TERM@{lead}" if lead else ""}
        partition = self.environ.get("ADAMW_SLURM_GPU_PARTITION") if self.gpus else None
        return out | ({"slurm_partition": partition} if partition else {})

    def range_job_plan(self) -> throughput.JobPlan:
        """The LR range test's job: `lr_range.epochs` epochs of a clr run, timed like a run (one job; the scale's
        runtime where conf/throughput.yaml has no rate)."""
        clr = self.grid.get("clr") or []
        seconds = self.run_seconds(clr[0]) if clr else None
        if seconds is None:
            return throughput.JobPlan(int(self.resources.get("runtime", 60)), 1)
        epochs = int(self.resolver.run_config(clr[0])["epochs"])
        return throughput.job_plan(seconds * self.range_epochs / max(epochs, 1), self.site_max_runtime)

    def tuned_pack_resources(self) -> dict:
        """A tune-stage pack's resources (its runs are not known when the rule is parsed): pack_size times the
        longest known run."""
        known = self.known_runs()
        longest = max(known, key=lambda r: self.run_seconds(r) or 0) if known else None
        return self.pack_resources(self.pack_size * [longest] if longest else [])

    @property
    def train_retries(self) -> int:
        """Retries of the training rules (one number per rule): enough jobs for the run that needs the most,
        plus one for a transient failure or a job that finishes just as SLURM's limit strikes (marked failed,
        it is retried and summarized from the final checkpoint). Call after `form_packs`."""
        if self._retries is None or self._retries[0] is not self.packs:  # asked by every rule: planned once per packs
            jobs = [self.job_plan([run]).jobs for runs in self.grid.values() for run in runs]
            jobs += [self.job_plan(runs).jobs for runs in self.packs.values()]
            self._retries = (self.packs, max(jobs or [1]) + 1)
        return self._retries[1]

    def check_slurm(self, executor: str, local: bool) -> None:
        """Before anything is submitted to SLURM: the partition exists and has the GPUs the scale asks for, and
        job status can be polled (ValueError naming what is missing)."""
        if local or executor != "slurm":
            return
        from adamw_repro.workflow.slurm_check import check_accounting, check_slurm_request

        partition = (self.environ.get("ADAMW_SLURM_GPU_PARTITION") if self.gpus else None) or \
            self.environ.get("SBATCH_PARTITION")
        check_slurm_request(partition or None, self.environ.get("SBATCH_ACCOUNT"), self.gpus)
        check_accounting(self.environ)  # a cluster without accounting: squeue polling, or a silent hang

    def job_environment(self) -> dict[str, str]:
        """What the jobs need in their environment: PYTHONPATH with the package of this checkout first, also
        inside a conda environment that does not install it."""
        pythonpath = [str(self.basedir / "src"), self.environ.get("PYTHONPATH")]
        return {"PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}

    # -- figures and the report --------------------------------------------------------------------------------
    def figure_caption(self, figure: str) -> str:
        """The figure's caption, which reports/captions/figure.rst renders for `snakemake --report`."""
        return (self.basedir / "reports" / "captions" / f"{figure}.rst").read_text()

    def script_digest(self, path: str) -> str:
        """Content digest of a figure script and of the analysis code it draws with (adamw_repro.analysis: the
        plotting style, the intervals, the selection): redraws a figure when either changes, whatever the files'
        times say (the profiles leave out Snakemake's `code` trigger, which compares times and fires on a fresh
        clone). Without the package, a change of the shared figure code left the figures drawn before it."""
        digest = hashlib.sha1(self._analysis_code)
        digest.update((self.basedir / path).read_bytes())
        return digest.hexdigest()[:16]

    @functools.cached_property
    def _analysis_code(self) -> bytes:
        package = self.basedir / "src" / "adamw_repro" / "analysis"
        modules = sorted(package.rglob("*.py"))
        return b"".join(str(m.relative_to(package)).encode() + b"\0" + m.read_bytes() for m in modules)

    def targets(self, dryrun: bool, *paths: str) -> list[str]:
        """The final targets, called once the DAG is built (not while the rules are parsed): a dry run then
        ends with the plan (`plan_lines`), after Snakemake's own listing of the jobs."""
        if dryrun and not self._plan_registered:
            self._plan_registered = True
            atexit.register(lambda: print("\n".join(self.plan_lines()), flush=True))
        return list(paths)

    # -- the plan a dry run ends with ------------------------------------------------------------------------
    def plan_lines(self) -> list[str]:
        """Runs per experiment, estimated GPU-hours (CPU minutes) with the tune stage, where results go."""
        device = "CPU thread" if self.run_device == "cpu" else f"{self.run_device} GPU"
        flags = [row.get("measured", False) for model in self.throughput["models"].values()
                 for name, row in model.items() if name == self.run_device and isinstance(row, dict)]
        basis = "measured" if all(flags) else "partly ESTIMATED" if any(flags) else "ESTIMATED, not measured"
        lines = [f"plan for scale={self.scale}: grid runs and estimated training time on one {device} per "
                 f"experiment (conf/throughput.yaml: {basis}):"]
        total, unknown = 0.0, set()
        for experiment, runs in self.grid.items():
            known = [s for s in (self.run_seconds(run) for run in runs) if s is not None]
            tuned = sweeps.tuned_count(self.resolver.sweep(experiment), runs)
            cost = sum(known) + tuned * (sum(known) / len(known) if known else 0.0)
            total += cost
            if len(known) < len(runs):
                unknown.add(experiment)
            extra = f" + {tuned} tuned" if tuned else ""
            lines.append(f"  {experiment:16s} {len(runs):5d} runs{extra:12s} {_duration(cost, self.run_device)}")
        lines.append(f"  {'total':16s} {sum(len(r) for r in self.grid.values()):5d} runs{'':12s} "
                     f"{_duration(total, self.run_device)} (tune stage included)")
        if unknown:
            lines.append(f"  no rate in conf/throughput.yaml for some runs of: {', '.join(sorted(unknown))}")
        longest = max([self.job_plan([run]).jobs for runs in self.grid.values() for run in runs] or [1])
        if self.site_max_runtime:
            lines.append(f"  SLURM: jobs of at most {self.site_max_runtime} min (ADAMW_SLURM_MAX_RUNTIME); "
                         f"the longest run continues over up to {longest} job(s)")
        else:  # shown always: on a cluster, whether runs will continue over several jobs is the first question
            lines.append("  jobs per run: 1 (no site time limit: set ADAMW_SLURM_MAX_RUNTIME to plan SLURM jobs "
                         "of at most that many minutes, each run continuing from its checkpoint)")
        lines.append(f"results: {self.results}/ (runs/, runs.parquet, logs/); report: {self.report_dir}/report.md")
        return lines


def _duration(seconds: float, device: str) -> str:
    if device != "cpu":
        return f"{seconds / 3600:9.1f} GPU-hours"
    return f"{seconds / 60:9.1f} CPU-minutes" if seconds >= 60 else f"{seconds:9.1f} CPU-seconds"
