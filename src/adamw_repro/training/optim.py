"""The paper's optimizers (Algorithms 1 and 2) and the registry that builds every optimizer by name.

Notation of the paper: alpha = base learning rate, eta_t = schedule multiplier, lambda = weight decay.
The schedule writes lr = alpha * eta_t into each parameter group every batch; the decoupled optimizers
recover eta_t = lr / alpha, as the authors' code does (current_lr / base_lr), and shrink the weights by
(1 - eta_t * lambda): the decay is multiplied by the schedule but NOT by alpha.

The arithmetic mirrors torch.optim's single-tensor kernels op for op, so that with lambda = 0 AdamW is
bitwise Adam and SGDW is bitwise SGD (identity 1 of docs/paper.md section 1).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim import Optimizer

from adamw_repro import names
from adamw_repro.training.eager import eager as eager_class
from adamw_repro.training.eager import skip_dynamo_import


class AdamW(Optimizer):
    """Adam with decoupled weight decay, Algorithm 2 of Loshchilov & Hutter (2019).

    `weight_decay` is the paper's lambda: each step multiplies the weights by (1 - eta_t * lambda), with
    eta_t = lr / alpha. It is not multiplied by alpha (unlike torch.optim.AdamW, whose weight_decay is
    lambda / alpha).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        _check_hyper(lr=lr, eps=eps, weight_decay=weight_decay)
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"optimizer.betas must lie in [0, 1), got {tuple(betas)}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group (also used by __init__), plus the group's base rate alpha: its own lr."""
        Optimizer.add_param_group(self, param_group)
        _set_alpha(self.param_groups[-1])

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, lam = group["lr"], group["eps"], group["weight_decay"]
            eta = lr / group["alpha"] if group["alpha"] else 0.0  # the schedule multiplier eta_t (a frozen group: 0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                adamw_step(p, p.grad, state, beta1, beta2, lr, eps, eta * lam)
        return loss


def adamw_step(theta, g, state, beta1, beta2, lr, eps, decay):
    """One step of Algorithm 2 on one tensor:
    theta <- theta - eta_t * (alpha * mhat / (sqrt(vhat) + eps) + lambda * theta), with decay = eta_t*lambda.

    Both terms use the old theta; shrinking first and then adding the Adam step computes exactly that.
    The Adam part is torch.optim.Adam's single-tensor kernel, op for op.
    """
    state["step"] += 1
    t = state["step"].item()
    if decay != 0:
        theta.mul_(1 - decay)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    bias_correction1 = 1 - beta1**t
    bias_correction2_sqrt = (1 - beta2**t) ** 0.5
    step_size = lr / bias_correction1  # alpha * eta_t / (1 - beta1^t)
    denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
    theta.addcdiv_(m, denom, value=-step_size)


class SGDW(Optimizer):
    """SGD with momentum and decoupled weight decay, Algorithm 1 of Loshchilov & Hutter (2019).

    As in the authors' code and torch.optim.SGD the learning rate stays outside the momentum buffer
    (m = mu*m + g; theta -= lr*m); the decay shrinks the weights by (1 - eta_t * lambda), eta_t = lr / alpha.
    """

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        _check_hyper(lr=lr, weight_decay=weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"optimizer.momentum must lie in [0, 1), got {momentum}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov))

    add_param_group = AdamW.add_param_group

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            decay = (lr / group["alpha"] if group["alpha"] else 0.0) * lam  # eta_t * lambda
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.detach().clone()
                    else:
                        buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g.add(buf, alpha=mu) if group["nesterov"] else buf
                if decay != 0:
                    p.mul_(1 - decay)
                p.add_(g, alpha=-lr)
        return loss


def _set_alpha(group: dict) -> None:
    """alpha of a new group: its lr, or, when a torch scheduler already set one, its initial_lr."""
    group.setdefault("alpha", group.get("initial_lr", group["lr"]))


def _evaluate(closure):
    """The closure's loss, computed with gradients on (torch.optim's contract), or None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _check_hyper(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"optimizer.{name} must be >= 0, got {value} (set it in conf/optimizer/ "
                             f"or with the override optimizer.{name}=...)")


def parameter_groups(model: nn.Module, decay_bias_and_norm: bool = True) -> list[dict]:
    """The decay / no-decay split shared by every optimizer.

    The authors' code decays every parameter (biases and batch-norm too): that is the default. With
    `decay_bias_and_norm=False`, one-dimensional parameters (biases, norm scales and shifts) get no decay.
    Each group carries `decay` so normalized weight decay can update only the decayed group.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_bias_and_norm:
        return [{"params": params, "decay": True}]
    matrices = [p for p in params if p.ndim > 1]
    vectors = [p for p in params if p.ndim <= 1]
    return [{"params": matrices, "decay": True}, {"params": vectors, "decay": False, "weight_decay": 0.0}]


skip_dynamo_import(AdamW, SGDW)  # our own step has no dynamo wrapper; only the base class methods do


def optimizer_class(name: str) -> type[Optimizer]:
    """The class of optimizer `name`, from its row's "module:Class" constructor in adamw_repro/names.py."""
    module, cls = names.optimizer(name).constructor.split(":")
    return getattr(importlib.import_module(module), cls)


def _hyperparameters(row: names.Optimizer, betas, eps: float, momentum: float) -> dict:
    # Adam family: betas and eps; SGD family: momentum (lr outside the buffer, as torch and the authors' code).
    # torch's own classes run their single-tensor loop (foreach=False), the same arithmetic as ours.
    extra = {"betas": tuple(betas), "eps": eps} if row.family == "adam" else {"momentum": momentum}
    if row.constructor.startswith("torch."):
        extra["foreach"] = False
    return extra


def build_optimizer(name: str, groups: Iterable[dict], lr: float, weight_decay: float = 0.0,
                    betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9,
                    eager: bool = False) -> Optimizer:
    """Build optimizer `name` over `groups` (from `parameter_groups`); groups without decay keep 0.

    `eager=True` (runs that do not use torch.compile) keeps torch's compiler stack from being imported
    (adamw_repro.training.eager): the same arithmetic, ~1 s less start-up.
    """
    row = names.optimizer(name)
    _check_hyper(lr=lr, weight_decay=weight_decay)
    groups = [dict(g) for g in groups]
    for g in groups:
        g.setdefault("weight_decay", weight_decay)
    cls = optimizer_class(name)
    if eager and row.constructor.startswith("torch."):
        cls = eager_class(cls)
    opt = cls(groups, lr=lr, weight_decay=weight_decay, **_hyperparameters(row, betas, eps, momentum))
    for g in opt.param_groups:
        g.setdefault("alpha", lr)
    return opt


def set_weight_decay(optimizer: Optimizer, weight_decay: float) -> None:
    """Set lambda on every decayed group (normalized weight decay changes it at each restart)."""
    for g in optimizer.param_groups:
        if g.get("decay", True):
            g["weight_decay"] = weight_decay


def set_multiplier(optimizer: Optimizer, eta: float) -> None:
    """Write lr = alpha * eta_t into every group: the one place the schedule touches the optimizer."""
    for g in optimizer.param_groups:
        g["lr"] = g.setdefault("alpha", g["lr"]) * eta  # a group added later to a torch optimizer gets alpha too
