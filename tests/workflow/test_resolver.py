"""The Resolver: Hydra's composition once per group choice, each run's config and digest (the one its
metrics.json records), its config files, and validation of every key and value type before any job starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adamw_repro.runconfig import experiment_names
from adamw_repro.workflow import sweeps
from adamw_repro.workflow.resolver import Resolver
from tests.workflow.conftest import CONF, write_experiment


def digest_after(conf: Path, run, edit=lambda: None) -> str:
    """The run's digest after `edit()` of one of its files, from a fresh resolver (it caches what it read)."""
    edit()
    return Resolver("quick", conf).digest(run)


def rewrite(path: Path, change):
    """An edit of `path`'s YAML data by `change(doc)`, keeping its `# @package` line."""
    text = path.read_text()
    doc = yaml.safe_load(text)
    change(doc)
    header = "# @package _global_\n" if text.startswith("# @package _global_") else ""
    return lambda: path.write_text(header + yaml.safe_dump(doc))


def test_the_digest_changes_only_with_values_the_run_reads(conf):
    run = sweeps.make_run("clr", {"optimizer": "sgd", "optimizer.lr": 0.125, "schedule": "fixed", "seed": 0})
    other = sweeps.make_run("clr", {"optimizer": "sgd", "schedule": "fixed", "seed": 0})
    exp, opt = conf / "experiment" / "clr.yaml", conf / "optimizer" / "sgd.yaml"
    base, base_other = digest_after(conf, run), digest_after(conf, other)
    assert base != base_other
    # a new seed in the sweep, a comment, a scale's resources, a new default for a value the run overrides:
    # nothing changes
    assert digest_after(conf, run, rewrite(exp, lambda d: d["sweep"]["quick"]["seeds"].append(9))) == base
    assert digest_after(conf, run, lambda: opt.write_text(opt.read_text() + "\n# note\n")) == base
    quick = conf / "scale" / "quick.yaml"
    assert digest_after(conf, run, lambda: quick.write_text(quick.read_text().replace("mem_mb: 2000",
                                                                                      "mem_mb: 4000"))) == base
    assert digest_after(conf, run, rewrite(opt, lambda d: d.update(lr=0.5))) == base
    assert digest_after(conf, other) != base_other  # ... but the run using the default reruns
    # a value the run reads: it changes
    assert digest_after(conf, run, rewrite(opt, lambda d: d.update(momentum=0.8))) != base
    assert digest_after(conf, run, rewrite(exp, lambda d: d.update(test_every=7))) != base


@pytest.mark.slow
def test_the_digest_is_the_one_a_training_run_records_for_its_fully_composed_config():
    """Composing once per group choice and setting the values ourselves gives the config Hydra composes from
    all of the run's overrides: the digest equals runconfig.config_digest of that (metrics.json's)."""
    from adamw_repro.runconfig import run_config

    resolver = Resolver("smoke")
    runs = [r for e in experiment_names() for r in resolver.grid(e)]
    assert len(runs) > 20
    assert [resolver.digest(run) for run in runs] == full_compose_digests(CONF, runs, "smoke")
    # the slow path (a copy of the composed DictConfig) gives the same configs as the fast one
    assert all(run_config(resolver.config(run)) == resolver.run_config(run) for run in runs)


def full_compose_digests(conf: Path, runs, scale: str = "quick") -> list[str]:
    from hydra import compose, initialize_config_dir

    from adamw_repro.runconfig import config_digest, run_config

    with initialize_config_dir(str(conf), version_base="1.3"):
        return [config_digest(run_config(compose("config", overrides=r.hydra_overrides(scale)))) for r in runs]


def test_an_interpolated_value_follows_the_override_it_reads(conf):
    """A config value that interpolates another (`${batch_size}`) is resolved per run, after the override."""
    path = conf / "config.yaml"
    path.write_text(path.read_text().replace("eval_batch_size: 4096", "eval_batch_size: ${batch_size}"))
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"batch_size": [32, 64], "threads": [2]}})
    resolver = Resolver("quick", conf)
    runs = resolver.grid("toy")
    assert [resolver.run_config(r)["eval_batch_size"] for r in runs] == [32, 64]
    assert [resolver.digest(r) for r in runs] == full_compose_digests(conf, runs)


def test_a_value_that_does_not_change_the_result_leaves_the_digest_alone(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"threads": [1, 2], "data.root": ["a"]}})
    resolver = Resolver("quick", conf)
    runs = resolver.grid("toy")
    assert len({resolver.digest(r) for r in runs}) == 1
    assert [resolver.digest(r) for r in runs] == full_compose_digests(conf, runs)


@pytest.mark.slow
def test_every_shipped_experiment_validates_at_every_scale_it_declares():
    resolvers = {}  # one per scale, as a workflow's Dag holds: compositions shared across experiments
    for experiment in experiment_names():
        doc = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())
        for scale in doc["sweep"]:
            if scale not in resolvers:
                resolvers[scale] = Resolver(scale)
            assert resolvers[scale].validate(experiment) > 0, (experiment, scale)


def test_an_override_that_does_not_exist_names_the_file_and_key(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer.learning_rate": [0.1]}})
    with pytest.raises(sweeps.SweepError, match=r"toy.yaml: sweep.quick.grid: override 'optimizer.learning_rate' "
                                                 r"does not exist in the config \(keys of optimizer: betas"):
        Resolver("quick", conf).validate("toy")


def test_a_schedule_parameter_under_a_schedule_without_it_is_caught(conf):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"schedule": ["fixed"], "schedule.T0": [5]}})
    with pytest.raises(sweeps.SweepError, match="override 'schedule.T0' does not exist"):
        Resolver("quick", conf).validate("toy")


@pytest.mark.parametrize("key,value,message", [
    ("optimizer.lr", "fast", "optimizer.lr=fast is a str, but optimizer.lr is a float"),
    ("epochs", 2.5, "epochs=2.5 is a float, but epochs is a int"),
    ("deterministic", 1, "deterministic=1 is a int, but deterministic is a bool"),
    ("optimizer", "lamb", "Could not find 'optimizer/lamb'"),
    ("optimizer.lr", "0.1,0.2", "optimizer.lr=0.1,0.2 is a sweep of values"),
])
def test_a_grid_value_of_the_wrong_type_names_the_file_and_key(conf, key, value, message):
    write_experiment(conf, "toy", {"seeds": [0], "grid": {key: [value]}})
    with pytest.raises(sweeps.SweepError, match=message.replace("(", r"\(")) as err:
        Resolver("quick", conf).validate("toy")
    assert "toy.yaml: sweep.quick.grid" in str(err.value)


def test_values_are_parsed_as_hydra_parses_them(conf):
    """1e-3 is a float to Hydra (not a string, as to PyYAML), and an int may stand for a float."""
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer.lr": ["1e-3", 1]}})
    resolver = Resolver("quick", conf)
    assert resolver.validate("toy") == 2
    assert [resolver.config(r).optimizer.lr for r in resolver.grid("toy")] == [0.001, 1]


def test_config_files_of_a_run_are_the_ones_hydra_composes(conf):
    run = sweeps.make_run("fig2_sgd_adam", {"optimizer": "sgdw", "seed": 0})
    names = {str(p.relative_to(conf)) for p in Resolver("quick", conf).config_files(run)}
    assert names == {"config.yaml", "data/mnist1d.yaml", "model/cnn.yaml", "optimizer/sgdw.yaml",
                     "schedule/cosine.yaml", "scale/quick.yaml", "experiment/fig2_sgd_adam.yaml"}
    paper = {str(p.relative_to(conf)) for p in Resolver("paper", conf).config_files(run)}
    assert {"data/cifar10.yaml", "model/shake_shake_26_2x64d.yaml", "scale/paper.yaml"} <= paper


def test_the_scale_node_comes_from_the_composed_config(conf):
    assert Resolver("quick", conf).scale_config()["resources"]["gpu"] == 0
    assert Resolver("paper", conf).scale_config()["resources"]["gpu"] == 1
