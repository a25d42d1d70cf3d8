"""Packs: one process trains many runs, each exactly as its solo run; finished members are never retrained;
kill -9 of a pack, then the same command, ends every member where an uninterrupted pack ends."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adamw_repro.training.pack import compose_members, read_runs_file, train_pack
from adamw_repro.training.train import train

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = (("optimizer=adamw", "optimizer.weight_decay=0.01"),
           ("optimizer=sgd", "optimizer.weight_decay=0.001", "schedule=step", "seed=3"),
           ("optimizer=sgdw", "optimizer.weight_decay=0.001", "schedule=warm_restarts", "schedule.T0=1"))


def runs_file(tmp_path: Path, data_root: Path, members=MEMBERS, *extra: str) -> Path:
    entries = [{"run_dir": str(tmp_path / f"m{i}"), "done_file": str(tmp_path / f"m{i}" / "done"),
                "overrides": ["scale=smoke", f"data.root={data_root}", *ov, *extra]}
               for i, ov in enumerate(members)]
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({"members": entries}))
    return path


def strip_seconds(path: Path) -> list[str]:
    return [ln.rsplit(",", 1)[0] for ln in path.read_text().splitlines()]


def pack_cli(path: Path, **kw):
    return subprocess.run([sys.executable, "-m", "adamw_repro.training.pack", "--runs-file", str(path)],
                          capture_output=True, text=True, cwd=ROOT, **kw)


@pytest.mark.slow
def test_each_member_equals_its_solo_run(make_cfg, tmp_path, data_root):
    members = compose_members(read_runs_file(runs_file(tmp_path, data_root)))
    results = train_pack(members, "sequential")
    for i, ov in enumerate(MEMBERS):
        solo = train(make_cfg(*ov), run_dir=tmp_path / f"solo{i}")
        packed = tmp_path / f"m{i}"
        assert {p.name for p in packed.iterdir()} >= {"config.yaml", "history.csv", "metrics.json",
                                                      "checkpoint.pt", "done"}
        assert strip_seconds(packed / "history.csv") == strip_seconds(tmp_path / f"solo{i}" / "history.csv")
        assert (packed / "config.yaml").read_text() == (tmp_path / f"solo{i}" / "config.yaml").read_text()
        assert results[packed]["final"] == solo["final"] and results[packed]["config_digest"] == solo["config_digest"]
        assert (packed / "done").read_text() == f"{solo['config_digest']}\n"


@pytest.mark.runs
def test_finished_members_are_not_retrained_and_a_new_one_is(tmp_path, data_root):
    first = compose_members(read_runs_file(runs_file(tmp_path, data_root, MEMBERS[:2])))
    train_pack(first, "sequential")
    stamps = [(tmp_path / f"m{i}" / "metrics.json").stat().st_mtime_ns for i in range(2)]
    grown = compose_members(read_runs_file(runs_file(tmp_path, data_root, MEMBERS)))
    results = train_pack(grown, "sequential")
    assert [(tmp_path / f"m{i}" / "metrics.json").stat().st_mtime_ns for i in range(2)] == stamps
    assert results[tmp_path / "m2"]["status"] == "ok" and len(results) == 3


def test_bad_input_is_one_line_before_anything_is_written(tmp_path, data_root):
    path = runs_file(tmp_path, data_root, (("optimizer=adamw",), ("optimizer.lr=-1",)))
    out = pack_cli(path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: optimizer.lr=-1 must be a positive number")
    assert not (tmp_path / "m0").exists()
    (tmp_path / "bad.json").write_text("[1, 2]")
    out = pack_cli(tmp_path / "bad.json")
    assert out.returncode == 2 and "--runs-file" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_kill_9_of_a_pack_then_the_same_command_matches_an_uninterrupted_pack(tmp_path, data_root):
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    args = ("epochs=12", "model.width=16", "checkpoint_seconds=0")
    ref = pack_cli(runs_file(ref_dir, data_root, MEMBERS, *args))
    assert ref.returncode == 0, ref.stderr
    path = runs_file(killed_dir, data_root, MEMBERS, *args)
    proc = subprocess.Popen([sys.executable, "-m", "adamw_repro.training.pack", "--runs-file", str(path)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill once the second member has checkpointed mid-run: one member finished, one part-way, one not begun.
    deadline = time.time() + 120
    while not (killed_dir / "m1" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed_dir / "m0" / "metrics.json").exists() and not (killed_dir / "m1" / "metrics.json").exists()
    again = pack_cli(path)
    assert again.returncode == 0, again.stderr
    for i in range(len(MEMBERS)):
        assert strip_seconds(killed_dir / f"m{i}" / "history.csv") == strip_seconds(ref_dir / f"m{i}" / "history.csv")
        a = json.loads((killed_dir / f"m{i}" / "metrics.json").read_text())
        b = json.loads((ref_dir / f"m{i}" / "metrics.json").read_text())
        assert a["final"] == b["final"] and a["steps"] == b["steps"]
    resumed = json.loads((killed_dir / "m1" / "metrics.json").read_text())["resumed_from"]
    assert resumed is not None and resumed > 0


@pytest.mark.slow
def test_composing_once_per_group_choice_gives_what_hydra_compose_gives():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from adamw_repro.runconfig import CONF_DIR, experiment_names
    from adamw_repro.training.pack import Composer
    from adamw_repro.workflow.resolver import Resolver

    every = [run.hydra_overrides(scale) + ["threads=1"] for scale in ("smoke", "quick")
             for e in experiment_names() for run in Resolver(scale, CONF_DIR).grid(e)]
    # Runs that choose alike share a defaults tree (tests/test_compose.py), and Hydra's own compose of each, ~0.5 s,
    # is what this test costs: so one run for each experiment at each scale and for each group option any grid
    # chooses (optimizer=sgd, schedule=cosine, ...), the first run that brings something not yet covered.
    covered: set[str] = set()
    overrides = []
    for ov in every:
        choices = {o for o in ov if "." not in o.split("=")[0] and not o.startswith(("seed=", "epochs="))}
        choices |= {" ".join(sorted(o for o in choices if o.startswith(("experiment=", "scale="))))}
        if not choices <= covered:
            covered |= choices
            overrides.append(ov)
    assert len(overrides) >= 22  # every experiment at both scales, and more
    overrides += [["scale=smoke", "+extra.key=3", "~test_every", "optimizer.betas=[0.8,0.9]"]]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        composer = Composer(CONF_DIR)
        for ov in overrides:
            assert OmegaConf.to_yaml(composer(ov)) == OmegaConf.to_yaml(compose("config", overrides=ov)), ov
