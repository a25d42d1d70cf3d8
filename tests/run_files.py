"""A finished run's files as the training loop writes them (schema.METRICS_KEYS, HISTORY_FIELDS), without
training: for tests of what the workflow and the aggregation trust."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from adamw_repro.schema import HISTORY_FIELDS


def write_finished_run(run_dir: Path, digest: str, epochs: int = 2, test_error: float = 0.25) -> Path:
    """metrics.json (whole, of config `digest`) and a history.csv of `epochs` rows in `run_dir`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = {"train_loss": 0.5, "train_error": 0.2, "val_loss": 0.6, "val_error": 0.3, "test_loss": 0.7,
             "test_error": test_error}
    metrics = {"status": "ok", "final": final, "best": {"epoch": epochs, "val_error": 0.3, "test_error": test_error},
               "epochs": epochs, "steps": 10 * epochs, "steps_per_epoch": 10, "lambda_effective": 0.0,
               "train_size": 100, "scale": "smoke", "wall_seconds": 1.0,
               "evaluation": {"bn": "recomputed", "bn_samples": 100, "val_every": 1, "test_every": 1},
               "config_digest": digest, "provenance": {}, "steps_per_second": 10.0}
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HISTORY_FIELDS)
        for e in range(1, epochs + 1):
            writer.writerow([e, 10 * e, 0.1, 0.5, 0.2, 0.6, 0.3, 0.7, test_error, "recomputed", float(e)])
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir
