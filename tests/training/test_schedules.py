"""Each schedule against PyTorch's own scheduler, stepped every batch as the training loop steps it."""

from __future__ import annotations

import math

import pytest
import torch

from adamw_repro.training import schedules as S

ALPHA = 0.1


def torch_lrs(make_scheduler, steps: int) -> list[float]:
    """lr used by update t, for t < steps: read before the optimizer step, scheduler stepped after it."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=ALPHA)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def ours(schedule, steps: int) -> list[float]:
    return [ALPHA * schedule(t) for t in range(steps)]


def test_warm_restarts_match_cosine_annealing_warm_restarts_per_batch():
    spe, epochs = 7, 31  # T0=2, T_mult=2: restarts after 2, 6, 14, 30 epochs
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=ALPHA)
    ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    expected = []
    for epoch in range(epochs):
        for i in range(spe):
            ref.step(epoch + i / spe)  # the documented per-batch usage
            expected.append(opt.param_groups[0]["lr"])
    got = ours(lambda t: S.warm_restarts(t, steps_per_epoch=spe, T0=2, T_mult=2), spe * epochs)
    assert got == pytest.approx(expected, abs=1e-12)
    assert S.restart_period(spe * 6, steps_per_epoch=spe, T0=2, T_mult=2) == S.Period(2, spe * 6, spe * 8)


@pytest.mark.parametrize("mode,extra", [("triangular", {}), ("triangular2", {}), ("exp_range", {"gamma": 0.999})])
def test_clr_matches_cyclic_lr_without_momentum_cycling(mode, extra):
    stepsize, base = 25, 0.25
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.CyclicLR(
        o, base_lr=base * ALPHA, max_lr=ALPHA, step_size_up=stepsize, mode=mode, cycle_momentum=False,
        **extra), 300)
    fn = getattr(S, mode)
    got = ours(lambda t: fn(t, stepsize=stepsize, base_fraction=base, **extra), 300)
    assert got == pytest.approx(expected, rel=1e-9)


def test_one_cycle_matches_one_cycle_lr():
    total = 200
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=ALPHA, total_steps=total, cycle_momentum=False), total)
    got = ours(lambda t: S.one_cycle(t, total_steps=total), total)
    assert got == pytest.approx(expected, rel=1e-9)


def test_exponential_matches_exponential_lr_stepped_per_epoch():
    spe, epochs, gamma = 5, 12, 0.8
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=ALPHA)
    ref = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    expected = []
    for _ in range(epochs):
        expected += [opt.param_groups[0]["lr"]] * spe
        opt.step()
        ref.step()
    got = ours(lambda t: S.exponential(t, steps_per_epoch=spe, gamma=gamma), spe * epochs)
    assert got == pytest.approx(expected, rel=1e-12)


def test_cosine_matches_cosine_annealing_lr_per_batch():
    total = 120
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total), total)
    assert ours(lambda t: S.cosine(t, total_steps=total), total) == pytest.approx(expected, abs=1e-12)


def test_plateau_matches_reduce_lr_on_plateau():
    rng = torch.Generator().manual_seed(0)
    losses = (torch.linspace(2, 1, 40) + 0.3 * torch.rand(40, generator=rng)).tolist() + [1.5] * 30
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=ALPHA)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3, cooldown=2)
    mine = S.Plateau(factor=0.5, patience=3, cooldown=2)
    for loss in losses:
        ref.step(loss)
        mine.step(loss)
        assert ALPHA * mine.eta == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert mine.eta < 0.1  # it did reduce, several times


def test_step_drop_at_30_60_80_percent():
    spe = 3
    eta = [S.step_drop(t, steps_per_epoch=spe, epochs=100) for t in range(0, 100 * spe, spe)]
    assert eta[29] == 1.0 and eta[30] == pytest.approx(0.1) and eta[59] == pytest.approx(0.1)
    assert eta[60] == pytest.approx(0.01) and eta[80] == pytest.approx(0.001) and eta[99] == pytest.approx(0.001)


def test_warmup_and_decay_only():
    warm = S.with_warmup(S.fixed, 4)
    assert [warm(t) for t in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert S.decay_only(0, stepsize=10, base_fraction=0.2) == 1.0
    assert S.decay_only(10, stepsize=10, base_fraction=0.2) == pytest.approx(0.2)
    assert S.decay_only(50, stepsize=10, base_fraction=0.2) == pytest.approx(0.2)


def test_build_schedule_from_every_config_file(make_cfg):
    from pathlib import Path

    names = sorted(p.stem for p in (Path(__file__).parents[2] / "conf" / "schedule").glob("*.yaml"))
    from adamw_repro.names import SCHEDULES

    assert set(names) == set(SCHEDULES)  # every schedule has its config file, and no file is orphaned
    for name in names:
        cfg = make_cfg(f"schedule={name}")
        sched = S.build_schedule(cfg.schedule, steps_per_epoch=10, epochs=20)
        eta = sched.eta if isinstance(sched, S.Plateau) else sched(57)
        assert 0 <= eta <= 1 and math.isfinite(eta), name


def test_unknown_schedule_names_the_option():
    with pytest.raises(ValueError, match=r"schedule='linear' is unknown; allowed: fixed, step"):
        S.build_schedule({"name": "linear"}, steps_per_epoch=1, epochs=1)
