"""Benchmark: the same quick-scale runs as one process per run, as a sequential pack and as a vectorized pack.

    python scripts/bench_pack.py                     # 8 AdamW runs of fig2_sgd_adam, 10 epochs, on CPU (+ GPU)
    python scripts/bench_pack.py --runs 16 --epochs 40 --out bench.json
    python scripts/bench_pack.py --ways "sequential pack,vectorized pack" --repeat 3   # stacking vs not

For each way and device: wall seconds, runs per second, and the per-run overhead = (wall - time in the
training loops) / runs, i.e. what a run costs outside training (interpreter, imports, config, data, writes).
A pack's loop time is the sum of its stacks' loops (sequential: a stack of one per run; vectorized: stacks of up to
`scale.stack_size` runs, each loop shared by its members).
Every way trains into a fresh folder, so nothing is skipped as finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LRS = (0.0078125, 0.015625, 0.03125, 0.0625)
DECAYS = (0.0, 0.000244140625, 0.0009765625, 0.00390625)


def run_overrides(n: int, epochs: int, device: str) -> list[list[str]]:
    """n AdamW runs of the fig2 grid (alpha x lambda, then seeds): one model shape, stackable."""
    cells = [(lr, wd, seed) for seed in range(8) for lr in LRS for wd in DECAYS][:n]
    return [["experiment=fig2_sgd_adam", "scale=quick", "optimizer=adamw", f"optimizer.lr={lr}",
             f"optimizer.weight_decay={wd}", f"seed={seed}", f"epochs={epochs}", f"device={device}"]
            for lr, wd, seed in cells]


def loop_seconds(run_dir: Path) -> float:
    """Seconds the run spent in its training loop (training and evaluation), from its metrics.json: a stack's
    loop is shared by its K members, so each holds 1/K of it (summed over a pack: each stack's loop once)."""
    m = json.loads((run_dir / "metrics.json").read_text())
    return m["steps"] / m["steps_per_second"] / m.get("pack", {}).get("members", 1)


def one_process_per_run(runs: list[list[str]], work: Path) -> tuple[float, float]:
    start = time.perf_counter()
    for i, ov in enumerate(runs):
        subprocess.run([sys.executable, "-m", "adamw_repro.training.train", *ov, f"hydra.run.dir={work / str(i)}"],
                       cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    return wall, sum(loop_seconds(work / str(i)) for i in range(len(runs)))


def pack(runs: list[list[str]], work: Path, mode: str) -> tuple[float, float]:
    members = [{"run_dir": str(work / str(i)), "overrides": ov} for i, ov in enumerate(runs)]
    path = work / "pack.json"
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"members": members}))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "adamw_repro.training.pack", "--runs-file", str(path), "--mode", mode],
                   cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    return wall, sum(loop_seconds(work / str(i)) for i in range(len(runs)))


WAYS = ("process per run", "sequential pack", "vectorized pack")


def bench(n: int, epochs: int, devices: list[str], ways=WAYS, repeat: int = 1) -> list[dict]:
    """Each way `repeat` times, interleaved (a shared machine's load then weighs on every way alike); the
    median wall per way is reported."""
    rows = []
    for device in devices:
        runs = run_overrides(n, epochs, device)
        walls: dict[str, list[tuple[float, float]]] = {w: [] for w in ways}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(repeat):
                for way in ways:
                    work = Path(tmp) / f"{way.replace(' ', '_')}_{r}"
                    walls[way].append(one_process_per_run(runs, work) if way == WAYS[0]
                                      else pack(runs, work, way.split()[0]))
        for way in ways:
            wall, loops = sorted(walls[way])[len(walls[way]) // 2]
            rows.append({"device": device, "way": way, "runs": n, "epochs": epochs, "repeat": repeat,
                         "wall_s": round(wall, 2), "runs_per_s": round(n / wall, 3), "loop_s": round(loops, 2),
                         "overhead_per_run_s": round((wall - loops) / n, 3),
                         "walls_s": [round(w, 2) for w, _ in walls[way]]})
            print(f"{device:5s} {way:16s} {n} runs x {epochs} epochs: wall {wall:7.2f} s, "
                  f"{n / wall:6.3f} runs/s, training loops {loops:7.2f} s, "
                  f"overhead {(wall - loops) / n:6.3f} s/run (median of {repeat})", flush=True)
        by_way = {r["way"]: r for r in rows if r["device"] == device}
        if {"sequential pack", "vectorized pack"} <= set(by_way):
            ratio = by_way["vectorized pack"]["runs_per_s"] / by_way["sequential pack"]["runs_per_s"]
            print(f"{device}: vectorized / sequential runs/s = {ratio:.2f}x", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu, and cuda when present)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated subset of: {', '.join(WAYS)}")
    parser.add_argument("--repeat", type=int, default=1, help="times each way runs, interleaved; median reported")
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)
    if args.devices == "auto":
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = args.devices.split(",")
    ways = tuple(w.strip() for w in args.ways.split(","))
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        sys.exit(f"error: --ways {','.join(unknown)} unknown; allowed: {', '.join(WAYS)}")
    rows = bench(args.runs, args.epochs, devices, ways, args.repeat)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
