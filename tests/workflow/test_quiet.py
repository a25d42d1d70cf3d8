"""A dry run ends with the plan and fits on a screen: the profiles turn Snakemake's per-job listing, shell
commands and banner off; `--quiet host --printshellcmds` (the README's flag) brings the listing back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
import yte

from tests.workflow_helpers import copy_workflow, snakemake

ROOT = Path(__file__).resolve().parents[2]


def profile(name: str) -> dict:
    """The profile as Snakemake reads it (profiles/slurm is a YTE template)."""
    text = (ROOT / "profiles" / name / "config.yaml").read_text()
    return yte.process_yaml(text) if "__use_yte__" in text else yaml.safe_load(text)


@pytest.mark.parametrize("name", ["default", "local", "slurm"])
def test_every_profile_hides_the_job_listing_and_shell_commands(name):
    conf = profile(name)
    assert set(conf["quiet"]) == {"rules", "progress"}  # exactly these: a dry run then stops after the plan
    assert conf["printshellcmds"] is False


@pytest.mark.snakemake
@pytest.mark.slow
def test_the_smoke_dry_run_is_short_and_ends_with_the_plan(tmp_path, dry_run):
    work = copy_workflow(tmp_path / "w")
    out = dry_run("smoke")
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    lines = text.splitlines()
    assert "jobid:" not in text and "reason:" not in text and "Job stats" not in text
    assert out.stdout.rstrip().splitlines()[-1].startswith("results: results/smoke/")
    assert any(line.strip().startswith("jobs per run: 1") for line in lines), out.stdout
    assert max(len(line) for line in lines) < 400 and len(lines) < 120, (len(lines), max(map(len, lines)))
    full = snakemake(work, "-n", "--quiet", "host", "--printshellcmds", "--config", "scale=smoke")
    assert full.returncode == 0 and "jobid:" in full.stdout and "adamw_repro.training.pack" in full.stdout
    # no job declares a tracked file (reports/) as its output: Snakemake deletes the outputs of a job before it
    # runs and after it fails, and the committed report must survive both (analysis/report_files.py publishes)
    outputs = [ln.split(":", 1)[1] for ln in full.stdout.splitlines() if ln.strip().startswith("output:")]
    assert outputs and not [o for o in outputs if "reports/" in o], outputs
    assert any("results/smoke/report/report.md" in o for o in outputs)


@pytest.mark.snakemake
@pytest.mark.slow
def test_the_paper_dry_run_fits_on_one_screen(dry_run):
    """Hundreds of pack jobs: before the profiles' quiet, 5,913 lines (the job listing, the job counts per rule)."""
    out = dry_run("paper")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = (out.stdout + out.stderr).splitlines()
    rows = sum(max(1, -(-len(line) // 120)) for line in lines)  # on a terminal 120 columns wide
    assert rows <= 50, (rows, lines)
    assert out.stdout.rstrip().splitlines()[-1].startswith("results: results/paper/")
