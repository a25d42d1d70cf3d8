"""Finding 1: the exact identities of docs/paper.md section 1, checked on the installed code at report time."""

from __future__ import annotations

from typing import Any

from ..criteria import Count
from ..registry import Tables, Thresholds, finding
from ..stats import CI
from ..verdicts import ClaimResult, not_run, result


def _get(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


@finding(1, Count())
def judge_identities(data: Tables, t: Thresholds) -> ClaimResult:
    """Identities (objects or dicts with name, holds, detail): exact, no interval; the count that fail."""
    identities = list(data.identities or [])
    if not identities:
        return not_run(1, "identities", "The identities were not checked: no results were passed in.")
    failing = float(sum(not _get(i, "holds") for i in identities))
    part = t.one.part("identities", f"identities that fail (of {len(identities)})", CI(failing, failing, failing),
                      0, "exact check (deterministic)")
    notes = "\n".join(f"- {_get(i, 'name')}: {'holds' if _get(i, 'holds') else '**fails**'}"
                      f" ({_get(i, 'detail')})" for i in identities)
    return result(1, "identities", [part], [notes])
