"""The one composition of a run's config (adamw_repro.compose): what Hydra's compose() gives, composed once per
distinct set of group choices, with value overrides set as Hydra sets them and checked to exist and keep their
kind; its resolved fast path equals the slow one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from adamw_repro.compose import Composer, _plain_value_fits, same_kind, to_plain
from adamw_repro.runconfig import CONF_DIR, ConfigError

OVERRIDES = [
    ["scale=smoke"],
    ["experiment=fig2_sgd_adam", "scale=smoke", "optimizer=sgdw", "optimizer.lr=0.125", "seed=3"],
    ["scale=quick", "model=mlp", "optimizer.betas=[0.8,0.9]", "schedule=warm_restarts", "schedule.T0=2"],
    ["scale=smoke", "+extra.key=3", "~test_every", "++optimizer.lr=0.5", "optimizer.weight_decay=1e-3"],
    ["scale=smoke", "hydra.run.dir=/tmp/x", "data={name: mnist1d, train_size: 100, val_size: 50, test_size: 100, "
     "data_seed: 0, root: data, generate: true}"],
]


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(CONF_DIR)


def hydra_compose(overrides: list[str]):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize("overrides", OVERRIDES, ids=lambda o: " ".join(o)[:40])
def test_a_composition_is_what_hydra_composes(composer, overrides):
    ours = composer(overrides)
    assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydra_compose(overrides))
    assert composer.resolved(overrides) == to_plain(ours)


def test_compositions_are_shared_by_runs_that_choose_alike():
    composer = Composer(CONF_DIR)
    composer(["experiment=clr", "scale=smoke", "optimizer.lr=0.1"])
    composer(["experiment=clr", "scale=smoke", "optimizer.lr=0.2", "seed=4"])
    composer(["experiment=clr", "scale=smoke", "optimizer=adamw", "seed=4"])  # adamw: what the defaults choose
    composer(["experiment=clr", "scale=smoke", "optimizer=sgd"])
    assert len({id(c) for c in composer.base.values()}) == 2  # the defaults' tree and sgd's
    assert composer.choices(["experiment=clr", "scale=smoke"])["optimizer"] == "adamw"


def test_a_composer_keeps_to_its_own_conf_folder_inside_another_hydra_context(tmp_path):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "config.yaml").write_text((conf / "config.yaml").read_text().replace("seed: 0 ", "seed: 7 "))
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        assert Composer(conf)(["scale=smoke"]).seed == 7
        assert compose("config", overrides=["scale=smoke"]).seed == 0  # the caller's context is given back


@pytest.mark.parametrize("override,message", [
    ("optimizer.lrr=1", "override 'optimizer.lrr' does not exist in the config (keys of optimizer: betas"),
    ("optimizer.lr=fast", "optimizer.lr=fast is a str, but optimizer.lr is a float (default 0.03125)"),
    ("epochs=2.5", "epochs=2.5 is a float, but epochs is a int"),
    ("deterministic=1", "deterministic=1 is a int, but deterministic is a bool"),
    ("optimizer.lr=0.1,0.2", "optimizer.lr=0.1,0.2 is a sweep of values; a run takes one value"),
    ("optimizer.lr=[0.1", "optimizer.lr=[0.1: no viable alternative"),
    ("optimizer=lamb", "Could not find 'optimizer/lamb'"),
    ("+optimizer.lr=0.1", "+optimizer.lr=0.1: could not append to config: an item is already at 'optimizer.lr'"),
    ("~optimizer.nothing", "~optimizer.nothing: could not delete from config: 'optimizer.nothing' does not exist"),
])
def test_a_bad_override_is_one_error_naming_it(composer, override, message):
    with pytest.raises(ConfigError) as err:
        composer(["scale=smoke", override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_values_keep_their_kind():
    assert same_kind(0.1, 1) and same_kind(None, 0.5) and same_kind([1], "x") and same_kind("a", "b")
    assert not same_kind(1, 0.5) and not same_kind(True, 1) and not same_kind(0.1, "x") and not same_kind(1, True)


def test_an_interpolating_config_is_resolved_per_run(tmp_path):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    path = conf / "config.yaml"
    path.write_text(path.read_text().replace("eval_batch_size: 4096", "eval_batch_size: ${batch_size}"))
    composer = Composer(conf)
    assert composer.composition(("scale=smoke",)).plain is None  # no shortcut: the override changes the value
    assert composer.resolved(["scale=smoke", "batch_size=32"])["eval_batch_size"] == 32


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A composition cache of the test's own (ADAMW_REPRO_CACHE): its entries' folder."""
    monkeypatch.setenv("ADAMW_REPRO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "compositions"


@pytest.mark.parametrize("overrides", OVERRIDES, ids=lambda o: " ".join(o)[:40])
def test_a_cached_composition_is_what_hydra_composes(overrides, cache):
    cold = Composer(CONF_DIR)
    first = cold(overrides)
    assert list(cache.iterdir())  # kept for the next process
    warm = Composer(CONF_DIR)
    second = warm(overrides)
    expected = OmegaConf.to_yaml(hydra_compose(overrides))
    assert OmegaConf.to_yaml(first) == OmegaConf.to_yaml(second) == expected
    assert warm.choices(overrides) == cold.choices(overrides)
    assert warm.resolved(overrides) == cold.resolved(overrides) == to_plain(first)
    assert OmegaConf.is_struct(second)  # a misspelt key fails as in Hydra's composition
    with pytest.raises(ConfigError, match="does not exist"):
        warm(overrides + ["optimizer.learning_rate=0.1"])


def test_an_edit_under_conf_or_a_damaged_entry_composes_afresh(tmp_path, cache):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    run = ["scale=smoke", "optimizer=sgdw"]
    assert Composer(conf)(run).optimizer.momentum == 0.9
    text = (conf / "optimizer" / "sgdw.yaml").read_text()
    (conf / "optimizer" / "sgdw.yaml").write_text(text.replace("momentum: 0.9", "momentum: 0.5"))
    assert Composer(conf)(run).optimizer.momentum == 0.5  # not the cached 0.9
    for entry in cache.iterdir():
        entry.write_text('{"choices_asked": ')  # half-written
    assert Composer(conf)(run).optimizer.momentum == 0.5


def test_a_config_json_cannot_hold_exactly_is_composed_every_time(tmp_path, cache):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    with (conf / "config.yaml").open("a") as f:
        f.write("\nnotes: {3: three}\n")  # an integer key: JSON would give it back as "3"
    for _ in range(2):
        assert list(Composer(conf)(["scale=smoke"]).notes.keys()) == [3]
    assert not cache.exists()


@pytest.mark.parametrize("experiment", ["fig2_sgd_adam", "clr", "timescale"])
def test_a_warm_composition_gives_its_plain_forms_without_building_its_dictconfig(experiment, cache):
    run = [f"experiment={experiment}", "scale=smoke"]
    Composer(CONF_DIR)(run)  # kept on disk
    warm = Composer(CONF_DIR).composition(tuple(run))
    sweep, scale, plain = warm.node("sweep"), warm.node("scale"), warm.plain
    assert warm._cfg is None  # the workflow's digests, sweeps and resources did not need it
    cfg = hydra_compose(run)
    assert sweep == OmegaConf.to_container(cfg.sweep, resolve=True)
    assert scale == OmegaConf.to_container(cfg.scale, resolve=True)
    assert plain == to_plain(cfg)
    # a value override is accepted on the plain form only where Composer.check_value accepts it on the config
    composer = Composer(CONF_DIR)
    fast = {"optimizer.lr=0.5", "epochs=4", "data.root=elsewhere"}
    for line in [*fast, "epochs=2.5", "optimizer.betas=[0.8,0.9]", "model.width=wide", "optimizer.learning_rate=0.1",
                 "sweep.smoke.seeds=[1]"]:
        override = composer.parse(line)
        assert _plain_value_fits(plain, override) == (line in fast), line
        if line in fast:
            composer.check_value(cfg, override)  # accepted there too
            assert composer.resolved(run + [line]) == to_plain(composer(run + [line]))
