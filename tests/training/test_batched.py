"""Batched packs (training.batched): each member of a BatchedCNN equals its solo model, in logits, loss gradients,
BatchNorm buffers and a few full training steps with the stacked update; what it does not cover it refuses.

Tolerance: float32, rtol 1e-4 and atol 1e-6 (ATOL scaled to the size of the values compared). The batched kernels
sum the same products in other orders (one bmm over C*k taps instead of oneDNN's convolution, BatchNorm reductions
over up to B*L = 2,432 values per channel), so a member differs from its solo model by a few float32 roundings
relative to the largest terms: observed ~1e-7 relative for logits and gradients of O(1e-2); 1e-4 leaves two orders
of magnitude of margin and still fails on any real error (a wrong tap, member or statistic is O(1) off).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from adamw_repro import names
from adamw_repro.training.batched import BatchedCNN, member_losses, unsupported
from adamw_repro.training.models.mnist1d import cnn, mlp
from adamw_repro.training.optim import build_optimizer, parameter_groups
from adamw_repro.training.vectorized import stacked_step

RTOL, ATOL = 1e-4, 1e-6
SHAPES = [dict(width=32, depth=3, batch_norm=True),  # the quick testbed
          dict(width=8, depth=4, batch_norm=True),   # a stride-1 fourth block
          dict(width=8, depth=3, batch_norm=False)]


@pytest.fixture(autouse=True)
def one_thread():
    """One thread, as a run has (two on a shared 2-core machine oversubscribe it: several times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def members(K: int, **shape) -> list[nn.Sequential]:
    """K solo models with their seeded initialisations (seed k), as loop.Run builds them."""
    models = []
    for k in range(K):
        torch.manual_seed(k)
        models.append(cnn(1, 10, **shape))
    return models


def close(actual, expected, scale: float = 1.0) -> None:
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL * scale)


def data(K: int, B: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, B, 1, 40, generator=g) * 2 + 0.5, torch.randint(0, 10, (K, B), generator=g)


@pytest.mark.parametrize("shape", SHAPES, ids=["quick", "depth4", "no-bn"])
def test_train_mode_logits_gradients_and_statistics_equal_solo(shape):
    solo = members(3, **shape)
    batched = BatchedCNN(copy.deepcopy(solo))
    x, y = data(3, 64)
    logits = batched.forward(x, train=True)
    losses = member_losses(logits, y)
    losses.sum().backward()
    grads = batched.split([g.theta.grad for g in batched.groups])
    for k, model in enumerate(solo):
        out = model(x[k])
        loss = nn.functional.cross_entropy(out, y[k])
        loss.backward()
        close(logits[k], out)
        close(losses[k], loss)
        for name, p in model.named_parameters():  # conv biases before a BatchNorm: 0 but for rounding, ~1e-8
            close(grads[name][k], p.grad)
        for name, b in model.named_buffers():
            close(batched.buffers[name][k], b)


@pytest.mark.parametrize("shared", [True, False], ids=["shared-input", "per-member-input"])
@pytest.mark.parametrize("shape", SHAPES[:2], ids=["quick", "depth4"])
def test_forward_without_gradients_equals_solo(shape, shared):
    """`forward` and `infer` (grouped convolutions with BatchNorm folded in eval mode, member by member in train
    mode) under no_grad, in eval mode and then in train mode (running statistics updated once)."""
    solo = members(3, **shape)
    x, _ = data(3, 300, seed=1)
    for model in solo:  # running statistics that are not the initial 0 and 1
        model(x[0] * 0.5 + 1)
    by_forward, by_infer = BatchedCNN(copy.deepcopy(solo)), BatchedCNN(copy.deepcopy(solo))
    inputs = [x[0]] * 3 if shared else list(x)
    with torch.no_grad():
        for train in (False, True):
            logits = by_forward.forward(x[0] if shared else x, train)
            grad_free = by_infer.infer(x[0] if shared else x, train)
            for k, model in enumerate(solo):
                model.train(train)
                out = model(inputs[k])
                close(logits[k], out)
                close(grad_free[k], out)
    for k, model in enumerate(solo):
        for name, b in model.named_buffers():
            close(by_forward.buffers[name][k], b)
            close(by_infer.buffers[name][k], b)


def test_running_statistics_follow_nn_for_every_momentum():
    """momentum 0.1 (the default), None (the cumulative average) and 1 (recompute_bn_statistics)."""
    solo = members(2, width=8, depth=3, batch_norm=True)
    batched = BatchedCNN(copy.deepcopy(solo))
    for step, momentum in enumerate((0.1, None, None, 1.0)):
        x, _ = data(2, 50, seed=step)
        batched.momentum = momentum
        batched.forward(x, train=True)
        for k, model in enumerate(solo):
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.momentum = momentum
            model(x[k])
    x, _ = data(1, 200, seed=9)
    batched.momentum = 0.1
    batched.recompute_bn_statistics(x[0])
    assert batched.momentum == 0.1
    for k, model in enumerate(solo):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.momentum = 1.0
        model(x[0])
        for name, b in model.named_buffers():
            close(batched.buffers[name][k], b)


def solo_hyper(name: str, lam: float) -> dict:
    """The stacked update's per-member decay (decoupled: eta_t * lambda, eta_t = 1 here) or L2 term."""
    return {"decay": lam if name in ("adamw", "sgdw") else 0.0, "l2": lam if name in ("adam", "sgd") else 0.0}


@pytest.mark.parametrize("decay_bias_and_norm", [True, False], ids=["decay-all", "no-decay-on-vectors"])
@pytest.mark.parametrize("name", ["adamw", "sgdw", "adam", "sgd"])
def test_training_steps_with_the_stacked_update_equal_solo_runs(name, decay_bias_and_norm):
    K, steps = 3, 4
    alphas = [0.003, 0.01, 0.002] if name.startswith("adam") else [0.05, 0.1, 0.02]
    lams = [0.0, 0.05, 0.01] if name in ("adamw", "sgdw") else [0.0, 5e-4, 1e-3]
    solo = members(K, width=8, depth=3, batch_norm=True)
    batched = BatchedCNN(copy.deepcopy(solo), decay_bias_and_norm)
    opts = [build_optimizer(name, parameter_groups(m, decay_bias_and_norm), lr=a, weight_decay=lam)
            for m, a, lam in zip(solo, alphas, lams, strict=True)]
    state = [{} for _ in batched.groups]
    for t in range(1, steps + 1):
        x, y = data(K, 64, seed=t)
        for k, (model, opt) in enumerate(zip(solo, opts, strict=True)):
            loss = nn.functional.cross_entropy(model(x[k]), y[k])
            opt.zero_grad()
            loss.backward()
            opt.step()
        batched.zero_grad()
        member_losses(batched.forward(x, train=True), y).sum().backward()
        for group, s in zip(batched.groups, state, strict=True):
            h = [solo_hyper(name, lam) if group.decay else solo_hyper(name, 0.0) for lam in lams]
            stacked_step(names.optimizer(name).family, group.theta.data, group.theta.grad, s, lr=alphas, t=[t] * K,
                         decay=[v["decay"] for v in h], l2=[v["l2"] for v in h])
    params = batched.params()
    # A conv bias before a BatchNorm has gradient 0 but for rounding noise, which Adam normalizes into steps of
    # about +-alpha, in the solo and the batched run alike but not with the same signs: those biases, and the
    # running means that include them, agree to 2 * alpha * steps only (the network's outputs do not depend on
    # them in train mode). SGD steps are proportional to the noise: there they agree like the rest.
    noisy = {f"{i}.bias" for i, m in enumerate(solo[0][:-1]) if isinstance(solo[0][i + 1], nn.BatchNorm1d)}
    noisy |= {f"{int(n.split('.')[0]) + 1}.running_mean" for n in noisy}
    for k, model in enumerate(solo):
        for n, value in {**dict(model.named_parameters()), **dict(model.named_buffers())}.items():
            loose = name.startswith("adam") and n in noisy
            batched_value = params[n][k].detach() if n in params else batched.buffers[n][k]
            close(batched_value, value.detach(), scale=2 * alphas[k] * steps / ATOL if loose else 1.0)


def test_write_back_and_load_move_one_members_slice():
    solo = members(3, width=8, depth=3, batch_norm=True)
    batched = BatchedCNN(copy.deepcopy(solo))
    x, _ = data(3, 32)
    batched.forward(x, train=True)  # buffers move
    with torch.no_grad():
        batched.groups[0].theta.mul_(1.5)
    target = copy.deepcopy(solo[1])
    batched.write_back(1, target)
    named = {**batched.params(), **batched.buffers}
    for name, value in target.state_dict().items():
        assert torch.equal(value, named[name][1].detach())
    fresh = members(1, width=8, depth=3, batch_norm=True)[0]
    batched.load(2, fresh)
    named = {**batched.params(), **batched.buffers}  # views taken before an in-place change are stale
    for name, value in fresh.state_dict().items():
        assert torch.equal(named[name][2].detach(), value)
    assert torch.equal(named["0.weight"][0].detach(), solo[0].state_dict()["0.weight"] * 1.5)


@pytest.mark.parametrize("model, words", [
    (mlp(1, 10, 16, 2), "cnn family"),
    (nn.Sequential(nn.Conv1d(1, 4, 3, groups=1, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)),
     "dilation"),
    (nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.Dropout(), nn.Flatten(), nn.Linear(152, 10)),
     "ReLU"),
    (nn.Linear(40, 10), "not an nn.Sequential"),
])
def test_refuses_what_it_does_not_cover(model, words):
    assert words in unsupported(model)
    with pytest.raises(ValueError, match="pack_mode=sequential"):
        BatchedCNN([model])


def test_refuses_members_of_different_shapes():
    models = members(1, width=8, depth=3, batch_norm=True) + members(1, width=16, depth=3, batch_norm=True)
    with pytest.raises(ValueError, match="member 1's model differs"):
        BatchedCNN(models)
    assert all(unsupported(cnn(1, 10, 8, d, bn)) is None for d in (1, 3, 5) for bn in (True, False))


def test_functional_runs_on_stack_module_state_dicts():
    """The swap for vmap(functional_call) in a per-name engine (vectorized.Stack keeps such dicts)."""
    from torch.func import functional_call, stack_module_state, vmap

    from adamw_repro.training.batched import functional, plan

    models = members(3, width=8, depth=3, batch_norm=True)
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_() for k, v in params.items()}
    vparams = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    vbuffers = {k: v.clone() for k, v in buffers.items()}
    x, y = data(3, 32)
    member_losses(functional(plan(models[0]), params, buffers, x, True), y).sum().backward()
    base = copy.deepcopy(models[0]).to("meta")
    logits = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)))(vparams, vbuffers, x)
    member_losses(logits, y).sum().backward()
    for k in params:
        close(params[k].grad, vparams[k].grad)
    for k in buffers:
        close(buffers[k], vbuffers[k])
