# The workflow's decisions live in adamw_repro.workflow.dag (tested without Snakemake): the selected scale and
# experiments, the run table, each run's outputs, packs, resources and the dry run's plan. This file builds the
# one Dag of this Snakemake process, PIPELINE (not DAG: Snakemake runs this file in its own module, which has a
# DAG); the rules only wire its answers. Every hyperparameter and sweep lives in conf/ (Hydra).
import os
import sys

from adamw_repro.analysis import report_files
from adamw_repro.analysis.claims import validate_thresholds
from adamw_repro.runconfig import experiment_names
from adamw_repro.workflow import console, dag, guard, sweeps

try:  # bad input is one line before any job starts: the scale, the experiments, every run's keys and values
    PIPELINE = dag.Dag(workflow.basedir, config, os.environ)
except ValueError as err:
    dag.fail(err)
try:  # the report's decision thresholds, checked now, not by the last job after hours of training
    validate_thresholds(sweeps.read_yaml(PIPELINE.claims), source=str(PIPELINE.claims))
except ValueError as err:  # SweepError too: a YAML syntax error, named with its line
    dag.fail(f"{err} (fix conf/claims.yaml)")
if dag.report_notice(config, sys.argv):
    print(dag.report_notice(config, sys.argv), file=sys.stderr)
# Jobs run the package of this checkout, also inside a conda environment that does not install it.
os.environ.update(PIPELINE.job_environment())
MAIN_PROCESS, DRY_RUN = workflow.is_main_process, guard.dry_run(sys.argv)
# Damaged aggregated tables are moved aside, so the aggregate job rebuilds them (a dry run only names them).
if MAIN_PROCESS:
    guard.rebuild_damaged_tables(PIPELINE.results, DRY_RUN)
# The main process forms the packs of unfinished runs; a job's own Snakemake reads the ones it wrote (onstart).
PIPELINE.form_packs(MAIN_PROCESS)
if MAIN_PROCESS:  # runs it had finished that are due again (deleted or untrusted): the chain reruns
    guard.mark_lapsed(PIPELINE.lapsed, PIPELINE.results, DRY_RUN)


onstart:
    PIPELINE.write_pack_plan()
    PIPELINE.set_aside_untrusted()  # runs it cannot trust: their files moved aside, not deleted by their pack job
    try:
        PIPELINE.check_slurm(getattr(workflow.executor_plugin, "name", ""), workflow.local_exec)
    except ValueError as err:
        raise WorkflowError(str(err))
    # one line per finished run and a progress line, read from the training logs (local and SLURM alike)
    CONSOLE.append(console.for_dag(PIPELINE).follow())


def stop_console():
    """The console's last lines, once the jobs are done."""
    for finish in CONSOLE:
        finish()


CONSOLE = []


onsuccess:
    stop_console()


onerror:
    stop_console()
    # the failed jobs, with their logs (the profiles' `quiet: rules` hides Snakemake's error blocks)
    for line in console.failures(getattr(getattr(workflow, "scheduler", None), "failed", ())):
        print(line, file=sys.stderr)


def experiment_runs(wildcards):
    """The experiment's run outputs; a tuned experiment's once its tune stage's checkpoints are done."""
    if wildcards.experiment in PIPELINE.tuned_experiments:
        checkpoints.tune.get(experiment=wildcards.experiment)
        checkpoints.tuned_trained.get(experiment=wildcards.experiment)
    return PIPELINE.experiment_outputs(wildcards.experiment)
