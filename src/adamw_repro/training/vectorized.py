"""Stacked packs: K runs that share model shape, data, batch size and budget train as one stacked model.

Each member is first built as its solo run (loop.Run: the same seeded initialisation, schedule, batch order
and bookkeeping); their parameters and buffers are then stacked along a leading member axis and the model
runs under torch.func.vmap(functional_call), so BatchNorm keeps per-member statistics. The update is the
vectorized form of the member's optimizer (`stacked_step`), chosen by the registry row's capabilities (its
family and decay form, adamw_repro/names.py), with per-member alpha * eta_t and lambda as [K] columns that come
from the same pure schedule functions. Members agree with their solo runs to float tolerance (the batched
kernels round differently), not bitwise; a given pack is deterministic.

`StackedEngine` is an engine of loop.fit_members: the loop's rules (evaluation, divergence, checkpoints,
outputs) are the solo ones. Checkpoints are per member and in the solo format (`sync` writes the member's
slice back into its Run's model and optimizer), so a member resumes in a stacked pack or alone. A diverged
member is masked from then on; the others are untouched.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from adamw_repro import names
from adamw_repro.training.evaluation import batch_norms
from adamw_repro.training.loop import Run
from adamw_repro.training.optim import parameter_groups, set_multiplier, set_weight_decay

# What members of one stacked model must share; seed, alpha, lambda and the schedule may differ.
SHARED = ("model", "data", "batch_size", "epochs", "device", "amp", "compile", "channels_last", "eval_batch_size",
          "val_every", "test_every", "bn_samples", "telemetry_every", "engine")
SHARED_OPTIMIZER = ("name", "betas", "eps", "momentum", "decay_bias_and_norm")
STACK_SIZE = 16  # members of one stack at most (scale.stack_size): larger stacks leave a CPU's cache


def _plain(cfg, key):
    value = cfg.get(key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def stack_signature(cfg) -> str:
    """What members of one stack share (SHARED, SHARED_OPTIMIZER): equal signatures may stack."""
    import json

    return json.dumps([[_plain(cfg, k) for k in SHARED], [_plain(cfg.optimizer, k) for k in SHARED_OPTIMIZER]],
                      sort_keys=True, default=str)


def vmap_pays(cfg) -> bool:
    """Stacking runs of the loop engine under vmap pays on a GPU; on a CPU it measured slower than one run at a
    time (scripts/bench_batched.py), so there they train one after another."""
    import torch

    return torch.cuda.is_available() and cfg.device in ("auto", "cuda")


def stack_problem(cfgs) -> str | None:
    """Why these configs cannot train as one stacked model, or None when they can."""
    plain = _plain
    first = cfgs[0]
    row = names.optimizer(first.optimizer.name)
    if not row.stacked:
        return f"optimizer={row.name} has no stacked update (names.OPTIMIZERS row: stacked=False)"
    if first.compile or first.amp:
        return "compile=true and amp=true are not supported in a stacked pack"
    if first.telemetry_every:
        return "per-layer telemetry (telemetry_every > 0) is recorded by the loop engine, one run at a time"
    for key in SHARED:
        if any(plain(c, key) != plain(first, key) for c in cfgs):
            return f"the members differ in {key}"
    for key in SHARED_OPTIMIZER:
        if any(plain(c.optimizer, key) != plain(first.optimizer, key) for c in cfgs):
            return f"the members differ in optimizer.{key}"
    return None


def can_stack(cfgs) -> bool:
    """True when the configs can train as one stacked model (same shapes, data, budget and optimizer kind)."""
    return stack_problem(cfgs) is None


def _col(values, like: torch.Tensor) -> torch.Tensor:
    """Per-member scalars as a [K, 1, 1, ...] tensor that broadcasts against a stacked tensor."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


@torch.no_grad()
def stacked_step(family: str, theta: torch.Tensor, g: torch.Tensor, state: dict, *, lr, decay, l2, t,
                 betas=(0.9, 0.999), eps=1e-8, momentum=0.9) -> None:
    """One update of every member of a stacked tensor [K, ...], in place; the solo kernels op for op.

    `family` is the registry row's ("adam" or "sgd"). Per-member lists: lr = alpha * eta_t; decay = the
    factor's subtrahend (eta_t * lambda for the paper's form, lr_t * wd for torch's, 0 for L2); l2 = lambda
    added to the gradient (L2 form, else 0); t = the member's step count after this update (Adam's bias
    corrections).
    """
    if any(decay):
        theta.mul_(1 - _col(decay, theta))
    if any(l2):
        g = g.add(theta * _col(l2, theta))
    if family == "sgd":
        buf = state.get("momentum_buffer")
        if momentum != 0:
            if buf is None:
                buf = state["momentum_buffer"] = g.detach().clone()
            else:
                buf.mul_(momentum).add_(g)
            g = buf
        theta.sub_(g * _col(lr, theta))
        return
    beta1, beta2 = betas
    m = state.setdefault("exp_avg", torch.zeros_like(theta))
    v = state.setdefault("exp_avg_sq", torch.zeros_like(theta))
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    step_size = [a / (1 - beta1**s) for a, s in zip(lr, t, strict=True)]
    denom = (v.sqrt() / _col([(1 - beta2**s) ** 0.5 for s in t], theta)).add_(eps)
    theta.sub_(_col(step_size, theta) * (m / denom))


def hyper(run: Run) -> tuple[float, float, float]:
    """(lr, decay, l2) of a member at its current step, computed as its solo optimizer computes them."""
    eta, row = run.eta(run.step), names.optimizer(run.cfg.optimizer.name)
    alpha, lam = run.cfg.optimizer.lr, run.lambda_at(run.step)
    lr = alpha * eta
    if row.decay == "schedule":  # the paper's form: (1 - eta_t * lambda), eta_t recovered as lr / alpha
        return lr, lr / alpha * lam, 0.0
    if row.decay == "lr":  # torch.optim.AdamW: (1 - lr_t * wd)
        return lr, lr * lam, 0.0
    return lr, 0.0, lam


class VmapModel:
    """The members' models stacked along a member axis and run under torch.func.vmap(functional_call): any model
    (BatchNorm per member); what a GPU stacks. Its tensors to update: one per parameter name."""

    def __init__(self, runs: list[Run]):
        self.base = copy.deepcopy(runs[0].model).to("meta")
        params, self.buffers = stack_module_state([r.model for r in runs])
        params = {k: v.detach().requires_grad_() for k, v in params.items()}
        cfg = runs[0].cfg.optimizer
        decayed = {id(p) for g in parameter_groups(runs[0].model, cfg.decay_bias_and_norm) if g["decay"]
                   for p in g["params"]}
        self.tensors = [Tensor(params[k], id(p) in decayed, [k], [p.shape])
                        for k, p in runs[0].model.named_parameters()]
        self.params = params

        def loss(p, b, x):
            return functional_call(self.base, (p, b), (x,))

        self.train_fn = vmap(loss)
        self.shared_fn = vmap(loss, in_dims=(0, 0, None))

    def logits(self, xb: torch.Tensor) -> torch.Tensor:
        """Train-mode logits [K, B, classes] of each member's batch xb [K, B, ...] (running statistics updated)."""
        return self.train_fn(self.params, self.buffers, xb)

    @torch.no_grad()
    def recompute_bn(self, x: torch.Tensor) -> None:
        norms = batch_norms(self.base)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 1.0
        try:
            self.shared_fn(self.params, self.buffers, x)
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> list[tuple[float, float]]:
        K = next(iter(self.params.values())).shape[0]
        loss_sum = torch.zeros(K, dtype=torch.float64, device=x.device)
        wrong = torch.zeros(K, dtype=torch.int64, device=x.device)
        self.base.eval()
        try:
            for i in range(0, len(x), batch):
                logits, yb = self.shared_fn(self.params, self.buffers, x[i:i + batch]), y[i:i + batch]
                loss_sum += nn.functional.cross_entropy(logits.transpose(1, 2).float(), yb.expand(K, -1),
                                                        reduction="none").sum(1).double()
                wrong += (logits.argmax(-1) != yb).sum(-1)
        finally:
            self.base.train()
        return [(s / len(x), w / len(x)) for s, w in zip(loss_sum.tolist(), wrong.tolist(), strict=True)]

    def named(self) -> tuple[dict, dict]:
        return self.params, self.buffers


class BatchedModel:
    """The `cnn` family as batched matmuls (training/batched.py): ~2x a sequential pack's speed on a CPU thread
    at 4-16 members. Its tensors to update: one flat [K, P] per optimizer group."""

    def __init__(self, runs: list[Run]):
        from adamw_repro.training.batched import BatchedCNN

        self.model = BatchedCNN([r.model for r in runs], runs[0].cfg.optimizer.decay_bias_and_norm)
        self.buffers = self.model.buffers
        self.tensors = [Tensor(g.theta, g.decay, g.names, g.shapes) for g in self.model.groups]

    def logits(self, xb: torch.Tensor) -> torch.Tensor:
        return self.model.forward(xb, train=True)

    def recompute_bn(self, x: torch.Tensor) -> None:
        self.model.recompute_bn_statistics(x)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> list[tuple[float, float]]:
        return self.model.evaluate(x, y, batch)

    def named(self) -> tuple[dict, dict]:
        return self.model.params(), self.buffers


@dataclass
class Tensor:
    """A stacked tensor the update runs on: [K, ...] of one parameter, or [K, P] of a flat group of `names`."""

    theta: torch.Tensor
    decay: bool
    names: list[str]
    shapes: list

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """name -> [K, *shape] views of `flat` (this tensor, its gradient or an optimizer state of its shape)."""
        if len(self.names) == 1 and flat.shape[1:] == self.shapes[0]:
            return {self.names[0]: flat}
        pieces = flat.split([math.prod(s) for s in self.shapes], dim=1)
        return {n: p.view(flat.shape[0], *s) for n, p, s in zip(self.names, pieces, self.shapes, strict=True)}


def batched_engine(runs: list[Run]) -> StackedEngine:
    """The batched engine (training/engines.py): the stacked engine over the batched CNN."""
    return StackedEngine(runs, model=BatchedModel)


class StackedEngine:
    """The members' Runs, their stacked model (vmapped, or the batched CNN: `batched_engine`), optimizer state and
    step counts: trains and evaluates them together. An engine of loop.fit_members."""

    def __init__(self, runs: list[Run], model=VmapModel):
        problem = stack_problem([r.cfg for r in runs])
        if problem:
            raise ValueError(f"these runs cannot share a stacked model: {problem}")
        self.runs = runs
        self.model = model(runs)
        cfg = runs[0].cfg.optimizer
        self.family = names.optimizer(cfg.name).family
        self.betas, self.eps, self.momentum = tuple(cfg.betas), cfg.eps, cfg.momentum
        self.state = [{} for _ in self.model.tensors]
        self.t = [0] * len(runs)
        self._load_from_runs()

    def _load_from_runs(self) -> None:
        """Members' models and optimizer states (solo format, possibly resumed) into the stack."""
        params, buffers = self.model.named()
        with torch.no_grad():
            for k, run in enumerate(self.runs):
                named = dict(run.model.named_parameters())
                for key, value in {**named, **dict(run.model.named_buffers())}.items():
                    (params if key in params else buffers)[key][k].copy_(value)
                for tensor, state in zip(self.model.tensors, self.state, strict=True):
                    for key in tensor.names:
                        for name, value in run.optimizer.state.get(named[key], {}).items():
                            if name == "step":
                                self.t[k] = int(value.item())
                                continue
                            flat = state.setdefault(name, torch.zeros_like(tensor.theta))
                            tensor.split(flat)[key][k].copy_(value)

    def sync(self, k: int) -> None:
        """Member k's slice into its Run's model and optimizer, for a solo-format checkpoint."""
        run = self.runs[k]
        params, buffers = self.model.named()
        with torch.no_grad():
            named = dict(run.model.named_parameters())
            for key, value in {**named, **dict(run.model.named_buffers())}.items():
                value.copy_((params if key in params else buffers)[key][k])
            for tensor, state in zip(self.model.tensors, self.state, strict=True):
                views = {name: tensor.split(flat) for name, flat in state.items()}
                for key in tensor.names:
                    s = {name: v[key][k].clone() for name, v in views.items()}
                    if self.family == "adam":
                        s["step"] = torch.tensor(float(self.t[k]))
                    if s:
                        run.optimizer.state[named[key]] = s
        lr, _, _ = hyper(run)
        set_multiplier(run.optimizer, lr / run.cfg.optimizer.lr)
        set_weight_decay(run.optimizer, run.lambda_at(run.step))

    # -- training ----------------------------------------------------------------------------------------
    def train_epoch(self, active: list[int], stop_requested) -> None:
        """The rest of the current epoch for the active members (all at the same batch); the others wait."""
        from adamw_repro.training.checkpoint import StopRequested

        runs = self.runs
        for k in active:
            runs[k].start_epoch()
        first = runs[active[0]]
        b, x, y, augment = first.cfg.batch_size, first.splits.x_train, first.splits.y_train, first.splits.augment
        mask = [k in active for k in range(len(runs))]
        idle = torch.arange(first.n_train, device=x.device)
        while first.batch_index < first.steps_per_epoch:
            if stop_requested():
                raise StopRequested
            i = first.batch_index
            idx = torch.stack([(r.perm if mask[k] else idle)[i * b:(i + 1) * b] for k, r in enumerate(runs)])
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = torch.stack([augment(xb[k], r.batch_order) if mask[k] else xb[k] for k, r in enumerate(runs)])
            losses, logits = self.train_step(xb, yb, mask)
            wrong = (logits.argmax(-1) != yb).sum(-1)
            for k in active:
                r = runs[k]
                r.train_sums[0] += losses[k].double() * yb.shape[1]
                r.train_sums[1] += wrong[k]
                r.step += 1
                r.batch_index += 1
        for k in active:
            runs[k].perm = None

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor, active: list[bool]):
        """One update of the active members on their batches xb [K, B, ...]; returns losses and logits."""
        buffers = self.model.buffers
        keep = None if all(active) else {k: v.clone() for k, v in buffers.items()}
        for tensor in self.model.tensors:
            tensor.theta.grad = None
        logits = self.model.logits(xb)
        losses = nn.functional.cross_entropy(logits.transpose(1, 2).float(), yb, reduction="none").mean(1)
        losses.sum().backward()  # members are independent: each member's gradient is its own loss's
        hypers = [hyper(r) for r in self.runs]
        for k in range(len(self.runs)):
            self.t[k] += active[k]
        with torch.no_grad():
            for tensor, state in zip(self.model.tensors, self.state, strict=True):
                theta = tensor.theta
                old = None if keep is None else (theta.clone(), {n: s.clone() for n, s in state.items()})
                lr, decay, l2 = ([h[i] if tensor.decay or i == 0 else 0.0 for h in hypers] for i in range(3))
                stacked_step(self.family, theta, theta.grad, state, lr=lr, decay=decay, l2=l2,
                             t=[max(s, 1) for s in self.t], betas=self.betas, eps=self.eps, momentum=self.momentum)
                if old is not None:  # masked members keep their parameters and optimizer state
                    mask = _col(active, theta).bool()
                    theta.copy_(torch.where(mask, theta, old[0]))
                    for n, s in state.items():
                        s.copy_(torch.where(mask, s, old[1].get(n, torch.zeros_like(s))))
            if keep is not None:
                for key, b in buffers.items():
                    b.copy_(torch.where(_col(active, b).bool(), b, keep[key]))
        return losses.detach(), logits.detach()

    # -- evaluation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def recompute_bn(self, active: list[int]) -> None:
        """Every active member's BatchNorm statistics from the same training subset (loop's rule, stacked):
        one train-mode pass at momentum 1; the other members' buffers are kept."""
        first = self.runs[active[0]]
        buffers = self.model.buffers
        keep = {k: v.clone() for k, v in buffers.items()}
        self.model.recompute_bn(first.splits.x_train[:first.cfg.bn_samples])
        mask = [k in active for k in range(len(self.runs))]
        for key, b in buffers.items():
            b.copy_(torch.where(_col(mask, b).bool(), b, keep[key]))

    def evaluate(self, active: list[int], x: torch.Tensor, y: torch.Tensor) -> dict[int, tuple[float, float]]:
        """Each active member's mean cross-entropy and error over (x, y), batched as evaluation.evaluate."""
        results = self.model.evaluate(x, y, self.runs[active[0]].cfg.eval_batch_size)
        return {k: results[k] for k in active}
