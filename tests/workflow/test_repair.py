"""Through the real `snakemake`: a finished workflow whose runs or tables were damaged, adopted or deleted is
repaired by the same command (issue 18). A run retrained by hand with another learning rate into the workflow's
folder, a truncated history.csv, a deleted metrics.json and a torn runs.parquet: each run is trained again (or
summarized from its final checkpoint), what was there is moved aside, never deleted, and the tables, figure and
report are rebuilt from trusted runs only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from adamw_repro.workflow.dag import Dag
from tests.workflow_helpers import copy_workflow, snakemake

CONFIG = ("--config", "scale=smoke", "experiments=fig4_restarts")
STAMP = r"\d{8}T\d{6}Z"


def warnings(out) -> list[str]:
    return [ln for ln in out.stderr.splitlines() if ln.startswith(("warning:", "error:"))]


@pytest.mark.snakemake
@pytest.mark.slow
def test_damaged_adopted_and_deleted_outputs_are_rebuilt_and_kept(tmp_path, monkeypatch):
    work = copy_workflow(tmp_path / "wf")
    first = snakemake(work, "--cores", "2", *CONFIG)
    assert first.returncode == 0, first.stderr[-3000:]
    monkeypatch.chdir(work)
    d = Dag(work, dict(a.split("=") for a in CONFIG[1:]), {})
    a, b = d.known_runs()
    dir_a, dir_b = work / d.run_dir(a), work / d.run_dir(b)
    results = work / "results/smoke"
    alpha_b = float(pd.read_parquet(results / "runs.parquet").set_index("run_id").loc[b.run_id, "alpha"])

    # B retrained by hand with another learning rate into the workflow's folder (its run moved aside by train)
    env = dict(os.environ, ADAMW_REPRO_DATA=str(work / "data"))
    hand = subprocess.run([sys.executable, "-m", "adamw_repro.training.train", *d.pack_member(b)["overrides"],
                           "optimizer.lr=0.5", f"hydra.run.dir={dir_b}"], capture_output=True, text=True, env=env,
                          cwd=work, timeout=300)
    assert hand.returncode == 0, hand.stderr
    hand_digest = json.loads((dir_b / "metrics.json").read_text())["config_digest"]
    # A's history truncated to its header and first epoch; runs.parquet torn
    lines = (dir_a / "history.csv").read_text().splitlines()
    (dir_a / "history.csv").write_text("\n".join(lines[:2]) + "\n")
    (results / "runs.parquet").write_bytes(b"PAR1 torn")

    plan = snakemake(work, "-n", *CONFIG)
    assert plan.returncode == 0, plan.stderr[-3000:]
    said = warnings(plan)  # Snakemake's plan cannot show them without a change on disk: the dry run names them
    assert len(said) == 2 and said[0].startswith("warning: results/smoke/runs.parquet is damaged ("), said
    assert said[0].endswith("; a run without -n moves it aside and rebuilds it")
    assert said[1] == (f"warning: 2 run(s) the workflow had finished are due again (first: {d.run_dir(a)}: "
                       "history.csv has 1 epochs where metrics.json has 3); a run without -n trains them again and "
                       "rebuilds the tables")
    assert (results / "runs.parquet").read_bytes() == b"PAR1 torn"  # a dry run moves nothing

    repair = snakemake(work, "--cores", "2", *CONFIG)
    assert repair.returncode == 0, repair.stderr[-3000:]
    said = warnings(repair)
    assert len(said) == 4, said
    assert re.fullmatch(r"warning: results/smoke/runs.parquet is damaged \(.*\); moved to "
                        rf"runs.parquet.corrupt-{STAMP}; the aggregate job rebuilds it", said[0]), said
    assert said[1] == (f"warning: 2 run(s) the workflow had finished are due again (first: {d.run_dir(a)}: "
                       "history.csv has 1 epochs where metrics.json has 3); they are trained again and the tables "
                       "rebuilt")  # runs.parquet was moved aside as damaged already
    assert re.fullmatch(rf"warning: {d.run_dir(a)} is not a finished run \(history.csv has 1 epochs where "
                        rf"metrics.json has 3\); moved metrics.json.corrupt-{STAMP}, history.csv.corrupt-{STAMP} "
                        "aside; it is trained again", said[2]), said
    assert said[3] == (f"warning: {d.run_dir(b)} held a run of another config (digest {hand_digest[:12]}); moved it "
                       f"to {d.run_dir(b)}/superseded-{hand_digest[:12]}")
    # nothing lost: the torn table, A's damaged files and B's hand-made run are all kept beside the new ones
    assert len(list(results.glob("runs.parquet.corrupt-*"))) == 1
    assert sorted(p.name.split(".corrupt-")[0] for p in dir_a.glob("*.corrupt-*")) == ["history.csv", "metrics.json"]
    hand_run = dir_b / f"superseded-{hand_digest[:12]}"
    assert json.loads((hand_run / "metrics.json").read_text())["config_digest"] == hand_digest
    # the rebuilt tables hold the grid's own runs, whole
    runs = pd.read_parquet(results / "runs.parquet").set_index("run_id")
    assert float(runs.loc[b.run_id, "alpha"]) == alpha_b != 0.5
    assert json.loads((dir_b / "metrics.json").read_text())["config_digest"] == d.resolver.digest(b)
    history = pd.read_parquet(results / "history.parquet")
    assert (history["run_id"] == a.run_id).sum() == 3 == len((dir_a / "history.csv").read_text().splitlines()) - 1

    # a deleted metrics.json: due again, summarized from the final checkpoint; then nothing left to do
    (dir_a / "metrics.json").unlink()
    again = snakemake(work, "--cores", "2", *CONFIG)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (f"warning: 1 run(s) the workflow had finished are due again (first: {d.run_dir(a)}: no metrics.json); "
            "they are trained again and the tables rebuilt; results/smoke/runs.parquet moved to runs.parquet.stale-"
            in again.stderr), again.stderr
    assert (dir_a / "metrics.json").exists() and Path(d.done_file(a)).exists()
    assert "Nothing to be done" in snakemake(work, "-n", *CONFIG).stdout
