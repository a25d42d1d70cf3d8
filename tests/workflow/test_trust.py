"""What the workflow trusts (issue 18): a run is finished for the workflow only when its stamp is there and
runio.finished_run accepts its files (metrics.json whole, of the digest its config asks for now, history.csv
as many epochs); otherwise it is due again, and what it left is moved aside before its pack job starts, never
deleted. Damaged aggregated tables are moved aside so that the aggregate job rebuilds them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adamw_repro import runio
from adamw_repro.workflow import guard
from adamw_repro.workflow.dag import Dag
from tests.run_files import write_finished_run

ROOT = Path(__file__).resolve().parents[2]
SMOKE = {"scale": "smoke", "experiments": "fig1_schedules"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Dag's paths are relative to the working directory, as Snakemake's


def finish(d: Dag, run, digest: str | None = None) -> Path:
    run_dir = write_finished_run(Path(d.run_dir(run)), digest or d.resolver.digest(run))
    Path(d.done_file(run)).write_text(d.resolver.digest(run) + "\n")
    return run_dir


def packed(d: Dag) -> set[str]:
    return {r.run_id for members in d.form_packs(main_process=True).values() for r in members}


def test_a_damaged_adopted_or_deleted_run_is_due_again_and_set_aside_not_lost(capsys):
    d = Dag(ROOT, SMOKE, {})
    runs = d.known_runs()[:5]
    dirs = [finish(d, r) for r in runs]
    other = "f" * 40
    finish(d, runs[1], digest=other)  # retrained by hand with another value, into the workflow's folder
    history = (dirs[0] / "history.csv").read_text()
    (dirs[0] / "history.csv").write_text("\n".join(history.splitlines()[:2]) + "\n")  # truncated: 1 of 2 epochs
    (dirs[2] / "metrics.json").unlink()  # deleted: the stamp alone finishes nothing
    (dirs[3] / "metrics.json").write_text(json.dumps({"config_digest": d.resolver.digest(runs[3])}))  # digest only
    again = Dag(ROOT, SMOKE, {})
    due = packed(again)
    assert {r.run_id for r in runs[:4]} <= due and runs[4].run_id not in due
    assert again.untrusted == {
        d.run_dir(runs[0]): "history.csv has 1 epochs where metrics.json has 2",
        d.run_dir(runs[1]): f"it is a run of another config (digest {other[:12]})",
        d.run_dir(runs[3]): "; ".join(f"no `{k}`" for k in ("status", "final", "best", "epochs", "steps",
                                                              "steps_per_epoch", "lambda_effective", "train_size",
                                                              "scale", "wall_seconds", "evaluation", "provenance")),
    }
    capsys.readouterr()
    again.set_aside_untrusted()
    err = capsys.readouterr().err.splitlines()
    # the damaged ones renamed beside themselves, .corrupt-<UTC time>; the other config's run kept whole
    assert sorted(p.name.split(".corrupt-")[0] for p in dirs[0].glob("*.corrupt-*")) == ["history.csv",
                                                                                        "metrics.json"]
    assert not (dirs[0] / "metrics.json").exists() and not (dirs[0] / "history.csv").exists()
    superseded = dirs[1] / f"superseded-{other[:12]}"
    assert json.loads((superseded / "metrics.json").read_text())["config_digest"] == other
    assert (superseded / "history.csv").exists() and not (dirs[1] / "metrics.json").exists()
    assert sorted(p.name.split(".corrupt-")[0] for p in dirs[3].glob("*.corrupt-*")) == ["history.csv", "metrics.json"]
    assert (dirs[4] / "metrics.json").exists()  # the trusted run is untouched
    assert len(err) == 3, err
    assert re.fullmatch(rf"warning: {re.escape(str(dirs[0]))} is not a finished run \(history.csv has 1 epochs "
                        r"where metrics.json has 2\); moved metrics.json.corrupt-\d{8}T\d{6}Z, "
                        r"history.csv.corrupt-\d{8}T\d{6}Z aside; it is trained again", err[0]), err[0]
    assert err[1] == f"warning: {dirs[1]} held a run of another config (digest {other[:12]}); moved it to {superseded}"


def test_a_run_another_process_writes_is_left_alone(capsys):
    d = Dag(ROOT, SMOKE, {})
    run = d.known_runs()[0]
    run_dir = finish(d, run, digest="e" * 40)
    again = Dag(ROOT, SMOKE, {})
    assert run.run_id in packed(again)
    with runio.RunLock(run_dir):  # a second lock on the folder, as a live training process holds it
        capsys.readouterr()
        again.set_aside_untrusted()
        err = capsys.readouterr().err.strip()
    import os

    assert err == (f"warning: {run_dir} is being written by another process (PID {os.getpid()}); wait for it to "
                   "finish or stop it: two runs in one folder would overwrite each other")
    assert json.loads((run_dir / "metrics.json").read_text())["config_digest"] == "e" * 40


def test_a_trusted_run_is_read_once_and_never_moved(capsys):
    d = Dag(ROOT, SMOKE, {})
    runs = d.known_runs()
    for r in runs:
        finish(d, r)
    again = Dag(ROOT, SMOKE, {})
    assert packed(again) == set() and again.untrusted == {}
    again.set_aside_untrusted()
    assert capsys.readouterr().err == ""
    assert all(Path(again.run_dir(r), "metrics.json").exists() for r in runs)


def test_damaged_tables_are_moved_aside_and_a_dry_run_only_names_them(tmp_path, capsys):
    import pandas as pd

    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(results / "history.parquet")
    (results / "runs.parquet").write_bytes(b"PAR1 torn in the middle of a write")
    (results / "runs.csv").write_text("a\n1\n")
    assert list(guard.damaged_tables(results)) == [results / "runs.parquet"]
    assert guard.rebuild_damaged_tables(results, dryrun=True) == [results / "runs.parquet"]
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"warning: {results / 'runs.parquet'} is damaged (") and \
        err.endswith("); a run without -n moves it aside and rebuilds it")
    assert (results / "runs.parquet").exists()
    guard.rebuild_damaged_tables(results, dryrun=False)
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"warning: {re.escape(str(results / 'runs.parquet'))} is damaged \(.*\); moved to "
                        r"runs.parquet.corrupt-\d{8}T\d{6}Z; the aggregate job rebuilds it", err), err
    assert not (results / "runs.parquet").exists() and (results / "history.parquet").exists()
    assert len(list(results.glob("runs.parquet.corrupt-*"))) == 1


@pytest.mark.parametrize("argv,dry", [(["snakemake", "-n"], True), (["snakemake", "--dry-run"], True),
                                      (["snakemake", "-np"], True), (["snakemake", "--touch"], True),
                                      (["snakemake", "--unlock"], True), (["snakemake", "--report=r.html"], True),
                                      (["snakemake", "--cores", "2"], False), (["snakemake", "-s", "Snakefile"], False),
                                      (["snakemake", "-p"], False), (["snakemake", "--forcerun", "report"], False)])
def test_a_dry_run_is_told_from_the_command_line(argv, dry):
    assert guard.dry_run(argv) is dry


def test_lapsed_runs_lose_their_stamp_and_marker_and_the_table_is_moved_aside(capsys):
    """Snakemake only looks below a job it runs: a deleted metrics.json of a stamped run makes the whole chain
    (runs.parquet, the experiment's done/ marker, the stamp) due; a dry run only says so."""
    d = Dag(ROOT, SMOKE, {})
    runs = d.known_runs()[:2]
    dirs = [finish(d, r) for r in runs]
    (dirs[0] / "metrics.json").unlink()
    done = Path(d.results, "done", "fig1_schedules.txt")
    done.parent.mkdir(parents=True)
    done.write_text("\n")
    Path(d.results, "runs.parquet").write_bytes(b"table")
    again = Dag(ROOT, SMOKE, {})
    again.form_packs(main_process=True)
    assert list(again.lapsed) == [d.run_dir(runs[0])] and again.untrusted == {}
    capsys.readouterr()
    guard.mark_lapsed(again.lapsed, again.results, dryrun=True)
    assert capsys.readouterr().err == (f"warning: 1 run(s) the workflow had finished are due again (first: "
                                       f"{d.run_dir(runs[0])}: no metrics.json); a run without -n trains them "
                                       "again and rebuilds the tables\n")
    assert done.exists() and Path(d.done_file(runs[0])).exists()
    guard.mark_lapsed(again.lapsed, again.results, dryrun=False)
    err = capsys.readouterr().err
    assert re.fullmatch(r"warning: 1 run\(s\) the workflow had finished are due again \(first: .*: no metrics.json\); "
                        r"they are trained again and the tables rebuilt; results/smoke/runs.parquet moved to "
                        r"runs.parquet.stale-\d{8}T\d{6}Z\n", err), err
    assert not done.exists() and not Path(d.done_file(runs[0])).exists() and Path(d.done_file(runs[1])).exists()
    assert [p.read_bytes() for p in Path(d.results).glob("runs.parquet.stale-*")] == [b"table"]
