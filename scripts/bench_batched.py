"""Benchmark: K members of a quick-testbed pack as K solo steps, as the vmap stack and as one batched computation.

    python scripts/bench_batched.py                                   # K = 1..32, adamw and sgd, 7 repeats
    python scripts/bench_batched.py --ks 4,16 --optimizers adamw --repeats 3

One CPU thread (the workflow runs one pack per core). The members are real training.loop.Run objects of the quick
scale (BN CNN, 32 channels, batch 128; seeds, alpha, lambda and schedules differ), on random MNIST-1D-shaped data
(the timing does not depend on the values). Three ways, interleaved (every repeat times each way in turn, so the
machine's load weighs on all alike), medians of the repeats:
  solo     K solo steps in turn: the project's model and optimizer (loop.Run: set_multiplier, forward,
           cross-entropy, zero_grad, backward, optimizer.step), i.e. a sequential pack's training step;
  vmap     vectorized.StackedEngine.train_step over VmapModel: torch.func.vmap(functional_call) and the stacked
           update per parameter tensor;
  batched  the same engine over BatchedModel (training.batched.BatchedCNN): im2col + bmm convolutions, per-member
           BatchNorm, and the stacked update (vectorized.stacked_step) once per optimizer group on flat [K, P].
Also an evaluation pass (eval mode, forward only, the 2,000 validation samples shared by the members) and a
train-mode forward over 1,024 shared samples without gradients (BatchNorm statistics re-estimation).
Rates are per member (member-steps per second); "x solo" is the speed-up over K solo steps. The wall-clock
medians are what a user sees; the CPU-time column (this thread's time.thread_time) discounts the time the
thread waited while other processes had the core, so it is the better guide on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from adamw_repro.training.data import Splits
from adamw_repro.training.evaluation import evaluate, recompute_bn_statistics
from adamw_repro.training.loop import Run
from adamw_repro.training.optim import set_multiplier
from adamw_repro.training.vectorized import BatchedModel, StackedEngine, VmapModel

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = ("cosine", "step", "fixed", "warm_restarts")
LRS = {"adamw": (0.0078125, 0.015625, 0.03125), "sgd": (0.025, 0.05, 0.1)}
DECAYS = (0.0, 0.000244140625, 0.0009765625, 0.00390625)


def base_configs(optimizer: str) -> dict:
    """The quick scale's config for each schedule (Hydra compose, once per schedule)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return {s: compose("config", overrides=["scale=quick", f"optimizer={optimizer}", f"schedule={s}",
                                                "device=cpu", "threads=1"]) for s in SCHEDULES}


def fake_splits(cfg) -> Splits:
    """MNIST-1D-shaped random data (timing only)."""
    g = torch.Generator().manual_seed(0)
    d = cfg.data

    def part(n):
        return torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g)

    (xt, yt), (xv, yv), (xs, ys) = part(d.train_size), part(d.val_size), part(1024)
    return Splits(xt, yt, xv, yv, xs, ys, num_classes=10, in_channels=1, name="mnist1d")


def member_runs(bases: dict, optimizer: str, K: int, splits: Splits) -> list[Run]:
    runs = []
    for k in range(K):
        cfg = bases[SCHEDULES[k % len(SCHEDULES)]].copy()
        cfg.seed = k
        cfg.optimizer.lr = LRS[optimizer][k % len(LRS[optimizer])]
        cfg.optimizer.weight_decay = DECAYS[(k // 3) % len(DECAYS)]
        runs.append(Run(cfg, splits, torch.device("cpu")))
    return runs


class Ways:
    """The three ways of one pack, each with its own copy of the members' parameters and optimizer state: solo
    steps (loop.Run's), and vectorized.StackedEngine over the vmap model and over the batched model."""

    def __init__(self, runs: list[Run], splits: Splits, n_batches: int = 4):
        self.runs, self.splits, K = runs, splits, len(runs)
        g = torch.Generator().manual_seed(1)
        idx = torch.randint(0, len(splits.x_train), (n_batches, K, runs[0].cfg.batch_size), generator=g)
        self.batches = [(splits.x_train[i], splits.y_train[i]) for i in idx]  # each [K, B, 1, 40], [K, B]
        self.i = 0
        self.stack = StackedEngine(runs, model=VmapModel)
        self.engine = StackedEngine(runs, model=BatchedModel)
        self.all = [True] * K

    def batch(self):
        self.i = (self.i + 1) % len(self.batches)
        return self.batches[self.i]

    def solo(self) -> None:
        xb, yb = self.batch()
        for k, run in enumerate(self.runs):  # loop.Run.train_epoch's step
            set_multiplier(run.optimizer, run.eta(run.step))
            loss = nn.functional.cross_entropy(run.forward(xb[k]).float(), yb[k])
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()

    def vmap(self) -> None:
        xb, yb = self.batch()
        self.stack.train_step(xb, yb, self.all)

    def batched(self) -> None:
        xb, yb = self.batch()
        self.engine.train_step(xb, yb, self.all)

    # evaluation: the validation set, shared by the members, eval mode
    def solo_eval(self) -> None:
        for run in self.runs:
            evaluate(run.model, self.splits.x_val, self.splits.y_val, 1024, False)

    def vmap_eval(self) -> None:
        self.stack.model.evaluate(self.splits.x_val, self.splits.y_val, 1024)

    def batched_eval(self) -> None:
        self.engine.model.evaluate(self.splits.x_val, self.splits.y_val, 1024)

    # BatchNorm re-estimation: a train-mode forward over 1,024 shared samples, no gradients
    def solo_bn(self) -> None:
        for run in self.runs:
            recompute_bn_statistics(run.model, self.splits.x_test)

    def vmap_bn(self) -> None:
        self.stack.model.recompute_bn(self.splits.x_test)

    def batched_bn(self) -> None:
        self.engine.model.recompute_bn(self.splits.x_test)


def timed(fn, n: int) -> tuple[float, float]:
    """Seconds per call (wall, this thread's CPU time) over n calls."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n, (time.thread_time() - cpu) / n


def measure(ways: Ways, names: tuple[str, ...], member_calls: int, repeats: int) -> dict:
    """Medians over `repeats` interleaved rounds of per-call (wall, cpu) seconds of each way."""
    K = len(ways.runs)
    n = max(2, round(member_calls / K))
    fns = {name: getattr(ways, name) for name in names}
    for fn in fns.values():  # warm-up: first-call allocations, vmap tracing
        fn()
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, n))
    return {name: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
            for name, v in times.items()}


def row(label: str, K: int, med: dict, names: tuple[str, str, str]) -> str:
    solo, vm, bat = (med[n] for n in names)
    rate = [K / m[0] for m in (solo, vm, bat)]
    return (f"| {label} | {K} | {rate[0]:.0f} | {rate[1]:.0f} | {solo[0] / vm[0]:.2f} | {rate[2]:.0f} | "
            f"{solo[0] / bat[0]:.2f} | {solo[1] / bat[1]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,2,4,8,16,32", help="pack sizes K, comma-separated")
    parser.add_argument("--optimizers", default="adamw,sgd")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--member-steps", type=int, default=64, help="member-steps per timed block")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ks = [int(k) for k in args.ks.split(",")]
    load0 = os.getloadavg()
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"1 thread; load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (1/5/15 min)")
    print(f"medians of {args.repeats} interleaved repeats; per-member rates; x solo = speed-up over K solo steps "
          "(wall clock), last column the same in this thread's CPU time\n")
    header = ("| {what} | K | solo /s | vmap /s | vmap x solo | batched /s | batched x solo | "
              "batched x solo (CPU time) |\n|---|---|---|---|---|---|---|---|")
    evals = []
    print(header.format(what="training step, optimizer"))
    for optimizer in args.optimizers.split(","):
        bases = base_configs(optimizer)
        splits = fake_splits(bases["cosine"])
        for K in ks:
            ways = Ways(member_runs(bases, optimizer, K, splits), splits)
            med = measure(ways, ("solo", "vmap", "batched"), args.member_steps, args.repeats)
            print(row(optimizer, K, med, ("solo", "vmap", "batched")), flush=True)
            if optimizer == args.optimizers.split(",")[0]:
                evals.append((K, measure(ways, ("solo_eval", "vmap_eval", "batched_eval", "solo_bn", "vmap_bn",
                                                "batched_bn"), args.member_steps // 8, args.repeats)))
    print("\n" + header.format(what="forward pass (per member per pass)"))
    for K, med in evals:
        print(row("evaluation, 2,000 samples, eval mode", K, med, ("solo_eval", "vmap_eval", "batched_eval")))
    for K, med in evals:
        print(row("BN re-estimation, 1,024 samples, train mode", K, med, ("solo_bn", "vmap_bn", "batched_bn")))
    load1 = os.getloadavg()
    print(f"\nload average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; "
          f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
