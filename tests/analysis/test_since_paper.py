"""The three findings made since the paper (11 EMA timescale, 12 rotational equilibrium, 13 decay through a large
learning rate) and the tau paragraph, on realistic synthetic tables (tests/analysis/synthetic_since_paper.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from adamw_repro import units
from adamw_repro.analysis import results
from adamw_repro.analysis.claims import REGISTRY
from adamw_repro.analysis.criteria import Band, Bound, Effect, Margin
from adamw_repro.analysis.registry import Tables, thresholds_of
from adamw_repro.analysis.since_paper import (
    best_lambdas,
    equilibrium,
    gains,
    predicted_angle,
    rotation_parts,
    tau_paragraph,
    timescale_fit,
)
from adamw_repro.analysis.stats import CI
from adamw_repro.analysis.verdicts import ClaimResult
from adamw_repro.schema import TELEMETRY_FIELDS

from .synthetic_since_paper import (
    GRID_ALPHAS,
    grid_runs,
    rotation_telemetry,
    run_row,
    table,
    timescale_runs,
)

VALUES = {11: -0.75, 12: {"angle_factor": 1.25, "alpha_slope": 0.2, "balance": 1.0},
          13: {"slope": -0.02, "small_alpha": 0.10}}


def judged(number: int, runs: pd.DataFrame, value, telemetry: pd.DataFrame | None = None) -> ClaimResult:
    """The registered judge of finding `number` on these tables with these thresholds (as evaluate_claims calls it)."""
    return REGISTRY[number].judge(Tables(runs, table([]), [], telemetry), thresholds_of(number, value))


def claim_11(runs, history, value, telemetry=None):
    return judged(11, runs, value, telemetry)


def claim_12(runs, history, value, telemetry=None):
    return judged(12, runs, value, telemetry)


def claim_13(runs, history, value, telemetry=None):
    return judged(13, runs, value, telemetry)


CLAIMS = {11: claim_11, 12: claim_12, 13: claim_13}


# ------------------------------------------------------------------------------------------------ criteria
@pytest.mark.parametrize(("criterion", "ci", "threshold", "verdict"), [
    (Bound("<"), CI(-1.0, -1.2, -0.8), -0.75, "reproduced"),
    (Bound("<"), CI(-0.5, -0.7, -0.3), -0.75, "not reproduced"),
    (Bound("<"), CI(-0.75, -0.9, -0.6), -0.75, "inconclusive"),
    (Margin(), CI(0.05, -0.1, 0.15), 0.2, "reproduced"),
    (Margin(), CI(0.5, 0.3, 0.7), 0.2, "not reproduced"),
    (Band(), CI(0.95, 0.85, 1.1), 1.25, "reproduced"),
    (Band(), CI(0.6, 0.5, 0.7), 1.25, "not reproduced"),
    (Band(), CI(0.8, 0.7, 0.9), 1.25, "inconclusive"),
    (Effect("<"), CI(-0.05, -0.08, -0.01), -0.02, "reproduced"),      # excludes 0, reaches -0.02
    (Effect("<"), CI(-0.005, -0.01, 0.0), -0.02, "not reproduced"),   # excludes the smallest effect
    (Effect("<"), CI(-0.03, -0.06, 0.01), -0.02, "inconclusive"),     # holds both 0 and -0.02
    (Effect("<", null=1.0), CI(0.5, 0.3, 0.8), 1.0, "reproduced"),
    (Effect("<", null=1.0), CI(1.3, 1.1, 1.6), 1.0, "not reproduced"),
    (Bound("<"), CI(-1.0, math.nan, math.nan), -0.75, "inconclusive"),
])
def test_each_criterion_follows_the_three_way_rule(criterion, ci, threshold, verdict):
    assert criterion.judge(*ci, threshold) == verdict


# ------------------------------------------------------------------------------------------------ finding 11
def test_the_parabola_vertex_recovers_an_optimum_between_grid_points():
    runs = timescale_runs(slope=-1.0, seeds=(0,), seed_jitter=0.0)
    best = best_lambdas(runs)
    # lambda*(N) = 2^-6 * (N/4000)^-1, a quadratic bowl in ln(lambda): the vertex is exact
    expected = 2.0**-6 * (best["train_size"] / 4000) ** -1.0
    assert np.allclose(best["lam_best"], expected, rtol=1e-9)
    assert not best["edge"].any()


def test_a_best_cell_on_the_grid_edge_is_flagged_and_kept_there():
    runs = timescale_runs(slope=-1.0, seeds=(0,), seed_jitter=0.0, lam0=2.0**-2)  # N >= 4000 optimum at or off the top
    best = best_lambdas(runs).set_index("train_size")
    assert best.loc[1000, "edge"] and best.loc[1000, "lam_best"] == 2.0**-2
    assert not best.loc[16000, "edge"]
    text = claim_11(runs, None, -0.75).detail
    assert "on an edge of the lambda grid" in text and "N = 1000" in text


def test_slope_minus_one_reproduces_and_the_note_says_it_excludes_minus_a_half():
    runs = timescale_runs(slope=-1.0)
    r = claim_11(runs, None, VALUES[11])
    assert isinstance(r, ClaimResult) and r.number == 11 and r.verdict == "reproduced"
    assert r.hi < -0.75 and r.lo < -1.0 < r.hi
    assert "excludes -1/2 (the paper's normalized decay) and holds -1" in r.detail


def test_slope_minus_a_half_is_not_reproduced():
    r = claim_11(timescale_runs(slope=-0.5), None, -0.75)
    assert r.verdict == "not reproduced" and r.lo > -0.75
    assert "excludes -1 (constant tau_epoch, the EMA view) and holds -1/2" in r.detail


def test_the_interval_is_a_t_interval_over_the_per_seed_slopes():
    runs = timescale_runs(slope=-0.8, noise=0.0)
    fit = timescale_fit(runs)
    per_seed = [np.polyfit(np.log(g["train_size"]), np.log(g["lam_best"]), 1)[0]
                for _, g in best_lambdas(runs).groupby("seed")]
    m, s, n = np.mean(per_seed), np.std(per_seed, ddof=1), len(per_seed)
    half = stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)
    assert fit.n_seeds == 5
    assert fit.slope.value == pytest.approx(m) and fit.slope.lo == pytest.approx(m - half)
    assert fit.slope.hi == pytest.approx(m + half)


def test_best_tau_epoch_per_size_is_in_the_units_modules_terms():
    fit = timescale_fit(timescale_runs(slope=-1.0, seed_jitter=0.0))
    row = fit.per_size.set_index("train_size").loc[4000]
    # lambda = 2^-6 at N = 4000, b = 128: 32 steps an epoch, tau_iter = 64 steps, tau_epoch = 2 epochs
    assert row["lam_geo"] == pytest.approx(2.0**-6) and row["tau_epoch"] == pytest.approx(2.0)
    assert units.convert("adamw", "tau_epoch", 2.0, batch_size=128, train_size=4000).lam == pytest.approx(2.0**-6)


def test_one_seed_has_no_interval_and_no_runs_is_not_run():
    assert claim_11(timescale_runs(seeds=(0,)), None, -0.75).verdict == "inconclusive"
    empty = table([])
    assert claim_11(empty, None, -0.75).verdict == "not run"


# ------------------------------------------------------------------------------------------------ finding 12
def test_predicted_angle_by_hand():
    # sqrt(2 * 2^-6 * 0.1 / 1.9) = 0.04056 rad: the telemetry test's AdamW run at lambda 2^-6
    assert predicted_angle(0.015625) == pytest.approx(0.0405554, rel=1e-5)


def test_equilibrium_is_the_mean_over_the_last_third_of_the_epochs():
    runs, tel = rotation_telemetry(seeds=(0,), noise=0.0)
    one = tel["run_id"] == tel["run_id"].iloc[0]
    tel.loc[one & (tel["layer"] == "3.weight"), "angular_update"] = np.arange(1, 16, dtype=float)
    eq = equilibrium(tel, runs)
    row = eq[(eq["run_id"] == tel["run_id"].iloc[0]) & (eq["layer"] == "3.weight")].iloc[0]
    assert row["angle"] == pytest.approx(np.mean([11, 12, 13, 14, 15]))  # epochs 11..15 of 15
    assert row["angle_before"] == pytest.approx(np.mean([6, 7, 8, 9, 10]))
    judged = eq.drop_duplicates("layer").set_index("layer")["judged"].to_dict()
    assert judged == {"0.weight": False, "3.weight": True, "6.weight": True, "10.weight": False}


def test_adamw_at_the_predicted_angle_balanced_and_alpha_free_is_reproduced():
    runs, tel = rotation_telemetry(ratio=1.0, alpha_power=0.0, input_ratio=0.5)
    r = claim_12(runs, None, VALUES[12], telemetry=tel)
    parts = {p.name: p for p in r.parts}
    assert r.verdict == "reproduced", r.detail
    assert parts["angle"].value == pytest.approx(1.0, abs=0.02)  # the input layer at 0.5 is not judged
    assert abs(parts["alpha"].value) < 0.02 and parts["balance"].value < 0.5
    assert "input layer, shown only" in r.detail


def test_an_angle_off_by_half_or_growing_with_alpha_is_not_reproduced():
    runs, tel = rotation_telemetry(ratio=0.5)
    assert {p.name: p.verdict for p in claim_12(runs, None, VALUES[12], telemetry=tel).parts}["angle"] == \
        "not reproduced"
    runs, tel = rotation_telemetry(alpha_power=0.5)  # the sqrt(alpha) of a decay that scales with alpha
    parts = {p.name: p for p in claim_12(runs, None, VALUES[12], telemetry=tel).parts}
    assert parts["alpha"].verdict == "not reproduced" and parts["alpha"].value == pytest.approx(0.5, abs=0.03)


def test_balance_is_paired_by_seed_and_adam_balanced_layers_do_not_reproduce_it():
    runs, tel = rotation_telemetry(adam_spread=0.0)
    part = {p.name: p for p in claim_12(runs, None, VALUES[12], telemetry=tel).parts}["balance"]
    assert part.verdict != "reproduced" and part.n_seeds == 3
    runs, tel = rotation_telemetry()
    p = rotation_parts(tel, runs)
    assert len(p.balance_by_seed) == 3 and (p.balance_by_seed < 1).all()


def test_diverged_runs_are_left_out_of_the_equilibrium():
    runs, tel = rotation_telemetry(seeds=(0,))
    bad = runs["run_id"].iloc[0]
    runs.loc[runs["run_id"] == bad, "status"] = "diverged"
    assert bad not in set(equilibrium(tel, runs)["run_id"])


def test_without_telemetry_finding_12_is_not_run():
    runs, _ = rotation_telemetry(seeds=(0,))
    assert claim_12(runs, None, VALUES[12]).verdict == "not run"
    assert claim_12(runs, None, VALUES[12], telemetry=results.collect_telemetry([])).verdict == "not run"


# ------------------------------------------------------------------------------------------------ finding 13
def test_leave_one_seed_out_selects_on_the_other_seeds():
    rows = []
    # alpha 0.1, lambda = 0 and two lambdas > 0: seed 0's validation prefers 0.01, seeds 1 and 2 prefer 0.02
    for seed, (v1, v2) in enumerate([(0.05, 0.09), (0.09, 0.05), (0.09, 0.05)]):
        rows += [run_row(len(rows), "fig2_sgd_adam", seed, "sgdw", 0.1, 0.0, 0.10, 0.10),
                 run_row(len(rows) + 1, "fig2_sgd_adam", seed, "sgdw", 0.1, 0.01, v1, 0.08),
                 run_row(len(rows) + 2, "fig2_sgd_adam", seed, "sgdw", 0.1, 0.02, v2, 0.06)]
    g = gains(table(rows)).set_index("seed")
    assert g.loc[0, "lam_chosen"] == 0.02 and g.loc[0, "gain"] == pytest.approx(0.06 / 0.10 - 1)
    # seed 1 is left out: seeds 0 and 2 tie in mean (0.07 each), the first (0.01) wins
    assert g.loc[1, "lam_chosen"] == 0.01 and g.loc[1, "gain"] == pytest.approx(0.08 / 0.10 - 1)
    assert (g["selection"] == "leave-one-seed-out").all()


def test_a_gain_that_grows_with_alpha_from_zero_is_reproduced():
    r = claim_13(grid_runs(gain_per_doubling=-0.06, gain_at_smallest=0.0), None, VALUES[13])
    assert r.verdict == "reproduced", r.detail
    slope = {p.name: p for p in r.parts}["slope, SGD+L2"]
    assert slope.value == pytest.approx(-0.06, abs=0.01) and slope.n_seeds == 3  # grid seeds only
    assert "Adam" not in " ".join(p.name for p in r.parts)


def test_a_constant_gain_is_not_reproduced_on_both_parts():
    r = claim_13(grid_runs(gain_per_doubling=0.0, gain_at_smallest=-0.3, noise=0.0005), None, VALUES[13])
    verdicts = {p.name: p.verdict for p in r.parts}
    assert verdicts == {"slope, SGD+L2": "not reproduced", "small alpha, SGD+L2": "not reproduced",
                        "slope, SGDW": "not reproduced", "small alpha, SGDW": "not reproduced"}


def test_an_alpha_where_every_run_diverged_is_left_out():
    runs = grid_runs(optimizers=("sgd",))
    top = runs["alpha"] == max(GRID_ALPHAS)
    runs.loc[top, ["status", "final_val_error", "final_test_error"]] = ["diverged", 1.0, 1.0]
    assert max(GRID_ALPHAS) not in set(gains(runs[runs["optimizer"] == "sgd"])["alpha"])


def test_adam_variants_come_from_fig1_cosine_runs_and_are_shown_not_judged():
    runs = pd.concat([grid_runs(), grid_runs(optimizers=("adamw",), experiment="fig1_schedules")],
                     ignore_index=True)
    r = claim_13(runs, None, VALUES[13])
    assert "AdamW (`fig1_schedules`" in r.detail and "(shown, not judged)" in r.detail
    assert len(r.parts) == 4


def test_without_grids_finding_13_is_not_run():
    assert claim_13(table([]), None, VALUES[13]).verdict == "not run"


# ------------------------------------------------------------------------------------------------ tau paragraph
def test_tau_paragraph_states_the_tuned_cells_timescales_from_the_tables():
    runs = pd.concat([grid_runs(), timescale_runs()], ignore_index=True)
    text = tau_paragraph(runs)
    # SGDW's best lambda is 2^-7 at every alpha: d = 2^-7, 32 steps an epoch at B = 4000, tau_epoch = 128/32 = 4
    assert "SGDW d = 0.00781, tau_epoch 4 epochs (0.267 of the 15-epoch run)" in text
    # SGD+L2's effective d = alpha*lambda'/(1 - 0.9): the tuned cell's alpha is the largest (the gain grows)
    tuned = units.decay_per_step("sgd", max(GRID_ALPHAS), 2.0**-7)
    assert f"SGD+L2 d = {tuned:.3g}" in text
    assert "Training-set size (finding 11)" in text and "Learning rate (finding 13)" in text
    assert "Rotation" not in text  # no telemetry given


def test_tau_paragraph_is_empty_without_tables():
    assert tau_paragraph(table([])) == ""


def test_every_claim_takes_runs_history_value_and_optional_telemetry():
    runs, tel = rotation_telemetry()
    runs = pd.concat([runs, timescale_runs(), grid_runs()], ignore_index=True)
    for number, fn in CLAIMS.items():
        r = fn(runs, None, VALUES[number], telemetry=tel)
        assert r.number == number and r.verdict in ("reproduced", "not reproduced", "inconclusive", "not run")


# ------------------------------------------------------------------------------------------------ aggregation
def _fake_run(path, telemetry: bool):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({
        "experiment_name": "rotation", "seed": 1, "epochs": 2, "batch_size": 128,
        "optimizer": {"name": "adamw", "lr": 0.03125, "weight_decay": 0.015625, "lambda_norm": None},
        "schedule": {"name": "fixed"}, "data": {"name": "mnist1d", "train_size": 4000},
        "model": {"name": "cnn", "batch_norm": True, "width": 32}}))
    (path / "metrics.json").write_text(json.dumps({"scale": "quick", "lambda_effective": 0.015625,
                                                   "train_size": 4000}))
    if telemetry:
        lines = [",".join(TELEMETRY_FIELDS)]
        for epoch in (1, 2):
            for layer, inv in (("0.weight", "True"), ("3.weight", "True"), ("10.weight", "False")):
                lines.append(f"{epoch},{32 * epoch},{layer},{inv},2.0,0.04,0.05,8")
        (path / "telemetry.csv").write_text("\n".join(lines) + "\n")


def test_the_telemetry_table_holds_the_runs_labels_and_the_layers_order(tmp_path):
    _fake_run(tmp_path / "a", telemetry=True)
    _fake_run(tmp_path / "b", telemetry=False)
    tel = results.collect_telemetry([tmp_path / "a", tmp_path / "b"])
    assert list(tel.columns) == list(results.TELEMETRY_COLUMNS)
    assert len(tel) == 6 and set(tel["run_id"]) == {"a"}  # the run without telemetry.csv adds nothing
    assert tel[tel["epoch"] == 1]["layer_order"].tolist() == [0, 1, 2]
    assert tel["scale_invariant"].tolist() == [True, True, False] * 2
    assert (tel["seed"] == 1).all() and (tel["optimizer"] == "adamw").all() and (tel["train_size"] == 4000).all()
    results.write_table(tel, tmp_path / "out" / "telemetry.parquet")
    back = results.read_telemetry(tmp_path / "out")
    pd.testing.assert_frame_equal(back, tel)
    assert results.read_telemetry(tmp_path / "nothing").empty


def test_without_adam_l2_the_balance_part_is_not_run_and_the_finding_cannot_reproduce():
    runs, tel = rotation_telemetry()
    adamw = tel[tel["optimizer"] == "adamw"]
    r = claim_12(runs[runs["optimizer"] == "adamw"], None, VALUES[12], telemetry=adamw)
    verdicts = {p.name: p.verdict for p in r.parts}
    assert verdicts == {"angle": "reproduced", "alpha": "reproduced", "balance": "not run"}
    assert r.verdict == "inconclusive" and r.quantity.startswith("spread of the equilibrium angle")
