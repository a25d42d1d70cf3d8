"""Vectorized packs: each member of a stacked model follows its solo run to float tolerance, for every optimizer
and several schedules; the exact identities hold for the vectorized update; a pack is deterministic; a member
that diverges is masked without touching the others; a stacked checkpoint resumes."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from adamw_repro import names
from adamw_repro.training.pack import compose_members, train_pack
from adamw_repro.training.train import train
from adamw_repro.training.vectorized import can_stack, stacked_step

OPTIMIZERS = ("adam", "adamw", "adamw_torch", "sgd", "sgdw")
FAMILY = {name: names.optimizer(name).family for name in OPTIMIZERS}
SCHEDULE_SETS = (("schedule=cosine",), ("schedule=warm_restarts", "schedule.T0=1"), ("schedule=triangular",),
                 ("schedule=step",))
ROOT = Path(__file__).resolve().parents[2]
TINY = ("epochs=2", "model.width=4", "data.train_size=512", "data.val_size=256", "data.test_size=256")


def members_for(tmp_path, data_root, rows, tag):
    entries = [{"run_dir": str(tmp_path / f"{tag}{i}"),
                "overrides": ["scale=smoke", f"data.root={data_root}", *TINY, *ov]} for i, ov in enumerate(rows)]
    return compose_members(entries)


def history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


NORMALIZED = [("optimizer.lambda_norm=0.05", "optimizer.weight_decay=null", "schedule=warm_restarts",
               "schedule.T0=0.5", "schedule.T_mult=2", "optimizer.decay_bias_and_norm=false", f"seed={i}",
               f"optimizer.lr={lr}") for i, lr in enumerate(("0.01", "0.003"))]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [*OPTIMIZERS, "adamw-normalized", "sgdw-normalized"])
def test_each_member_follows_its_solo_run(optimizer, make_cfg, tmp_path, data_root):
    lr = "0.1" if optimizer.startswith("sgd") else "0.01"
    rows = [(f"optimizer={optimizer}", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}", f"seed={i}", *sched)
            for i, (wd, sched) in enumerate(zip(("0.0", "0.001", "0.01", "0.003"), SCHEDULE_SETS, strict=True))]
    if optimizer.endswith("-normalized"):  # lambda from lambda_norm, changing at each restart; no decay on biases
        rows = [(f"optimizer={optimizer.split('-')[0]}", *row) for row in NORMALIZED]
    members = members_for(tmp_path, data_root, rows, "v")
    assert can_stack([m.cfg for m in members])
    stacked = train_pack(members, "vectorized")
    for i, ov in enumerate(rows):
        solo = train(make_cfg(*TINY, *ov), run_dir=tmp_path / f"s{i}")
        packed = stacked[tmp_path / f"v{i}"]
        assert packed["config_digest"] == solo["config_digest"] and packed["steps"] == solo["steps"]
        for a, b in zip(history(tmp_path / f"v{i}" / "history.csv"), history(tmp_path / f"s{i}" / "history.csv"),
                        strict=True):
            assert float(a["lr"]) == pytest.approx(float(b["lr"]), rel=1e-12)
            for key in ("train_loss", "val_loss"):
                assert float(a[key]) == pytest.approx(float(b[key]), rel=2e-3, abs=1e-4), (i, key)


def _step(name, theta, g, lr, decay, l2, steps=1):
    state = {}
    for t in range(1, steps + 1):
        stacked_step(FAMILY[name], theta, g, state, lr=lr, decay=decay, l2=l2, t=[t] * len(lr))
    return theta


def test_the_exact_identities_hold_for_the_vectorized_update():
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(3, 5, 4, generator=gen)
    grads = [torch.randn(3, 5, 4, generator=gen) for _ in range(10)]
    lr = [0.01, 0.02, 0.05]

    def run(name, decay, l2, momentum=0.9):
        theta, state = theta0.clone(), {}
        for t, g in enumerate(grads, 1):
            stacked_step(FAMILY[name], theta, g, state, lr=lr, decay=decay, l2=l2, t=[t] * 3, momentum=momentum)
        return theta

    zero = [0.0] * 3
    assert torch.equal(run("adam", zero, zero), run("adamw", zero, zero))  # lambda = 0: bitwise
    assert torch.equal(run("sgd", zero, zero), run("sgdw", zero, zero))
    lam = [0.2, 0.1, 0.3]  # Prop. 1: SGD+L2(lambda') == SGDW(alpha * lambda') without momentum, constant rate
    assert torch.allclose(run("sgd", zero, lam, momentum=0.0),
                          run("sgdw", [a * b for a, b in zip(lr, lam, strict=True)], zero, momentum=0.0), atol=1e-6)
    # paper AdamW(lambda) == torch's AdamW(weight_decay = lambda / alpha): the same decay lr * lambda / alpha
    alpha, eta = [0.01, 0.02, 0.05], 0.5
    lam = [0.05, 0.01, 0.1]
    paper = [eta * x for x in lam]
    torch_form = [a * eta * (x / a) for a, x in zip(alpha, lam, strict=True)]
    assert torch.allclose(run("adamw", paper, zero), run("adamw_torch", torch_form, zero), atol=1e-6)
    theta = theta0.clone()  # a zero gradient scales every member by exactly (1 - eta_t * lambda)
    stacked_step("adam", theta, torch.zeros_like(theta), {}, lr=lr, decay=paper, l2=zero, t=[1] * 3)
    for k in range(3):
        assert torch.equal(theta[k], theta0[k] * (1 - paper[k]))


@pytest.mark.slow
def test_a_pack_is_deterministic_and_a_diverging_member_is_masked(tmp_path, data_root):
    healthy = [("optimizer=adamw", "optimizer.lr=0.01", f"seed={i}") for i in range(3)]
    diverging = ("optimizer=adamw", "optimizer.lr=1e30", "seed=5")
    a = train_pack(members_for(tmp_path, data_root, [*healthy, healthy[0][:2] + ("seed=9",)], "a"), "vectorized")
    b = train_pack(members_for(tmp_path, data_root, [*healthy, diverging], "b"), "vectorized")
    c = train_pack(members_for(tmp_path, data_root, [*healthy, diverging], "c"), "vectorized")
    assert b[tmp_path / "b3"]["status"] == "diverged" and b[tmp_path / "b3"]["epochs"] == 1
    for i in range(3):
        assert a[tmp_path / f"a{i}"]["final"] == b[tmp_path / f"b{i}"]["final"] == c[tmp_path / f"c{i}"]["final"]
        assert b[tmp_path / f"b{i}"]["status"] == "ok"
    assert json.loads((tmp_path / "b3" / "metrics.json").read_text())["final"]["test_error"] == 1.0


@pytest.mark.slow
def test_kill_9_of_a_stacked_pack_then_the_same_command_matches_an_uninterrupted_pack(tmp_path, data_root):
    """Killed between two members' checkpoint writes or mid-epoch: members resume where their checkpoints
    are (one ahead waits, masked), and every member ends bitwise where the uninterrupted pack ends."""
    rows = [("optimizer=sgdw", "optimizer.lr=0.1", "optimizer.weight_decay=0.001", f"seed={i}", "epochs=8",
             "checkpoint_seconds=0")
            for i in range(3)]

    def pack_file(tag):
        entries = [{"run_dir": str(tmp_path / f"{tag}{i}"), "overrides": ["scale=smoke", f"data.root={data_root}",
                                                                          *TINY, *ov]} for i, ov in enumerate(rows)]
        path = tmp_path / f"{tag}.json"
        path.write_text(json.dumps({"members": entries}))
        return [sys.executable, "-m", "adamw_repro.training.pack", "--runs-file", str(path), "--mode", "vectorized"]

    assert subprocess.run(pack_file("r"), cwd=ROOT, capture_output=True).returncode == 0
    for wait_for in ("k0", "k2"):  # kill after the first member's first checkpoint, then after a later one's
        proc = subprocess.Popen(pack_file("k"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (tmp_path / wait_for / "checkpoint.pt").exists() and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "k1" / "metrics.json").exists()
    assert subprocess.run(pack_file("k"), cwd=ROOT, capture_output=True).returncode == 0
    def rows_of(run_dir):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history(run_dir / "history.csv")]

    for i in range(3):
        assert rows_of(tmp_path / f"k{i}") == rows_of(tmp_path / f"r{i}")
    assert json.loads((tmp_path / "k0" / "metrics.json").read_text())["resumed_from"] is not None


@pytest.mark.slow
@pytest.mark.runs
def test_a_member_ends_bitwise_the_same_whatever_else_its_stack_holds(tmp_path, data_root):
    """A run's numbers must not depend on the pack it landed in (adding a seed reshuffles packs)."""
    rows = [("optimizer=adamw", "optimizer.lr=0.01", f"optimizer.weight_decay={wd}", f"seed={i}")
            for i, wd in enumerate(("0.001", "0.01", "0.003", "0.0"))]
    alone = train_pack(members_for(tmp_path, data_root, rows[:1], "one"), "vectorized")[tmp_path / "one0"]
    four = train_pack(members_for(tmp_path, data_root, rows, "four"), "vectorized")[tmp_path / "four0"]
    assert alone["final"] == four["final"] and alone["best"] == four["best"]
