# Helpers shared by the rules: the selected scale and experiments, the run table, the config files of a
# run. Every hyperparameter and sweep lives in conf/ (Hydra); nothing here repeats a value.
import json
import os
import shlex
import sys
from pathlib import Path

import yaml

from adamw_repro.workflow import packs, sweeps
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


def pack_resources(members):
    out = dict(runtime=int(RESOURCES.get("runtime", 60)) * members, mem_mb=int(RESOURCES.get("mem_mb", 2000)),
               cpus_per_task=CPUS, gpu=int(RESOURCES.get("gpu", 0)))
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


PACKS = packs.form_packs(unfinished_runs(known_runs()), PACK_SIZE, digest_of=conf_digest_of, key_of=pack_key)
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
    """Once the DAG is built (not while this file is parsed): a dry run prints the plan, runs and estimated
    GPU-hours per experiment. Called from an input function; acts once."""
    if _DAG_TIME:
        return
    _DAG_TIME["done"] = True
    if workflow.dryrun:
        for line in plan_lines():
            print(line, file=sys.stderr)


def report_target(wildcards):
    at_dag_time()
    return f"{REPORT_DIR}/report.md"


onstart:
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


# -- the plan: runs and estimated GPU-hours per experiment, printed by a dry run -------------------------------
def plan_lines():
    from adamw_repro.workflow import throughput

    table = throughput.load_table(CONF / "throughput.yaml")
    lines = [f"plan for scale={SCALE}: experiment, grid runs, estimated GPU-hours on {table['default_gpu']} "
             "(from conf/throughput.yaml; 'estimate' entries are not measured)"]
    for experiment, runs in GRID.items():
        hours, unknown = 0.0, set()
        for run in runs:
            cfg, model = RESOLVER.run_config(run), RESOLVER.choices(run)["model"]
            if "images" not in cfg["data"] or model not in table["models"]:  # generated data: no estimate
                unknown.add(model)
                continue
            val = int(cfg["data"].get("val_size", 0))
            hours += throughput.estimate_gpu_hours(model, cfg["epochs"], cfg["data"]["images"]["train"] - val,
                                                   table, eval_images=val)
        tune = RESOLVER.sweep(experiment).get("tune")
        extra = f", then a tune stage of {len(tune['seeds'])} seed(s) per best cell" if tune else ""
        cost = f"{hours:.1f} GPU-h" if not unknown else f"no GPU estimate for {', '.join(sorted(unknown))}"
        lines.append(f"  {experiment:16s} {len(runs):5d} runs{extra}: {cost}")
    return lines
