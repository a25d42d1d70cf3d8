"""The name tables (adamw_repro/names.py): every conf/ file has its row, a missing name is a clear error, and a
new optimizer is one row plus one YAML away from training and from its figure label."""

from __future__ import annotations

from pathlib import Path

import pytest

from adamw_repro import names

CONF = Path(__file__).resolve().parents[1] / "conf"
FIGURES = Path(__file__).resolve().parents[1] / "scripts" / "figures"


@pytest.mark.parametrize(("group", "table"), [("optimizer", names.OPTIMIZERS), ("schedule", names.SCHEDULES),
                                              ("experiment", names.EXPERIMENTS)])
def test_every_conf_file_has_a_row_and_every_row_a_file(group, table):
    assert sorted(p.stem for p in (CONF / group).glob("*.yaml")) == sorted(table)


def test_every_experiment_has_a_figure_script_and_known_findings():
    for e in names.EXPERIMENTS.values():
        assert (FIGURES / f"{e.name}.py").exists() or e.name == "clr"
        assert set(e.findings) <= set(names.FINDINGS)
    assert sorted(names.FINDINGS) == list(range(1, len(names.FINDINGS) + 1))  # numbered 1, 2, ... without a gap


def test_a_missing_name_is_one_clear_error():
    with pytest.raises(names.UnknownName) as err:
        names.optimizer("adamx")
    message = str(err.value)
    assert "'adamx'" in message and "adamw" in message and "conf/optimizer" in message and "\n" not in message


def test_a_new_optimizer_row_flows_to_training_and_figure_labels(monkeypatch):
    torch = pytest.importorskip("torch")
    from adamw_repro.analysis import plotting
    from adamw_repro.training.optim import build_optimizer, parameter_groups

    row = names.Optimizer("nadam", "NAdam+L2", "NAdamR (L2)", "torch.optim:NAdam", "l2", "adam", "#123456",
                          stacked=False)
    monkeypatch.setitem(names.OPTIMIZERS, "nadam", row)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = build_optimizer("nadam", parameter_groups(model), lr=0.01, weight_decay=1e-4)
    assert type(opt).__name__ == "NAdam" and opt.param_groups[0]["weight_decay"] == 1e-4
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert plotting.optimizer_label("nadam") == "NAdam+L2"
    assert plotting.optimizer_label("nadam", "warm_restarts") == "NAdamR (L2)"
    assert plotting.optimizer_color("nadam") == pytest.approx((0x12 / 255, 0x34 / 255, 0x56 / 255))
