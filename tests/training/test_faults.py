"""Bad input and faults of one run. Input is refused before any work, in one line that names the option or file,
the value, what is allowed and where to change it; a fault is survived: nothing finished lost or silently
replaced, a corrupt file named and moved aside (not deleted), the final checkpoint used.

Checks run in-process on the composed config where they can (fast); the command line is exercised where the
behaviour lives there (one-line output, exit code, Hydra's run directory, signals)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adamw_repro.training.train import ConfigError, _prepare_argv, train

ROOT = Path(__file__).resolve().parents[2]


def cli(run_dir, data_root, *overrides, timeout=120, cwd=ROOT) -> subprocess.CompletedProcess:
    where = [f"hydra.run.dir={run_dir}"] if run_dir is not None else []
    cmd = [sys.executable, "-m", "adamw_repro.training.train", "scale=smoke", f"data.root={data_root}", *where,
           *overrides]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def nothing_finished(run_dir: Path) -> None:
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "checkpoint.pt").exists()


def strip_seconds(path: Path) -> list[str]:
    return [ln.rsplit(",", 1)[0] for ln in path.read_text().splitlines()]


# -- input: refused before any work ------------------------------------------------------------------------
BAD = [
    (("optimizer.lr=nan",), r"optimizer.lr=nan must be a positive number \(conf/optimizer/adamw.yaml"),
    (("optimizer.lr=inf",), r"optimizer.lr=inf must be a positive number"),
    (("seed=abc",), r"seed='abc' is not allowed; allowed: an integer in 0..4294967295 .*\(conf/config.yaml or "
                    r"seed=\.\.\.\)"),
    (("seed=1.5",), r"seed=1.5 is not allowed; allowed: an integer in 0..4294967295"),
    (("seed=4294967296",), r"seed=4294967296 is not allowed; allowed: an integer in 0..4294967295 \(torch's "
                           r"generator keeps 32 bits: larger seeds alias smaller ones\)"),
    (("model.width=0",), r"model.width=0 is not allowed; allowed: an integer >= 1 \(conf/model/cnn.yaml"),
    (("data.train_size=0",), r"data.train_size=0 is not allowed; allowed: an integer >= 1 \(conf/data/mnist1d"),
    (("optimizer.betas=[0.9,0.99,0.9]",), r"optimizer.betas=\[0.9, 0.99, 0.9\] is not allowed; allowed: two "
                                          r"numbers in \[0, 1\)"),
    (("optimizer.betas=[0.9]",), r"optimizer.betas=\[0.9\] is not allowed"),
    (("optimizer.betas=0.9",), r"optimizer.betas=0.9 is not allowed"),
    (("checkpoint_seconds=-1",), r"checkpoint_seconds=-1 is not allowed; allowed: a number of seconds >= 0 .*"
                                 r"\(conf/config.yaml"),
    (("eval_batch_size=0",), r"eval_batch_size=0 is not allowed; allowed: an integer >= 1"),
    (("optimizer.eps=-1",), r"optimizer.eps=-1 is not allowed; allowed: a number >= 0.*conf/optimizer/adamw.yaml"),
    (("optimizer=sgd", "optimizer.momentum=1.5"), r"optimizer.momentum=1.5 is not allowed; allowed: a number in"),
    (("batch_size=5000",), r"batch_size=5000 is larger than the training set \(data.train_size=1000\); allowed: "
                           r"1..1000"),
    (("epochs=2.5",), r"epochs=2.5 is not allowed; allowed: an integer >= 1"),
    (("test_every=-1",), r"test_every=-1 is not allowed"),
    (("schedule=warm_restarts", "schedule.T0=0"), r"schedule.T0=0 is not allowed; allowed: a number of epochs > 0 "
                                                  r"\(conf/schedule/warm_restarts.yaml"),
    (("schedule=warm_restarts", "schedule.T_mult=0"), r"schedule.T_mult=0 is not allowed; allowed: an integer >= 1"),
    (("schedule=warm_restarts", "schedule.T0=0.001"), r"schedule.T0=0.001 is shorter than one step \(8 steps per "
                                                      r"epoch\); allowed: >= 0.125"),
    (("schedule=triangular", "schedule.stepsize_epochs=0"), r"schedule.stepsize_epochs=0 is not allowed"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_bad_value_is_refused_before_anything_is_written(make_cfg, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        train(make_cfg(*overrides), run_dir=tmp_path / "run")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_device_cuda_without_a_gpu_is_refused(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"device=cuda but torch sees no CUDA GPU here; allowed: auto .* or cpu"):
        train(make_cfg("device=cuda"), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_missing_mnist1d_cache_with_generation_off_names_the_option(tmp_path):
    from tests.conftest import compose_config

    cfg = compose_config("data.generate=false", data_root=tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"data.generate=false and the MNIST-1D cache .*mnist1d-1500-1000.* is "
                                          r"missing; allowed: data.generate=true"):
        train(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("overrides,expect", [
    (("optimizer.lr=nan",), "error: optimizer.lr=nan must be a positive number"),
    (("seed=abc",), "error: seed='abc' is not allowed"),
    (("optimizer.betas=[0.9,0.99,0.9]",), "error: optimizer.betas=[0.9, 0.99, 0.9] is not allowed"),
    (("schedule=warm_restarts", "schedule.T0=0"), "error: schedule.T0=0 is not allowed"),  # used to hang
    (("schedule=warm_restarts", "schedule.T_mult=0"), "error: schedule.T_mult=0 is not allowed"),  # used to hang
    # These fail after torch is imported (~2 s each).
    pytest.param(("device=cuda",), "error: device=cuda but torch sees no CUDA GPU", marks=pytest.mark.slow),
    pytest.param(("data.generate=false", "data.root=/nonexistent/adamw-repro"),
                 "error: data.generate=false and the MNIST-1D", marks=pytest.mark.slow),
    pytest.param(("schedule=warm_restarts", "schedule.T0=0.001"), "error: schedule.T0=0.001 is shorter than one",
                 marks=pytest.mark.slow),
])
def test_bad_input_on_the_command_line_is_one_line_and_exit_2(tmp_path, data_root, overrides, expect):
    if "device=cuda" in overrides and __import__("torch").cuda.is_available():
        pytest.skip("a GPU is present")
    out = cli(tmp_path / "run", data_root, *overrides, timeout=60)  # a hang fails as a timeout
    assert one_error_line(out).startswith(expect)
    nothing_finished(tmp_path / "run")


def test_a_yaml_syntax_error_or_unknown_choice_is_one_line_naming_the_file(tmp_path, data_root):
    (tmp_path / "conf/experiment").mkdir(parents=True)
    (tmp_path / "conf/experiment/broken.yaml").write_text("# @package _global_\nsweep:\n  smoke: {seeds: [0]\n")
    extra = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    line = one_error_line(cli(tmp_path / "run", data_root, "experiment=broken", extra))
    assert re.fullmatch(rf"error: {re.escape(str(tmp_path / 'conf/experiment/broken.yaml'))}: line 4, column 1: "
                        r"not valid YAML \(.*\); fix the file", line), line
    line = one_error_line(cli(tmp_path / "run", data_root, "optimizer=lamb"))
    assert line == ("error: In 'config': Could not find 'optimizer/lamb' Available options in 'optimizer': adam "
                    "adamw adamw_torch sgd sgdw")
    nothing_finished(tmp_path / "run")


def test_a_run_directory_that_is_a_file_is_one_line(tmp_path, data_root):
    (tmp_path / "file").write_text("not a folder\n")
    out = cli(tmp_path / "file", data_root)
    assert one_error_line(out) == (f"error: hydra.run.dir={tmp_path / 'file'} is a file; allowed: a folder, new "
                                   "or existing (hydra.run.dir=...)")
    assert (tmp_path / "file").read_text() == "not a folder\n"


# -- read-only run directory: a finished run is still answered ------------------------------------------------
def test_a_read_only_run_directory_keeps_hydra_from_writing_there(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    (tmp_path / "run").mkdir()
    argv = _prepare_argv([f"hydra.run.dir={tmp_path / 'run'}"])
    assert argv[1:] == ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    assert _prepare_argv(["-m", f"hydra.run.dir={tmp_path / 'run'}"])[1:] == [f"hydra.run.dir={tmp_path / 'run'}"]


@pytest.mark.runs
def test_hydra_writes_nothing_in_the_run_directory_with_those_overrides(tmp_path, data_root, make_cfg):
    """A finished run answered through the command line with Hydra's files off: nothing new is written."""
    run_dir = tmp_path / "run"
    train(make_cfg("epochs=1"), run_dir=run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    out = cli(run_dir, data_root, "epochs=1", "hydra.output_subdir=null", "hydra/job_logging=disabled")
    assert out.returncode == 0, out.stderr
    assert ": ok, test error" in out.stdout.splitlines()[0]
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


@pytest.mark.runs
def test_read_only_run_directory_in_process(make_cfg, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    finished = train(make_cfg("epochs=1"), run_dir=run_dir)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert train(make_cfg("epochs=1"), run_dir=run_dir) == finished  # answered without writing
    with pytest.raises(ConfigError, match=rf"hydra.run.dir={re.escape(str(run_dir))}: .* is not writable"):
        train(make_cfg("epochs=2"), run_dir=run_dir)
    assert json.loads((run_dir / "metrics.json").read_text()) == finished


def _read_only_shell(folder: Path, script: str) -> subprocess.CompletedProcess | None:
    """Run `script` with `folder` mounted read-only (a private mount namespace, so root cannot write either);
    None where the machine allows no such mount."""
    cmd = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
           f"! touch {folder}/.probe 2>/dev/null && {script}")
    try:
        out = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), cwd=ROOT)
    except FileNotFoundError:
        return None
    return None if "mount:" in out.stderr or "unshare:" in out.stderr else out


@pytest.mark.slow
def test_a_read_only_run_directory_on_the_command_line(tmp_path, data_root, make_cfg):
    """A finished run is answered from a read-only folder (Hydra writes nothing there); a run that would have to
    write is one line naming the folder."""
    run_dir = tmp_path / "run"
    train(make_cfg("epochs=1"), run_dir=run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    base = f"{sys.executable} -m adamw_repro.training.train scale=smoke data.root={data_root} hydra.run.dir={run_dir}"
    out = _read_only_shell(run_dir, f"{base} epochs=1 && echo answered && {base} epochs=2")
    if out is None:
        pytest.skip("no read-only bind mount here (needs unshare -m)")
    assert ": ok, test error" in out.stdout and "answered" in out.stdout, out.stderr
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: hydra.run.dir={run_dir}: {run_dir} is not writable")
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


# -- faults: nothing finished lost or silently replaced -----------------------------------------------------------
@pytest.mark.runs
def test_another_configs_finished_run_is_moved_aside_not_replaced(make_cfg, tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = train(make_cfg("seed=1"), run_dir=run_dir)
    old = {n: (run_dir / n).read_bytes() for n in ("metrics.json", "history.csv", "config.yaml", "checkpoint.pt")}
    second = train(make_cfg("seed=2", "optimizer=sgd"), run_dir=run_dir)
    aside = run_dir / f"superseded-{first['config_digest'][:12]}"
    assert {n: (aside / n).read_bytes() for n in old} == old
    assert json.loads((run_dir / "metrics.json").read_text())["config_digest"] == second["config_digest"]
    assert f"moved it to {aside}" in capsys.readouterr().err


@pytest.mark.runs
def test_another_configs_half_done_run_keeps_its_checkpoint(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    first = train(make_cfg("seed=1"), run_dir=run_dir)
    (run_dir / "metrics.json").unlink()  # stopped before it was summarized: only its checkpoint tells
    checkpoint = (run_dir / "checkpoint.pt").read_bytes()
    train(make_cfg("seed=2"), run_dir=run_dir)
    assert (run_dir / f"superseded-{first['config_digest'][:12]}" / "checkpoint.pt").read_bytes() == checkpoint


@pytest.mark.runs
@pytest.mark.parametrize("damage", ["truncated", "random", "empty"])
def test_a_corrupt_checkpoint_is_named_moved_aside_and_the_run_trains_again(make_cfg, tmp_path, capsys, damage):
    run_dir = tmp_path / "run"
    ref = train(make_cfg(), run_dir=run_dir)
    (run_dir / "metrics.json").unlink()
    good = (run_dir / "checkpoint.pt").read_bytes()
    bad = {"truncated": good[: len(good) // 2], "random": os.urandom(4096), "empty": b""}[damage]
    (run_dir / "checkpoint.pt").write_bytes(bad)
    again = train(make_cfg(), run_dir=run_dir)
    err = capsys.readouterr().err
    assert re.search(rf"warning: {re.escape(str(run_dir / 'checkpoint.pt'))} is unreadable \(.*\); moved to "
                     r"checkpoint.pt.corrupt-\d{8}T\d{6}Z; the run starts from scratch", err), err
    (aside,) = run_dir.glob("checkpoint.pt.corrupt-*")
    assert aside.read_bytes() == bad
    assert again["final"] == ref["final"] and again["resumed_from"] is None


@pytest.mark.runs
def test_a_checkpoint_that_would_run_code_is_refused(make_cfg, tmp_path, capsys):
    """weights_only=True: a checkpoint.pt replaced by a pickle that calls a function is never executed."""
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"config_digest": "x", "model": Evil()}, run_dir / "checkpoint.pt")
    train(make_cfg(), run_dir=run_dir)
    assert not (tmp_path / "pwned").exists()
    assert "checkpoint.pt is unreadable (UnpicklingError" in capsys.readouterr().err


@pytest.mark.runs
def test_a_truncated_metrics_json_is_moved_aside_and_rebuilt_from_the_final_checkpoint(make_cfg, tmp_path, capsys):
    run_dir = tmp_path / "run"
    ref = train(make_cfg(), run_dir=run_dir)
    torn = (run_dir / "metrics.json").read_bytes()[:100]
    (run_dir / "metrics.json").write_bytes(torn)
    again = train(make_cfg(), run_dir=run_dir)
    assert "metrics.json is unreadable (JSONDecodeError" in capsys.readouterr().err
    (aside,) = run_dir.glob("metrics.json.corrupt-*")
    assert aside.read_bytes() == torn
    assert again["resumed_from"] == ref["epochs"]  # summarized from the final checkpoint, not retrained
    assert again["final"] == ref["final"] and again["best"] == ref["best"]


@pytest.mark.runs
def test_killed_after_the_final_checkpoint_the_rerun_uses_it(make_cfg, tmp_path):
    """The files kill -9 leaves between the final checkpoint and metrics.json (history.csv and metrics.json
    not yet renamed into place, a writer's temporary file): the rerun summarizes, it does not retrain."""
    run_dir = tmp_path / "run"
    ref = train(make_cfg("epochs=4"), run_dir=run_dir)
    ref_history = strip_seconds(run_dir / "history.csv")
    for name in ("metrics.json", "history.csv"):
        (run_dir / name).unlink()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (run_dir / f".metrics.json.tmp{dead}").write_text('{"status": "o')
    again = train(make_cfg("epochs=4"), run_dir=run_dir)
    assert again["resumed_from"] == 4 and again["final"] == ref["final"] and again["best"] == ref["best"]
    speed = ("steps_per_second", "train_steps_per_second", "first_step_seconds", "first_step_unix")
    assert {k: again[k] for k in speed} == {k: ref[k] for k in speed}
    assert strip_seconds(run_dir / "history.csv") == ref_history
    assert not list(run_dir.glob(".*.tmp*"))


@pytest.mark.slow
def test_kill_9_before_the_first_checkpoint_then_rerun_matches(tmp_path, data_root):
    args = ("epochs=12", "model.width=16", "checkpoint_seconds=100000", "progress_seconds=0")
    ref = cli(tmp_path / "ref", data_root, *args)
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                             f"data.root={data_root}", f"hydra.run.dir={run_dir}", *args], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "epoch 3:" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    nothing_finished(run_dir)
    again = cli(run_dir, data_root, *args)
    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert resumed["resumed_from"] is None
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]
    assert strip_seconds(run_dir / "history.csv") == strip_seconds(tmp_path / "ref" / "history.csv")


@pytest.mark.slow
def test_sigint_writes_a_checkpoint_like_sigterm_and_the_rerun_matches(tmp_path, data_root):
    args = ("epochs=20", "model.width=16", "optimizer=sgd", "optimizer.lr=0.05", "checkpoint_seconds=100000",
            "progress_seconds=0")
    assert cli(tmp_path / "ref", data_root, *args).returncode == 0
    run_dir = tmp_path / "int"
    proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                             f"data.root={data_root}", f"hydra.run.dir={run_dir}", *args], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "epoch 4:" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 75, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert re.search(r"stopped on SIGINT at epoch \d+ step \d+; checkpoint .*; the same command resumes", rest)
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
    again = cli(run_dir, data_root, *args)
    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["resumed_from"] >= 4
    assert resumed["final"] == json.loads((tmp_path / "ref" / "metrics.json").read_text())["final"]


@pytest.mark.slow
def test_without_hydra_run_dir_the_same_command_finds_its_run(tmp_path, data_root):
    """The default run directory is named by the config: a second call answers the finished run."""
    first = cli(None, data_root, "epochs=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (run_dir,) = (tmp_path / "outputs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run_dir.name == f"adhoc-{metrics['config_digest'][:12]}"
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    again = cli(None, data_root, "epochs=1", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == [run_dir.name]


@pytest.mark.slow
def test_kill_9_after_the_final_checkpoint_then_rerun_uses_it(tmp_path, data_root):
    """A real kill -9 between the final checkpoint and metrics.json: the run's temporary metrics file is made a
    FIFO beforehand, so the writer blocks exactly there. The rerun summarizes from the final checkpoint (no
    epoch retrained), matches an uninterrupted run and removes the killed writer's temporary file."""
    args = ("epochs=6", "model.width=16")
    ref = cli(tmp_path / "ref", data_root, *args)
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.train", "scale=smoke",
                             f"data.root={data_root}", f"hydra.run.dir={run_dir}", *args], cwd=ROOT,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    fifo = run_dir / f".metrics.json.tmp{proc.pid}"
    os.mkfifo(fifo)
    try:
        deadline = time.time() + 120
        while not (run_dir / "history.csv").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the writer is now blocked opening the FIFO
        assert proc.poll() is None, "the run ended before it reached metrics.json"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert not (run_dir / "metrics.json").exists()
    import torch

    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["final"] is True
    again = cli(run_dir, data_root, *args)
    assert again.returncode == 0, again.stderr
    assert "epoch 1:" not in again.stderr  # nothing retrained
    resumed = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert resumed["resumed_from"] == 6
    assert resumed["final"] == expected["final"] and resumed["best"] == expected["best"]
    assert resumed["steps_per_second"] > 0  # the speed of the process that trained, kept in the final checkpoint
    assert strip_seconds(run_dir / "history.csv") == strip_seconds(tmp_path / "ref" / "history.csv")
    assert not fifo.exists() and not list(run_dir.glob(".*.tmp*"))
