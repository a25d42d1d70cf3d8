"""The workflow's decisions without Snakemake (workflow/dag.py): the selected scale and experiments, the run
table, each run's outputs, packs of unfinished runs and the plan.json a job's own Snakemake reads back, what a
job asks of SLURM, retries, and the plan a dry run ends with."""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path

import pytest

from adamw_repro.compose import Composer
from adamw_repro.runconfig import ConfigError, experiment_names
from adamw_repro.workflow import dag, packs, sweeps, throughput
from adamw_repro.workflow.dag import Dag
from tests.run_files import write_finished_run
from tests.workflow.conftest import write_experiment

ROOT = Path(__file__).resolve().parents[2]
SMOKE = {"scale": "smoke", "experiments": "fig1_schedules,clr"}


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch) -> Path:
    """Snakemake's working directory: results/ are written and read relative to it. The Dags of this module
    share one Composer per conf/ folder: Hydra's compositions are what a Dag costs (~0.1 s each)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("adamw_repro.workflow.resolver.Composer", _shared_composer)
    return tmp_path


@functools.cache
def _shared_composer(conf_dir) -> Composer:
    return Composer(conf_dir)


def finish(d: Dag, run) -> None:
    """What a pack leaves for a finished run: metrics.json and the stamp of its config digest."""
    write_finished_run(Path(d.run_dir(run)), d.resolver.digest(run))
    Path(d.done_file(run)).write_text(d.resolver.digest(run) + "\n")


def tune(d: Dag, experiment: str) -> list:
    """The tune stage's file, as its rule writes it, from made-up grid metrics."""
    spec, grid = d.resolver.sweep(experiment), d.grid[experiment]
    metrics = {r.run_id: {"status": "ok", "final": {"val_error": i / 100}} for i, r in enumerate(grid)}
    tuned = sweeps.reseed(experiment, spec, grid, metrics)
    d.tuned_file(experiment).parent.mkdir(parents=True, exist_ok=True)
    d.tuned_file(experiment).write_text(json.dumps({r.run_id: list(r.overrides) for r in tuned}))
    return tuned


def test_the_scale_and_experiments_are_selected_or_refused_in_one_line(capsys):
    conf = ROOT / "conf"
    assert dag.select_scale(conf, {}) == "quick" and dag.select_scale(conf, {"scale": "smoke"}) == "smoke"
    with pytest.raises(ConfigError, match=r"--config scale=huge is unknown; allowed: budget, paper, quick, smoke "
                                          r"\(files in conf/scale/\)"):
        dag.select_scale(conf, {"scale": "huge"})
    assert dag.select_experiments(conf, {}) == experiment_names(conf)
    assert dag.select_experiments(conf, {"experiments": "clr, fig1_schedules"}) == ["clr", "fig1_schedules"]
    assert dag.select_experiments(conf, {"experiments": ["clr"]}) == ["clr"]
    for empty in ("", ",", None):
        with pytest.raises(ConfigError, match="names no experiment; allowed: all, or a comma-separated list of "
                                              "blog_decays, clr"):
            dag.select_experiments(conf, {"experiments": empty})
    with pytest.raises(ConfigError, match=r"--config experiments=fig9 is unknown; allowed: blog_decays, clr"):
        Dag(ROOT, {"scale": "smoke", "experiments": "fig9"}, {})
    with pytest.raises(SystemExit) as exit_:
        dag.fail(ConfigError("a bad\nvalue"))
    assert exit_.value.code == 2 and capsys.readouterr().err == "error: a bad value\n"
    assert "quick scale" in dag.report_notice({}, ["snakemake", "--report", "r.html"])
    assert dag.report_notice({"scale": "smoke"}, ["--report"]) is None and dag.report_notice({}, []) is None


def test_a_bad_grid_is_refused_while_the_dag_is_built(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"+optimizer.lrr": [0.1]}})
    with pytest.raises(sweeps.SweepError, match=r"toy.yaml: sweep.quick.grid: \+optimizer.lrr=0.1: optimizer.lrr is "
                                                r"not a config key \(did you mean optimizer.lr\?\)"):
        Dag(conf.parent, {"experiments": "toy"}, {})


def test_the_run_table_holds_the_grids_and_the_tune_stage_once_it_named_its_runs():
    d = Dag(ROOT, SMOKE, {})
    assert d.results == "results/smoke" and d.report_dir == "reports/smoke" and d.figures == ["fig1_schedules", "clr"]
    assert d.tuned_experiments == ["fig1_schedules", "clr"] and d.range_optimizers == ["sgd", "adam"]
    grid = d.grid["fig1_schedules"]
    assert [r.run_id for r in d.known_runs()] == sorted(r.run_id for rs in d.grid.values() for r in rs)
    with pytest.raises(KeyError, match="belongs to no sweep of scale smoke"):
        d.run_of("fig1_schedules-00000000")
    tuned = tune(d, "fig1_schedules")
    assert d.run_of(tuned[0].run_id) == tuned[0] and len(d.known_runs()) == len(grid) + len(tuned) + len(d.grid["clr"])
    outputs = d.experiment_outputs("fig1_schedules")
    assert len(outputs) == 2 * (len(grid) + len(tuned))
    run = grid[0]
    assert outputs[:2] == [f"results/smoke/runs/{run.run_id}/metrics.json",
                           f"results/smoke/runs/{run.run_id}/conf-{d.resolver.digest(run)}.done"]
    assert d.grid_outputs("fig1_schedules") == outputs[:2 * len(grid)]


def test_packs_hold_only_unfinished_runs_and_a_job_reads_the_packs_the_main_process_formed():
    d = Dag(ROOT, SMOKE, {})
    formed = d.form_packs(main_process=True)
    runs = d.known_runs()
    assert sorted(r.run_id for members in formed.values() for r in members) == [r.run_id for r in runs]
    assert all(len(members) <= d.pack_size for members in formed.values())
    for run in runs[:3]:
        finish(d, run)
    again = Dag(ROOT, SMOKE, {})
    packed = {r.run_id for members in again.form_packs(main_process=True).values() for r in members}
    assert packed == {r.run_id for r in runs[3:]}  # a finished run is in no pack: Snakemake never deletes it
    again.write_pack_plan()
    finish(d, runs[3])  # finished after the main process formed its packs: the job keeps them
    job = Dag(ROOT, SMOKE, {})
    assert job.form_packs(main_process=False) == again.packs
    pid, members = next(iter(again.packs.items()))
    member = again.pack_member(members[0])
    assert member["overrides"][:2] == ["experiment=" + members[0].experiment, "scale=smoke"]
    assert member["overrides"][-1] == "threads=1" and member["done_file"] == again.done_file(members[0])
    assert json.loads(again.runs_file(members))["members"][0] == member
    assert again.outputs(members, "history.csv")[0] == f"results/smoke/runs/{members[0].run_id}/history.csv"
    assert str(ROOT / "conf/config.yaml") in again.conf_files(members)
    assert again.stale_stamps(members[:1]) == f"results/smoke/runs/{members[0].run_id}/conf-*.done"


def test_the_tune_stage_packs_one_chunk_per_seed_less_the_runs_a_pack_trains():
    d = Dag(ROOT, SMOKE, {})
    tuned = tune(d, "clr")
    d.form_packs(main_process=True)  # the tuned runs are known now: the packs above train them
    assert d.tuned_chunks("clr") == len(d.resolver.sweep("clr")["tune"]["seeds"])
    assert all(json.loads(d.tuned_pack("clr", c))["members"] == [] for c in range(d.tuned_chunks("clr")))
    d.packs = {}
    chunks = [json.loads(d.tuned_pack("clr", c))["members"] for c in range(d.tuned_chunks("clr"))]
    assert sorted(m["run_dir"] for chunk in chunks for m in chunk) == sorted(d.run_dir(r) for r in tuned)


def test_resources_and_time_limits_come_from_the_scale_and_the_throughput_table():
    d = Dag(ROOT, SMOKE, {"ADAMW_SLURM_GPU_PARTITION": "gpu"})
    run = d.grid["clr"][0]
    seconds = throughput.run_seconds(d.resolver.run_config(run), "cnn", d.throughput, "cpu")
    assert d.run_seconds(run) == seconds > 0
    asked = d.pack_resources([run, run])
    assert asked == {"mem_mb": 1000, "cpus_per_task": 1, "gpu": 0, "runtime": throughput.job_plan(2 * seconds).
                     runtime_minutes, "slurm_extra": ""}  # no GPU asked: no GPU partition
    assert d.pack_resources()["runtime"] == d.range_job_plan().runtime_minutes >= 2  # the LR range test: timed
    d.form_packs(main_process=True)
    assert d.train_retries == 2  # one job each, plus one for a transient failure
    assert d.job_environment() == {"PYTHONPATH": str(ROOT / "src")}
    assert Dag(ROOT, SMOKE, {"PYTHONPATH": "/x"}).job_environment()["PYTHONPATH"] == f"{ROOT / 'src'}:/x"
    assert re.fullmatch(r"[0-9a-f]{16}", d.script_digest("scripts/figures/clr.py"))


def test_a_figure_is_redrawn_when_its_script_or_the_analysis_code_changes(tmp_path):
    for name in ("conf", "scripts/figures", "src/adamw_repro/analysis"):
        shutil.copytree(ROOT / name, tmp_path / name)
    def digest() -> str:
        return Dag(tmp_path, SMOKE, {}).script_digest("scripts/figures/clr.py")
    before = digest()
    assert digest() == before  # stable across invocations
    style = tmp_path / "src/adamw_repro/analysis/plotting/style.py"
    style.write_text(style.read_text() + "\n# the shared figure code changed\n")
    after_style = digest()
    script = tmp_path / "scripts/figures/clr.py"
    script.write_text(script.read_text() + "\n# the script changed\n")
    assert len({before, after_style, digest()}) == 3


def test_a_site_time_limit_splits_long_runs_into_jobs_and_sets_the_retries():
    paper = {"scale": "paper", "experiments": "fig3_curves"}
    d = Dag(ROOT, paper, {"ADAMW_SLURM_MAX_RUNTIME": "60", "ADAMW_SLURM_GPU_PARTITION": "gpu"})
    d.form_packs(main_process=True)
    longest = max(d.grid["fig3_curves"], key=d.run_seconds)
    plan = d.job_plan([longest])
    assert plan.runtime_minutes == 60 and plan.jobs >= 26  # 1800 epochs of 2x96d, asked for twice over
    assert d.train_retries == max(d.job_plan([r]).jobs for r in d.grid["fig3_curves"]) + 1
    asked = d.pack_resources([longest])
    assert asked["gpu"] == 1 and asked["slurm_partition"] == "gpu" and asked["slurm_extra"] == "--signal=TERM@300"
    assert any("jobs of at most 60 min" in line for line in d.plan_lines())
    for bad in ("2h", "0"):
        with pytest.raises(ConfigError, match=f"ADAMW_SLURM_MAX_RUNTIME='{bad}' must be a whole number of minutes"):
            dag.site_max_runtime({"ADAMW_SLURM_MAX_RUNTIME": bad})
    assert dag.site_max_runtime({}) is None


def test_the_plan_counts_the_runs_the_tune_stage_will_add():
    d = Dag(ROOT, SMOKE, {})
    lines = d.plan_lines()
    assert lines[0].startswith("plan for scale=smoke:") and "CPU thread" in lines[0]
    assert lines[-1] == "results: results/smoke/ (runs/, runs.parquet, logs/); report: reports/smoke/report.md"
    for experiment in d.experiments:
        row = next(line for line in lines if line.split()[0] == experiment)
        expected = len(tune(d, experiment))  # what the reseed stage adds, from any grid metrics
        assert f"{len(d.grid[experiment])} runs + {expected} tuned" in re.sub(r"\s+", " ", row), row
    total = sum(len(r) for r in d.grid.values())
    total_line = next(ln for ln in lines if ln.strip().startswith("total"))
    assert re.search(rf"total\s+{total} runs\s+[\d.]+ CPU-(seconds|minutes) \(tune stage included\)", total_line)


def test_the_plan_is_printed_once_after_a_dry_run(monkeypatch):
    registered = []
    monkeypatch.setattr(dag.atexit, "register", registered.append)
    d = Dag(ROOT, {"scale": "smoke", "experiments": "fig4_restarts"}, {})
    assert d.targets(False, "a") == ["a"] and registered == []
    assert d.targets(True, "a", "b") == ["a", "b"] and d.targets(True, "a") == ["a"]
    assert len(registered) == 1


def test_packs_of_a_gpu_scale_hold_runs_of_one_stacked_model():
    d = Dag(ROOT, {"scale": "paper", "experiments": "fig2_sgd_adam"}, {})
    for members in d.form_packs(main_process=True).values():
        assert len({packs.stack_key(r.experiment, r.overrides) for r in members}) == 1
