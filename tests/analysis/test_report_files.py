"""Running the workflow leaves `git status` clean: the report's volatile lines go to an untracked sidecar, the
tracked report is replaced only when its bytes change and never deleted by a failed job, and a subset of the
experiments writes a partial report under results/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adamw_repro.analysis import report_files
from adamw_repro.analysis.report import split_volatile

REPORT = """# Replication report

- Scale: **smoke**; data mnist1d.
- Compute: 1.2 minutes of training in total; device cpu.
- Code: runs trained at git commit(s) abc, this report written at abc; python 3.12.
- Generated 2026-12-02 19:00 UTC.
- Compute, code version and date: in results/smoke/report/report_run.md (not tracked: they differ from run to run).

| cnn | SGD | 1.0 |

- Compute: cost per run of the pilot (wall clock, one thread): cnn 3 s.
"""


def test_split_volatile_moves_date_code_and_compute_lines_out():
    stable, volatile = split_volatile(REPORT)
    assert [line[:11] for line in volatile] == ["- Compute: ", "- Code: run", "- Generated", "- Compute: "]
    assert "Generated" not in stable and "- Compute: " not in stable and "git commit" not in stable
    assert "- Scale: **smoke**" in stable and "| cnn | SGD | 1.0 |" in stable and stable.endswith("\n")
    assert "- Compute, code version and date: in results/smoke/report/report_run.md" in stable


def test_two_runs_an_hour_apart_give_the_same_report():
    later = REPORT.replace("19:00", "20:00").replace("1.2 minutes", "1.5 minutes").replace("abc", "def")
    assert split_volatile(REPORT)[0] == split_volatile(later)[0]
    assert split_volatile(REPORT)[1] != split_volatile(later)[1]


def test_publish_leaves_an_unchanged_report_untouched(tmp_path):
    stage, dest = tmp_path / "results/smoke/report", tmp_path / "reports/smoke"
    (stage / "figures").mkdir(parents=True)
    (stage / "report.md").write_text("same\n")
    (stage / "figures/fig1.png").write_bytes(b"png")
    (stage / "figures/fig1.pdf").write_bytes(b"pdf")
    (stage / "report_run.md").write_text("volatile\n")
    assert sorted(p.name for p in report_files.publish(stage, dest)) == ["fig1.pdf", "fig1.png", "report.md"]
    assert not (dest / "report_run.md").exists()  # the sidecar stays untracked
    os.utime(dest / "report.md", (1, 1))
    assert report_files.publish(stage, dest) == []
    assert (dest / "report.md").stat().st_mtime == 1  # not even rewritten
    (stage / "report.md").write_text("changed\n")
    assert report_files.publish(stage, dest) == [dest / "report.md"]
    assert (dest / "report.md").read_text() == "changed\n"
    assert not [p for p in dest.rglob("*.tmp")]


def test_a_failed_copy_leaves_the_old_report(tmp_path, monkeypatch):
    src, dest = tmp_path / "new.md", tmp_path / "reports/report.md"
    src.write_text("new\n")
    dest.parent.mkdir()
    dest.write_text("old\n")

    def broken(*_):
        raise OSError("disk full")

    monkeypatch.setattr(report_files.os, "replace", broken)
    with pytest.raises(OSError):
        report_files.copy_if_changed(src, dest)
    assert dest.read_text() == "old\n" and list(dest.parent.iterdir()) == [dest]


def test_a_subset_is_partial_and_says_so():
    available = ["clr", "fig1_schedules", "fig4_restarts"]
    assert report_files.is_partial(["fig4_restarts"], available)
    assert not report_files.is_partial(available, available)
    assert report_files.staging_dir("results/smoke", True) == "results/smoke/partial"
    assert report_files.staging_dir("results/smoke", False) == "results/smoke/report"
    note = report_files.partial_note(["fig4_restarts"], available, "smoke", "reports/smoke/report.md")
    assert note.startswith("**Partial report**: experiments fig4_restarts only (1 of 3 at the smoke scale)")
    assert "reports/smoke/report.md" in note


def test_the_report_main_writes_sidecar_publishes_and_marks_partial(tmp_path, monkeypatch):
    """main(): the staged report without volatile lines, the sidecar with them, the copy in --publish; a
    --partial-of report opens with the partial note and publishes nothing."""
    from adamw_repro.analysis import report

    def build(scale, results, report_dir, experiments, thresholds, note="", sidecar=""):
        return f"# R\n\n{note}\n\n- Generated now.\n- Sidecar: {sidecar}\n- {experiments}\n"

    monkeypatch.setattr(report, "build_report", build)
    stage, dest = tmp_path / "results/smoke/report", tmp_path / "reports/smoke"
    args = ["--scale", "smoke", "--results", str(tmp_path / "results/smoke"), "--report-dir", str(stage),
            "--experiments", "clr,fig1_schedules"]
    report.main([*args, "--out", str(stage / "report.md"), "--publish", str(dest)])
    text = (dest / "report.md").read_text()
    assert text == (stage / "report.md").read_text() and "Generated" not in text
    assert f"- Sidecar: {stage / 'report_run.md'}" in text
    assert "- Generated now." in (stage / "report_run.md").read_text()
    partial = tmp_path / "results/smoke/partial"
    report.main([*args, "--out", str(partial / "report.md"), "--partial-of", "reports/smoke/report.md"])
    assert (partial / "report.md").read_text().startswith("# R\n\n**Partial report**: experiments clr, fig1_schedules")
    assert (dest / "report.md").read_text() == text


def test_report_html_is_ignored():
    root = Path(__file__).resolve().parents[2]
    ignore = (root / ".gitignore").read_text().splitlines()
    assert "/report.html" in ignore and "/reports/**/report.html" in ignore


def test_same_report_compares_the_stable_lines(tmp_path):
    """scripts/ci/same_report.py: equal when only the volatile lines differ (old reports still hold them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("same_report", Path(__file__).resolve().parents[2] / "scripts"
                                                  / "ci" / "same_report.py")
    same_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(same_report)
    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text(REPORT)
    new.write_text(split_volatile(REPORT)[0])
    assert same_report.main([str(old), str(new)]) == 0
    new.write_text(split_volatile(REPORT)[0].replace("1.0 |", "2.0 |"))
    assert same_report.main([str(old), str(new)]) == 1
