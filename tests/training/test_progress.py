"""What a run tells its log: its name by settings, live progress, the summary line, the optional TensorBoard."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from adamw_repro.runconfig import ConfigError, run_label
from adamw_repro.training.train import train


def test_a_run_is_named_by_its_settings(make_cfg):
    cfg = make_cfg("experiment=fig1_schedules", "optimizer=sgdw", "optimizer.lr=0.05",
                   "optimizer.weight_decay=null", "optimizer.lambda_norm=0.025", "seed=3")
    label = run_label(cfg, "fig1_schedules-1234abcd")
    assert label.startswith("fig1_schedules sgdw ")
    for part in ("alpha=0.05", "lambda_norm=0.025", "seed=3", "(fig1_schedules-1234abcd)", f"epochs={cfg.epochs}"):
        assert part in label, label


@pytest.mark.runs
def test_progress_lines_carry_the_name_and_come_every_progress_seconds(make_cfg, tmp_path, monkeypatch, capsys):
    from adamw_repro.training import loop

    clock = iter(range(0, 100_000, 10))  # every call to the clock "takes" 10 s
    monkeypatch.setattr(loop.time, "monotonic", lambda: next(clock))
    train(make_cfg("epochs=30", "optimizer=adamw", "progress_seconds=30"), tmp_path / "run")
    lines = [line for line in capsys.readouterr().err.splitlines() if "] epoch " in line]
    assert 3 <= len(lines) < 30  # a line once 30 s have passed, not one per epoch
    assert lines[0].startswith("[adhoc adamw ") and "(run)] epoch " in lines[0]


@pytest.mark.runs
def test_a_short_run_prints_no_progress_and_a_long_one_every_epoch_with_progress_seconds_0(make_cfg, tmp_path,
                                                                                           capsys):
    train(make_cfg("epochs=2", "optimizer=adamw"), tmp_path / "quiet")
    assert "] epoch " not in capsys.readouterr().err  # seconds long: the summary line says it all
    train(make_cfg("epochs=3", "optimizer=adamw", "progress_seconds=0"), tmp_path / "every")
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "] epoch " in ln]
    assert [ln.split("] epoch ")[1].split(":")[0] for ln in lines] == ["1", "2", "3"]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
@pytest.mark.runs
def test_tensorboard_without_the_package_is_one_clear_error(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"tensorboard=true needs the tensorboard package.*conf/config.yaml"):
        train(make_cfg("tensorboard=true"), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="pip install tensorboard")
@pytest.mark.runs
def test_tensorboard_writes_every_epoch(make_cfg, tmp_path):
    train(make_cfg("tensorboard=true", "epochs=2"), tmp_path / "run")
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_tensorboard_is_off_by_default_and_not_part_of_a_run(make_cfg):
    from adamw_repro.runconfig import config_digest, run_config

    assert make_cfg().tensorboard is False
    assert config_digest(run_config(make_cfg())) == config_digest(run_config(make_cfg("tensorboard=true")))


@pytest.mark.slow
def test_the_command_line_ends_with_a_one_line_summary(tmp_path, data_root):
    out = subprocess.run([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke", "epochs=1",
                          f"data.root={data_root}", f"hydra.run.dir={tmp_path / 'run'}"],
                         capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("adhoc adamw cosine alpha=") and "(run): ok, test error " in last, last
