"""A pack takes each member's run-directory lock (runio.RunLock, the one a solo run takes) before it trains:
two processes never train one run directory; the second stops with one line naming the directory and the
holder's PID (exit 2) and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adamw_repro import runio
from adamw_repro.runconfig import ConfigError
from adamw_repro.training.pack import compose_members, read_runs_file, train_pack

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = (("optimizer=adamw", "optimizer.weight_decay=0.01"), ("optimizer=sgdw", "optimizer.weight_decay=0.001"))


def runs_file(tmp_path: Path, data_root: Path, members=MEMBERS) -> Path:
    entries = [{"run_dir": str(tmp_path / f"m{i}"), "done_file": str(tmp_path / f"m{i}" / "done"),
                "overrides": ["scale=smoke", f"data.root={data_root}", *ov]} for i, ov in enumerate(members)]
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({"members": entries}))
    return path


def locked_line(run_dir: Path, pid: int) -> str:
    return (f"member {run_dir} is being written by another process (PID {pid}); wait for it to finish or stop it: "
            "two runs in one folder would overwrite each other")


def test_a_member_another_process_writes_stops_the_pack_before_anything_is_written(tmp_path, data_root):
    members = compose_members(read_runs_file(runs_file(tmp_path, data_root)))
    with runio.RunLock(tmp_path / "m1"):  # held as a live training process holds it
        with pytest.raises(ConfigError) as err:
            train_pack(members, "sequential")
    assert str(err.value) == locked_line(tmp_path / "m1", os.getpid())
    assert not (tmp_path / "m0").exists()  # the member locked first is released, and its new folder removed
    assert [p.name for p in (tmp_path / "m1").iterdir()] == [".lock"]


def test_the_pack_command_says_it_in_one_line_with_exit_code_2(tmp_path, data_root):
    path = runs_file(tmp_path, data_root)
    (tmp_path / "m0").mkdir()
    (tmp_path / "m0" / "history.csv").write_text("epoch\n")  # another writer's file: left as it is
    with runio.RunLock(tmp_path / "m0"):
        out = subprocess.run([sys.executable, "-m", "adamw_repro.training.pack", "--runs-file", str(path)],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == [f"error: {locked_line(tmp_path / 'm0', os.getpid())}"]
    assert (tmp_path / "m0" / "history.csv").read_text() == "epoch\n"
    assert not (tmp_path / "m1").exists()


@pytest.mark.runs
@pytest.mark.slow
def test_the_locks_are_released_after_the_pack_and_a_dead_holders_lock_never_blocks(tmp_path, data_root):
    """A lock file left by a process that died (kill -9) holds no lock: the pack trains; afterwards its own
    locks are free again (a solo run may take them)."""
    for i in range(2):
        (tmp_path / f"m{i}").mkdir()
        (tmp_path / f"m{i}" / ".lock").write_text("999999\n")  # a dead process's PID, no lock held
    members = compose_members(read_runs_file(runs_file(tmp_path, data_root)))
    results = train_pack(members, "sequential")
    assert all(r["status"] == "ok" for r in results.values())
    for i in range(2):
        with runio.RunLock(tmp_path / f"m{i}"):
            pass
        assert (tmp_path / f"m{i}" / "done").exists()
