"""Sweep expansion, run naming, the tune stage and validation, on the real conf/ and on small files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from adamw_repro.workflow import sweeps

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def conf(tmp_path) -> Path:
    """A copy of the real conf/ whose experiment files a test may edit."""
    dst = tmp_path / "conf"
    shutil.copytree(CONF, dst)
    return dst


def write_experiment(conf: Path, name: str, quick: dict) -> None:
    doc = {"experiment_name": name, "sweep": {"quick": quick}}
    (conf / "experiment" / f"{name}.yaml").write_text("# @package _global_\n" + yaml.safe_dump(doc))


def test_expansion_is_the_product_of_each_block_times_the_seeds(conf):
    write_experiment(conf, "toy", {"seeds": [0, 1], "grid": [
        {"optimizer": ["adam", "adamw"], "optimizer.lr": [0.001, 0.01]},
        {"optimizer": ["sgd"], "optimizer.lr": [0.1]},
    ]})
    runs = sweeps.expand("toy", "quick", conf)
    assert len(runs) == (2 * 2 + 1) * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert all(r.run_id.startswith("toy-") and len(r.run_id) == len("toy-") + 8 for r in runs)
    first = runs[0]
    assert first.overrides == tuple(sorted(first.overrides))
    assert first.hydra_overrides("quick")[:2] == ["experiment=toy", "scale=quick"]
    assert first.choices["optimizer"] in ("adam", "adamw")


def test_adding_a_seed_or_a_grid_point_renames_no_existing_run(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer.lr": [0.001, 0.01]}})
    before = {r.run_id for r in sweeps.expand("toy", "quick", conf)}
    write_experiment(conf, "toy", {"seeds": [0, 1], "grid": {"optimizer.lr": [0.001, 0.01, 0.1]}})
    after = {r.run_id for r in sweeps.expand("toy", "quick", conf)}
    assert before < after and len(after) == 6


def test_run_names_do_not_depend_on_key_order_and_change_with_any_value():
    a = sweeps.make_run("e", {"optimizer.lr": 0.01, "seed": 0})
    b = sweeps.make_run("e", {"seed": 0, "optimizer.lr": 0.01})
    c = sweeps.make_run("e", {"seed": 0, "optimizer.lr": 0.02})
    assert a.run_id == b.run_id != c.run_id
    assert sweeps.make_run("f", {"optimizer.lr": 0.01, "seed": 0}).run_id.startswith("f-")


def digest_after(conf: Path, run, edit) -> str:
    """The run's config digest after `edit(doc)` of one of its files (a fresh cache each time)."""
    sweeps._YAML.clear()
    edit()
    defaults = sweeps.default_choices(conf) | sweeps.scale_choices("quick", conf) | \
        sweeps.experiment_choices(run.experiment, conf)
    return sweeps.run_digest(run, sweeps.config_files(run, "quick", defaults, conf), conf)


def test_the_digest_changes_only_with_values_the_run_reads(conf):
    run = sweeps.make_run("clr", {"optimizer": "sgd", "optimizer.lr": 0.125, "schedule": "fixed", "seed": 0})
    other = sweeps.make_run("clr", {"optimizer": "sgd", "schedule": "fixed", "seed": 0})
    exp, opt = conf / "experiment" / "clr.yaml", conf / "optimizer" / "sgd.yaml"

    def rewrite(path, change):
        doc = yaml.safe_load(path.read_text())
        change(doc)
        return lambda: path.write_text("# @package _global_\n" + yaml.safe_dump(doc))

    base, base_other = digest_after(conf, run, lambda: None), digest_after(conf, other, lambda: None)
    assert base != base_other
    # a new seed in the sweep, a comment, a new default for a value the run overrides: nothing changes
    assert digest_after(conf, run, rewrite(exp, lambda d: d["sweep"]["quick"]["seeds"].append(9))) == base
    assert digest_after(conf, run, lambda: opt.write_text(opt.read_text() + "\n# note\n")) == base
    assert digest_after(conf, run, rewrite(opt, lambda d: d.update(lr=0.5))) == base
    assert digest_after(conf, other, lambda: None) != base_other  # ... but the run using the default reruns
    # a value the run reads: it changes
    assert digest_after(conf, run, rewrite(opt, lambda d: d.update(momentum=0.8))) != base
    assert digest_after(conf, run, rewrite(exp, lambda d: d.update(test_every=7))) != base


def test_multirun_commands_mirror_the_grid(conf):
    write_experiment(conf, "toy", {"seeds": [0, 1], "grid": {"optimizer": ["adam", "adamw"],
                                                              "optimizer.lr": [0.001]}})
    (cmd,) = sweeps.multirun_commands("toy", "quick", conf)
    assert cmd == ("python -m adamw_repro.training.train -m experiment=toy scale=quick optimizer=adam,adamw "
                   "optimizer.lr=0.001 seed=0,1")


def test_tune_stage_reruns_the_best_cell_of_each_group_with_fresh_seeds(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer": ["adam", "adamw"],
                                                           "optimizer.lr": [0.001, 0.01],
                                                           "optimizer.weight_decay": [0.0, 0.1]},
                                   "tune": {"over": ["optimizer.lr", "optimizer.weight_decay"], "seeds": [1, 2],
                                            "separate_zero": "optimizer.weight_decay"}})
    grid = sweeps.expand("toy", "quick", conf)

    def val(run):
        a = sweeps.assignment(run)
        return 0.1 if (a["optimizer.lr"], a["optimizer.weight_decay"]) == ("0.01", "0.1") else 0.3

    metrics = {r.run_id: {"status": "ok", "final": {"val_error": val(r)}} for r in grid}
    # one diverged cell never wins, whatever its stored error
    diverged = next(r for r in grid if sweeps.assignment(r)["optimizer.weight_decay"] == "0.0")
    metrics[diverged.run_id] = {"status": "diverged", "final": {"val_error": 0.0}}
    tuned = sweeps.tuned_runs("toy", "quick", metrics, conf)
    assert len(tuned) == 2 * 2 * 2  # (adam, adamw) x (decay zero, nonzero) x seeds 1, 2
    picked = {(a["optimizer"], a["optimizer.weight_decay"], a["optimizer.lr"])
              for a in map(sweeps.assignment, tuned) if a["optimizer.weight_decay"] != "0.0"}
    assert picked == {("adam", "0.1", "0.01"), ("adamw", "0.1", "0.01")}
    assert {sweeps.assignment(r)["seed"] for r in tuned} == {"1", "2"}
    assert not {r.run_id for r in tuned} & {r.run_id for r in grid}


def test_every_shipped_experiment_validates_at_every_scale_it_declares():
    for experiment in sweeps.experiments():
        doc = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())
        for scale in doc["sweep"]:
            assert sweeps.validate(experiment, scale) > 0, (experiment, scale)


def test_a_bad_experiment_name_lists_the_allowed_ones():
    with pytest.raises(sweeps.SweepError, match=r"experiment 'fig9' does not exist; allowed: blog_decays, clr"):
        sweeps.expand("fig9", "quick")


def test_an_override_that_does_not_exist_names_the_file_and_key(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer.learning_rate": [0.1]}})
    with pytest.raises(sweeps.SweepError, match=r"toy.yaml: sweep.quick.grid: override 'optimizer.learning_rate' "
                                                 r"does not exist in the config \(keys of optimizer: betas"):
        sweeps.validate("toy", "quick", conf)


def test_a_schedule_parameter_under_a_schedule_without_it_is_caught(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"schedule": ["fixed"], "schedule.T0": [5]}})
    with pytest.raises(sweeps.SweepError, match="override 'schedule.T0' does not exist"):
        sweeps.validate("toy", "quick", conf)


@pytest.mark.parametrize("key,value,message", [
    ("optimizer.lr", "fast", "optimizer.lr=fast is a str, but optimizer.lr is a float"),
    ("epochs", 2.5, "epochs=2.5 is a float, but epochs is a int"),
    ("optimizer", "lamb", "Could not find 'optimizer/lamb'"),
])
def test_a_grid_value_of_the_wrong_type_names_the_file_and_key(conf, key, value, message):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {key: [value]}})
    with pytest.raises(sweeps.SweepError, match=message.replace("(", r"\(")) as err:
        sweeps.validate("toy", "quick", conf)
    assert "toy.yaml: sweep.quick.grid" in str(err.value)


def test_a_missing_scale_or_empty_seeds_are_reported(conf):
    write_experiment(conf, "toy", {"seeds": [], "grid": {"optimizer.lr": [0.1]}})
    with pytest.raises(sweeps.SweepError, match="sweep.quick.seeds must be a non-empty list"):
        sweeps.expand("toy", "quick", conf)
    with pytest.raises(sweeps.SweepError, match=r"sweep.paper is missing; scales with a sweep: quick"):
        sweeps.expand("toy", "paper", conf)


def test_config_files_of_a_run_are_the_ones_hydra_composes(conf):
    run = sweeps.make_run("fig2_sgd_adam", {"optimizer": "sgdw", "seed": 0})
    defaults = sweeps.default_choices(conf) | sweeps.scale_choices("quick", conf) | \
        sweeps.experiment_choices("fig2_sgd_adam", conf)
    names = {str(p.relative_to(conf)) for p in sweeps.config_files(run, "quick", defaults, conf)}
    assert len(names) == 7
    assert names == {"config.yaml", "data/mnist1d.yaml", "model/cnn.yaml", "optimizer/sgdw.yaml",
                     "schedule/cosine.yaml", "scale/quick.yaml", "experiment/fig2_sgd_adam.yaml"}
