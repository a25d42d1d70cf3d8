"""The findings of docs/paper.md section 4, judged on the aggregated tables: the entry points.

Each finding is a function registered by number in adamw_repro/analysis/findings/ (see
adamw_repro.analysis.registry); its thresholds come from conf/claims.yaml, checked against the registered
criteria (`validate_thresholds`, which the workflow calls before any job). The rules every finding follows:

- Hyperparameters are selected on validation error over the grid's seeds; the test error of the selection is
  read on the tune stage's fresh seeds where there are any.
- Differences between two tuned settings are relative, per seed: err(A) / err(B) - 1 (-0.15: A has 15 % lower
  error), paired over seeds with a t-interval.
- Each quantity's 95 % interval is judged by its criterion (adamw_repro.analysis.criteria): for a direction the
  paper claims, "reproduced" when the interval excludes no effect in the paper's direction and reaches the
  smallest effect that counts as the paper's, "not reproduced" when it excludes that smallest effect,
  "inconclusive" only when it holds both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from . import findings  # noqa: F401  (registers every finding)
from .registry import REGISTRY, Tables, load_thresholds, registered, thresholds_of, validate_thresholds  # noqa: F401
from .selection import HYPER_COLS
from .verdicts import (  # noqa: F401  (re-exported: the report and the tests read them from here)
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    VERDICTS,
    ClaimResult,
    Part,
    claim_section_markdown,
    claims_table_markdown,
    combine,
)

_RUN_NEEDS = ("run_id", "experiment", "seed", *HYPER_COLS, "final_val_error", "final_test_error")
_HISTORY_NEEDS = ("run_id", "experiment", "seed", *HYPER_COLS, "epoch", "step", "train_loss", "val_error",
                  "test_error")


def _checked(table: pd.DataFrame | None, needs: Sequence[str], name: str) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame(columns=list(needs))
    missing = [c for c in needs if c not in table]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} (see adamw_repro.schema)")
    if "scale" in table and table["scale"].nunique() > 1:
        scales = sorted(table["scale"].unique())
        raise ValueError(f"{name} mixes scales {scales}: evaluate one scale at a time")
    return table


def evaluate_claims(runs: pd.DataFrame, history: pd.DataFrame | None, thresholds: dict,
                    identities: Iterable[Any] | None = None, telemetry: pd.DataFrame | None = None
                    ) -> list[ClaimResult]:
    """Judge every registered finding on the aggregated tables (one scale), in order of their numbers.

    runs: one row per run (schema.RUN_COLUMNS); history: one row per run and epoch (schema.HISTORY_COLUMNS),
    or None; thresholds: as returned by `load_thresholds`; identities: results of
    `identities.check_identities()` (objects or dicts with name, holds, detail), or None (finding 1 not run);
    telemetry: the per-layer telemetry table (results.read_telemetry), or None (finding 12 not run).
    """
    values = {n: entry["value"] for n, entry in validate_thresholds(thresholds).items()}
    runs = _checked(runs, _RUN_NEEDS, "runs")
    history = _checked(history, _HISTORY_NEEDS, "history")
    cell = ["experiment", *(["model"] if "model" in runs else []), *HYPER_COLS, "seed"]  # the testbed varies the model
    dup = runs.duplicated(cell, keep=False)
    if dup.any():
        raise ValueError("runs holds several rows for the same experiment, cell and seed: "
                         f"{sorted(runs.loc[dup, 'run_id'])[:10]}; aggregate each run once")
    data = Tables(runs, history, list(identities or []), telemetry)
    return [f.judge(data, thresholds_of(f.number, values[f.number])) for f in registered()]
