"""Vectorized packs: K runs that share model shape, data, batch size and budget train as one stacked model.

Each member is first built as its solo run (loop.Run: the same seeded initialisation, schedule, batch order
and bookkeeping); their parameters and buffers are then stacked along a leading member axis and the model
runs under torch.func.vmap(functional_call), so BatchNorm keeps per-member statistics. The optimizers are
vectorized forms of the solo ones (`stacked_step`), with per-member alpha * eta_t and lambda as [K] tensors
that come from the same pure schedule functions. Members agree with their solo runs to float tolerance (the
batched kernels round differently), not bitwise; a given pack is deterministic.

Checkpoints are per member and in the solo format (the member's slice is written back into its Run's model
and optimizer), so a member resumes in a stacked pack or alone. Members whose checkpoints lie at different
epochs (kill -9 between two members' writes) wait, masked, until the pack reaches them. A member whose
epoch ends with a non-finite loss is marked diverged and masked from then on; the others are untouched.
Checkpoints are written at epoch ends: on SIGTERM a stacked pack stops and resumes from the last epoch.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from adamw_repro import runio
from adamw_repro.training.data import load_splits
from adamw_repro.training.loop import (
    EXIT_PREEMPTED,
    HISTORY_FIELDS,
    Run,
    StopHandler,
    configure_torch,
    load_checkpoint,
    pick_device,
    summarize,
)
from adamw_repro.training.optim import parameter_groups, set_multiplier, set_weight_decay
from adamw_repro.training.schedules import Plateau

# What members of one stacked model must share; seed, alpha, lambda and the schedule may differ.
SHARED = ("model", "data", "batch_size", "epochs", "device", "amp", "compile", "channels_last", "eval_batch_size",
          "test_every", "checkpoint_every")
SHARED_OPTIMIZER = ("name", "betas", "eps", "momentum", "decay_bias_and_norm")
STACKED_OPTIMIZERS = ("adam", "adamw", "adamw_torch", "sgd", "sgdw")


def can_stack(cfgs) -> bool:
    """True when the configs can train as one stacked model (same shapes, data, budget and optimizer kind)."""
    def plain(cfg, key):
        value = cfg.get(key)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

    first = cfgs[0]
    if first.optimizer.name not in STACKED_OPTIMIZERS or first.compile or first.amp:
        return False
    return all(plain(c, k) == plain(first, k) for c in cfgs for k in SHARED) and all(
        plain(c.optimizer, k) == plain(first.optimizer, k) for c in cfgs for k in SHARED_OPTIMIZER)


def _col(values, like: torch.Tensor) -> torch.Tensor:
    """Per-member scalars as a [K, 1, 1, ...] tensor that broadcasts against a stacked tensor."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


@torch.no_grad()
def stacked_step(name: str, theta: torch.Tensor, g: torch.Tensor, state: dict, *, lr, decay, l2, t,
                 betas=(0.9, 0.999), eps=1e-8, momentum=0.9) -> None:
    """One update of every member of a stacked tensor [K, ...], in place; the solo kernels op for op.

    Per-member lists: lr = alpha * eta_t; decay = the factor's subtrahend (paper AdamW / SGDW: eta_t * lambda;
    torch's AdamW: lr * weight_decay; else 0); l2 = lambda added to the gradient (Adam, SGD; else 0); t = the
    member's step count after this update (Adam's bias corrections).
    """
    if any(decay):
        theta.mul_(1 - _col(decay, theta))
    if any(l2):
        g = g.add(theta * _col(l2, theta))
    if name in ("sgd", "sgdw"):
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
    eta, name = run.eta(run.step), run.cfg.optimizer.name
    alpha, lam = run.cfg.optimizer.lr, run.lambda_at(run.step)
    lr = alpha * eta
    if name in ("adamw", "sgdw"):
        return lr, lr / alpha * lam, 0.0
    if name == "adamw_torch":
        return lr, lr * lam, 0.0
    return lr, 0.0, lam


class Stack:
    """The members' Runs, their stacked parameters, buffers and optimizer state."""

    def __init__(self, runs: list[Run]):
        self.runs = runs
        self.base = copy.deepcopy(runs[0].model).to("meta")
        params, self.buffers = stack_module_state([r.model for r in runs])
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        cfg = runs[0].cfg.optimizer
        self.name, self.betas, self.eps, self.momentum = cfg.name, tuple(cfg.betas), cfg.eps, cfg.momentum
        decayed = {id(p) for g in parameter_groups(runs[0].model, cfg.decay_bias_and_norm) if g["decay"]
                   for p in g["params"]}
        self.decays = {k: id(p) in decayed for k, p in runs[0].model.named_parameters()}
        self.state = {k: {} for k in self.params}
        self.t = [0] * len(runs)

        def loss(p, b, x, y):
            logits = functional_call(self.base, (p, b), (x,))
            return nn.functional.cross_entropy(logits.float(), y), logits

        self.train_fn = vmap(loss)
        self.eval_fn = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)), in_dims=(0, 0, None))

    def load_from_runs(self) -> None:
        """Members' models and optimizer states (solo format) into the stack."""
        with torch.no_grad():
            for k, run in enumerate(self.runs):
                named = dict(run.model.named_parameters())
                for key, value in {**named, **dict(run.model.named_buffers())}.items():
                    (self.params if key in self.params else self.buffers)[key][k].copy_(value)
                for key, p in named.items():
                    s = run.optimizer.state.get(p, {})
                    for name, value in s.items():
                        if name == "step":
                            self.t[k] = int(value.item())
                            continue
                        self.state[key].setdefault(name, torch.zeros_like(self.params[key]))[k].copy_(value)

    def write_back(self, k: int) -> None:
        """Member k's slice into its Run's model and optimizer, for a solo-format checkpoint."""
        run = self.runs[k]
        with torch.no_grad():
            named = dict(run.model.named_parameters())
            for key, value in {**named, **dict(run.model.named_buffers())}.items():
                value.copy_((self.params if key in self.params else self.buffers)[key][k])
            for key, p in named.items():
                s = {name: value[k].clone() for name, value in self.state[key].items()}
                if self.name not in ("sgd", "sgdw"):
                    s["step"] = torch.tensor(float(self.t[k]))
                if s:
                    run.optimizer.state[p] = s
        lr, _, _ = hyper(run)
        set_multiplier(run.optimizer, lr / run.cfg.optimizer.lr)
        set_weight_decay(run.optimizer, run.lambda_at(run.step))

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor, active: list[bool]):
        """One update of the active members on their batches xb [K, B, ...]; returns losses and logits."""
        keep = None if all(active) else {k: v.clone() for k, v in self.buffers.items()}
        for p in self.params.values():
            p.grad = None
        losses, logits = self.train_fn(self.params, self.buffers, xb, yb)
        losses.sum().backward()  # members are independent: each member's gradient is its own loss's
        hypers = [hyper(r) for r in self.runs]
        for k in range(len(self.runs)):
            self.t[k] += active[k]
        with torch.no_grad():
            for key, theta in self.params.items():
                old = None if keep is None else (theta.clone(), {n: s.clone() for n, s in self.state[key].items()})
                lr, decay, l2 = ([h[i] if self.decays[key] or i == 0 else 0.0 for h in hypers] for i in range(3))
                stacked_step(self.name, theta, theta.grad, self.state[key], lr=lr, decay=decay, l2=l2,
                             t=[max(s, 1) for s in self.t], betas=self.betas, eps=self.eps, momentum=self.momentum)
                if old is not None:  # masked members keep their parameters and optimizer state
                    mask = _col(active, theta).bool()
                    theta.copy_(torch.where(mask, theta, old[0]))
                    for n, s in self.state[key].items():
                        s.copy_(torch.where(mask, s, old[1].get(n, torch.zeros_like(s))))
            if keep is not None:
                for key, b in self.buffers.items():
                    b.copy_(torch.where(_col(active, b).bool(), b, keep[key]))
        return losses.detach(), logits.detach()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> list[tuple[float, float]]:
        """Each member's mean cross-entropy and error over (x, y), batched as loop.evaluate batches."""
        self.base.eval()
        K = len(self.runs)
        loss_sum = torch.zeros(K, dtype=torch.float64, device=x.device)
        wrong = torch.zeros(K, dtype=torch.int64, device=x.device)
        for i in range(0, len(x), batch):
            logits = self.eval_fn(self.params, self.buffers, x[i:i + batch])
            for k in range(K):
                loss_sum[k] += nn.functional.cross_entropy(logits[k].float(), y[i:i + batch], reduction="sum").double()
            wrong += (logits.argmax(-1) != y[i:i + batch]).sum(-1)
        self.base.train()
        return [(s / len(x), w / len(x)) for s, w in zip(loss_sum.tolist(), wrong.tolist(), strict=True)]


def fit_stacked(members) -> dict[Path, dict]:
    """Train pack members (training.pack.Member) as one stacked model; writes each member's solo outputs."""
    start = time.perf_counter()
    cfg0 = members[0].cfg
    device = pick_device(cfg0.device)
    configure_torch(cfg0, device)
    splits = load_splits(cfg0.data, device)
    runs, digests = [Run(m.cfg, splits, device) for m in members], [m.digest for m in members]
    resumed = [None] * len(runs)
    for k, (m, run) in enumerate(zip(members, runs, strict=True)):
        m.run_dir.mkdir(parents=True, exist_ok=True)
        state = load_checkpoint(m.run_dir / "checkpoint.pt", device)
        if state is not None:
            if state.get("config_digest") == m.digest and not state.get("final") and not state["batch_index"]:
                run.load_state_dict(state)
                resumed[k] = float(run.epoch)
        runio.write_yaml(m.run_dir / "config.yaml", m.run_cfg)
    stack = Stack(runs)
    stack.load_from_runs()
    first_step_seconds, first_step_unix = time.perf_counter() - start, time.time()

    def save(k: int, final: bool = False) -> None:
        stack.write_back(k)
        runio.torch_save(members[k].run_dir / "checkpoint.pt",
                         {**runs[k].state_dict(), "config_digest": digests[k], "final": final})

    stop_requested = StopHandler()  # a signal stops the pack at the next batch; members resume from epoch ends
    loop_start, epochs = time.perf_counter(), cfg0.epochs
    x, y, b = splits.x_train, splits.y_train, cfg0.batch_size
    while True:
        live = [r for r in runs if not r.diverged and r.epoch < epochs]
        if not live:
            break
        epoch = min(r.epoch for r in live)
        active = [r in live and r.epoch == epoch for r in runs]  # members ahead wait for the others
        t0 = time.perf_counter()
        for r, a in zip(runs, active, strict=True):
            if a:
                r.perm = torch.randperm(r.n_train, generator=r.batch_order).to(device)
                r.train_sums = torch.zeros(2, device=device, dtype=torch.float64)
        order = [r.perm if a else torch.arange(r.n_train, device=device) for r, a in zip(runs, active, strict=True)]
        for i in range(runs[0].steps_per_epoch):
            if stop_requested():
                stop_requested.restore()
                print(f"stopped on {stop_requested()}; members resume from their last epoch checkpoints",
                      file=sys.stderr)
                sys.exit(EXIT_PREEMPTED)
            idx = torch.stack([o[i * b:(i + 1) * b] for o in order])
            xb, yb = x[idx], y[idx]
            if splits.augment is not None:
                xb = torch.stack([splits.augment(xb[k], r.batch_order) if a else xb[k]
                                  for k, (r, a) in enumerate(zip(runs, active, strict=True))])
            losses, logits = stack.train_step(xb, yb, active)
            wrong = (logits.argmax(-1) != yb).sum(-1)
            for k, (r, a) in enumerate(zip(runs, active, strict=True)):
                if a:
                    r.train_sums[0] += losses[k].double() * yb.shape[1]
                    r.train_sums[1] += wrong[k]
                    r.step += 1
        seconds = time.perf_counter() - t0
        n_active = sum(active)
        evals = {"val": stack.evaluate(splits.x_val, splits.y_val, cfg0.eval_batch_size)}
        last = epoch + 1 == epochs
        # the test pass costs more than an epoch of training: only when due (as the solo loop)
        due = last or (cfg0.test_every and (epoch + 1) % cfg0.test_every == 0)
        evals["test"] = stack.evaluate(splits.x_test, splits.y_test, cfg0.eval_batch_size) if due else [
            (math.nan, math.nan)] * len(runs)
        for k, (r, a) in enumerate(zip(runs, active, strict=True)):
            if not a:
                continue
            r.perm, r.batch_index = None, 0
            r.seconds += seconds / n_active
            row = epoch_row(r, evals["val"][k], evals["test"][k])
            if isinstance(r.schedule, Plateau):
                r.schedule.step(row["val_loss"])
            r.history.append(row)
            r.epoch += 1
            if r.epoch % r.cfg.checkpoint_every == 0 and r.epoch < epochs and not r.diverged:
                save(k)
    loop_seconds = time.perf_counter() - loop_start
    stop_requested.restore()
    results = {}
    for k, (m, r) in enumerate(zip(members, runs, strict=True)):
        save(k, final=True)
        runio.write_csv(m.run_dir / "history.csv", HISTORY_FIELDS, r.history)
        steps = r.step
        metrics = summarize(r, m.digest, device, steps_per_second=steps / max(loop_seconds, 1e-9),
                            train_steps_per_second=steps / max(r.seconds, 1e-9),
                            first_step_seconds=first_step_seconds, first_step_unix=first_step_unix,
                            resumed_from=resumed[k], pack={"mode": "vectorized", "members": len(members)})
        runio.write_json(m.run_dir / "metrics.json", metrics)
        results[m.run_dir] = metrics
    return results


def epoch_row(run: Run, val: tuple[float, float], test: tuple[float, float]) -> dict:
    """The member's history row, as loop.Run.evaluate_epoch writes it (the test error only when due)."""
    cfg = run.cfg
    train_loss, wrong = (run.train_sums / run.n_train).tolist()
    row = {"epoch": run.epoch + 1, "step": run.step, "lr": hyper(run)[0] if run.step == 0 else
           run.cfg.optimizer.lr * run.eta(run.step - 1), "train_loss": train_loss, "train_error": wrong,
           "val_loss": val[0], "val_error": val[1]}
    last = run.epoch + 1 == cfg.epochs
    due = last or (cfg.test_every and (run.epoch + 1) % cfg.test_every == 0)
    row["test_loss"], row["test_error"] = test if due else (math.nan, math.nan)
    if not (math.isfinite(train_loss) and math.isfinite(row["val_loss"])):
        run.diverged = True
    if run.diverged:
        row.update(train_error=1.0, val_error=1.0, test_error=1.0)
    row["seconds"] = run.seconds
    return row
