# Helpers shared by the rules: the selected scale and experiments, the run table, the config files of a
# run. Every hyperparameter and sweep lives in conf/ (Hydra); nothing here repeats a value.
import json
import os
import shlex
import sys
from pathlib import Path

import yaml

from adamw_repro.workflow import packs, sweeps, throughput
from adamw_repro.workflow.resolver import Resolver

CONF = Path(workflow.basedir) / "conf"
# Jobs run the package from this checkout, also inside a conda environment that does not install it
# (this sets the variable for the jobs; the workflow reads no environment variable here).
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(Path(workflow.basedir) / "src"), os.getenv("PYTHONPATH")]))
)


def _config_error(message):
    """Bad input: one line on stderr, before any job starts (a WorkflowError would add Snakemake's trace lines)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


SCALES = sorted(p.stem for p in (CONF / "scale").glob("*.yaml"))
SCALE = str(config.get("scale", "quick"))
if SCALE not in SCALES:
    _config_error(
        f"--config scale={SCALE} is unknown; allowed: {', '.join(SCALES)} (files in conf/scale/)"
    )
if "--report" in sys.argv and "scale" not in config:  # a report of the default scale, which may not be the one run
    print(f"snakemake --report: the {SCALE} scale's results; add --config scale=... for another", file=sys.stderr)
# Hydra answers every question about a run (its config, digest, files), composing each distinct group choice
# once per invocation.
RESOLVER = Resolver(SCALE, CONF)
try:
    SCALE_DOC = RESOLVER.scale_config()
except sweeps.SweepError as err:
    _config_error(str(err))


def _selected_experiments():
    chosen = config.get("experiments", "all")
    if isinstance(chosen, list | tuple):
        chosen = ",".join(str(e) for e in chosen)
    chosen = "" if chosen is None else str(chosen)
    names = sweeps.experiments(CONF) if chosen == "all" else [e.strip() for e in chosen.split(",") if e.strip()]
    if not names:
        _config_error(
            f"--config experiments={chosen} names no experiment; allowed: all, or a comma-separated list of "
            f"{', '.join(sweeps.experiments(CONF))} (files in conf/experiment/)"
        )
    return names


try:
    EXPERIMENTS = _selected_experiments()
    GRID = {e: RESOLVER.grid(e) for e in EXPERIMENTS}
    for _e in EXPERIMENTS:  # every run's config resolved (and cached for its digest): each key and type checked
        RESOLVER.validate(_e)
    TUNED_EXPERIMENTS = [e for e in EXPERIMENTS if RESOLVER.sweep(e).get("tune")]
except sweeps.SweepError as err:
    _config_error(str(err))

# The report's decision thresholds, checked before any job starts (each finding 1..10 has a numeric value),
# not by the last job after hours of training.
CLAIMS = CONF / "claims.yaml"
try:
    from adamw_repro.analysis.claims import validate_thresholds

    validate_thresholds(sweeps.read_yaml(CLAIMS), source=str(CLAIMS))
except ValueError as err:  # SweepError too: a YAML syntax error, named with its line
    message = " ".join(str(err).split())
    _config_error(f"{message} (fix conf/claims.yaml)")

RESULTS = f"results/{SCALE}"
REPORT_DIR = "reports" if SCALE == "quick" else f"reports/{SCALE}"
RUNS = {run.run_id: run for runs in GRID.values() for run in runs}
RESOURCES = SCALE_DOC.get("resources", {})
PACK_SIZE = int(SCALE_DOC.get("pack_size", 1))
PACK_MODE = str(SCALE_DOC.get("pack_mode", "auto"))
FIGURES = [e for e in EXPERIMENTS if (Path(workflow.basedir) / "scripts" / "figures" / f"{e}.py").exists()]
# The optimizers whose bounds the clr experiment itself states (Hydra's composition would merge in config.yaml's
# bounds of every optimizer, so this one key is read from the file).
RANGE_OPTIMIZERS = (
    list(yaml.safe_load((CONF / "experiment" / "clr.yaml").read_text())["lr_range"]["bounds"])
    if "clr" in EXPERIMENTS
    else []
)


def run_of(run_id):
    """The RunSpec behind a run directory: from the grid, or from an experiment's reseed stage."""
    if run_id in RUNS:
        return RUNS[run_id]
    for experiment in TUNED_EXPERIMENTS:
        path = Path(RESULTS) / "tuned" / f"{experiment}.json"
        if path.exists():
            for rid, overrides in json.loads(path.read_text()).items():
                RUNS[rid] = sweeps.RunSpec(experiment, tuple(overrides))
    if run_id not in RUNS:
        raise WorkflowError(f"run {run_id} belongs to no sweep of scale {SCALE}")
    return RUNS[run_id]


def conf_files_of(run):
    """The config files Hydra composes into a run (config.yaml and one option per group)."""
    return RESOLVER.config_files(run)


def conf_digest_of(run):
    """The run's config digest (the `config_digest` its metrics.json records): changes exactly when the run's
    resolved config does (not with a comment, a sweep, a scale's resources or another run's seed)."""
    return RESOLVER.digest(run)


def run_config_files(wildcards):
    return [ancient(str(f)) for f in conf_files_of(run_of(wildcards.run))]


def run_conf_digest(wildcards):
    return conf_digest_of(run_of(wildcards.run))


def known_runs():
    """Every run known while the DAG is built: the grids, and the tuned runs of tune stages already done."""
    for experiment in TUNED_EXPERIMENTS:
        path = Path(RESULTS) / "tuned" / f"{experiment}.json"
        if path.exists():
            for rid in json.loads(path.read_text()):
                run_of(rid)
    return [RUNS[rid] for rid in sorted(RUNS)]


def experiment_run_ids(experiment):
    """Grid runs, plus the tuned runs once the grid is done (a checkpoint decides them) and trained."""
    ids = [run.run_id for run in GRID[experiment]]
    if experiment in TUNED_EXPERIMENTS:
        tuned = checkpoints.tune.get(experiment=experiment).output[0]
        checkpoints.tuned_trained.get(experiment=experiment)
        ids += list(json.loads(Path(tuned).read_text()))
    return ids


def run_outputs(run_ids):
    """What a finished run leaves: metrics.json and the stamp named by its config-file digest (a changed
    value asks for a new stamp, so its pack runs even though an old metrics.json is there)."""
    out = []
    for rid in run_ids:
        run_dir = f"{RESULTS}/runs/{rid}"
        out += [f"{run_dir}/metrics.json", packs.done_file(run_dir, conf_digest_of(run_of(rid)))]
    return out


def experiment_metrics(wildcards):
    return run_outputs(experiment_run_ids(wildcards.experiment))


def figure_caption(wildcards):
    """The figure's caption, which reports/captions/figure.rst renders for `snakemake --report`."""
    return (Path(workflow.basedir) / "reports" / "captions" / f"{wildcards.figure}.rst").read_text()


def grid_metrics(wildcards):
    return run_outputs(run.run_id for run in GRID[wildcards.experiment])


# -- packs of runs -----------------------------------------------------------------------------------------
# One job trains a pack of runs in one process (python -m adamw_repro.training.pack): imports, data and kernels
# once. Packs are formed here, while the DAG is built, from the runs that are not finished (workflow/packs.py
# says why): a finished run is the output of no job, so Snakemake never deletes it. One rule per pack (a
# rule's outputs are fixed patterns, and a pack's are a list of run directories); every unfinished run's
# metrics.json and history.csv is a declared output of exactly one pack. On SLURM a pack is one sbatch job
# asking for conf/scale's `resources` (runtime: minutes per member, summed over the pack).
CPUS = int(RESOURCES.get("cpus_per_task", 1))
GPU_PARTITION = os.environ.get("ADAMW_SLURM_GPU_PARTITION") if int(RESOURCES.get("gpu", 0)) else None


def pack_resources(runs=None):
    """What a pack job asks for: the scale's CPUs, memory and GPUs; its time limit from its runs (job_plan:
    their epochs and conf/throughput.yaml, capped by the site), or the scale's `runtime` for the LR range test."""
    minutes = job_plan(runs).runtime_minutes if runs is not None else int(RESOURCES.get("runtime", 60))
    out = dict(mem_mb=int(RESOURCES.get("mem_mb", 2000)), cpus_per_task=CPUS, gpu=int(RESOURCES.get("gpu", 0)),
               runtime=minutes, slurm_extra=slurm_extra(minutes))
    return out | ({"slurm_partition": GPU_PARTITION} if GPU_PARTITION else {})


def pack_member(run):
    """A run as the pack process reads it: its Hydra overrides, run directory and config-file digest."""
    run_dir = f"{RESULTS}/runs/{run.run_id}"
    return {"run_dir": run_dir, "overrides": [*run.hydra_overrides(SCALE), f"threads={CPUS}"],
            "done_file": packs.done_file(run_dir, conf_digest_of(run))}


def unfinished_runs(runs):
    return [r for r in runs if not packs.is_finished(Path(RESULTS) / "runs" / r.run_id, conf_digest_of(r))]




def pack_key(run):
    """Packs that may be stacked (a GPU scale, or pack_mode vectorized) hold runs of one stack key; sequential
    packs take any runs (in run-id order, so mostly one experiment's), as few processes as pack_size allows."""
    if PACK_MODE == "vectorized" or (PACK_MODE == "auto" and int(RESOURCES.get("gpu", 0))):
        return packs.stack_key(run.experiment, run.overrides)
    return ()


# The main process forms the packs and writes them down (onstart); a job's own Snakemake (on a SLURM node) reads
# them back instead of forming them again: runs finished in between would reshuffle its packs, and the rule of
# the pack it runs would vanish under it (or the tune stage's pack would find its runs "packed" and train none).
PACK_PLAN = Path(RESULTS) / "packs" / "plan.json"
if workflow.is_main_process:
    PACKS = packs.form_packs(unfinished_runs(known_runs()), PACK_SIZE, digest_of=conf_digest_of, key_of=pack_key)
else:
    PACKS = {pid: [run_of(rid) for rid in ids]
             for pid, ids in (json.loads(PACK_PLAN.read_text()) if PACK_PLAN.exists() else {}).items()}
PACKED = {run.run_id for members in PACKS.values() for run in members}


def tuned_chunks(experiment):
    """The tune stage's runs are trained in one pack per tune seed (their number is known before the grid)."""
    return max(1, len(RESOLVER.sweep(experiment)["tune"]["seeds"]))


def tuned_pack_members(wildcards):
    """Chunk `chunk` of the tuned runs, less those a pack above trains. Finished runs stay listed (the pack
    process skips them), so that the job's params, and hence Snakemake's rerun decision, stay the same."""
    tuned = sorted(json.loads(Path(f"{RESULTS}/tuned/{wildcards.experiment}.json").read_text()))
    chunk = tuned[int(wildcards.chunk)::tuned_chunks(wildcards.experiment)]
    return packs.runs_file([pack_member(run_of(rid)) for rid in chunk if rid not in PACKED])


# -- SLURM ---------------------------------------------------------------------------------------------
_DAG_TIME = {}


def at_dag_time():
    """Once the DAG is built (not while this file is parsed): a dry run ends with the plan, runs and estimated
    GPU-hours (CPU minutes) per experiment. Called from an input function; acts once."""
    if _DAG_TIME:
        return
    _DAG_TIME["done"] = True
    if workflow.dryrun:  # the plan comes last, after Snakemake's own listing of the jobs
        import atexit

        atexit.register(lambda: print("\n".join(plan_lines()), flush=True))


def report_target(wildcards):
    """The report, and the run table behind it: on a fresh clone the committed quick report is present but no
    results are, so asking for the table is what makes the workflow train and redraw (an output whose inputs
    are merely missing counts as up to date in Snakemake)."""
    at_dag_time()
    return [f"{REPORT_DIR}/report.md", f"{RESULTS}/runs.parquet"]


def script_digest(path):
    """Content digest of a script: redraws a figure when its script changes, whatever the files' times say
    (the profiles leave out Snakemake's `code` trigger, which compares times and fires on every fresh clone)."""
    import hashlib

    return hashlib.sha1((Path(workflow.basedir) / path).read_bytes()).hexdigest()[:16]


onstart:
    # The packs as this (main) process formed them, for the jobs' own Snakemake processes (see PACK_PLAN).
    from adamw_repro import runio

    runio.write_json(PACK_PLAN, {pid: [run.run_id for run in members] for pid, members in PACKS.items()})
    # Before anything is submitted: the partition exists and has the GPUs the scale asks for.
    if not workflow.local_exec and getattr(workflow.executor_plugin, "name", "") == "slurm":
        from adamw_repro.workflow.slurm_check import check_slurm_request

        gpus = int(RESOURCES.get("gpu", 0))
        partition = (os.environ.get("ADAMW_SLURM_GPU_PARTITION") if gpus else None) or os.environ.get(
            "SBATCH_PARTITION"
        )
        try:
            check_slurm_request(partition or None, os.environ.get("SBATCH_ACCOUNT"), gpus)
        except ValueError as err:
            raise WorkflowError(str(err))


# -- SLURM time limits and continuation: a run's time from conf/throughput.yaml, capped by the site's longest job;
# a run that needs more jobs continues from its checkpoint (SIGTERM at the limit, then a Snakemake retry) -----------
def _site_max_runtime():
    value = os.environ.get("ADAMW_SLURM_MAX_RUNTIME", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        _config_error(
            f"ADAMW_SLURM_MAX_RUNTIME={value!r} must be a whole number of minutes >= 1 (your site's longest "
            "job); set it in ~/.config/adamw-repro/slurm.env (see profiles/slurm/settings.example.env)"
        )
    return int(value)


SITE_MAX_RUNTIME = _site_max_runtime()
THROUGHPUT = throughput.load_table(CONF / "throughput.yaml")
RUN_DEVICE = THROUGHPUT["default_gpu"] if int(RESOURCES.get("gpu", 0)) else "cpu"
_SECONDS = {}


def run_seconds(run):
    """Estimated seconds of one run on this scale's device (None where conf/throughput.yaml has no rate)."""
    if run.run_id not in _SECONDS:
        model = RESOLVER.choices(run)["model"]
        _SECONDS[run.run_id] = throughput.run_seconds(RESOLVER.run_config(run), model, THROUGHPUT, RUN_DEVICE)
    return _SECONDS[run.run_id]


def job_plan(runs):
    """Time limit and number of jobs for one SLURM job training `runs` one after another (a pack, or one run)."""
    seconds = [run_seconds(run) for run in runs]
    if None in seconds:  # no rate for this model here: the scale's runtime, one job
        return throughput.JobPlan(int(RESOURCES.get("runtime", 60)), 1)
    return throughput.job_plan(sum(seconds), SITE_MAX_RUNTIME)


def slurm_extra(runtime_minutes):
    lead = throughput.signal_lead_seconds(runtime_minutes)
    return f"--signal=TERM@{lead}" if lead else ""


# Rule-level retries are one number per rule: enough for the run that needs the most jobs, plus one for a
# transient failure and one for a job that finishes its run just as SLURM's limit strikes (marked failed, it is
# retried and summarized from the final checkpoint). A run that finishes early does not use them.
TRAIN_RETRIES = max([job_plan([run]).jobs for runs in GRID.values() for run in runs]
                    + [job_plan(members).jobs for members in PACKS.values()] or [1]) + 1


# -- the plan printed at the end of a dry run: runs per experiment, GPU-hours or CPU minutes, where results go ---------
def plan_lines():
    """The dry run's closing summary (also what `python -m snakemake -n | tail` shows)."""
    device = "CPU thread" if RUN_DEVICE == "cpu" else f"{RUN_DEVICE} GPU"
    flags = [row.get("measured", False) for model in THROUGHPUT["models"].values()
             for name, row in model.items() if name == RUN_DEVICE and isinstance(row, dict)]
    basis = "measured" if all(flags) else "partly ESTIMATED" if any(flags) else "ESTIMATED, not measured"
    lines = [f"plan for scale={SCALE}: grid runs and estimated training time on one {device} per experiment "
             f"(conf/throughput.yaml: {basis}):"]
    total, unknown = 0.0, set()
    for experiment, runs in GRID.items():
        seconds = [run_seconds(run) for run in runs]
        known = [s for s in seconds if s is not None]
        tune = RESOLVER.sweep(experiment).get("tune")
        tuned = 0
        if tune:  # the tune stage reruns each group's best cell with its seeds: as many runs as groups x seeds
            zero = tune.get("separate_zero")
            groups = {tuple(sorted((k, v) for k, v in r.assignment.items()
                                   if k not in tune["over"] and k != "seed"))
                      + ((float(r.assignment.get(zero, 1)) == 0,) if zero else ()) for r in runs}
            tuned = len(groups) * len(tune["seeds"])
        mean = sum(known) / len(known) if known else 0.0
        cost = sum(known) + tuned * mean
        total += cost
        if len(known) < len(seconds):
            unknown.add(experiment)
        extra = f" + {tuned} tuned" if tuned else ""
        lines.append(f"  {experiment:16s} {len(runs):5d} runs{extra:12s} {_duration(cost, RUN_DEVICE)}")
    lines.append(f"  {'total':16s} {sum(len(r) for r in GRID.values()):5d} runs{'':12s} "
                 f"{_duration(total, RUN_DEVICE)} (tune stage included)")
    if unknown:
        lines.append(f"  no rate in conf/throughput.yaml for some runs of: {', '.join(sorted(unknown))}")
    if SITE_MAX_RUNTIME:
        longest = max([job_plan([run]).jobs for runs in GRID.values() for run in runs] or [1])
        lines.append(f"  SLURM: jobs of at most {SITE_MAX_RUNTIME} min (ADAMW_SLURM_MAX_RUNTIME); "
                     f"the longest run continues over up to {longest} job(s)")
    lines.append(f"results: {RESULTS}/ (runs/, runs.parquet, logs/); report: {REPORT_DIR}/report.md")
    return lines


def _duration(seconds, device):
    if device != "cpu":
        return f"{seconds / 3600:9.1f} GPU-hours"
    return f"{seconds / 60:9.1f} CPU-minutes" if seconds >= 60 else f"{seconds:9.1f} CPU-seconds"
