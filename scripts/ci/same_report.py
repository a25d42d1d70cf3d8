"""Does a regenerated report say the same as the committed one? Exit 0 if every line matches; otherwise print the
differing lines, exit 1. The lines that state when, on which commit and how fast a report was made are written to
an untracked sidecar (results/<scale>/report/report_run.md), so a regenerated report equals the committed one byte
for byte; such lines are still skipped here, for reports committed before they moved.

    python scripts/ci/same_report.py reports/smoke/report.md            # against the committed version (git HEAD)
    python scripts/ci/same_report.py OLD.md NEW.md

CI regenerates the smoke report and runs this, so a report that drifts from the code fails CI.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

from adamw_repro.analysis.report import split_volatile

# The line that points to the sidecar, which reports committed before the sidecar lack.
SIDECAR_POINTER = "- Compute, code version and date: "


def stable_lines(text: str) -> list[str]:
    return [line for line in split_volatile(text)[0].splitlines() if not line.startswith(SIDECAR_POINTER)]


def committed(path: Path) -> str:
    """The file as committed at HEAD (the report a fresh clone holds)."""
    rel = path.resolve().relative_to(Path.cwd().resolve())
    return subprocess.run(["git", "show", f"HEAD:{rel.as_posix()}"], capture_output=True, text=True,
                          check=True).stdout


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        old, new, names = committed(Path(argv[0])), Path(argv[0]).read_text(), ("committed", "regenerated")
    elif len(argv) == 2:
        old, new, names = Path(argv[0]).read_text(), Path(argv[1]).read_text(), tuple(argv)
    else:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    diff = list(difflib.unified_diff(stable_lines(old), stable_lines(new), *names, lineterm="", n=0))
    if diff:
        print("\n".join(diff))
        print(f"error: the report differs from the {names[0]} one in {sum(d[:1] in '+-' for d in diff[2:])} line(s)",
              file=sys.stderr)
        return 1
    print("same report (apart from date, commit and timing lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
