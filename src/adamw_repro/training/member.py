"""A run to train, as the loop and a pack see it (torch-free, so a pack composes and checks its members, and
answers finished ones, before torch is imported)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(eq=False)
class Member:
    """One run: its composed config, the digest that identifies it, where it writes, and the caller's stamp
    file written after its metrics.json (the workflow's record of which request the run answered).

    Compared by identity: field-wise equality would compare configs node by node (~30 ms a pair), and a
    pack asks `m in todo` for every member."""

    cfg: object
    run_cfg: dict
    digest: str
    run_dir: Path
    done_file: Path | None = None
