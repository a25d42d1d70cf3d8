"""The aggregation trusts a run only when its files parse and agree (runio.finished_run) and its metrics.json
holds the digest of its own config.yaml; a damaged or foreign run is one `error:` line naming the folder (exit 2)
and the tables already there stay. A damaged table is one line naming the file, for every reader (the report's
read_tables, the figures' adapter)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from adamw_repro.analysis import results
from adamw_repro.analysis.plotting.style import run_snakemake
from adamw_repro.runconfig import config_digest, run_config
from tests.conftest import compose_config
from tests.run_files import write_finished_run


def make_run(folder: Path, lr: float = 0.001) -> Path:
    cfg = run_config(compose_config("experiment=fig1_schedules", f"optimizer.lr={lr}"))
    write_finished_run(folder, config_digest(cfg), epochs=2)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def aggregate(out_dir: Path, *dirs: Path) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        try:
            results.main(["--out-dir", str(out_dir), *map(str, dirs)])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return [make_run(tmp_path / "runs" / f"r{i}", lr) for i, lr in enumerate((0.001, 0.002))]


def test_trusted_runs_are_aggregated(tmp_path, runs):
    code, err = aggregate(tmp_path / "out", *runs)
    assert (code, err) == (0, "")
    table = pd.read_parquet(tmp_path / "out/runs.parquet")
    assert sorted(table["alpha"]) == [0.001, 0.002]
    assert len(pd.read_parquet(tmp_path / "out/history.parquet")) == 4


@pytest.mark.parametrize("damage,why", [
    (lambda d: (d / "history.csv").write_text((d / "history.csv").read_text().splitlines()[0] + "\n"),
     "not a finished run (history.csv has 0 epochs where metrics.json has 2)"),
    (lambda d: (d / "history.csv").write_text("garbage,\x00\n1\n"),
     "not a finished run (history.csv is missing or unreadable)"),
    (lambda d: (d / "metrics.json").unlink(), "not a finished run (no metrics.json)"),
    (lambda d: (d / "metrics.json").write_text("{trunc"),
     "not a finished run (metrics.json is unreadable (JSONDecodeError))"),
    (lambda d: (d / "config.yaml").write_text((d / "config.yaml").read_text().replace("lr: 0.002", "lr: 0.5")),
     "not a finished run (it is a run of another config (digest "),
])
def test_an_untrusted_run_is_one_line_and_the_old_tables_stay(tmp_path, runs, damage, why):
    assert aggregate(tmp_path / "out", *runs)[0] == 0
    before = (tmp_path / "out/runs.parquet").read_bytes()
    damage(runs[1])
    code, err = aggregate(tmp_path / "out", *runs)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {runs[1]}: {why}"), err
    assert err.rstrip().endswith("; run the workflow again: it moves the damaged files aside and trains the run again")
    assert (tmp_path / "out/runs.parquet").read_bytes() == before


def test_a_damaged_table_is_one_line_naming_the_file(tmp_path, runs):
    assert aggregate(tmp_path / "out", *runs)[0] == 0
    (tmp_path / "out/history.parquet").write_bytes(b"PAR1 torn")
    with pytest.raises(results.RunError) as err:
        results.read_tables(tmp_path / "out")
    assert str(err.value) == (f"{tmp_path / 'out/history.parquet'}: damaged, not a readable table (ArrowInvalid); "
                              "run the workflow again: it moves the file aside and rebuilds it from the runs")


class Output(dict):
    """Snakemake's output object as the adapter reads it: by attribute and by .get."""

    __getattr__ = dict.__getitem__


def test_a_figure_of_a_damaged_table_is_one_line_in_its_log_and_exit_2(tmp_path, runs, capfd):
    assert aggregate(tmp_path / "out", *runs)[0] == 0
    (tmp_path / "out/runs.parquet").write_bytes(b"not parquet at all")
    log = tmp_path / "figure.log"
    smk = SimpleNamespace(output=Output(png=str(tmp_path / "f.png")), params={}, log=[str(log)],
                          input=SimpleNamespace(runs=str(tmp_path / "out/runs.parquet"),
                                                history=str(tmp_path / "out/history.parquet")))
    with pytest.raises(SystemExit) as exit_:
        run_snakemake(smk, plot=lambda *a, **k: pytest.fail("plotted a damaged table"))
    line = (f"error: {tmp_path / 'out/runs.parquet'}: damaged, not a readable table (ArrowInvalid); run the "
            "workflow again: it moves the file aside and rebuilds it from the runs")
    assert exit_.value.code == 2
    assert log.read_text().splitlines() == [line]
    assert capfd.readouterr().err.splitlines() == [line]
    assert not (tmp_path / "f.png").exists()
