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


def test_progress_lines_carry_the_name_and_come_at_least_once_a_minute(make_cfg, tmp_path, monkeypatch, capsys):
    from adamw_repro.training import loop

    clock = iter(range(0, 10_000, 61))  # every epoch "takes" 61 s
    monkeypatch.setattr(loop.time, "monotonic", lambda: next(clock))
    cfg = make_cfg("epochs=30", "optimizer=adamw")
    train(cfg, tmp_path / "run")
    lines = [line for line in capsys.readouterr().err.splitlines() if "] epoch " in line]
    assert len(lines) == 30  # one per epoch, although 10 % of the run is 3 epochs
    assert lines[0].startswith("[adhoc adamw ") and "(run)] epoch 1:" in lines[0]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
def test_tensorboard_without_the_package_is_one_clear_error(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"tensorboard=true needs the tensorboard package.*conf/config.yaml"):
        train(make_cfg("tensorboard=true"), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="pip install tensorboard")
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
