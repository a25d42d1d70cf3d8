"""README's CONTRIBUTING recipes hold: a new optimizer is its config file, its registry row and its update function,
and nothing else; then it trains, is checked, is refused by the stacked path (no stacked form) and gets its label.
(A new finding's recipe: tests/analysis/test_registry.py, test_a_new_finding_is_a_function_an_entry_a_row_and_...)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from adamw_repro import names
from adamw_repro.checks import check_config
from adamw_repro.compose import Composer
from adamw_repro.runconfig import ConfigError

ROOT = Path(__file__).resolve().parents[1]


class ToySGDW(torch.optim.Optimizer):
    """The recipe's third part, its update function: plain SGD with the paper's decoupled decay, no momentum."""

    def __init__(self, params, lr=0.1, weight_decay=0.0, momentum=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            eta = group["lr"] / group.get("alpha", group["lr"])
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1 - eta * group["weight_decay"]).add_(p.grad, alpha=-group["lr"])


@pytest.mark.runs
def test_a_new_optimizer_is_its_config_file_its_row_and_its_update_function(tmp_path, monkeypatch, data_root):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    # 1. its config file
    (conf / "optimizer" / "toy.yaml").write_text((conf / "optimizer" / "sgdw.yaml").read_text()
                                                 .replace("name: sgdw", "name: toy"))
    # 2. its registry row (in adamw_repro/names.py for a real contribution); 3. its update function (above)
    row = names.Optimizer("toy", "ToySGDW", "ToySGDWR", "tests.test_contributing:ToySGDW", "schedule", "sgd",
                          "#123456", stacked=False)
    monkeypatch.setitem(names.OPTIMIZERS, "toy", row)
    cfg = Composer(conf).compose(["scale=smoke", "optimizer=toy", "optimizer.weight_decay=0.01",
                                  f"data.root={data_root}", "epochs=2"])
    check_config(cfg, conf_dir=conf)
    from adamw_repro.training.train import train

    metrics = train(cfg, tmp_path / "run")
    assert metrics["status"] == "ok" and metrics["epochs"] == 2
    from adamw_repro.training.vectorized import stack_problem

    assert "has no stacked update" in stack_problem([cfg, cfg])
    from adamw_repro.analysis import plotting

    assert plotting.optimizer_label("toy") == "ToySGDW"
    assert plotting.optimizer_label("toy", "warm_restarts") == "ToySGDWR"


def test_an_optimizer_without_its_row_is_one_clear_error(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "optimizer" / "toy.yaml").write_text((conf / "optimizer" / "sgdw.yaml").read_text()
                                                 .replace("name: sgdw", "name: toy"))
    cfg = Composer(conf).compose(["scale=smoke", "optimizer=toy"])
    with pytest.raises(ConfigError, match=r"optimizer.name='toy' is unknown; allowed: adam, adamw"):
        check_config(cfg, conf_dir=conf)
