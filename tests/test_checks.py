"""The one validation of a run's config (adamw_repro.checks), here its refusal of keys no config file defines:
`+optimzer=sgd` used to add a top-level key and train adamw silently. Every entry point refuses it: a solo run,
a pack's member, the workflow's grid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adamw_repro.checks import check_config, check_keys
from adamw_repro.compose import Composer, to_plain
from adamw_repro.runconfig import CONF_DIR, ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(CONF_DIR)


def refusal(composer: Composer, overrides: list[str], inferred: bool = False) -> str:
    """The one-line error of check_config on these overrides, with the composer's choices or inferred ones."""
    cfg = composer(overrides)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, None if inferred else composer.choices(overrides))
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("inferred", [False, True])
def test_a_key_no_config_file_defines_is_refused_naming_the_allowed_keys_and_their_files(composer, inferred):
    top = refusal(composer, ["scale=smoke", "+optimzer=sgd"], inferred)
    assert top.startswith("optimzer is not a config key (did you mean optimizer?); allowed at the top level: amp, ")
    assert "optimizer, " in top and "sweep" in top and "(the keys of conf/config.yaml, the config groups" in top
    group = refusal(composer, ["scale=smoke", "optimizer=sgd", "+optimizer.lrr=1"], inferred)
    assert group.startswith("optimizer.lrr is not a config key (did you mean optimizer.lr?); keys of optimizer: "
                            "betas, decay_bias_and_norm, eps, lambda_norm, lr, momentum, name, weight_decay "
                            "(defined in conf/optimizer/sgd.yaml;")
    deep = refusal(composer, ["scale=quick", "+scale.resources.gpus=1"], inferred)
    assert "scale.resources.gpus is not a config key (did you mean scale.resources.gpu?)" in deep
    assert "(defined in conf/scale/quick.yaml;" in deep


def test_keys_a_scale_sets_in_another_group_are_allowed_and_named(composer):
    # quick.yaml (package _global_) sets model.batch_norm, which mlp.yaml does not define
    overrides = ["scale=quick", "model=mlp"]
    check_config(composer(overrides), composer.choices(overrides))
    check_config(to_plain(composer(overrides)))  # a resolved config, choices inferred
    message = refusal(composer, [*overrides, "+model.forward=shake"])
    assert "keys of model: batch_norm, depth, name, width (defined in conf/model/mlp.yaml, conf/scale/quick.yaml;" \
        in message


def test_every_key_the_files_define_passes_and_a_plus_of_a_null_key_too(composer):
    for overrides in (["experiment=clr", "scale=smoke"], ["experiment=fig3_curves", "scale=paper"],
                      ["scale=smoke", "+optimizer.lambda_norm=0.05"], ["scale=smoke", "++seed=3"]):
        check_keys(composer(overrides), composer.choices(overrides))
        check_keys(composer(overrides))


def test_a_pack_member_with_an_added_key_is_refused_before_anything_is_written(tmp_path):
    from adamw_repro.training.pack import compose_members

    entries = [{"run_dir": str(tmp_path / "m0"), "overrides": ["scale=smoke", "+optimizer.lrr=1"]}]
    with pytest.raises(ConfigError, match="optimizer.lrr is not a config key"):
        compose_members(entries)
    assert not (tmp_path / "m0").exists()


def test_a_solo_run_with_an_added_key_fails_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "adamw_repro.training.train", "+optimzer=sgd", "scale=smoke",
                          f"hydra.run.dir={run_dir}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: optimzer is not a config key (did you mean "
                                                          "optimizer?)")
    assert "Traceback" not in out.stderr and not (run_dir / "metrics.json").exists()
    assert "test error" not in out.stdout
