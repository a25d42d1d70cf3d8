"""Benchmark: the training loop against the machine's limit, side by side in one process, one CPU thread.

    python scripts/bench_train.py [--repeats 5] [--epochs 15]

The floor is a *bare step*: the quick testbed (1-D CNN with BatchNorm, 32 channels, batch 128, MNIST-1D 4,000
samples) trained by a tight loop outside the project (plain torch, torch.optim.AdamW, random batches, nothing
else). Against it, per step and as a ratio to the bare step:
- the project's loop (loop.fit, with the run's engine: the batched CNN as a stack of one, and the loop engine
  for comparison) under each evaluation setting the scales use: a grid cell (validation and test
  at the end only, the heatmaps), curves with the test set every epoch (Fig. 4), validation every epoch (CLR's
  time to target), the default single run (`python -m adamw_repro.training.train`: validation every epoch),
  and a run with per-layer telemetry every 4 steps; each including its BatchNorm re-estimations, evaluations,
  checkpoints and output files;
- single costs, in bare steps: one BatchNorm re-estimation (bn_samples = 1,024), a validation pass (2,000), a
  test pass (10,000), a checkpoint written, one telemetry sample.
Variants alternate within each repeat (machine noise hits all alike); medians over repeats are printed as
markdown, with the load average before and after. `--startup` also times process start to first step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The loop's evaluation settings, as the experiments set them (conf/experiment/*.yaml).
SETTINGS = {
    "grid cell (val + test at the end: fig1, fig2, figS3)": ("experiment=fig1_schedules",),
    "grid cell, loop engine (engine=loop)": ("experiment=fig1_schedules", "engine=loop"),
    "test error every epoch (fig4)": ("val_every=0", "test_every=1"),
    "validation every epoch (clr)": ("val_every=1", "test_every=0"),
    "default single run (train.py)": (),
    "telemetry every 4 steps": ("experiment=fig1_schedules", "telemetry_every=4"),
}


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=["scale=quick", *overrides])


def bare_step_seconds(splits, epochs: int) -> float:
    """Seconds per step of the tight loop (the floor)."""
    import torch

    from adamw_repro.training.models.mnist1d import cnn

    torch.manual_seed(0)
    model = cnn(1, 10, 32, 3, True)
    opt = torch.optim.AdamW(model.parameters(), lr=0.03, weight_decay=0.5, foreach=False)
    x, y = splits.x_train, splits.y_train
    gen = torch.Generator().manual_seed(0)
    steps, start = 0, time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return (time.perf_counter() - start) / steps


def loop_step_seconds(cfg, splits, run_dir: Path) -> float:
    """Seconds per step of loop.fit on this config with its engine (training/engines.py; the batched CNN as a stack
    of one by default): training, evaluations, checkpoints and outputs."""
    from adamw_repro.runconfig import config_digest, run_config
    from adamw_repro.training.loop import fit
    from adamw_repro.training.train import engine_for

    rc = run_config(cfg)
    start = time.perf_counter()
    metrics = fit(cfg, rc, config_digest(rc), run_dir, splits=splits, engine=engine_for(cfg))
    return (time.perf_counter() - start) / metrics["steps"]


def single_costs(cfg, splits, tmp: Path) -> dict[str, float]:
    """Seconds of one BatchNorm re-estimation, validation pass, test pass, checkpoint and telemetry sample."""
    import torch

    from adamw_repro.training import evaluation
    from adamw_repro.training.checkpoint import save_checkpoint
    from adamw_repro.training.loop import Run
    from adamw_repro.training.telemetry import Telemetry

    run = Run(cfg, splits, torch.device("cpu"))
    model, b = run.model, cfg.eval_batch_size
    tel = Telemetry(model, 1)
    loss = torch.nn.functional.cross_entropy(model(splits.x_train[:128]), splits.y_train[:128])
    loss.backward()

    def timed(fn, n=5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    def telemetry_sample():
        tel.before_step()
        tel.after_step()

    return {
        "BatchNorm re-estimation (1,024 samples)":
            timed(lambda: evaluation.recompute_bn_statistics(model, splits.x_train[:cfg.bn_samples])),
        "validation pass (2,000 samples)": timed(lambda: evaluation.evaluate(model, splits.x_val, splits.y_val, b,
                                                                             False)),
        "test pass (10,000 samples)": timed(lambda: evaluation.evaluate(model, splits.x_test, splits.y_test, b,
                                                                        False)),
        "checkpoint written": timed(lambda: save_checkpoint(tmp / "ckpt.pt", run.state_dict())),
        "telemetry sample (every weight)": timed(telemetry_sample, n=50),
    }


def startup_seconds(tmp: Path, data_root: Path) -> float:
    """Process start to first training step of `python -m adamw_repro.training.train`."""
    spawn, out = time.time(), tmp / f"startup-{time.monotonic_ns()}"
    subprocess.run([sys.executable, "-m", "adamw_repro.training.train", "epochs=1", f"data.root={data_root}",
                    f"hydra.run.dir={out}"], check=True, capture_output=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    return json.loads((out / "metrics.json").read_text())["first_step_unix"] - spawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the bare loop (a quick run's budget)")
    parser.add_argument("--startup", action="store_true", help="also time process start to first step")
    args = parser.parse_args()
    import torch

    from adamw_repro.training.data import load_splits

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfgs = {name: compose(*ov, f"data.root={tmp / 'data'}", "progress_seconds=1e9")
                for name, ov in SETTINGS.items()}
        splits = load_splits(next(iter(cfgs.values())).data, "cpu")
        times: dict[str, list[float]] = {"bare step (tight loop, outside the project)": []}
        times |= {name: [] for name in cfgs}
        costs: dict[str, list[float]] = {}
        startup = []
        for r in range(args.repeats):
            times["bare step (tight loop, outside the project)"].append(bare_step_seconds(splits, args.epochs))
            for name, cfg in cfgs.items():
                times[name].append(loop_step_seconds(cfg, splits, tmp / f"{r}-{len(times[name])}-{hash(name)}"))
            for name, seconds in single_costs(cfgs["grid cell (val + test at the end: fig1, fig2, figS3)"], splits,
                                              tmp).items():
                costs.setdefault(name, []).append(seconds)
            if args.startup:
                startup.append(startup_seconds(tmp, tmp / "data"))
    bare = statistics.median(times["bare step (tight loop, outside the project)"])
    print(f"quick testbed (CNN + BatchNorm, 32 channels, batch 128, 4,000 samples), 1 thread, median of "
          f"{args.repeats} alternating repeats; load average {load_before[0]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after\n")
    print("| loop | ms per step | ratio to the bare step |\n|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {1e3 * med:.3f} | {med / bare:.3f} |")
    print("\n| single cost | ms | in bare steps |\n|---|---|---|")
    for name, values in costs.items():
        med = statistics.median(values)
        print(f"| {name} | {1e3 * med:.2f} | {med / bare:.2f} |")
    if startup:
        print(f"\nprocess start to first training step: {statistics.median(startup):.2f} s (median)")


if __name__ == "__main__":
    main()
