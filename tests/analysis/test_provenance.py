"""The commit a report records: the workflow's own outputs never make it dirty; a code change does."""

import subprocess
from pathlib import Path

import pytest

from adamw_repro.runio import git_commit


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@t")
    _git(tmp_path, "config", "user.name", "t")
    for rel in ("src/code.py", "reports/report.md", "reports/figures/fig1.png", "reports/smoke/report.md",
                "reports/smoke/figures/fig1.png", "reports/captions/fig1.rst", "results/quick/runs.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("v1\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_clean_tree_is_not_dirty(repo: Path) -> None:
    commit = git_commit(repo)
    assert len(commit) == 40 and not commit.endswith("+dirty")


@pytest.mark.parametrize("rel", ["reports/report.md", "reports/figures/fig1.png", "reports/smoke/report.md",
                                 "reports/smoke/figures/fig1.png", "results/quick/runs.csv"])
def test_workflow_outputs_do_not_make_it_dirty(repo: Path, rel: str) -> None:
    (repo / rel).write_text("v2\n")
    assert not git_commit(repo).endswith("+dirty")


@pytest.mark.parametrize("rel", ["src/code.py", "reports/captions/fig1.rst"])
def test_code_and_captions_make_it_dirty(repo: Path, rel: str) -> None:
    (repo / rel).write_text("v2\n")
    assert git_commit(repo).endswith("+dirty")


def test_not_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path / "nowhere") == "unknown"
