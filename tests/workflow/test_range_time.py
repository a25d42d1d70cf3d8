"""The LR range test's SLURM time limit comes from the measured rates, like a training run's, not from a fixed
minute that a loaded node overruns."""

from __future__ import annotations

from pathlib import Path

import pytest

from adamw_repro.workflow import throughput
from adamw_repro.workflow.dag import Dag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_the_range_test_is_timed_from_the_throughput_table():
    d = Dag(ROOT, {"scale": "smoke", "experiments": "clr"}, {})
    run = d.grid["clr"][0]
    epochs = int(d.resolver.run_config(run)["epochs"])
    expected = throughput.job_plan(d.run_seconds(run) * d.range_epochs / epochs).runtime_minutes
    assert d.range_epochs >= 1 and d.pack_resources()["runtime"] == expected >= 2  # start-up and slack included


def test_without_a_rate_the_scales_runtime_is_used(monkeypatch):
    d = Dag(ROOT, {"scale": "smoke", "experiments": "clr"}, {})
    monkeypatch.setattr(d, "run_seconds", lambda run: None)
    assert d.pack_resources()["runtime"] == int(d.resources["runtime"])
