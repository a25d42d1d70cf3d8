"""The files and tables every layer shares: one definition each, used by the writer and every reader.

- a run's `history.csv` (one row per epoch, `HISTORY_FIELDS`) and `metrics.json` (`METRICS_KEYS`, checked by
  `metrics_problems`), written by the training loop, read by the training entry points (is this run finished?),
  the workflow (may it be trusted?) and the aggregation;
- the aggregated tables `runs.parquet` (`RUN_COLUMNS`) and `history.parquet` (`HISTORY_COLUMNS`).

Errors are fractions in [0, 1] (figures show percent). A diverged run keeps its row with errors 1.0 and
status "diverged". Labels come from each run's saved config, never from its path.
"""

from __future__ import annotations

import math
from typing import Any

# -- one run's files ------------------------------------------------------------------------------------------
# history.csv: one row per epoch. Losses and errors of an epoch that was not evaluated (validation every
# `val_every`, test every `test_every` epochs, both always at the end) are NaN. Training loss and error are
# running means over the epoch's batches; `seconds` (last) counts training and evaluation so far. `eval_bn`
# says which BatchNorm statistics the evaluation used: "recomputed" (re-estimated on training data just
# before, the default), "running" (the running averages, bn_samples=0) or "none" (the model has no
# BatchNorm), empty when nothing was evaluated.
HISTORY_FIELDS = (
    "epoch", "step", "lr",
    "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error",
    "eval_bn", "seconds",
)
LOSS_AND_ERROR = HISTORY_FIELDS[3:9]  # the evaluated quantities: metrics.json's "final" holds these
EVAL_BN = ("recomputed", "running", "none", "")
STATUSES = ("ok", "diverged")
# telemetry.csv (runs with telemetry_every > 0): one row per epoch and weight tensor (training/telemetry.py).
TELEMETRY_FIELDS = ("epoch", "step", "layer", "scale_invariant", "weight_norm", "angular_update",
                    "grad_weight_ratio", "samples")

# metrics.json: written last, atomically; its presence with the run's config digest marks a finished run.
METRICS_KEYS = {
    "status": str,             # one of STATUSES
    "final": dict,             # LOSS_AND_ERROR at the last epoch (the test error is always evaluated there)
    "best": dict,              # epoch, val_error, test_error of the epoch with the lowest validation error
    "epochs": int,             # epochs trained (fewer than the budget only when diverged)
    "steps": int,
    "steps_per_epoch": int,
    "lambda_effective": float,  # the decay coefficient of the first period (lambda_norm resolved)
    "train_size": int,
    "scale": str,
    "wall_seconds": float,     # seconds spent in training epochs and their evaluations (not start-up)
    "evaluation": dict,        # how evaluations were made: bn (one of EVAL_BN), bn_samples, val_every, test_every
    "config_digest": str,      # runconfig.config_digest of the run's resolved config
    "provenance": dict,        # code version, libraries, device (runio.provenance)
}


def metrics_problems(doc: Any, history_rows: int | None = None) -> list[str]:
    """What is wrong with a metrics.json document (empty when it is a finished run's): missing keys, wrong
    types, an unknown status, errors outside [0, 1]; with `history_rows` (-1: history.csv missing or garbled), a
    history.csv whose length differs from the epochs the metrics report (a truncated history is not a finished
    run)."""
    if not isinstance(doc, dict):
        return [f"not a JSON object but a {type(doc).__name__}"]
    problems = []
    for key, kind in METRICS_KEYS.items():
        if key not in doc:
            problems.append(f"no `{key}`")
        elif kind is float and not (isinstance(doc[key], int | float) and not isinstance(doc[key], bool)):
            problems.append(f"`{key}` is not a number")
        elif kind is not float and not isinstance(doc[key], kind):
            problems.append(f"`{key}` is not a {kind.__name__}")
    if problems:
        return problems
    if doc["status"] not in STATUSES:
        problems.append(f"status {doc['status']!r} is not one of {', '.join(STATUSES)}")
    for key in ("train_error", "val_error", "test_error"):
        value = doc["final"].get(key)
        if not (isinstance(value, int | float) and (math.isnan(value) or 0.0 <= value <= 1.0)):
            problems.append(f"final.{key}={value!r} is not an error rate in [0, 1]")
    if history_rows is None:
        pass
    elif history_rows < 0:
        problems.append("history.csv is missing or unreadable")
    elif history_rows != doc["epochs"]:
        problems.append(f"history.csv has {history_rows} epochs where metrics.json has {doc['epochs']}")
    return problems


# -- the aggregated tables ------------------------------------------------------------------------------------
# One row per run (results/<scale>/runs.parquet).
RUN_LABELS = (
    "run_id",          # "<experiment>-<hash8 of the run's overrides>"
    "experiment",      # conf/experiment/<name>.yaml
    "scale",           # smoke | quick | budget | paper
    "seed",
    "optimizer",       # a row of names.OPTIMIZERS
    "schedule",        # a row of names.SCHEDULES
    "alpha",           # base learning rate (optimizer.lr)
    "weight_decay",    # as configured: L2 coefficient (adam, sgd), paper lambda (adamw, sgdw), torch wd (adamw_torch)
    "lambda_norm",     # normalized weight decay, NaN when weight_decay was given directly
    "lambda_effective",  # the decay coefficient actually used in the first period
    "epochs",          # the budget
    "batch_size",
    "train_size",
    "model",
    "dataset",
    "T0",              # warm restarts (NaN otherwise)
    "T_mult",
    "stepsize_epochs", # CLR half cycle (NaN otherwise)
)
RUN_METRICS = (
    "status",          # ok | diverged
    "final_train_loss", "final_train_error",
    "final_val_loss", "final_val_error",
    "final_test_loss", "final_test_error",
    "best_val_error", "best_epoch", "test_error_at_best_val",
    "epochs_run", "steps", "wall_seconds", "steps_per_second",
    "eval_bn",         # the BatchNorm statistics its evaluations used (metrics.json evaluation.bn; EVAL_BN)
)
RUN_COLUMNS = RUN_LABELS + RUN_METRICS

# One row per run and epoch (results/<scale>/history.parquet): the run's labels plus its history.csv fields.
HISTORY_METRICS = tuple(f for f in HISTORY_FIELDS if f != "eval_bn")  # the numeric fields
HISTORY_COLUMNS = RUN_LABELS + HISTORY_FIELDS
