"""Per-layer telemetry (`telemetry_every: N` > 0): every N-th step, for each weight tensor, its norm, the angle
it turns through in that step, and the ratio of its gradient's norm to its own; averaged per epoch into
`telemetry.csv` beside history.csv (schema.TELEMETRY_FIELDS).

The angular update is what Kosson, Messmer & Jaggi (ICML 2024, docs/paper.md section 5) predict for weights a
BatchNorm makes scale-invariant: under AdamW they settle at about sqrt(2 * eta_t*lambda * (1-beta1)/(1+beta1))
radians a step, the same in every such layer. `scale_invariant` marks a weight followed directly by a BatchNorm
(its output is normalized, so its scale does not change the function). Measured between the weights just
before and just after the optimizer's step, on the same device, without a host sync until the epoch ends.
"""

from __future__ import annotations

import torch
from torch import nn

from adamw_repro.training.evaluation import batch_norms


def scale_invariant_weights(model: nn.Module) -> set[str]:
    """Names of the weights whose layer feeds a BatchNorm directly (in a Sequential: the next module)."""
    norms = {id(m) for m in batch_norms(model)}
    found = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (name, layer), (_, after) in zip(children, children[1:], strict=False):
                if id(after) in norms and getattr(layer, "weight", None) is not None:
                    found.add(f"{prefix}.{name}.weight" if prefix else f"{name}.weight")
    return found


class Telemetry:
    """Per-epoch sums of the sampled steps' statistics for each weight tensor (ndim > 1) of one model."""

    def __init__(self, model: nn.Module, every: int):
        self.every = every
        self.names = [n for n, p in model.named_parameters() if p.ndim > 1]
        self.params = [p for n, p in model.named_parameters() if p.ndim > 1]
        invariant = scale_invariant_weights(model)
        self.invariant = [n in invariant for n in self.names]
        device = self.params[0].device if self.params else "cpu"
        self.sums = torch.zeros(len(self.names), 2, dtype=torch.float64, device=device)  # angle, grad ratio
        self.samples, self.before = 0, None
        self.rows: list[dict] = []

    def wants(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    @torch.no_grad()
    def before_step(self) -> None:
        """Called after backward, before the optimizer's step: the weights and gradient ratios of this step."""
        self.before = [p.detach().clone() for p in self.params]
        ratios = [(p.grad.norm() / p.norm().clamp_min(1e-30)) if p.grad is not None else p.new_zeros(())
                  for p in self.params]
        self.sums[:, 1] += torch.stack(ratios).double()

    @torch.no_grad()
    def after_step(self) -> None:
        """Called after the optimizer's step: the angle each weight turned through."""
        cos = [torch.nn.functional.cosine_similarity(b.flatten(), p.flatten(), dim=0, eps=1e-30)
               for b, p in zip(self.before, self.params, strict=True)]
        self.sums[:, 0] += torch.stack(cos).double().clamp(-1.0, 1.0).arccos()
        self.samples += 1
        self.before = None

    @torch.no_grad()
    def end_epoch(self, epoch: int, step: int) -> None:
        """The epoch's rows (means over its sampled steps; the norm at its end) and fresh sums."""
        if not self.names:
            return
        means = (self.sums / max(self.samples, 1)).tolist()
        norms = torch.stack([p.norm() for p in self.params]).tolist()
        for name, invariant, (angle, ratio), norm in zip(self.names, self.invariant, means, norms, strict=True):
            self.rows.append({"epoch": epoch, "step": step, "layer": name, "scale_invariant": invariant,
                              "weight_norm": norm, "angular_update": angle if self.samples else float("nan"),
                              "grad_weight_ratio": ratio if self.samples else float("nan"),
                              "samples": self.samples})
        self.sums.zero_()
        self.samples = 0

    def state_dict(self) -> dict:
        return {"sums": self.sums, "samples": self.samples, "rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.sums.copy_(state["sums"])
        self.samples, self.rows = int(state["samples"]), list(state["rows"])
