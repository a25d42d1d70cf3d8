"""Names that reach a shell or a path (experiments, scales, the LR range test's optimizers) are names, checked
against a strict pattern and conf/'s files while the DAG is built: a hostile file name or `--config` value is
one error line before any job, and its payload never runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from adamw_repro.runconfig import ConfigError
from adamw_repro.workflow import dag, guard, sweeps
from tests.workflow_helpers import copy_workflow, snakemake

HOSTILE = "zz|touch$IFS.X|cat"  # `touch .X` in any shell that runs the name unquoted
EXPERIMENTS = "blog_decays, clr, fig1_schedules, fig2_sgd_adam, fig3_curves, fig4_restarts, figS3_budgets"


@pytest.mark.parametrize("value", ["../../x", "..", "a/b", "/etc/passwd", ".hidden", "-x", "fig1;touch X",
                                   "fig1 schedules", "$(touch X)", "a\tb"])
def test_an_experiment_that_is_not_a_name_is_one_line(conf, value):
    with pytest.raises(ConfigError) as err:
        dag.select_experiments(conf, {"experiments": f"clr,{value}"})
    assert str(err.value) == (f"--config experiments={value} is not a name (allowed: letters, digits, '_', '.' and "
                              f"'-' (not first)); allowed values: {EXPERIMENTS}, rotation, testbed, timescale, "
                              "torch_adamw (all, or a comma-separated list; files in conf/experiment/)")


def test_an_unknown_experiment_or_scale_names_the_allowed_ones(conf):
    with pytest.raises(ConfigError, match=r"^--config experiments=fig9 is unknown; allowed: blog_decays, clr, "
                                          r".*torch_adamw \(all, or a comma-separated list; files in "
                                          r"conf/experiment/\)$"):
        dag.select_experiments(conf, {"experiments": "fig9"})
    with pytest.raises(ConfigError, match=r"^--config scale=\.\./x is not a name .*allowed values: budget, paper, "
                                          r"quick, smoke \(files in conf/scale/\)$"):
        dag.select_scale(conf, {"scale": "../x"})


def test_a_path_is_no_experiment_file(conf):
    """`experiment_file` answers names only: ../x would read a file outside conf/experiment/."""
    (conf / "outside.yaml").write_text("sweep: {}\n")
    with pytest.raises(sweeps.SweepError, match=r"^experiment '\.\./outside' does not exist; allowed: blog_decays"):
        sweeps.experiment_file("../outside", conf)


@pytest.mark.parametrize("group", ["experiment", "scale"])
def test_a_file_whose_name_is_not_a_name_stops_the_dag(conf, group):
    src = conf / group / ("clr.yaml" if group == "experiment" else "smoke.yaml")
    shutil.copy(src, conf / group / f"{HOSTILE}.yaml")
    with pytest.raises(ConfigError) as err:
        dag.Dag(conf.parent, {"scale": "smoke"}, {})
    assert str(err.value) == (f"{conf / group / (HOSTILE + '.yaml')}: {HOSTILE!r} is not a usable {group} name; "
                              "allowed: letters, digits, '_', '.' and '-' (not first); rename or remove the file")


def test_a_hostile_lr_range_optimizer_is_refused(conf):
    path = conf / "experiment" / "clr.yaml"
    text = path.read_text()
    assert "bounds: {sgd: [0.001, 1.0], adam:" in text
    path.write_text(text.replace("bounds: {sgd: [0.001, 1.0], adam:", "bounds: {sgd: [0.001, 1.0], 'adam;touch X':"))
    with pytest.raises(ConfigError, match=r"^lr_range.bounds: optimizer=adam;touch X is not a name .*allowed values:"
                                          r" adam, adamw.* \(keys of lr_range.bounds in .*clr.yaml\)$"):
        dag.Dag(conf.parent, {"scale": "smoke", "experiments": "clr"}, {})


def test_names_follow_the_pattern():
    assert all(guard.is_name(n) for n in ("fig1_schedules", "figS3_budgets", "a.b-c", "_x", "0"))
    assert not any(guard.is_name(n) for n in ("", "..", ".x", "-x", "a/b", "a b", "a|b", "a$b", "a\nb", "é"))


RULES = Path(__file__).resolve().parents[2] / "rules" / "train.smk"


def test_the_training_rules_quote_every_name_they_put_in_a_shell():
    """Every `{wildcards.*}`, `{params.*}`, `{output*}` and `{log}` in rules/train.smk's shell strings is :q quoted
    (the stale-stamp globs are the one exception: a glob must stay unquoted, and its run directories are names)."""
    text = RULES.read_text()
    shells = re.findall(r"shell:\n((?:\s+(?:\".*\"|#.*)\n)+)", text)
    assert len(shells) == 7
    fields = [f for block in shells for f in re.findall(r"(?<!\{)\{([a-z_.]+(?::q)?)\}(?!\})", block)]
    assert fields and all(f.endswith(":q") or f == "params.stale" for f in fields), fields


@pytest.mark.snakemake
@pytest.mark.slow
def test_a_hostile_experiment_file_never_runs_its_payload(tmp_path):
    """The issue's file name: under the default `experiments=all`, the dry run and the real run both stop with
    one line naming the file (exit 2) before any job; `touch` never runs, nothing is written."""
    work = copy_workflow(tmp_path / "wf")
    shutil.copy(work / "conf/experiment/clr.yaml", work / "conf/experiment" / f"{HOSTILE}.yaml")
    for args in (["-n"], ["--cores", "1"]):
        out = snakemake(work, *args, "--config", "scale=smoke")
        errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
        assert out.returncode == 2 and len(errors) == 1, out.stderr[-3000:]
        assert errors[0] == (f"error: {work / 'conf/experiment' / (HOSTILE + '.yaml')}: {HOSTILE!r} is not a usable "
                             "experiment name; allowed: letters, digits, '_', '.' and '-' (not first); rename or "
                             "remove the file")
        assert "Traceback" not in out.stderr
    assert not list(tmp_path.rglob("*X")) and not Path(".X").exists()
    assert not (work / "results").exists()


@pytest.mark.snakemake
@pytest.mark.parametrize("value", ["../../x", "fig4_restarts;touch X", "fig4_restarts,$(touch X)"])
def test_a_traversal_or_shell_in_config_experiments_is_one_line(tmp_path, value):
    work = copy_workflow(tmp_path / "wf")
    out = snakemake(work, "-n", "--config", "scale=smoke", f"experiments={value}")
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 2 and len(errors) == 1, out.stderr[-3000:]
    bad = value.split(",")[-1]
    assert errors[0].startswith(f"error: --config experiments={bad} is not a name"), errors
    assert not list(tmp_path.rglob("X")) and not (tmp_path / "x").exists() and not (work / "results").exists()
