"""Benchmark: optimizer steps per second and start-up time of a default MNIST-1D run on one CPU thread,
side by side with a plain torch DataLoader + torch.optim loop over the same model and data.

    python scripts/bench_train.py [--epochs 10] [--repeats 3]

Runs alternate (ours, plain, ours, plain, ...) so that machine noise hits both alike; medians are printed
as a markdown table. "train steps/s" counts only the training loop (no evaluation) in both; "run steps/s"
is ours including its per-epoch validation pass; "start to first step" is from process spawn to the first
training step (interpreter, imports, config, data, model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r'''
import json, sys, time
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
sys.path.insert(0, sys.argv[2])
from adamw_repro.training.models.mnist1d import cnn            # the same network and data as the default run
from adamw_repro.training.data.mnist1d import cache_path
from omegaconf import OmegaConf
torch.set_num_threads(1)
cfg = OmegaConf.load(sys.argv[3])
data = np.load(cache_path(cfg))
n = cfg.train_size
x = torch.from_numpy(data["x"][:n, None, :]); y = torch.from_numpy(data["y"][:n])
torch.manual_seed(0)
model = cnn(1, 10, 32, 3, False)
opt = torch.optim.AdamW(model.parameters(), lr=0.001, weight_decay=0.0)
loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
first = None; steps = 0; t0 = time.perf_counter()
for epoch in range(int(sys.argv[1])):
    for xb, yb in loader:
        if first is None:
            first = time.time(); t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step(); steps += 1
print(json.dumps({"steps_per_second": steps / (time.perf_counter() - t0), "first_step_unix": first}))
'''


def ours(epochs: int, data_root: Path, out: Path) -> dict:
    spawn = time.time()
    subprocess.run([sys.executable, "-m", "adamw_repro.training.train", f"epochs={epochs}", "threads=1",
                    f"data.root={data_root}", f"hydra.run.dir={out}", "test_every=0"],
                   check=True, capture_output=True, cwd=ROOT)
    m = json.loads((out / "metrics.json").read_text())
    return {"train": m["train_steps_per_second"], "run": m["steps_per_second"],
            "start": m["first_step_unix"] - spawn}


def plain(epochs: int, data_cfg: Path) -> dict:
    spawn = time.time()
    out = subprocess.run([sys.executable, "-c", PLAIN, str(epochs), str(ROOT / "src"), str(data_cfg)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    m = json.loads(out.stdout)
    return {"train": m["steps_per_second"], "run": m["steps_per_second"], "start": m["first_step_unix"] - spawn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from hydra import compose, initialize_config_dir
        from omegaconf import OmegaConf

        from adamw_repro.training.data.mnist1d import generate

        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=[f"data.root={tmp / 'data'}"])
        generate(cfg.data)
        data_cfg = tmp / "data.yaml"
        OmegaConf.save(cfg.data, data_cfg)
        results = {"ours (adamw_repro.training.train)": [], "plain DataLoader + torch.optim": []}
        for i in range(args.repeats):
            results["ours (adamw_repro.training.train)"].append(ours(args.epochs, tmp / "data", tmp / f"run{i}"))
            results["plain DataLoader + torch.optim"].append(plain(args.epochs, data_cfg))
    print(f"default MNIST-1D run (CNN 32 channels, batch 128, 4,000 samples), {args.epochs} epochs, 1 thread, "
          f"median of {args.repeats} alternating runs\n")
    print("| loop | train steps/s | run steps/s (with validation) | start to first step (s) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"| {name} | {med['train']:.0f} | {med['run']:.0f} | {med['start']:.2f} |")


if __name__ == "__main__":
    main()
