"""Learning-rate schedules as pure functions of the step: each returns the multiplier eta_t (lr = alpha * eta_t).

Every schedule is stepped every batch; step t (0-based) is the update that uses eta(t), which is what a
PyTorch scheduler gives when `scheduler.step()` follows each `optimizer.step()`. Epoch-based rules
(step-drop, ExponentialLR) change at epoch boundaries. ReduceLROnPlateau depends on validation losses,
so it is the one stateful schedule (`Plateau`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Schedule = Callable[[int], float]


def fixed(step: int) -> float:
    return 1.0


def step_drop(step: int, *, steps_per_epoch: int, epochs: int, milestones=(0.3, 0.6, 0.8),
              gamma: float = 0.1) -> float:
    """x gamma at each milestone, given as fractions of training (the paper: epochs 30, 60, 80 of 100)."""
    epoch = step // steps_per_epoch
    return gamma ** sum(epoch >= round(m * epochs) for m in milestones)


def cosine(step: int, *, total_steps: int, eta_min: float = 0.0) -> float:
    """Cosine annealing from 1 to eta_min over the whole budget, per batch."""
    return eta_min + 0.5 * (1 - eta_min) * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))


@dataclass(frozen=True)
class Period:
    """One warm-restart period: its index i, first step and length T_i (in steps)."""

    index: int
    start: int
    length: int


def restart_period(step: int, *, steps_per_epoch: int, T0: float, T_mult: int) -> Period:
    """The period containing `step`: T_i = T0 * T_mult^i epochs, counted in whole steps (no float log)."""
    start, i = 0, 0
    length = round(T0 * steps_per_epoch)
    while step >= start + length:
        start += length
        i += 1
        length = round(T0 * T_mult**i * steps_per_epoch)
    return Period(i, start, length)


def warm_restarts(step: int, *, steps_per_epoch: int, T0: float, T_mult: int = 2,
                  eta_min: float = 0.0) -> float:
    """SGDR: eta = eta_min + (1 - eta_min)/2 * (1 + cos(pi * T_cur / T_i)), T_cur advancing every batch."""
    period = restart_period(step, steps_per_epoch=steps_per_epoch, T0=T0, T_mult=T_mult)
    t_cur = (step - period.start) / steps_per_epoch
    t_i = period.length / steps_per_epoch
    return eta_min + 0.5 * (1 - eta_min) * (1 + math.cos(math.pi * t_cur / t_i))


def exponential(step: int, *, steps_per_epoch: int, gamma: float) -> float:
    """ExponentialLR: x gamma once per epoch."""
    return gamma ** (step // steps_per_epoch)


def _clr_shape(step: int, stepsize: int) -> tuple[int, float]:
    """Smith's triangle: the cycle number (1-based) and the height in [0, 1] at `step`."""
    cycle = math.floor(1 + step / (2 * stepsize))
    x = abs(step / stepsize - 2 * cycle + 1)
    return cycle, max(0.0, 1 - x)


def triangular(step: int, *, stepsize: int, base_fraction: float) -> float:
    """CLR triangular: linear between base_lr = base_fraction*alpha and max_lr = alpha; half cycle = stepsize."""
    _, h = _clr_shape(step, stepsize)
    return base_fraction + (1 - base_fraction) * h


def triangular2(step: int, *, stepsize: int, base_fraction: float) -> float:
    """CLR triangular2: the amplitude halves every cycle."""
    cycle, h = _clr_shape(step, stepsize)
    return base_fraction + (1 - base_fraction) * h / 2 ** (cycle - 1)


def exp_range(step: int, *, stepsize: int, base_fraction: float, gamma: float) -> float:
    """CLR exp_range: the amplitude decays by gamma^iteration."""
    _, h = _clr_shape(step, stepsize)
    return base_fraction + (1 - base_fraction) * h * gamma**step


def decay_only(step: int, *, stepsize: int, base_fraction: float) -> float:
    """Smith's 'decay' baseline: linear from max_lr down to base_lr over one stepsize, then held."""
    return base_fraction + (1 - base_fraction) * max(0.0, 1 - step / stepsize)


def one_cycle(step: int, *, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> float:
    """OneCycleLR (two phases, cosine annealing), max_lr = alpha."""
    initial = 1 / div_factor
    final = initial / final_div_factor
    warm_end = float(pct_start * total_steps) - 1
    if step <= warm_end:
        start, end, pct = initial, 1.0, step / warm_end
    else:
        start, end, pct = 1.0, final, (step - warm_end) / (total_steps - 1 - warm_end)
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def with_warmup(schedule: Schedule, warmup_steps: int) -> Schedule:
    """Linear warm-up over the first `warmup_steps` updates, multiplied into any schedule."""
    if warmup_steps <= 0:
        return schedule
    return lambda step: schedule(step) * min(1.0, (step + 1) / warmup_steps)


class Plateau:
    """ReduceLROnPlateau on the validation loss (mode min, relative threshold), as a multiplier.

    `step(val_loss)` is called once per epoch; `eta` is the multiplier for the next epoch's updates.
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 cooldown: int = 0, eta_min: float = 0.0, eps: float = 1e-8):
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.cooldown, self.eta_min, self.eps = cooldown, eta_min, eps
        self.eta, self.best, self.num_bad, self.cooldown_counter = 1.0, math.inf, 0, 0

    def step(self, val_loss: float) -> float:
        if val_loss < self.best * (1 - self.threshold):
            self.best, self.num_bad = val_loss, 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            new = max(self.eta * self.factor, self.eta_min)
            # torch compares absolute learning rates against eps; the multiplier is lr / alpha.
            if self.eta - new > self.eps:
                self.eta = new
            self.cooldown_counter, self.num_bad = self.cooldown, 0
        return self.eta

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


def clr_stepsize(cfg, steps_per_epoch: int) -> int:
    return max(1, round(cfg["stepsize_epochs"] * steps_per_epoch))


def build_schedule(cfg, *, steps_per_epoch: int, epochs: int) -> Schedule | Plateau:
    """The schedule named by cfg.name, as eta(step) (or a Plateau), with optional linear warm-up."""
    if hasattr(cfg, "_metadata"):  # an OmegaConf node: plain values, so that eta(step) reads no config
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True)
    name = cfg["name"]
    total = steps_per_epoch * epochs
    spe = steps_per_epoch
    builders = {
        "fixed": lambda: fixed,
        "step": lambda: lambda s: step_drop(s, steps_per_epoch=spe, epochs=epochs,
                                            milestones=tuple(cfg["milestones"]), gamma=cfg["gamma"]),
        "cosine": lambda: lambda s: cosine(s, total_steps=total, eta_min=cfg.get("eta_min", 0.0)),
        "warm_restarts": lambda: lambda s: warm_restarts(s, steps_per_epoch=spe, T0=cfg["T0"],
                                                         T_mult=cfg["T_mult"], eta_min=cfg.get("eta_min", 0.0)),
        "exponential": lambda: lambda s: exponential(s, steps_per_epoch=spe, gamma=cfg["gamma"]),
        "triangular": lambda: lambda s: triangular(s, stepsize=clr_stepsize(cfg, spe),
                                                   base_fraction=cfg["base_fraction"]),
        "triangular2": lambda: lambda s: triangular2(s, stepsize=clr_stepsize(cfg, spe),
                                                     base_fraction=cfg["base_fraction"]),
        "exp_range": lambda: lambda s: exp_range(s, stepsize=clr_stepsize(cfg, spe),
                                                 base_fraction=cfg["base_fraction"], gamma=cfg["gamma"]),
        "decay_only": lambda: lambda s: decay_only(s, stepsize=clr_stepsize(cfg, spe),
                                                   base_fraction=cfg["base_fraction"]),
        "one_cycle": lambda: lambda s: one_cycle(s, total_steps=total, pct_start=cfg["pct_start"],
                                                 div_factor=cfg["div_factor"],
                                                 final_div_factor=cfg["final_div_factor"]),
        "plateau": lambda: Plateau(factor=cfg["factor"], patience=cfg["patience"],
                                   threshold=cfg.get("threshold", 1e-4), cooldown=cfg.get("cooldown", 0)),
    }
    if name not in builders:
        raise ValueError(f"schedule={name!r} is unknown; allowed: {', '.join(builders)} (files in conf/schedule/)")
    schedule = builders[name]()
    if isinstance(schedule, Plateau):
        return schedule
    return with_warmup(schedule, round(cfg.get("warmup_epochs", 0) * spe))
