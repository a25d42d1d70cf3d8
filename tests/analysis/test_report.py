"""The report's testbed sensitivity line and testbed table follow the data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from adamw_repro.analysis.report import sensitivity_line
from adamw_repro.analysis.report import testbed_table as pilot_table  # not collected as a test
from adamw_repro.schema import RUN_COLUMNS


def runs_table(gain: float, spread: float, grid_seeds=(0, 1, 2), fresh=(3, 4, 5, 6, 7)) -> pd.DataFrame:
    """fig2 SGD+L2 and fig1 cosine AdamW grids with lambda = 0, plus the tune stage's fresh seeds of the best cell
    with and without decay; decay multiplies the error by (1 + gain); seeds scatter it by `spread` (relative)."""
    rng = np.random.default_rng(0)
    rows = []

    def row(exp, opt, sched, alpha, lam, seed, model="cnn+bn"):
        base = 0.05 * (1 + gain if lam > 0 and model == "cnn+bn" else 1.0) * (1 + 0.3 * abs(math.log2(alpha) + 3) / 3)
        if lam > 0:
            base *= 1 + 0.2 * abs(math.log2(lam) + 8)
        err = base * (1 + spread * rng.standard_normal())
        r = dict.fromkeys(RUN_COLUMNS, math.nan)
        r.update(run_id=f"{exp}-{len(rows)}", experiment=exp, optimizer=opt, schedule=sched, seed=seed, alpha=alpha,
                 weight_decay=lam, epochs=20, status="ok", final_val_error=err, final_test_error=err, model=model,
                 wall_seconds=3.0)
        rows.append(r)

    for exp, opt, sched in (("fig2_sgd_adam", "sgd", "cosine"), ("fig1_schedules", "adamw", "cosine")):
        for a, lam, s in itertools.product((2.0**-4, 2.0**-3, 2.0**-2), (0.0, 2.0**-9, 2.0**-8, 2.0**-7), grid_seeds):
            row(exp, opt, sched, a, lam, s)
        for lam, s in itertools.product((0.0, 2.0**-8), fresh):  # the tune stage: best cells, fresh seeds
            row(exp, opt, sched, 2.0**-3, lam, s)
    for model, opt, lam, s in itertools.product(("cnn+bn", "mlp"), ("sgd", "adamw"), (0.0, 2.0**-8, 2.0**-6),
                                                grid_seeds):
        row("testbed", opt, "cosine", 2.0**-3, lam, s, model=model)
    return pd.DataFrame(rows)


def test_sensitivity_line_reports_the_gain_against_the_seed_spread():
    line = sensitivity_line(runs_table(gain=-0.4, spread=0.02))
    assert line.startswith("**Testbed sensitivity:**")
    for label in ("SGD+L2", "AdamW"):
        value = float(line.split(f"{label} ")[1].split(" %")[0])
        assert -44 <= value <= -36
    assert line.count("5 fresh seeds") == 2
    times = [float(bit.split("so ")[1].split("x")[0]) for bit in line.split("; seed spread")[1:]]
    assert all(t > 5 for t in times)


def test_sensitivity_line_when_decay_does_not_matter():
    line = sensitivity_line(runs_table(gain=0.0, spread=0.05))
    times = [float(bit.split("so ")[1].split("x")[0]) for bit in line.split("; seed spread")[1:]]
    assert all(t < 3 for t in times)


def test_sensitivity_line_without_the_grids():
    assert "not measured" in sensitivity_line(runs_table(-0.4, 0.02).query("experiment == 'testbed'"))


def test_testbed_table_has_one_row_per_model_and_optimizer():
    table = pilot_table(runs_table(gain=-0.4, spread=0.02))
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 4
    # wall-clock cost on its own "- Compute:" line, which report comparisons skip (it varies between runs)
    assert table.splitlines()[-1].startswith("- Compute: cost per run") and "s" not in lines[2].split("|")[-2]
    assert any(line.startswith("| cnn+bn | SGD+L2 |") and "| 0.00391 |" in line for line in lines)
    assert pilot_table(runs_table(-0.4, 0.02).query("experiment != 'testbed'")) == ""
