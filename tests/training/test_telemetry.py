"""Per-layer telemetry: what telemetry.csv holds, that recording it changes no number of the run, that a run
stopped mid-epoch resumes its telemetry bitwise, and that AdamW's conv layers settle near the rotational
equilibrium angle sqrt(2*eta*lambda*(1-beta1)/(1+beta1)) (Kosson et al.)."""

from __future__ import annotations

import csv
import math

import pytest

from adamw_repro.schema import TELEMETRY_FIELDS
from adamw_repro.training import loop
from adamw_repro.training.train import train


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def strip_seconds(path):
    return [r.rsplit(",", 1)[0] for r in path.read_text().splitlines()]


@pytest.mark.runs
def test_telemetry_csv_has_a_row_per_epoch_and_weight_and_changes_nothing(make_cfg, tmp_path):
    cfg = ("optimizer=adamw", "schedule=fixed", "optimizer.weight_decay=0.01", "epochs=3", "engine=loop")
    train(make_cfg(*cfg, "telemetry_every=2"), tmp_path / "on")
    train(make_cfg(*cfg), tmp_path / "off")
    table = rows(tmp_path / "on" / "telemetry.csv")
    assert list(table[0]) == list(TELEMETRY_FIELDS)
    layers = sorted({r["layer"] for r in table})
    assert layers == ["0.weight", "10.weight", "3.weight", "6.weight"]  # three conv weights and the classifier
    assert len(table) == 3 * len(layers)
    invariant = {r["layer"]: r["scale_invariant"] == "True" for r in table}
    assert invariant == {"0.weight": True, "3.weight": True, "6.weight": True, "10.weight": False}
    for r in table:
        assert float(r["angular_update"]) > 0 and float(r["weight_norm"]) > 0 and int(r["samples"]) == 4
    assert not (tmp_path / "off" / "telemetry.csv").exists()
    assert strip_seconds(tmp_path / "on" / "history.csv") == strip_seconds(tmp_path / "off" / "history.csv")


@pytest.mark.runs
def test_a_run_stopped_mid_epoch_resumes_its_telemetry_bitwise(make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg("optimizer=adamw", "schedule=fixed", "optimizer.weight_decay=0.01", "epochs=3",
                   "telemetry_every=3", "checkpoint_seconds=100000")
    train(cfg, tmp_path / "ref")
    calls = {"n": 0}

    class StopAfter(loop.StopHandler):
        def __call__(self):  # asked once per batch: a "SIGTERM" in the middle of the second epoch
            calls["n"] += 1
            return "SIGTERM" if calls["n"] == 12 else None

    monkeypatch.setattr(loop, "StopHandler", StopAfter)
    with pytest.raises(SystemExit) as stopped:
        train(cfg, tmp_path / "run")
    assert stopped.value.code == loop.EXIT_PREEMPTED
    monkeypatch.undo()
    resumed = train(cfg, tmp_path / "run")
    assert 1 < resumed["resumed_from"] < 2
    assert strip_seconds(tmp_path / "run" / "telemetry.csv") == strip_seconds(tmp_path / "ref" / "telemetry.csv")


@pytest.mark.runs
@pytest.mark.slow
def test_adamw_conv_layers_turn_at_about_the_equilibrium_angle(make_cfg, tmp_path):
    lam, beta1 = 0.015625, 0.9
    train(make_cfg("scale=quick", "optimizer=adamw", "schedule=fixed", f"optimizer.weight_decay={lam}",
                   "epochs=6", "telemetry_every=2", "val_every=0"), tmp_path / "run")
    predicted = math.sqrt(2 * lam * (1 - beta1) / (1 + beta1))  # eta = 1 at a fixed rate
    last = [r for r in rows(tmp_path / "run" / "telemetry.csv") if r["epoch"] == "6"]
    for r in last:
        if r["layer"] in ("3.weight", "6.weight"):  # the first conv (5 weights a filter) settles more slowly
            assert float(r["angular_update"]) == pytest.approx(predicted, rel=0.25), r
