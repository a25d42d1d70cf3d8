"""The exact identities of docs/paper.md section 1, checked on the installed optimizers.

The tests assert them, and the report lists them as checked at report time, so a reader sees that the
code that produced the figures satisfies them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adamw_repro.training.optim import SGDW, AdamW, set_multiplier
from adamw_repro.training.schedules import cosine


@dataclass(frozen=True)
class IdentityResult:
    name: str
    holds: bool
    detail: str


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10, 3))


def _train(model: nn.Module, optimizer, steps: int, schedule=lambda t: 1.0, seed: int = 1) -> list:
    """`steps` updates on fixed random batches; the schedule multiplier is written every step."""
    gen = torch.Generator().manual_seed(seed)
    for t in range(steps):
        x = torch.randn(8, 1, 12, generator=gen)
        y = torch.randint(0, 3, (8,), generator=gen)
        set_multiplier(optimizer, schedule(t))
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def _pair(make_a, make_b, steps=30, schedule=lambda t: 1.0):
    a, b = _net(0), _net(0)
    opt_a, opt_b = make_a(a.parameters()), make_b(b.parameters())
    for opt in (opt_a, opt_b):
        for g in opt.param_groups:
            g.setdefault("alpha", g["lr"])
    return _train(a, opt_a, steps, schedule), _train(b, opt_b, steps, schedule)


def _max_diff(pa, pb) -> float:
    return max((x - y).abs().max().item() for x, y in zip(pa, pb, strict=True))


def zero_decay_is_bitwise() -> IdentityResult:
    """1. lambda = 0: Adam == AdamW and SGD == SGDW, bit for bit from the same seed (under cosine)."""
    sched = lambda t: cosine(t, total_steps=30)  # noqa: E731
    adam = _pair(lambda p: torch.optim.Adam(p, lr=1e-2, foreach=False),
                 lambda p: AdamW(p, lr=1e-2, weight_decay=0.0), schedule=sched)
    sgd = _pair(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=False),
                lambda p: SGDW(p, lr=0.1, momentum=0.9, weight_decay=0.0), schedule=sched)
    same = all(torch.equal(x, y) for pa, pb in (adam, sgd) for x, y in zip(pa, pb, strict=True))
    return IdentityResult("lambda=0: Adam == AdamW, SGD == SGDW (bitwise, 30 steps, cosine)", same,
                          f"max |diff| Adam {_max_diff(*adam):.1e}, SGD {_max_diff(*sgd):.1e}")


def proposition_1() -> IdentityResult:
    """2. Plain SGD, constant rate: SGD+L2 with lambda' == SGDW with lambda = alpha * lambda'."""
    alpha, lam_l2 = 0.05, 0.2
    pa, pb = _pair(lambda p: torch.optim.SGD(p, lr=alpha, weight_decay=lam_l2, foreach=False),
                   lambda p: SGDW(p, lr=alpha, momentum=0.0, weight_decay=alpha * lam_l2))
    diff = _max_diff(pa, pb)
    return IdentityResult("Prop. 1: SGD+L2(lambda') == SGDW(alpha*lambda') without momentum", diff < 1e-6,
                          f"max |diff| {diff:.1e} after 30 steps (float32 tolerance 1e-6)")


def torch_adamw_reparameterized() -> IdentityResult:
    """3. AdamW(paper, lambda) == torch.optim.AdamW(weight_decay=lambda/alpha) under cosine."""
    alpha, lam = 1e-2, 0.05
    sched = lambda t: cosine(t, total_steps=30)  # noqa: E731
    pa, pb = _pair(lambda p: AdamW(p, lr=alpha, weight_decay=lam),
                   lambda p: torch.optim.AdamW(p, lr=alpha, weight_decay=lam / alpha, foreach=False),
                   schedule=sched)
    diff = _max_diff(pa, pb)
    return IdentityResult("AdamW(lambda) == torch.optim.AdamW(weight_decay=lambda/alpha), cosine",
                          diff < 1e-6, f"max |diff| {diff:.1e} after 30 steps (float32 tolerance 1e-6)")


def decay_step_is_exact() -> IdentityResult:
    """4. With a zero gradient one AdamW step multiplies the weights by exactly (1 - eta_t * lambda)."""
    alpha, eta, lam = 1e-3, 0.5, 0.1
    model = _net(0)
    opt = AdamW(model.parameters(), lr=alpha, weight_decay=lam)
    set_multiplier(opt, eta)
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    factor = 1 - (alpha * eta / alpha) * lam
    exact = all(torch.equal(p, b * factor) for p, b in zip(model.parameters(), before, strict=True))
    assert math.isclose(factor, 1 - eta * lam)
    return IdentityResult("zero gradient: one AdamW step scales weights by exactly (1 - eta_t*lambda)", exact,
                          f"eta_t={eta}, lambda={lam}, factor {factor}")


def check_identities() -> list[IdentityResult]:
    """All four identities; cheap (a fraction of a second)."""
    torch.set_num_threads(1)
    return [zero_decay_is_bitwise(), proposition_1(), torch_adamw_reparameterized(), decay_step_is_exact()]


def main(argv=None) -> None:
    """`python -m adamw_repro.training.identities [OUT.json]`: print the identities and write them for the
    report, which reads this file instead of importing torch."""
    import argparse
    from dataclasses import asdict

    from adamw_repro import runio

    parser = argparse.ArgumentParser(prog="python -m adamw_repro.training.identities")
    parser.add_argument("out", nargs="?", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = check_identities()
    for r in results:
        print(f"{'holds' if r.holds else 'FAILS'}: {r.name} ({r.detail})")
    if args.out is not None:
        runio.write_json(args.out, [asdict(r) for r in results])


if __name__ == "__main__":
    main()
