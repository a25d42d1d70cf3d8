"""The project's own reference to the papers (docs/paper.md): every citation in the repository points into it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = "PAPER" + ".md"  # a file outside the repository, which a user cannot follow


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / n for n in names if Path(n).suffix in {".py", ".md", ".yaml", ".smk", ".rst", ".env", ".sh", ""}]


def test_every_reference_to_the_paper_names_an_existing_section_of_docs_paper_md():
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs/paper.md").read_text(), re.M))
    assert sections == {"1", "2", "3", "4", "5"}
    cited = 0
    for path in tracked_text_files():
        if not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        assert OUTSIDE not in text, f"{path.relative_to(ROOT)} cites {OUTSIDE}, which is not in the repository"
        for number in re.findall(r"docs/paper\.md section (\d+)", text):
            assert number in sections, f"{path.relative_to(ROOT)}: docs/paper.md has no section {number}"
            cited += 1
    assert cited > 0


def test_docs_paper_md_holds_the_identities_and_every_finding():
    text = (ROOT / "docs/paper.md").read_text()
    assert len(re.findall(r"^\d\. ", text.split("## 2.")[0].split("Four exact identities")[1], re.M)) == 4
    findings = re.findall(r"^\| (\d+) \|", text.split("## 4.")[1], re.M)
    from adamw_repro import names

    assert findings[:len(names.FINDINGS)] == [str(n) for n in sorted(names.FINDINGS)]
