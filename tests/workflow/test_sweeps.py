"""Sweeps as plain data: expansion, run naming, the multirun listing and the reseed stage's choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from adamw_repro.workflow import cli, sweeps
from adamw_repro.workflow.resolver import Resolver
from tests.workflow.conftest import write_experiment

PATH = Path("conf/experiment/toy.yaml")


def spec(quick: dict) -> dict:
    return sweeps.check_sweep(PATH, "quick", {"quick": quick})


def test_expansion_is_the_product_of_each_block_times_the_seeds():
    runs = sweeps.expand("toy", spec({"seeds": [0, 1], "grid": [
        {"optimizer": ["adam", "adamw"], "optimizer.lr": [0.001, 0.01]},
        {"optimizer": ["sgd"], "optimizer.lr": [0.1]},
    ]}))
    assert len(runs) == (2 * 2 + 1) * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert all(r.run_id.startswith("toy-") and len(r.run_id) == len("toy-") + 8 for r in runs)
    first = runs[0]
    assert first.overrides == tuple(sorted(first.overrides))
    assert first.hydra_overrides("quick")[:2] == ["experiment=toy", "scale=quick"]
    assert first.assignment == {"optimizer": "adam", "optimizer.lr": "0.001", "seed": "0"}


def test_a_single_block_and_duplicates_across_blocks():
    one = sweeps.expand("toy", spec({"seeds": [0], "grid": {"optimizer.lr": [0.1, 0.2]}}))
    twice = sweeps.expand("toy", spec({"seeds": [0], "grid": [{"optimizer.lr": [0.1, 0.2]}, {"optimizer.lr": [0.2]}]}))
    assert one == twice and len(one) == 2


def test_adding_a_seed_or_a_grid_point_renames_no_existing_run():
    before = {r.run_id for r in sweeps.expand("toy", spec({"seeds": [0], "grid": {"optimizer.lr": [0.001, 0.01]}}))}
    after = {r.run_id for r in sweeps.expand("toy", spec({"seeds": [0, 1],
                                                          "grid": {"optimizer.lr": [0.001, 0.01, 0.1]}}))}
    assert before < after and len(after) == 6


def test_run_names_do_not_depend_on_key_order_and_change_with_any_value():
    a = sweeps.make_run("e", {"optimizer.lr": 0.01, "seed": 0})
    b = sweeps.make_run("e", {"seed": 0, "optimizer.lr": 0.01})
    c = sweeps.make_run("e", {"seed": 0, "optimizer.lr": 0.02})
    assert a.run_id == b.run_id != c.run_id
    assert sweeps.make_run("f", {"optimizer.lr": 0.01, "seed": 0}).run_id.startswith("f-")


def test_run_ids_of_shipped_results_keep_their_names():
    """Names of runs already on disk (smoke results of the first release) never change."""
    assert sweeps.make_run("fig2_sgd_adam", {"optimizer": "sgdw", "optimizer.lr": 0.0078125,
                                             "optimizer.weight_decay": 0.0, "seed": 0}).run_id in {
        "fig2_sgd_adam-8e86d88d", "fig2_sgd_adam-9a8a25a9", "fig2_sgd_adam-b7379cec", "fig2_sgd_adam-ef12bc62"}
    grid = Resolver("smoke").grid("clr")
    assert {r.run_id for r in grid} == {"clr-48dc40af", "clr-a4b8f258"}


def test_multirun_commands_mirror_the_grid():
    (cmd,) = sweeps.multirun_commands("toy", "quick", spec({"seeds": [0, 1], "grid": {
        "optimizer": ["adam", "adamw"], "optimizer.lr": [0.001]}}))
    assert cmd == ("python -m adamw_repro.training.train -m experiment=toy scale=quick optimizer=adam,adamw "
                   "optimizer.lr=0.001 seed=0,1")


def test_reseed_stage_reruns_the_best_cell_of_each_group_with_fresh_seeds():
    toy = spec({"seeds": [0], "grid": {"optimizer": ["adam", "adamw"], "optimizer.lr": [0.001, 0.01],
                                       "optimizer.weight_decay": [0.0, 0.1]},
                "tune": {"over": ["optimizer.lr", "optimizer.weight_decay"], "seeds": [1, 2],
                         "separate_zero": "optimizer.weight_decay"}})
    grid = sweeps.expand("toy", toy)

    def val(run):
        a = run.assignment
        return 0.1 if (a["optimizer.lr"], a["optimizer.weight_decay"]) == ("0.01", "0.1") else 0.3

    metrics = {r.run_id: {"status": "ok", "final": {"val_error": val(r)}} for r in grid}
    # one diverged cell never wins, whatever its stored error
    diverged = next(r for r in grid if r.assignment["optimizer.weight_decay"] == "0.0")
    metrics[diverged.run_id] = {"status": "diverged", "final": {"val_error": 0.0}}
    reseeded = sweeps.reseed("toy", toy, grid, metrics)
    assert len(reseeded) == 2 * 2 * 2  # (adam, adamw) x (decay zero, nonzero) x seeds 1, 2
    picked = {(a["optimizer"], a["optimizer.weight_decay"], a["optimizer.lr"])
              for a in (r.assignment for r in reseeded) if a["optimizer.weight_decay"] != "0.0"}
    assert picked == {("adam", "0.1", "0.01"), ("adamw", "0.1", "0.01")}
    assert {r.assignment["seed"] for r in reseeded} == {"1", "2"}
    assert not {r.run_id for r in reseeded} & {r.run_id for r in grid}
    assert sweeps.reseed("toy", spec({"seeds": [0], "grid": {"optimizer.lr": [0.1]}}), [], {}) == []


def test_a_missing_scale_empty_seeds_or_a_bad_tune_key_are_reported():
    with pytest.raises(sweeps.SweepError, match="toy.yaml: sweep.quick.seeds must be a non-empty list"):
        spec({"seeds": [], "grid": {"optimizer.lr": [0.1]}})
    with pytest.raises(sweeps.SweepError, match=r"sweep.paper is missing; scales with a sweep: quick"):
        sweeps.check_sweep(PATH, "paper", {"quick": {"seeds": [0]}})
    with pytest.raises(sweeps.SweepError, match=r"sweep.quick.grid\[0\].optimizer.lr must be a non-empty list"):
        spec({"seeds": [0], "grid": {"optimizer.lr": 0.1}})
    with pytest.raises(sweeps.SweepError, match="tune.over names 'optimizer.weight_decay', which no grid block"):
        spec({"seeds": [0], "grid": {"optimizer.lr": [0.1]}, "tune": {"over": ["optimizer.weight_decay"],
                                                                       "seeds": [1]}})


def test_a_bad_experiment_name_lists_the_allowed_ones():
    with pytest.raises(sweeps.SweepError, match=r"experiment 'fig9' does not exist; allowed: blog_decays, clr"):
        Resolver("quick").grid("fig9")


def test_the_command_line_writes_the_reseed_stage_and_lists_multiruns(conf, tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setattr("adamw_repro.workflow.resolver.CONF_DIR", conf)
    cli.main(["multirun", "fig2_sgd_adam", "--scale", "smoke"])
    assert capsys.readouterr().out.startswith("python -m adamw_repro.training.train -m experiment=fig2_sgd_adam")
    with pytest.raises(SystemExit, match="error: .*experiment 'fig9' does not exist"):
        cli.main(["multirun", "fig9"])
    write_experiment(conf, "toy", {"seeds": [0], "grid": {"optimizer.lr": [0.1, 0.2]},
                                   "tune": {"over": ["optimizer.lr"], "seeds": [5]}})
    for run in sweeps.expand("toy", Resolver("quick", conf).sweep("toy")):
        (tmp_path / "runs" / run.run_id).mkdir(parents=True)
        error = 0.1 if run.assignment["optimizer.lr"] == "0.2" else 0.2
        (tmp_path / "runs" / run.run_id / "metrics.json").write_text(json.dumps(
            {"status": "ok", "final": {"val_error": error}}))
    out = tmp_path / "tuned" / "toy.json"
    cli.main(["reseed", "--experiment", "toy", "--scale", "quick", "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(out)])
    (overrides,) = json.loads(out.read_text()).values()
    assert overrides == ["optimizer.lr=0.2", "seed=5"]
