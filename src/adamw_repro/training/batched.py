"""The `cnn` model family as one batched computation over K members: batched matmuls instead of vmap.

K runs of the same `cnn` (models/mnist1d.py) that differ in seed, alpha, lambda or schedule train as one computation.
On one CPU thread the quick testbed's step is mostly per-op overhead, which a pack then pays once instead of K times
(scripts/bench_batched.py measures it against K solo steps and against vmap). Two forward paths:
- training (`forward`, autograd): activations [K, C, L, B]; each convolution an im2col copy and one bmm over the
  member axis, each BatchNorm per member and channel with plain tensor ops, the classifier one bmm
  (training.batched_ops);
- no gradients (`infer`, `evaluate`): in eval mode activations [B, K*C, L], each convolution one grouped conv1d
  (oneDNN; a shared input [B, C, L] feeds all members through one ordinary conv) with its BatchNorm folded in, in
  chunks of about EVAL_CHUNK sample-members so that the activations stay in cache; in train mode (BatchNorm
  statistics re-estimation, `recompute_bn_statistics`) member by member with nn's own kernels, which measured
  faster than any batched form (the statistics need the whole batch at once, which then leaves the cache).
Members equal their solo runs to float tolerance, not bitwise: the batched kernels sum in other orders. Train mode
normalizes with the member's batch statistics and updates its running mean, running variance (unbiased) and
num_batches_tracked as nn.BatchNorm1d does (momentum from the members' modules, settable as `BatchedCNN.momentum`).

Interface for a stacked engine (in place of vmap(functional_call)):
- `BatchedCNN(models, decay_bias_and_norm)` stacks the members' own modules (their seeded initialisation) into one
  flat leaf [K, P_g] per optimizer group of `optim.parameter_groups` (`groups`: leaf and decay flag); gradients land
  in `leaf.grad`, so the stacked update (vectorized.stacked_step with per-member lr/decay columns) is one call per
  group.
- `forward(x, train)`: x [K, B, C, L] (each member its batch) or [B, C, L] (shared) -> logits [K, B, classes];
  `member_losses(logits, y)` -> the K mean cross-entropies (sum them before backward).
- `params()` / `buffers`: name -> [K, ...] tensors under the solo model's state_dict names (params() are views of
  the leaves; `split` gives the same views of any flat [K, P_g] tensor, e.g. Adam's moments, so solo-format
  optimizer state maps onto them). `functional(plan, params, buffers, x, train)` is the training forward on any
  such dicts (e.g. torch.func.stack_module_state's): the swap for vmap(functional_call) in a per-name engine.
- `evaluate(x, y, batch)` -> [(loss, error)] per member; `recompute_bn_statistics(x)`; `write_back(k, module)` /
  `load(k, module)`: member k's slice to / from its own nn.Module (solo-format checkpoints, resume).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from adamw_repro.training.batched_ops import BatchNormTrain, Conv, update_running
from adamw_repro.training.optim import parameter_groups

EVAL_CHUNK = 512  # sample-members per evaluation chunk: about the fastest of 128-4,096 at K = 8 and 32, 1 thread
EVAL_SAMPLES = 256  # samples per evaluation sum (the same for every K)


@dataclass
class Block:
    """Conv1d, optional BatchNorm1d, ReLU: names are the solo modules' indices (their state_dict prefixes)."""
    conv: str
    stride: int
    padding: int
    bn: str | None = None
    eps: float = 1e-5
    momentum: float | None = 0.1


@dataclass
class Plan:
    blocks: list[Block]
    linear: str


def unsupported(model: nn.Module) -> str | None:
    """Why `model` cannot be batched (a sentence), or None: blocks of Conv1d [BatchNorm1d] ReLU, Flatten, Linear."""
    if not isinstance(model, nn.Sequential):
        return f"{type(model).__name__} is not an nn.Sequential of the cnn model family (models/mnist1d.py)"
    mods, i = list(model), 0
    while i < len(mods) and isinstance(mods[i], nn.Conv1d):
        c = mods[i]
        if c.groups != 1 or c.dilation != (1,) or c.padding_mode != "zeros" or isinstance(c.padding, str):
            return f"layer {i} is a Conv1d with groups, dilation or non-zero padding"
        i += 1
        if i < len(mods) and isinstance(mods[i], nn.BatchNorm1d):
            if not (mods[i].affine and mods[i].track_running_stats):
                return f"layer {i} is a BatchNorm1d without affine parameters or running statistics"
            i += 1
        if i >= len(mods) or not isinstance(mods[i], nn.ReLU):
            return f"layer {i} is not the ReLU that ends a Conv1d [BatchNorm1d] ReLU block"
        i += 1
    tail = mods[i:]
    if not (i > 0 and len(tail) == 2 and isinstance(tail[0], nn.Flatten) and (tail[0].start_dim, tail[0].end_dim)
            == (1, -1) and isinstance(tail[1], nn.Linear)):
        return ("the layers are not the cnn family's Conv1d [BatchNorm1d] ReLU blocks then Flatten, Linear "
                f"({', '.join(type(m).__name__ for m in mods)})")
    return None


def plan(model: nn.Module) -> Plan:
    """The blocks of a covered model; raises ValueError naming what is not covered."""
    reason = unsupported(model)
    if reason is not None:
        raise ValueError(f"a batched pack cannot train this model: {reason}; train the pack with "
                         "pack_mode=sequential (conf/scale/*.yaml)")
    blocks, mods = [], list(model)
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv1d):
            blocks.append(Block(str(i), m.stride[0], m.padding[0]))
        elif isinstance(m, nn.BatchNorm1d):
            blocks[-1].bn, blocks[-1].eps, blocks[-1].momentum = str(i), m.eps, m.momentum
    return Plan(blocks, str(len(mods) - 1))


def functional(p: Plan, params: dict, buffers: dict, x: torch.Tensor, train: bool) -> torch.Tensor:
    """The training forward on named [K, ...] parameters and buffers: x [K, B, C, L] or a shared [B, C, L] ->
    logits [K, B, classes]; train mode updates the running statistics in `buffers` in place."""
    B = x.shape[-3]
    h = x.permute(0, 2, 3, 1) if x.dim() == 4 else x.permute(1, 2, 0)  # [K, C, L, B] or shared [C, L, B]
    for blk in p.blocks:
        z = Conv.apply(h, params[f"{blk.conv}.weight"], params.get(f"{blk.conv}.bias"), blk.stride, blk.padding)
        K, C, n = z.shape
        if blk.bn is not None:
            gamma, beta = params[f"{blk.bn}.weight"], params[f"{blk.bn}.bias"]
            mean, var = buffers[f"{blk.bn}.running_mean"], buffers[f"{blk.bn}.running_var"]
            if train:
                z, batch_mean, sum_sq = BatchNormTrain.apply(z, gamma, beta, blk.eps)
                update_running(mean, var, buffers[f"{blk.bn}.num_batches_tracked"], batch_mean, sum_sq, n,
                               blk.momentum)
            else:
                z = F.batch_norm(z.view(1, K * C, n), mean.view(-1), var.view(-1), gamma.reshape(-1),
                                 beta.reshape(-1), False, 0.0, blk.eps).view(K, C, n)
        h = torch.relu(z).view(K, C, -1, B)
    w, b = params[f"{p.linear}.weight"], params.get(f"{p.linear}.bias")
    flat = h.reshape(h.shape[0], -1, B)  # [K, C*L, B]: the solo Flatten's C-major order
    logits = torch.bmm(w, flat) if b is None else torch.baddbmm(b.unsqueeze(-1), w, flat)
    return logits.transpose(1, 2)


def _grouped_convs(p: Plan, params: dict, buffers: dict, K: int, shared: bool) -> list[tuple]:
    """(weight [K*C_out, C_in, k], bias, groups) of each block's convolution as one grouped conv1d, the block's
    eval-mode BatchNorm (a per-channel affine map) folded in."""
    convs = []
    for i, blk in enumerate(p.blocks):
        w, b = params[f"{blk.conv}.weight"], params.get(f"{blk.conv}.bias")
        w, b = w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1)
        if blk.bn is not None:
            a = params[f"{blk.bn}.weight"].reshape(-1) * torch.rsqrt(
                buffers[f"{blk.bn}.running_var"].reshape(-1) + blk.eps)
            mean = buffers[f"{blk.bn}.running_mean"].reshape(-1)
            w, b = w * a.view(-1, 1, 1), (-mean if b is None else b - mean) * a + params[f"{blk.bn}.bias"].reshape(-1)
        convs.append((w, b, 1 if shared and i == 0 else K))  # a shared input feeds every member's channels
    return convs


@torch.no_grad()
def _member_forward(p: Plan, params: dict, buffers: dict, k: int, x: torch.Tensor) -> torch.Tensor:
    """Member k's train-mode forward on its slices, with nn's own kernels on [B, C, L] (for BatchNorm
    statistics a batched form was measured slower: it needs the whole batch, which then leaves the cache)."""
    h = x
    for blk in p.blocks:
        b = params.get(f"{blk.conv}.bias")
        h = F.conv1d(h, params[f"{blk.conv}.weight"][k], None if b is None else b[k], blk.stride, blk.padding)
        if blk.bn is not None:
            tracked = buffers[f"{blk.bn}.num_batches_tracked"][k]
            tracked += 1
            factor = blk.momentum if blk.momentum is not None else 1.0 / float(tracked)  # as nn.BatchNorm1d
            h = F.batch_norm(h, buffers[f"{blk.bn}.running_mean"][k], buffers[f"{blk.bn}.running_var"][k],
                             params[f"{blk.bn}.weight"][k], params[f"{blk.bn}.bias"][k], True, factor, blk.eps)
        h = h.relu_()
    b = params.get(f"{p.linear}.bias")
    return F.linear(h.flatten(1), params[f"{p.linear}.weight"][k], None if b is None else b[k])


@torch.no_grad()
def functional_infer(p: Plan, params: dict, buffers: dict, x: torch.Tensor, train: bool) -> torch.Tensor:
    """The forward without gradients: same arguments and result as `functional`. Eval mode: grouped convolutions
    on [B, K*C, L] with each BatchNorm folded in, in chunks of about EVAL_CHUNK sample-members (so that the
    activations stay in cache). Train mode (statistics re-estimation): member by member."""
    K = params[f"{p.linear}.weight"].shape[0]
    shared = x.dim() == 3
    if train:
        return torch.stack([_member_forward(p, params, buffers, k, x if shared else x[k]) for k in range(K)])
    h = x if shared else x.transpose(0, 1).reshape(x.shape[1], -1, x.shape[3])  # [B, K*C, L]
    convs = _grouped_convs(p, params, buffers, K, shared)

    def through(c):
        for (w, b, groups), blk in zip(convs, p.blocks, strict=True):
            c = F.conv1d(c, w, b, blk.stride, blk.padding, 1, groups).relu_()
        return c

    h = torch.cat([through(c) for c in h.split(max(1, EVAL_CHUNK // K))])
    w, b = params[f"{p.linear}.weight"].transpose(1, 2), params.get(f"{p.linear}.bias")
    flat = h.view(h.shape[0], K, -1).transpose(0, 1)  # [K, B, C*L]: the solo Flatten's C-major order
    return torch.bmm(flat, w) if b is None else torch.baddbmm(b.unsqueeze(1), flat, w)


def member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy [K] of logits [K, B, classes] against labels [K, B] (or shared [B])."""
    y = y.expand(logits.shape[:2]) if y.dim() == 1 else y
    return F.cross_entropy(logits.transpose(1, 2).float(), y, reduction="none").mean(1)


@dataclass
class Group:
    """One optimizer group of all members: a flat leaf [K, P] holding `names` (of `shapes`) in order."""
    theta: torch.Tensor
    decay: bool
    names: list[str]
    shapes: list[torch.Size]


class BatchedCNN:
    """K members of the cnn family as one model: flat stacked parameters per optimizer group, stacked buffers."""

    def __init__(self, models: Sequence[nn.Module], decay_bias_and_norm: bool = True):
        first = models[0]
        self.plan = plan(first)
        shapes = {k: v.shape for k, v in first.state_dict().items()}
        for i, m in enumerate(models[1:], 1):
            if unsupported(m) or plan(m) != self.plan or {k: v.shape for k, v in m.state_dict().items()} != shapes:
                raise ValueError(f"member {i}'s model differs from member 0's in shape or layer settings; a batched "
                                 "pack needs one model (model.* settings equal across the pack)")
        self.K = len(models)
        name_of = {id(p): n for n, p in first.named_parameters()}
        self.groups = []
        for g in parameter_groups(first, decay_bias_and_norm):
            names = [name_of[id(p)] for p in g["params"]]
            theta = torch.stack([torch.cat([dict(m.named_parameters())[n].detach().reshape(-1) for n in names])
                                 for m in models])
            self.groups.append(Group(theta.requires_grad_(), bool(g["decay"]), names, [shapes[n] for n in names]))
        self.buffers = {n: torch.stack([dict(m.named_buffers())[n].detach() for m in models]).clone()
                        for n, _ in first.named_buffers()}

    def split(self, flats: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """name -> [K, *shape] views of one flat [K, P_g] tensor per group (the leaves, their grads, moments)."""
        out = {}
        for g, flat in zip(self.groups, flats, strict=True):
            pieces = flat.split([s.numel() for s in g.shapes], dim=1)
            out.update({n: p.view(self.K, *s) for n, p, s in zip(g.names, pieces, g.shapes, strict=True)})
        return out

    def params(self) -> dict[str, torch.Tensor]:
        """name -> [K, ...] differentiable views of the flat leaves."""
        return self.split([g.theta for g in self.groups])

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """Logits [K, B, classes] of x [K, B, C, L] (each member its own batch) or shared x [B, C, L]."""
        return functional(self.plan, self.params(), self.buffers, x, train)

    def infer(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        """As `forward`, without gradients (the faster path for evaluation and statistics)."""
        return functional_infer(self.plan, self.params(), self.buffers, x, train)

    @property
    def momentum(self) -> float | None:
        """The BatchNorm layers' momentum (nn.BatchNorm1d's meaning; None: the cumulative average)."""
        return next((blk.momentum for blk in self.plan.blocks if blk.bn is not None), None)

    @momentum.setter
    def momentum(self, value: float | None) -> None:
        for blk in self.plan.blocks:
            blk.momentum = value

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> list[tuple[float, float]]:
        """Each member's mean cross-entropy and error rate over shared (x, y) in eval mode (as loop.evaluate),
        in chunks of at most `batch` samples and about EVAL_CHUNK sample-members."""
        # A fixed chunk of samples whatever K is, so that a member's sums (and so its loss, to the last bit) do not
        # depend on how many members share its stack; `infer` splits each chunk further for the cache.
        chunk = max(1, min(batch, EVAL_SAMPLES))
        loss_sum = torch.zeros(self.K, dtype=torch.float64, device=x.device)
        wrong = torch.zeros(self.K, dtype=torch.int64, device=x.device)
        for i in range(0, len(x), chunk):
            logits, yb = self.infer(x[i:i + chunk]), y[i:i + chunk]
            loss_sum += F.cross_entropy(logits.transpose(1, 2).float(), yb.expand(self.K, -1),
                                        reduction="none").sum(1).double()
            wrong += (logits.argmax(-1) != yb).sum(-1)
        return [(s / len(x), w / len(x)) for s, w in zip(loss_sum.tolist(), wrong.tolist(), strict=True)]

    def recompute_bn_statistics(self, x: torch.Tensor) -> None:
        """Every member's running statistics become those of the shared batch x (one train-mode pass without
        gradients at momentum 1), as evaluation.recompute_bn_statistics does for a solo model."""
        momentum, self.momentum = self.momentum, 1.0
        try:
            self.infer(x, train=True)
        finally:
            self.momentum = momentum

    def zero_grad(self) -> None:
        for g in self.groups:
            g.theta.grad = None

    @torch.no_grad()
    def write_back(self, k: int, module: nn.Module) -> None:
        """Member k's parameters and buffers into `module` (its own solo model), e.g. before a checkpoint."""
        named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        for name, value in {**self.params(), **self.buffers}.items():
            named[name].copy_(value[k])

    @torch.no_grad()
    def load(self, k: int, module: nn.Module) -> None:
        """`module`'s parameters and buffers into member k's slice (e.g. after the member resumed)."""
        named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        for name, value in {**self.params(), **self.buffers}.items():
            value[k].copy_(named[name])
