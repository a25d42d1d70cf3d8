"""Smith's LR range test: raise the rate linearly over a few epochs, record loss and accuracy against it,
and suggest CLR bounds: max_lr where validation accuracy peaks, base_lr where it starts to rise (at
least max_lr / 4, Smith's alternative rule).

`python -m adamw_repro.training.lr_range experiment=clr scale=quick optimizer=sgd hydra.run.dir=DIR` writes
DIR/range.csv (step, lr, train_loss, train_accuracy, val_accuracy) and DIR/range.json.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from adamw_repro.checks import check_config
from adamw_repro.runconfig import ConfigError
from adamw_repro.training.train import command_line

FIELDS = ("step", "lr", "train_loss", "train_accuracy", "val_accuracy")
EVALUATIONS = 60  # validation passes over the ramp


def suggest_bounds(lrs, accuracy, smooth: int = 5) -> tuple[float, float]:
    """(base_lr, max_lr) from accuracy against a rising lr: peak of the smoothed curve, and the first rate
    where it has climbed a quarter of the way from its start to that peak (no lower than max_lr / 4)."""
    import numpy as np

    acc = np.convolve(np.asarray(accuracy, float), np.ones(smooth) / smooth, mode="same")
    peak = int(np.nanargmax(acc))
    max_lr = float(lrs[peak])
    rise = acc[0] + 0.25 * (acc[peak] - acc[0])
    start = int(np.argmax(acc[: peak + 1] >= rise))
    return max(float(lrs[start]), max_lr / 4), max_lr


def range_test(cfg: DictConfig, run_dir: Path) -> dict:
    import torch
    from torch import nn

    from adamw_repro import runio
    from adamw_repro.training.data import load_splits
    from adamw_repro.training.evaluation import evaluate, recompute_bn_statistics
    from adamw_repro.training.loop import Run, configure_torch, pick_device

    name = cfg.optimizer.name
    if name not in cfg.lr_range.bounds:
        raise ConfigError(f"lr_range.bounds has no entry for optimizer={name}; allowed: "
                          f"{', '.join(cfg.lr_range.bounds)} (conf/config.yaml or the experiment file)")
    lo, hi = cfg.lr_range.bounds[name]
    device = pick_device(cfg.device)
    configure_torch(cfg, device)
    run = Run(cfg, load_splits(cfg.data, device), device)
    steps = run.steps_per_epoch * cfg.lr_range.epochs
    every = max(1, steps // EVALUATIONS)
    s, rows, gen = run.splits, [], run.batch_order
    for step in range(steps):
        lr = lo + (hi - lo) * step / max(1, steps - 1)
        for g in run.optimizer.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, run.n_train, (cfg.batch_size,), generator=gen)
        logits = run.model(s.x_train[idx])
        loss = nn.functional.cross_entropy(logits, s.y_train[idx])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if step % every == 0 or step == steps - 1:  # the network's accuracy, not stale BatchNorm averages
            recompute_bn_statistics(run.model, s.x_train[:cfg.bn_samples])
            _, val_error = evaluate(run.model, s.x_val, s.y_val, cfg.eval_batch_size, False)
            rows.append({"step": step, "lr": lr, "train_loss": loss.item(),
                         "train_accuracy": (logits.argmax(1) == s.y_train[idx]).float().mean().item(),
                         "val_accuracy": 1 - val_error})
    base_lr, max_lr = suggest_bounds([r["lr"] for r in rows], [r["val_accuracy"] for r in rows])
    result = {"optimizer": name, "base_lr": base_lr, "max_lr": max_lr, "min": lo, "max": hi, "steps": steps}
    runio.write_csv(run_dir / "range.csv", FIELDS, rows)
    runio.write_json(run_dir / "range.json", result)
    return result


def main() -> None:
    """The command line (train's: an unknown experiment or option, a bad value or a disk fault is one line)."""

    def one_test(cfg: DictConfig, run_dir: Path) -> None:
        check_config(cfg)
        result = range_test(cfg, run_dir)
        print(f"{result['optimizer']}: suggested base_lr {result['base_lr']:.3g}, max_lr {result['max_lr']:.3g}")

    command_line(one_test)


if __name__ == "__main__":
    main()
