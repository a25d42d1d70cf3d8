"""What a run tells: progress lines on stderr (and TensorBoard), and its summary, metrics.json
(schema.METRICS_KEYS): final and best values, budget, speed, how it was evaluated, provenance."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

from adamw_repro import runio
from adamw_repro.runconfig import ConfigError, run_label
from adamw_repro.schema import LOSS_AND_ERROR


class Progress:
    """Progress on stderr: a line at the first epoch end `progress_seconds` after the last one (30 s by default),
    so a long run shows where it is and a run of seconds prints only its summary; each line names the run by
    its settings. With `tensorboard=true`, every epoch's row also goes to TensorBoard (<run dir>/tensorboard)."""

    def __init__(self, cfg, run_dir: Path):
        self.every, self.label = cfg.progress_seconds, run_label(cfg, run_dir.name)
        self.last, self.writer = time.monotonic(), None
        if cfg.get("tensorboard"):
            try:  # optional: only runs that ask for it need the package
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError("tensorboard=true needs the tensorboard package (pip install tensorboard), "
                                  "or set tensorboard=false (conf/config.yaml)") from None
            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def update(self, row: dict) -> None:
        if self.writer is not None:
            for key in ("lr", *LOSS_AND_ERROR):
                if math.isfinite(row[key]):
                    self.writer.add_scalar(key, row[key], row["epoch"])
            self.writer.flush()
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            val = f"val error {row['val_error']:.4f}" if math.isfinite(row["val_error"]) else "not evaluated"
            print(f"[{self.label}] epoch {row['epoch']}: train loss {row['train_loss']:.4g}, {val}, "
                  f"lr {row['lr']:.3g}", file=sys.stderr, flush=True)


def summarize(run, digest: str, device: torch.device, **extra) -> dict:
    """metrics.json (schema.METRICS_KEYS) of a loop.Run: final and best values, budget, speed, evaluation,
    provenance."""
    history, cfg = run.history, run.cfg
    final = {k: history[-1][k] for k in LOSS_AND_ERROR} if history else {}
    evaluated = [r for r in history if math.isfinite(r["val_error"])]
    best = min(evaluated, key=lambda r: r["val_error"]) if evaluated else {}
    return {
        "status": "diverged" if run.diverged else "ok",
        "final": final,
        "best": {"epoch": best.get("epoch"), "val_error": best.get("val_error"),
                 "test_error": best.get("test_error")},
        "epochs": run.epoch, "steps": run.step, "steps_per_epoch": run.steps_per_epoch,
        "lambda_effective": run.lambda_at(0),
        "train_size": run.n_train,
        "scale": cfg.scale.name if "scale" in cfg else "adhoc",
        "wall_seconds": run.seconds, **extra,
        "evaluation": {"bn": run.eval_bn, "bn_samples": min(cfg.bn_samples, run.n_train),
                       "val_every": cfg.val_every, "test_every": cfg.test_every},
        "config_digest": digest,
        "provenance": runio.provenance(**device_info(device)),
    }


def device_info(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        import platform

        info["cpu"] = platform.processor() or platform.machine()
    return info
