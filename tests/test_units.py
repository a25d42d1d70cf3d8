"""Weight decay in every unit (adamw_repro/units.py, docs/paper.md section 5): hand-computed values, round trips for
every optimizer, SGD+L2's effective decay against the real optimizers, Adam+L2's refusal, and the command line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from adamw_repro import names, units
from adamw_repro.units import cli

ROOT = Path(__file__).resolve().parents[1]
# The issue's example: a PyTorch AdamW setting at CIFAR-10's budget (b = 128, B = 50,000, T = 100 epochs).
CIFAR = {"batch_size": 128, "train_size": 50_000, "epochs": 100}
GIVEN_EVERYWHERE = ("weight_decay", "lambda_norm")  # the units Adam+L2 has too


def test_torch_adamw_to_the_papers_lambda_and_tau_epoch_and_back():
    u = units.convert("adamw_torch", "weight_decay", 0.01, alpha=0.001, **CIFAR)
    # lambda = alpha * wd = 0.001 * 0.01 = 1e-5 (torch shrinks by lr_t*wd = alpha*eta_t*wd)
    assert u.lam == pytest.approx(1e-5, rel=1e-12)
    # steps per epoch = ceil(50,000 / 128) = ceil(390.625) = 391
    assert u.steps_per_epoch == 391
    # tau_iter = 1 / (eta * lambda) = 1 / 1e-5 = 100,000 steps; tau_epoch = 100,000 / 391 = 255.7544757...
    assert u.decay_per_step == pytest.approx(1e-5, rel=1e-12)
    assert u.tau_iter == pytest.approx(100_000, rel=1e-12)
    assert u.tau_epoch == pytest.approx(255.7544757, rel=1e-9)
    # sqrt(b / (B*T)) = sqrt(128 / 5,000,000) = sqrt(2.56e-5) = 0.005059644256...
    # the paper's lambda_norm = 1e-5 / 0.005059644256 = 0.001976423538; optimizer.lambda_norm = 0.01 / ... = 1.976...
    assert u.lambda_norm_paper == pytest.approx(0.001976423538, rel=1e-9)
    assert u.lambda_norm == pytest.approx(1.976423538, rel=1e-9)
    back = units.convert("adamw_torch", "tau_epoch", u.tau_epoch, alpha=0.001, **CIFAR)
    assert back.weight_decay == pytest.approx(0.01, rel=1e-12)
    # tau_epoch = 5: tau_iter = 5 * 391 = 1955 steps, lambda = 1/1955 = 5.115089514e-4, wd = lambda/alpha = 0.5115...
    five = units.convert("adamw_torch", "tau_epoch", 5, alpha=0.001, **CIFAR)
    assert five.tau_iter == pytest.approx(1955, rel=1e-12)
    assert five.weight_decay == pytest.approx(0.5115089514, rel=1e-9)


def test_normalized_decay_matches_the_papers_example_and_the_training_loop():
    # docs/paper.md section 1: b = 128, B = 50,000, T = 100, lambda_norm = 0.025 -> 0.025 * 0.005059644 = 1.2649e-4
    assert units.weight_decay_from_lambda_norm(0.025, **CIFAR) == pytest.approx(1.264911064e-4, rel=1e-9)
    assert units.lambda_norm_from_weight_decay(1.264911064e-4, **CIFAR) == pytest.approx(0.025, rel=1e-9)
    loop = pytest.importorskip("adamw_repro.training.loop")  # training applies optimizer.lambda_norm the same way
    for lambda_norm, b, n, t in ((0.025, 128, 50_000, 100), (0.05, 32, 4_000, 15), (1.0, 1000, 1000, 0.5)):
        assert units.weight_decay_from_lambda_norm(lambda_norm, batch_size=b, train_size=n, epochs=t) == \
            loop.effective_lambda({"lambda_norm": lambda_norm}, batch_size=b, train_size=n, period_epochs=t)


def test_each_optimizers_weight_decay_in_the_papers_lambda():
    # adamw, sgdw: the argument is lambda itself
    assert units.lambda_from_weight_decay("adamw", 0.5, 0.003) == 0.003
    assert units.lambda_from_weight_decay("sgdw", None, 0.003) == 0.003  # alpha is not needed
    # adamw_torch: lambda = alpha * wd = 2^-5 * 0.5 = 2^-6 = 0.015625 (conf/experiment/torch_adamw.yaml's pairing)
    assert units.lambda_from_weight_decay("adamw_torch", 2**-5, 0.5) == 0.015625
    # sgd: alpha * lambda' / (1 - m) = 0.1 * 5e-4 / (1 - 0.9) = 5e-4; with m = 0: 0.1 * 5e-4 = 5e-5 (Proposition 1)
    assert units.lambda_from_weight_decay("sgd", 0.1, 5e-4) == pytest.approx(5e-4, rel=1e-12)
    assert units.lambda_from_weight_decay("sgd", 0.1, 5e-4, momentum=0.0) == pytest.approx(5e-5, rel=1e-12)
    # ... and m = 0.99 makes the buffer's gain 100: 0.1 * 5e-4 * 100 = 5e-3
    assert units.lambda_from_weight_decay("sgd", 0.1, 5e-4, momentum=0.99) == pytest.approx(5e-3, rel=1e-9)
    assert units.lambda_from_weight_decay("adam", 0.001, 5e-4) is None
    with pytest.raises(ValueError, match="alpha"):
        units.lambda_from_weight_decay("adamw_torch", None, 0.5)
    with pytest.raises(ValueError, match="momentum"):
        units.lambda_from_weight_decay("sgd", 0.1, 5e-4, momentum=1.0)


@pytest.mark.parametrize("optimizer", list(names.OPTIMIZERS))
def test_every_unit_converts_back_to_the_same_setting(optimizer):
    setting = {"alpha": 0.01, "batch_size": 100, "train_size": 4_000, "epochs": 15, "eta": 0.5, "momentum": 0.8}
    u = units.convert(optimizer, "weight_decay", 0.002, **setting)
    values = {"weight_decay": u.weight_decay, "lambda_norm": u.lambda_norm, "lambda": u.lam,
              "decay_per_step": u.decay_per_step, "tau_iter": u.tau_iter, "tau_epoch": u.tau_epoch}
    allowed = GIVEN_EVERYWHERE if optimizer == "adam" else units.GIVEN
    assert all(values[g] is not None for g in allowed)
    for given in allowed:
        back = asdict(units.convert(optimizer, given, values[given], **setting))
        for field, value in asdict(u).items():
            assert back[field] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), \
                (given, field)


def test_per_step_decay_and_tau_at_a_lower_rate():
    # AdamW, lambda = 0.01 at eta = 0.25 (a quarter of the peak): decay 0.25 * 0.01 = 0.0025 per step,
    # tau_iter = 1 / 0.0025 = 400 steps; with b = 100, B = 4,000: 40 steps per epoch, tau_epoch = 400 / 40 = 10
    u = units.convert("adamw", "lambda", 0.01, batch_size=100, train_size=4_000, eta=0.25)
    assert (u.decay_per_step, u.tau_iter, u.tau_epoch) == pytest.approx((0.0025, 400, 10), rel=1e-12)
    assert u.lambda_norm is None  # no T given
    assert units.convert("adamw", "lambda", 0.0).tau_iter == math.inf  # no decay: an infinite timescale
    assert units.convert("adamw", "tau_iter", math.inf).lam == 0.0


def test_sgd_l2_decays_like_sgdw_with_alpha_lambda_over_one_minus_momentum():
    """Against the real optimizers: with a zero loss gradient only the decay acts; after the momentum buffer has
    settled, torch's SGD+L2 shrinks the weights per step by the fraction units gives (to first order: the exact
    rate d solves d*(1 - m - d) = alpha*lambda'*(1 - d)), and the paper's SGDW with that lambda does the same."""
    torch = pytest.importorskip("torch")
    from adamw_repro.training.optim import SGDW

    alpha, l2, m = 0.1, 5e-4, 0.9
    lam = units.lambda_from_weight_decay("sgd", alpha, l2, momentum=m)  # 0.1 * 5e-4 / 0.1 = 5e-4
    rates = {}
    for name, make in (("sgd", lambda p: torch.optim.SGD(p, lr=alpha, momentum=m, weight_decay=l2)),
                       ("sgdw", lambda p: SGDW(p, lr=alpha, momentum=m, weight_decay=lam))):
        theta = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = make([theta])
        for g in opt.param_groups:
            g.setdefault("alpha", alpha)
        history = []
        for _ in range(300):
            theta.grad = torch.zeros_like(theta)
            opt.step()
            history.append(theta[0].item())
        rates[name] = 1 - history[-1] / history[-2]
    assert rates["sgdw"] == pytest.approx(lam, rel=1e-9)
    assert rates["sgd"] == pytest.approx(lam, rel=0.01)  # exact rate 5.0225e-4: +0.45 %, first order in d
    # with m = 0 the equivalence is exact ([LH19] Proposition 1): alpha*lambda' = 5e-5
    assert units.lambda_from_weight_decay("sgd", alpha, l2, momentum=0.0) == pytest.approx(alpha * l2, rel=1e-15)


def test_adam_l2_has_no_rate_independent_form_and_says_why():
    assert units.undefined_reason("adam") is not None and "sqrt(v_hat)" in units.undefined_reason("adam")
    assert all(units.undefined_reason(o) is None for o in names.OPTIMIZERS if o != "adam")
    u = units.convert("adam", "weight_decay", 5e-4, alpha=0.001, **CIFAR)
    assert (u.lam, u.decay_per_step, u.tau_iter, u.tau_epoch, u.lambda_norm_paper) == (None,) * 5
    assert u.undefined == units.undefined_reason("adam")
    assert u.lambda_norm == pytest.approx(5e-4 / 0.005059644256, rel=1e-9)  # its own lambda_norm is defined
    for given in set(units.GIVEN) - set(GIVEN_EVERYWHERE):
        with pytest.raises(ValueError, match="not defined"):
            units.convert("adam", given, 1.0, alpha=0.001, **CIFAR)
    # Why: with a zero loss gradient Adam+L2's step is alpha*m_hat/sqrt(v_hat) ~ alpha*sign(theta) whatever lambda'
    # is, so the fraction a weight loses per step is alpha/|theta|: no single lambda describes it.
    torch = pytest.importorskip("torch")
    shrink = {}
    for l2 in (1e-3, 1e-1):
        theta = torch.nn.Parameter(torch.tensor([1.0, 10.0], dtype=torch.float64))
        opt = torch.optim.Adam([theta], lr=0.001, weight_decay=l2)
        theta.grad = torch.zeros_like(theta)
        opt.step()
        shrink[l2] = (1 - theta.detach() / torch.tensor([1.0, 10.0], dtype=torch.float64)).tolist()
    assert shrink[1e-3] == pytest.approx(shrink[1e-1], rel=1e-4)   # lambda' 100x larger, same shrink
    assert shrink[1e-3][0] == pytest.approx(10 * shrink[1e-3][1], rel=1e-4)  # 10x larger weight, a tenth of it


def test_the_form_is_read_off_the_optimizer_rows_flags_not_its_name(monkeypatch):
    for row in (names.Optimizer("composer_adamw", "DecoupledAdamW", "-", "composer.optim:DecoupledAdamW",
                                "schedule", "adam", "#000000"),
                names.Optimizer("torch_sgdw", "SGDW (torch form)", "-", "torch.optim:SGD", "lr", "sgd", "#000000"),
                names.Optimizer("nadam", "NAdam+L2", "-", "torch.optim:NAdam", "l2", "adam", "#000000")):
        monkeypatch.setitem(names.OPTIMIZERS, row.name, row)
    assert units.decay_form("composer_adamw") == units.PAPER  # Composer's decoupled optimizers follow the paper
    assert units.decay_form("torch_sgdw") == units.TIMES_LR  # the decay form, not the constructor, decides
    assert units.lambda_from_weight_decay("nadam", 0.001, 1e-4) is None
    with pytest.raises(names.UnknownName, match="adamx"):
        units.decay_form("adamx")


def test_helpers_take_columns_of_a_runs_table():
    pd = pytest.importorskip("pandas")
    runs = pd.DataFrame({"optimizer": ["adamw", "adam", "sgd", "adamw_torch", "sgdw", "adamw"],
                         "alpha": [0.01, 0.01, 0.1, 0.001, 0.1, 0.01],
                         "weight_decay": [0.01, 1e-4, 5e-4, 0.5, math.nan, 0.0],
                         "lambda_norm": [math.nan, math.nan, math.nan, math.nan, 0.05, math.nan],
                         "batch_size": 128, "train_size": 4_000, "epochs": 16, "T0": [math.nan] * 5 + [4.0]},
                        index=list("abcdef"))
    cols = dict(batch_size=runs.batch_size, train_size=runs.train_size, epochs=runs.epochs)
    tau = units.tau_epoch(runs.optimizer, runs.alpha, runs.weight_decay, runs.lambda_norm, **cols)
    assert list(tau.index) == list("abcdef")
    # 32 steps per epoch (ceil(4000/128) = ceil(31.25)); adamw 0.01: 100 steps = 3.125 epochs; adam: NaN;
    # sgd 0.1*5e-4/0.1 = 5e-4: 2000 steps = 62.5; adamw_torch 0.001*0.5 = 5e-4: 62.5;
    # sgdw lambda_norm 0.05: 0.05*sqrt(128/(4000*16)) = 0.05*0.04472136 = 0.002236068: 447.2136 steps = 13.975425
    # epochs; no decay: inf
    expected = [3.125, math.nan, 62.5, 62.5, 13.975425, math.inf]
    np.testing.assert_allclose(tau.to_numpy(), expected, rtol=1e-7)
    for i, row in runs.iterrows():  # the same as one row at a time, where Adam+L2 gives None
        one = units.tau_epoch(row.optimizer, row.alpha, row.weight_decay, row.lambda_norm,
                              batch_size=row.batch_size, train_size=row.train_size, epochs=row.epochs)
        assert (one is None) if row.optimizer == "adam" else one == pytest.approx(tau[i], rel=1e-15)
    # under warm restarts T is the restart period: T0 = 4 -> lambda = 0.05*sqrt(128/16000) = 0.004472136
    lam = units.paper_lambda(runs.optimizer.to_numpy(), runs.alpha.to_numpy(), np.nan, 0.05, batch_size=128,
                             train_size=4_000, epochs=16, period_epochs=runs.T0.to_numpy())
    assert isinstance(lam, np.ndarray) and np.isnan(lam[1])
    assert lam[5] == pytest.approx(0.004472136, rel=1e-7) and lam[0] == pytest.approx(0.002236068, rel=1e-7)
    per_step = units.decay_per_step(runs.optimizer, runs.alpha, runs.weight_decay, runs.lambda_norm, **cols,
                                    eta=0.5)
    assert per_step["a"] == pytest.approx(0.005) and np.isnan(per_step["b"])
    with pytest.raises(ValueError, match="both set"):
        units.paper_lambda("adamw", 0.01, 0.01, 0.05, **CIFAR)


# ------------------------------------------------------------------------------------------ command line
def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_command_line_prints_every_unit(capsys):
    code, out, err = run_main(capsys, "--optimizer", "adamw_torch", "--lr", "0.001", "--weight-decay", "0.01",
                              "--batch-size", "128", "--train-size", "50000", "--epochs", "100")
    assert code == 0 and err == ""
    rows = {line[2:23].strip(): line[23:].split()[0] for line in out.splitlines()[1:]}
    assert rows == {"weight_decay": "0.01", "lambda_norm": "1.97642", "lambda": "1e-05",
                    "lambda_norm (paper)": "0.00197642", "decay per step": "1e-05", "tau_iter": "100000",
                    "tau_epoch": "255.754"}
    code, out, _ = run_main(capsys, "--optimizer", "adamw_torch", "--lr", "0.001", "--tau-epoch", "5",
                            "--batch-size", "128", "--train-size", "50000", "--json")
    assert code == 0 and json.loads(out)["weight_decay"] == pytest.approx(0.5115089514, rel=1e-9)
    code, out, _ = run_main(capsys, "--optimizer", "adam", "--lr", "0.001", "--weight-decay", "5e-4")
    assert code == 0 and "not defined: Adam+L2" in out and "lambda_norm          -            needs --batch-size" \
        in out


@pytest.mark.parametrize(("argv", "names_"), [
    (["--optimizer", "adam", "--lr", "0.001", "--tau-epoch", "5", "--batch-size", "128", "--train-size", "50000"],
     ["--tau-epoch=5", "not defined", "sqrt(v_hat)", "--weight-decay or --lambda-norm"]),
    (["--optimizer", "adamw_torch", "--weight-decay", "0.01"], ["--weight-decay=0.01", "needs --lr"]),
    (["--optimizer", "adamw", "--tau-epoch", "5"], ["--tau-epoch=5", "--batch-size", "--train-size"]),
    (["--optimizer", "sgdw", "--lambda-norm", "0.05", "--batch-size", "128", "--train-size", "100"], ["--epochs"]),
    (["--optimizer", "adamw_torch", "--lr", "0.1", "--weight-decay", "100"], ["--weight-decay=100", "below 1"]),
    (["--optimizer", "adamw", "--lambda", "-1"], ["--lambda", "'-1'", ">= 0"]),
    (["--optimizer", "adamw", "--lambda", "nan"], ["--lambda", "'nan'"]),
    (["--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "1e-4", "--momentum", "1"], ["--momentum", "[0, 1)"]),
    (["--optimizer", "adamw", "--weight-decay", "0.01", "--batch-size", "12.5"], ["--batch-size", "'12.5'"]),
    (["--optimizer", "adamx", "--weight-decay", "0.01"], ["--optimizer", "'adamx'", "adamw_torch"]),
    (["--optimizer", "adamw", "--weight-decay", "0.01", "--lambda", "0.01"], ["--lambda", "--weight-decay"]),
    (["--optimizer", "adamw"], ["--weight-decay", "--tau-epoch", "required"]),
])
def test_bad_input_is_one_error_line_naming_the_option_and_exit_2(capsys, argv, names_):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(n in err for n in names_), err


def test_command_line_as_a_process_imports_neither_torch_nor_hydra():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-m", "adamw_repro.units", "--optimizer", "adamw_torch", "--lr", "0.001",
                          "--tau-epoch", "5", "--batch-size", "128", "--train-size", "50000", "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert json.loads(out.stdout)["weight_decay"] == pytest.approx(0.5115089514, rel=1e-9)
    code = ("import sys, adamw_repro.units; "
            "print([m for m in ('torch', 'hydra', 'omegaconf', 'pandas') if m in sys.modules])")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_readme_shows_what_its_worked_example_prints(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Weight decay in every unit")[1].split("\n## ")[0]
    command = next(line for line in section.splitlines() if line.startswith("python -m adamw_repro.units "))
    assert cli.main(command.split()[3:]) == 0
    assert capsys.readouterr().out in section
