"""One training run end to end: outputs, determinism, resume after kill -9, divergence, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adamw_repro.schema import HISTORY_FIELDS
from adamw_repro.training.train import ConfigError, train

ROOT = Path(__file__).resolve().parents[2]
HISTORY_HEADER = ",".join(HISTORY_FIELDS)


def cli(run_dir: Path, data_root: Path, *overrides: str, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                             f"data.root={data_root}",
           f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


@pytest.mark.runs
def test_a_run_writes_its_outputs(make_cfg, tmp_path):
    metrics = train(make_cfg("optimizer=adamw", "optimizer.weight_decay=0.01"), run_dir=tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.yaml", "history.csv", "metrics.json", "checkpoint.pt"}
    assert not list(tmp_path.glob("*.tmp*"))
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == HISTORY_HEADER and len(lines) == 1 + 3
    assert metrics["status"] == "ok" and metrics["epochs"] == 3
    assert metrics["steps"] == 3 * metrics["steps_per_epoch"]
    assert 0 <= metrics["final"]["test_error"] <= 1
    prov = metrics["provenance"]
    assert prov["torch"] and prov["git_commit"] and prov["device"] == "cpu"
    assert json.loads((tmp_path / "metrics.json").read_text())["config_digest"] == metrics["config_digest"]


@pytest.mark.runs
def test_same_config_and_seed_give_a_bitwise_identical_history(make_cfg, tmp_path):
    cfg = make_cfg("optimizer=sgdw", "optimizer.weight_decay=0.001", "schedule=warm_restarts", "schedule.T0=1")
    train(cfg, run_dir=tmp_path / "a")
    train(cfg, run_dir=tmp_path / "b")
    strip = lambda p: [ln.rsplit(",", 1)[0] for ln in p.read_text().splitlines()]  # noqa: E731 drop seconds
    assert strip(tmp_path / "a" / "history.csv") == strip(tmp_path / "b" / "history.csv")
    other = train(make_cfg("optimizer=sgdw", "optimizer.weight_decay=0.001", "schedule=warm_restarts",
                           "schedule.T0=1", "seed=1"), run_dir=tmp_path / "c")
    assert other["final"] != json.loads((tmp_path / "a" / "metrics.json").read_text())["final"]


@pytest.mark.runs
def test_a_finished_run_returns_at_once_without_importing_torch(make_cfg, tmp_path, data_root):
    train(make_cfg(), run_dir=tmp_path)
    before = (tmp_path / "metrics.json").stat().st_mtime_ns
    start = time.perf_counter()
    code = ("import sys, json; from adamw_repro.training.train import train, finished_metrics; "
            "from tests.conftest import compose_config; "
            f"m = train(compose_config(data_root={str(data_root)!r}), run_dir={str(tmp_path)!r}); "
            "print(json.dumps(m['status'])); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ['"ok"', "False"]
    assert (tmp_path / "metrics.json").stat().st_mtime_ns == before
    assert time.perf_counter() - start < 30


@pytest.mark.runs
def test_a_changed_config_is_not_taken_for_finished(make_cfg, tmp_path):
    first = train(make_cfg("optimizer.lr=0.01"), run_dir=tmp_path)
    second = train(make_cfg("optimizer.lr=0.02"), run_dir=tmp_path)
    assert first["config_digest"] != second["config_digest"]
    assert json.loads((tmp_path / "metrics.json").read_text())["config_digest"] == second["config_digest"]


@pytest.mark.runs
@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_resumes_and_matches(tmp_path, data_root):
    """SIGKILL after the first checkpoints, rerun the same command: resumed, same final metrics."""
    args = ("epochs=30", "model.width=16", "optimizer=adamw", "optimizer.weight_decay=0.001", "schedule=cosine",
            "checkpoint_seconds=0", "progress_seconds=0")
    ref = cli(tmp_path / "ref", data_root, *args)
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                             f"data.root={data_root}",
                             f"hydra.run.dir={run_dir}", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # progress lines: kill once a few epochs have been checkpointed
        if "epoch 9:" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
    again = cli(run_dir, data_root, *args)
    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= 8  # the line comes before its save
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]
    strip = lambda p: [ln.rsplit(",", 1)[0] for ln in p.read_text().splitlines()]  # noqa: E731
    assert strip(run_dir / "history.csv") == strip(tmp_path / "ref" / "history.csv")


@pytest.mark.runs
@pytest.mark.slow
def test_sigterm_writes_a_mid_epoch_checkpoint_and_the_rerun_matches(tmp_path, data_root):
    # Stopped twice, as a run continued over three SLURM jobs is: the resumed run's own checkpoint resumes too.
    args = ("epochs=20", "model.width=16", "optimizer=sgd", "optimizer.lr=0.05", "checkpoint_seconds=100000",
            "progress_seconds=0")
    assert cli(tmp_path / "ref", data_root, *args).returncode == 0
    run_dir = tmp_path / "term"
    for epoch in (4, 12):
        proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                                 f"data.root={data_root}",
                                 f"hydra.run.dir={run_dir}", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if f"epoch {epoch}:" in line:
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.stderr.read()
        proc.wait()
        assert proc.returncode == 75, rest
        assert "stopped on SIGTERM" in rest and (run_dir / "checkpoint.pt").exists()
    again = cli(run_dir, data_root, *args)
    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert resumed["resumed_from"] >= 12
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]


@pytest.mark.runs
def test_divergence_ends_early_with_status_diverged(make_cfg, tmp_path):
    # without BatchNorm: with it, the conv weights are scale-invariant and even lr=1e6 does not diverge
    metrics = train(make_cfg("model.batch_norm=false", "optimizer=sgd", "optimizer.lr=1e6", "epochs=3"),
                    run_dir=tmp_path)
    assert metrics["status"] == "diverged"
    assert metrics["final"]["test_error"] == metrics["final"]["val_error"] == 1.0
    assert metrics["epochs"] <= 3


@pytest.mark.runs
def test_divergence_exits_zero_on_the_command_line(tmp_path, data_root):
    out = cli(tmp_path, data_root, "optimizer=sgd", "optimizer.lr=1e8")
    assert out.returncode == 0, out.stderr
    assert "diverged" in out.stdout


@pytest.mark.parametrize("override,message", [
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1 must be a positive number (conf/optimizer/adamw.yaml"),
    ("optimizer.weight_decay=-1", "optimizer.weight_decay=-1 must be a number >= 0"),
    ("+optimizer.lambda_norm=0.05 optimizer.weight_decay=0.001".split(" ")[1], None),
])
def test_bad_values_fail_before_anything_is_written(make_cfg, tmp_path, override, message):
    if message is None:
        cfg = make_cfg("optimizer.lambda_norm=0.05", "optimizer.weight_decay=0.001")
        message = "optimizer.weight_decay and optimizer.lambda_norm are both set"
    else:
        cfg = make_cfg(override)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        train(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.runs
@pytest.mark.parametrize("override,expect", [
    ("optimizer=lamb", "optimizer"),
    ("schedule=linear", "schedule"),
    ("optimizer.lr=-1", "error: optimizer.lr=-1 must be a positive number (conf/optimizer/adamw.yaml"),
])
def test_bad_input_on_the_command_line_is_one_clear_error(tmp_path, data_root, override, expect):
    out = cli(tmp_path / "run", data_root, override)
    assert out.returncode != 0
    assert expect in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_unreadable_data_is_a_clear_error(tmp_path):
    from adamw_repro.training.data.mnist1d import cache_path
    from tests.conftest import compose_config

    cfg = compose_config(data_root=tmp_path)
    cache_path(cfg.data).write_bytes(b"not an npz file")
    with pytest.raises(ValueError, match="data.root: cannot read the MNIST-1D cache"):
        train(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.runs
def test_normalized_weight_decay_follows_the_restart_period(make_cfg, tmp_path):
    from adamw_repro.training.loop import effective_lambda

    cfg = make_cfg("optimizer.lambda_norm=0.05")
    lam = effective_lambda(cfg.optimizer, batch_size=128, train_size=50000, period_epochs=100)
    assert lam == pytest.approx(0.05 * (128 / (50000 * 100)) ** 0.5)  # docs/paper.md section 1
    assert effective_lambda(make_cfg("optimizer.lambda_norm=0.025").optimizer, batch_size=128,
                            train_size=50000, period_epochs=100) == pytest.approx(1.26e-4, rel=0.01)
    m = train(make_cfg("optimizer.lambda_norm=0.05", "schedule=warm_restarts", "schedule.T0=1"),
              run_dir=tmp_path)
    assert m["lambda_effective"] == pytest.approx(0.05 * (128 / (1000 * 1)) ** 0.5)


@pytest.mark.runs
def test_threads_setting_is_used(make_cfg, tmp_path):
    m = train(make_cfg("threads=2", "epochs=1"), run_dir=tmp_path)
    assert m["provenance"]["threads"] == 2
