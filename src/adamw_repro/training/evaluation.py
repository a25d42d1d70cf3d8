"""Evaluation of the network, not of stale BatchNorm statistics; and when to evaluate.

At a high, non-annealed learning rate BatchNorm's running mean and variance lag the weights (they average
over many past steps whose weights differ), so eval-mode error can approach chance while the network itself
is fine (docs/paper.md section 4). Before every evaluation the statistics are therefore re-estimated from
training data: one train-mode forward pass without gradients over a fixed subset of the training set (the
first `bn_samples` samples), which is what `torch.optim.swa_utils.update_bn` does. Training is untouched:
in train mode BatchNorm normalizes with batch statistics and never reads the running ones, and the pass
runs under a forked RNG (a model with train-time randomness, Shake-Shake, draws nothing from the run's RNG).
The re-estimated statistics stay in the model (its checkpoint holds the statistics it was evaluated with).
"""

from __future__ import annotations

import torch
from torch import nn

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batch_norms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BATCH_NORMS) and m.track_running_stats]


def eval_bn(cfg, model: nn.Module) -> str:
    """Which statistics the evaluation uses (schema.EVAL_BN): "recomputed", "running" or "none"."""
    if not batch_norms(model):
        return "none"
    return "recomputed" if cfg.bn_samples > 0 else "running"


def due(every: int, epoch: int, epochs: int) -> bool:
    """Whether epoch `epoch` (1-based) is evaluated: every `every` epochs (0: never) and always at the end."""
    return epoch == epochs or bool(every) and epoch % every == 0


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, x: torch.Tensor) -> None:
    """Replace every BatchNorm's running mean and variance by those of `x`: one train-mode forward pass without
    gradients, momentum 1, so the statistics are exactly the subset's mean and unbiased variance as BatchNorm
    computes them (one batch: torch.optim.swa_utils.update_bn's result for a loader of one batch)."""
    norms = batch_norms(model)
    if not norms or len(x) == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    was_training = model.training
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        model.train()
        model(x)
    model.train(was_training)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, amp: bool) -> tuple[float, float]:
    """Mean cross-entropy and error rate over (x, y), in large forward-only batches, in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    wrong = torch.zeros((), device=x.device, dtype=torch.int64)
    for i in range(0, len(x), batch):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x[i:i + batch])
        loss_sum += nn.functional.cross_entropy(logits.float(), y[i:i + batch], reduction="sum").double()
        wrong += (logits.argmax(1) != y[i:i + batch]).sum()
    model.train(was_training)
    return loss_sum.item() / len(x), wrong.item() / len(x)
