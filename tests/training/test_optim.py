"""The paper's optimizers against docs/paper.md section 1: the four identities, and the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adamw_repro.names import OPTIMIZERS
from adamw_repro.training import identities
from adamw_repro.training.optim import (
    SGDW,
    AdamW,
    build_optimizer,
    parameter_groups,
    set_multiplier,
)


@pytest.mark.parametrize("check", [identities.zero_decay_is_bitwise, identities.proposition_1,
                                   identities.torch_adamw_reparameterized, identities.decay_step_is_exact])
def test_identity(check):
    result = check()
    assert result.holds, f"{result.name}: {result.detail}"


def test_identities_fail_when_the_decay_is_coupled_to_alpha():
    """The checks can fail: torch's AdamW with weight_decay=lambda (not lambda/alpha) differs from ours."""
    model_a, model_b = identities._net(0), identities._net(0)
    a = identities._train(model_a, AdamW(model_a.parameters(), lr=1e-2, weight_decay=0.05), 10)
    b_opt = torch.optim.AdamW(model_b.parameters(), lr=1e-2, weight_decay=0.05, foreach=False)
    for g in b_opt.param_groups:
        g["alpha"] = g["lr"]
    b = identities._train(model_b, b_opt, 10)
    assert identities._max_diff(a, b) > 1e-4


def test_decay_is_multiplied_by_the_schedule_not_by_alpha():
    """Zero gradient, eta_t = 0.25: the shrink factor is 1 - 0.25*lambda whatever alpha is."""
    for alpha in (1e-4, 1e-2, 1.0):
        for cls in (AdamW, SGDW):
            p = nn.Parameter(torch.ones(3))
            opt = cls([p], lr=alpha, weight_decay=0.2)
            set_multiplier(opt, 0.25)
            p.grad = torch.zeros(3)
            opt.step()
            assert torch.allclose(p.detach(), torch.full((3,), 1 - 0.25 * 0.2), rtol=0, atol=1e-7), (cls, alpha)


def test_sgdw_momentum_matches_algorithm_1_under_constant_rate():
    """theta_t = theta - alpha*m_t - lambda*theta with m_t = mu*m + g (lr outside the buffer)."""
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(5))
    theta, m = p.detach().clone(), torch.zeros(5)
    opt = SGDW([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(5):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        m = 0.9 * m + g if _ else g.clone()
        theta = theta - 0.1 * m - 0.01 * theta
    assert torch.allclose(p.detach(), theta, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("eager", [True, False])
def test_every_registered_optimizer_trains_and_roundtrips_its_state(name, eager):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = build_optimizer(name, parameter_groups(model), lr=0.01, weight_decay=1e-3, eager=eager)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    clone = build_optimizer(name, parameter_groups(model), lr=0.01, weight_decay=1e-3, eager=eager)
    clone.load_state_dict(opt.state_dict())
    assert clone.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


@pytest.mark.parametrize("name", ["adam", "sgd", "adamw_torch"])
def test_eager_torch_optimizers_are_bitwise_torch(name):
    """The eager variants (no torch._dynamo import) compute exactly what torch.optim computes."""
    a, b = identities._net(0), identities._net(0)
    pa = identities._train(a, build_optimizer(name, parameter_groups(a), lr=0.01, weight_decay=1e-2), 15)
    pb = identities._train(b, build_optimizer(name, parameter_groups(b), lr=0.01, weight_decay=1e-2,
                                              eager=True), 15)
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def test_bias_and_norm_decay_can_be_switched_off():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    groups = parameter_groups(model, decay_bias_and_norm=False)
    opt = build_optimizer("adamw", groups, lr=0.1, weight_decay=0.5)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.5
    assert decays[id(model[0].bias)] == decays[id(model[1].weight)] == decays[id(model[1].bias)] == 0.0
    assert len(parameter_groups(model)) == 1  # default: every parameter decays, as the authors' code


def test_unknown_optimizer_and_negative_values_name_the_option():
    with pytest.raises(ValueError, match=r"optimizer='lamb' is unknown; allowed: adam, adamw"):
        build_optimizer("lamb", parameter_groups(nn.Linear(2, 2)), lr=0.1)
    with pytest.raises(ValueError, match=r"optimizer.weight_decay must be >= 0"):
        build_optimizer("adamw", parameter_groups(nn.Linear(2, 2)), lr=0.1, weight_decay=-1.0)


# -- the torch.optim.Optimizer contract, for the paper's AdamW and SGDW ------------------------------------
def _fit(opt, params, steps: int, scheduler=None, seed: int = 1) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("cls", [AdamW, SGDW])
def test_add_param_group_gives_the_new_group_its_own_alpha(cls):
    """Unfreezing a layer: the new group steps, with alpha = its lr, and decays by eta_t * lambda."""
    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    opt = cls([a], lr=0.1, weight_decay=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert opt.param_groups[1]["alpha"] == 0.01 and opt.param_groups[1]["weight_decay"] == 0.1
    set_multiplier(opt, 0.5)
    assert opt.param_groups[1]["lr"] == 0.005
    b.grad, a.grad = torch.zeros(2), torch.zeros(3)
    opt.step()
    # Zero gradient: only the decoupled decay acts, 1 - eta_t * lambda with eta_t = 0.5 in both groups.
    assert torch.equal(b.detach(), torch.full((2,), 1 - 0.5 * 0.1))
    assert torch.equal(a.detach(), torch.full((3,), 1 - 0.5 * 0.1))


def test_a_group_added_to_a_torch_optimizer_is_scheduled_too():
    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    opt = build_optimizer("adam", [{"params": [a]}], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.02})
    set_multiplier(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.01]


@pytest.mark.parametrize("cls", [AdamW, SGDW])
def test_state_dict_round_trip_continues_bitwise(cls):
    """Save after 5 steps, load into a fresh optimizer, 5 more steps: bitwise the uninterrupted run."""
    torch.manual_seed(0)
    init = [torch.randn(4, 3), torch.randn(3)]
    ref = [nn.Parameter(t.clone()) for t in init]
    ref_opt = cls(ref, lr=0.05, weight_decay=0.01)
    _fit(ref_opt, ref, 5, seed=1)
    expected = _fit(ref_opt, ref, 5, seed=2)

    first = [nn.Parameter(t.clone()) for t in init]
    opt = cls(first, lr=0.05, weight_decay=0.01)
    _fit(opt, first, 5, seed=1)
    saved = opt.state_dict()
    resumed = [nn.Parameter(p.detach().clone()) for p in first]
    fresh = cls(resumed, lr=123.0, weight_decay=0.5)  # hyperparameters come from the state
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["alpha"] == 0.05 and fresh.param_groups[0]["weight_decay"] == 0.01
    got = _fit(fresh, resumed, 5, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(got, expected, strict=True))


@pytest.mark.parametrize("cls", [AdamW, SGDW])
def test_closure_is_evaluated_with_gradients_and_its_loss_returned(cls):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = cls(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 3), torch.randn(8, 1)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()  # would fail if step() ran the closure under no_grad
        return loss

    before = nn.functional.mse_loss(model(x), y).item()
    losses = [opt.step(closure).item() for _ in range(30)]
    assert losses[0] == pytest.approx(before) and losses[-1] < losses[0]
    assert opt.step() is None


@pytest.mark.parametrize("cls", [AdamW, SGDW])
@pytest.mark.parametrize("make", [
    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5),
    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4),
])
def test_torch_schedulers_drive_eta_and_so_the_decay(cls, make):
    """A torch scheduler writes lr; eta_t = lr / alpha, so the decay follows the schedule, not alpha."""
    p = nn.Parameter(torch.ones(3))
    opt = cls([p], lr=0.1, weight_decay=0.2)
    sched = make(opt)
    expected = torch.ones(3)
    for _ in range(4):
        eta = opt.param_groups[0]["lr"] / 0.1
        expected = expected * (1 - eta * 0.2)
        p.grad = torch.zeros(3)
        opt.step()
        sched.step()
    assert opt.param_groups[0]["alpha"] == 0.1
    assert torch.allclose(p.detach(), expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("cls", [AdamW, SGDW])
def test_reduce_lr_on_plateau_lowers_eta(cls):
    p = nn.Parameter(torch.ones(3))
    opt = cls([p], lr=0.1, weight_decay=0.2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    for _ in range(3):
        p.grad = torch.zeros(3)
        opt.step()
        sched.step(1.0)  # no improvement
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1**2)
    before = p.detach().clone()
    p.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(p.detach(), before * (1 - 0.01 * 0.2), rtol=0, atol=1e-7)
