"""The workflow through the real `snakemake` command: the smoke scale end to end, no-op reruns, what a
change retrains, and bad input reported before any job starts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from adamw_repro.analysis.claims import REGISTRY
from adamw_repro.runconfig import experiment_names
from tests.workflow_helpers import copy_workflow, snakemake

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = experiment_names(ROOT / "conf")
FIGURES = (*(e for e in EXPERIMENTS if (ROOT / "scripts/figures" / f"{e}.py").exists()), "clr_range")


@pytest.fixture
def smoke(smoke_workflow):
    """The smoke scale trained once per session (tests/workflow/conftest.py)."""
    return smoke_workflow


@pytest.mark.snakemake
@pytest.mark.slow
def test_smoke_writes_the_report_and_every_figure(smoke):
    report = (smoke / "reports/smoke/report.md").read_text()
    for fig in FIGURES:
        for ext in ("png", "pdf"):
            path = smoke / f"reports/smoke/figures/{fig}.{ext}"
            assert path.exists() and path.stat().st_size > 1000, path
        assert f"figures/{fig}.png" in report
    for n in REGISTRY:  # every registered finding
        assert f"[{n}](#claim-{n})" in report and f'<a id="claim-{n}"></a>' in report
    assert "holds: lambda=0: Adam == AdamW" in report


@pytest.mark.snakemake
@pytest.mark.slow
def test_the_tables_hold_every_run_with_labels_from_its_config(smoke):
    runs = pd.read_parquet(smoke / "results/smoke/runs.parquet")
    history = pd.read_parquet(smoke / "results/smoke/history.parquet")
    run_dirs = [p for p in (smoke / "results/smoke/runs").iterdir() if (p / "metrics.json").exists()]
    assert len(runs) == len(run_dirs) and set(runs["run_id"]) == {p.name for p in run_dirs}
    assert set(runs["experiment"]) == set(EXPERIMENTS)
    assert (runs["scale"] == "smoke").all() and runs["status"].isin(["ok", "diverged"]).all()
    assert len(history) == runs["epochs_run"].sum()
    tuned = json.loads((smoke / "results/smoke/tuned/fig1_schedules.json").read_text())
    assert tuned and set(tuned) <= set(runs["run_id"])  # the tune stage ran and its runs are in the table
    assert pd.read_csv(smoke / "results/smoke/runs.csv").shape == runs.shape


@pytest.mark.snakemake
@pytest.mark.slow
def test_the_reports_numbers_match_the_aggregated_table(smoke):
    from adamw_repro.analysis.report import EXPERIMENTS, best_settings, interval, with_decay_label

    report = (smoke / "reports/smoke/report.md").read_text()
    runs = with_decay_label(pd.read_parquet(smoke / "results/smoke/runs.parquet"))
    checked = 0
    for name, (_, by, _) in EXPERIMENTS.items():
        best = best_settings(runs[runs["experiment"] == name], by)
        for _, row in best.iterrows():
            assert f"| {interval(row['test'])} |" in report, (name, row.to_dict())
            checked += 1
    assert checked >= 8
    n_runs = int(re.search(r"- Runs: (\d+) in", report).group(1))
    assert n_runs == len(runs)


@pytest.mark.snakemake
@pytest.mark.slow
def test_a_second_run_does_nothing_and_a_new_seed_trains_only_new_runs(smoke):
    again = snakemake(smoke, "-n", "--config", "scale=smoke")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    path = smoke / "conf/experiment/clr.yaml"
    original = path.read_text()
    doc = yaml.safe_load(original)
    doc["sweep"]["smoke"]["seeds"] = [0, 7]
    path.write_text("# @package _global_\n" + yaml.safe_dump(doc))
    try:
        plan = snakemake(smoke, "-n", *LISTING, "--config", "scale=smoke")
    finally:
        path.write_text(original)
    assert plan.returncode == 0, plan.stderr
    new = planned_runs(plan.stdout)
    assert len(new) == 2 and all(r.startswith("clr-") for r in new), plan.stdout  # 2 clr cells x the new seed


@pytest.mark.snakemake
@pytest.mark.slow
def test_editing_a_value_retrains_exactly_the_runs_that_read_it(smoke):
    path = smoke / "conf/schedule/triangular.yaml"
    original = path.read_text()
    try:
        path.write_text(original + "\n# a comment changes nothing\n")
        assert "Nothing to be done" in snakemake(smoke, "-n", "--config", "scale=smoke").stdout
        path.write_text(path.read_text().replace("base_fraction: 0.25", "base_fraction: 0.5"))
        plan = snakemake(smoke, "-n", *LISTING, "--config", "scale=smoke", "experiments=clr")
    finally:
        path.write_text(original)  # the session's smoke workflow, as other tests expect it
    schedules = {d.name: yaml.safe_load((d / "config.yaml").read_text())["schedule"]["name"]
                 for d in (smoke / "results/smoke/runs").iterdir()}
    triangular = {run for run, name in schedules.items() if name == "triangular"}
    assert triangular and planned_runs(plan.stdout) == triangular  # its grid run and the tune stage's reseeds


# Snakemake's per-job listing, which the profiles turn off (quiet: [rules, progress]): the README's flag
LISTING = ("--quiet", "host")


def planned_runs(stdout: str) -> set[str]:
    """The run ids whose metrics.json a dry run's pack jobs would write."""
    return set(re.findall(r"runs/([^/\s,]+)/metrics\.json", "\n".join(
        line for line in stdout.splitlines() if line.strip().startswith("output:") and "/packs/" in line)))


@pytest.mark.snakemake
@pytest.mark.parametrize("config,message", [
    ("experiments=fig9", "--config experiments=fig9 is unknown; allowed: blog_decays, clr"),
    ("scale=huge", "--config scale=huge is unknown; allowed: budget, paper, quick, smoke (files in conf/scale/)"),
])
def test_bad_input_is_reported_before_any_job_starts(tmp_path, config, message):
    work = copy_workflow(tmp_path)
    out = snakemake(work, "--cores", "1", "--config", config)
    assert out.returncode != 0
    assert message in out.stderr
    assert not (work / "results").exists()
    # A wrong grid value is refused the same way: in process in test_resolver.py, through snakemake in
    # test_bad_input.py.

