"""The report's testbed sensitivity line and testbed table follow the data."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis.report import changes_section, evaluation_line, sensitivity_line, with_eval_bn
from adamw_repro.analysis.report import testbed_table as pilot_table  # not collected as a test
from adamw_repro.analysis.report_tables import lr_range_section
from adamw_repro.analysis.selection import edge_text
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


# ------------------------------------------------------------------------------------------- grid edges, sections

def _grid(best_alpha_offset: float) -> pd.DataFrame:
    """A decoupled AdamW grid, 4 alphas x 4 lambdas on 3 seeds, best alpha moved by `best_alpha_offset` doublings
    from the grid's middle (2^-5.5)."""
    rows = []
    for a, lam, s in itertools.product((2.0**-7, 2.0**-6, 2.0**-5, 2.0**-4), (2.0**-8, 2.0**-7, 2.0**-6, 2.0**-5),
                                       (0, 1, 2)):
        err = 0.03 * (1 + 0.05 * (math.log2(a) + 5.5 - best_alpha_offset) ** 2 + 0.05 * (math.log2(lam) + 6.5) ** 2)
        r = dict.fromkeys(RUN_COLUMNS, math.nan)
        r.update(run_id=f"g-{len(rows)}", experiment="fig1_schedules", optimizer="adamw", schedule="cosine", seed=s,
                 alpha=a, weight_decay=lam, epochs=15, status="ok", final_val_error=err, final_test_error=err)
        rows.append(r)
    return pd.DataFrame(rows)


def test_a_tuned_cell_on_an_alpha_edge_is_flagged_with_the_best_cell_one_step_inward():
    from adamw_repro.analysis.report_tables import edge_flag
    from adamw_repro.analysis.selection import grid_edges, tune

    grid = _grid(best_alpha_offset=2.0)  # best alpha 2^-3.5: beyond the largest, 2^-4
    (edge,) = grid_edges(grid, tune(grid))
    assert (edge.axis, edge.side, edge.value, edge.neighbour) == ("alpha", "largest", 2.0**-4, 2.0**-5)
    assert edge.neighbour_other in (2.0**-7, 2.0**-6)  # the best lambda at the inner alpha
    expected = grid[grid["alpha"] == 2.0**-5].groupby("weight_decay")["final_val_error"].mean().min()
    assert edge.neighbour_error == pytest.approx(expected)
    assert "largest α (0.0625); best at 0.0312: +" in edge_flag(grid, tune(grid))
    assert edge_flag(_grid(0.0), tune(_grid(0.0))) == "-"
    assert "the tuned cell lies on the largest α of its grid" in edge_text(grid, tune(grid), "AdamW")


def test_no_per_cell_interval_is_the_range_of_three_seeds():
    from adamw_repro.analysis.report_tables import best_settings

    runs = runs_table(gain=-0.4, spread=0.05)
    best = best_settings(runs[runs["experiment"] == "testbed"], ["model", "optimizer"])
    for _, row in best.iterrows():
        values = runs[(runs["experiment"] == "testbed") & (runs["model"] == row["model"])
                      & (runs["optimizer"] == row["optimizer"]) & (runs["alpha"] == row["alpha"])
                      & (runs["weight_decay"] == row["weight_decay"])]["final_test_error"]
        assert len(values) == 3
        _, lo, hi = row["test"]
        assert lo < values.min() and hi > values.max()  # a t-interval; a bootstrap over 3 seeds gives [min, max]


def test_evaluation_line_says_which_batchnorm_statistics():
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "eval_bn": ["recomputed", "recomputed", "none"]})
    line = evaluation_line(runs)
    assert line.startswith("- Evaluation: BatchNorm statistics re-estimated") and "(2 of 3 runs)" in line
    assert "no BatchNorm in the model (1 of 3 runs)" in line
    history = pd.DataFrame({"run_id": ["a", "a", "b"], "eval_bn": ["running", "running", "recomputed"]})
    assert list(with_eval_bn(runs[["run_id"]], history)["eval_bn"].fillna("-")) == ["running", "recomputed", "-"]
    assert "not recorded (3 of 3 runs)" in evaluation_line(runs[["run_id"]])


def test_every_change_of_conf_claims_yaml_is_listed_with_its_reason():
    from adamw_repro.analysis.claims import load_thresholds
    from tests.analysis.test_claims import ROOT

    thresholds = load_thresholds(ROOT / "conf" / "claims.yaml")
    lines = changes_section(thresholds)
    changed = [n for n, t in thresholds.items() for _ in t["changed"]]
    assert len([ln for ln in lines if ln.startswith("- Finding ")]) == len(changed) > 0
    assert all("(Reason: " in ln for ln in lines if ln.startswith("- Finding "))


def test_lr_range_section_flags_bounds_more_than_a_factor_two_off(tmp_path):
    from tests.analysis.synthetic import quick_tables, write_results

    runs, history = quick_tables()
    results = write_results(tmp_path / "results", runs, history)
    text = lr_range_section(results, runs)
    assert "SGD+L2" in text and "within a factor 2 of the suggestion" in text
    (results / "lr_range/sgd/range.json").write_text(json.dumps(
        {"optimizer": "sgd", "min": 0.001, "max": 1, "steps": 128, "base_lr": 0.02, "max_lr": 0.08}))
    text = lr_range_section(results, runs)
    assert "**disagree beyond a factor 2: base_lr 3.12x the suggestion, max_lr 3.12x the suggestion**" in text


@pytest.mark.slow
def test_the_report_from_a_realistic_results_folder(tmp_path):
    """The whole report from the synthetic quick scale: every finding, the legend, the changes, the evaluation,
    and for a finding that does not reproduce what differs from the paper's setting."""
    from adamw_repro.analysis.report import build_report
    from tests.analysis.synthetic import quick_tables, write_results

    runs, history = quick_tables()
    results = write_results(tmp_path / "results" / "quick", runs, history)
    text = build_report("quick", results, tmp_path / "reports", sorted(set(runs["experiment"])),
                        Path(__file__).resolve().parents[2] / "conf" / "claims.yaml")
    assert "How to read a verdict" in text and "Thresholds and rules changed" in text
    assert "- Evaluation: BatchNorm statistics re-estimated from training data before every evaluation" in text
    assert "### Claim 3: " in text and "**Verdict: not reproduced.**" in text
    assert "*What differs from the paper's setting:* This scale trains cnn+bn on mnist1d" in text
    assert "bootstrap" not in text
