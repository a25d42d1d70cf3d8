"""Aggregation: every run into one tidy table of final metrics and one of per-epoch histories, and the runs
that recorded per-layer telemetry into a third (telemetry.parquet: one row per run, epoch and weight).

Labels come from each run's saved config.yaml and metrics.json, never from its path. Diverged runs keep
their rows (errors 1.0, status "diverged"). Tables are written as parquet with a CSV copy, atomically.

    python -m adamw_repro.analysis.results --out-dir results/quick RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

import pandas as pd
import yaml

from adamw_repro import runio
from adamw_repro.runconfig import config_digest
from adamw_repro.schema import HISTORY_COLUMNS, HISTORY_METRICS, RUN_COLUMNS, RUN_LABELS, TELEMETRY_FIELDS

# One row per run, epoch and weight tensor (telemetry.parquet): the run's labels, the weight's place in the network
# (`layer_order`: 0 for the first weight, the input layer, in the order the model defines them, which is the order
# of telemetry.csv's rows within an epoch) and its telemetry.csv fields. Runs without telemetry.csv add no rows.
TELEMETRY_COLUMNS = RUN_LABELS + ("layer_order",) + TELEMETRY_FIELDS
TELEMETRY_NUMERIC = ("epoch", "step", "layer_order", "weight_norm", "angular_update", "grad_weight_ratio", "samples")

# History and metrics columns that hold words, not numbers (the others are coerced to numbers on reading).
TEXT_COLUMNS = ("eval_bn",)  # which BatchNorm statistics an evaluation used: "recomputed" | "running" | "none"


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def run_labels(run_dir: Path, config: dict, metrics: dict) -> dict:
    """The label columns of one run (schema.RUN_LABELS), read from its own config and metrics."""
    opt, sched, data = config["optimizer"], config["schedule"], config["data"]
    return {
        "run_id": run_dir.name,
        "experiment": config.get("experiment_name", "adhoc"),
        "scale": metrics.get("scale", "unknown"),
        "seed": int(config["seed"]),
        "optimizer": opt["name"],
        "schedule": sched["name"],
        "alpha": float(opt["lr"]),
        "weight_decay": _nan(opt.get("weight_decay")) if opt.get("lambda_norm") is not None
        else float(opt.get("weight_decay") or 0.0),
        "lambda_norm": _nan(opt.get("lambda_norm")),
        "lambda_effective": float(metrics.get("lambda_effective", math.nan)),
        "epochs": int(config["epochs"]),
        "batch_size": int(config["batch_size"]),
        "train_size": int(metrics.get("train_size") or data.get("train_size") or 0),
        "model": model_label(config["model"]),
        "dataset": data["name"],
        "T0": _nan(sched.get("T0")),
        "T_mult": _nan(sched.get("T_mult")),
        "stepsize_epochs": _nan(sched.get("stepsize_epochs")),
    }


def model_label(model: dict) -> str:
    """The model's name, "+bn" when a CNN has its BatchNorm option on, "-w<width>" off the default width: the
    testbed pilot compares these side by side."""
    if model["name"] != "cnn":
        return str(model["name"])
    label = "cnn+bn" if model.get("batch_norm") else "cnn"
    return label + (f"-w{model['width']}" if model.get("width") not in (None, 32) else "")


class RunError(ValueError):
    """A run directory the aggregation cannot trust, or a table it cannot read: one line naming the file."""


def trusted_run(run_dir: Path) -> tuple[dict, dict]:
    """(config, metrics) of a finished run whose files parse and agree (runio.finished_run: metrics.json whole,
    history.csv as many epochs as it says) and whose metrics.json holds the digest of its own config.yaml (a run
    retrained by hand with other values leaves no mismatched row). RunError naming the folder otherwise."""
    run_dir = Path(run_dir)
    fix = "run the workflow again: it moves the damaged files aside and trains the run again"
    try:
        config = runio.load_yaml((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise RunError(f"{run_dir / 'config.yaml'}: unreadable ({type(err).__name__}); {fix}") from None
    if not isinstance(config, dict):
        raise RunError(f"{run_dir / 'config.yaml'}: not a run's config; {fix}")
    metrics, problem = runio.finished_run(run_dir, config_digest(config))
    if metrics is None:
        raise RunError(f"{run_dir}: not a finished run ({problem or 'no metrics.json'}); {fix}")
    return config, metrics


def run_row(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    """One run's row of the runs table and its history rows (of a trusted run only: `trusted_run`)."""
    run_dir = Path(run_dir)
    config, metrics = trusted_run(run_dir)
    labels = run_labels(run_dir, config, metrics)
    final, best = metrics["final"], metrics["best"]
    row = labels | {
        "status": metrics["status"],
        **{f"final_{k}": _nan(final.get(k)) for k in ("train_loss", "train_error", "val_loss", "val_error",
                                                         "test_loss", "test_error")},
        "best_val_error": _nan(best.get("val_error")),
        "best_epoch": _nan(best.get("epoch")),
        "test_error_at_best_val": _nan(best.get("test_error")),
        "epochs_run": int(metrics["epochs"]),
        "steps": int(metrics["steps"]),
        "wall_seconds": float(metrics["wall_seconds"]),
        "steps_per_second": float(metrics["steps_per_second"]),
        "eval_bn": (metrics.get("evaluation") or {}).get("bn"),  # absent from runs older than the evaluation record
    }
    history = pd.read_csv(run_dir / "history.csv")
    for key in RUN_LABELS:
        history[key] = labels[key]
    return row, history.reindex(columns=list(HISTORY_COLUMNS))  # a column an older run lacks is NaN


def collect(run_dirs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, history) over `run_dirs`, with the schema's columns and dtypes."""
    rows, histories = [], []
    for d in run_dirs:
        row, history = run_row(Path(d))
        rows.append(row)
        histories.append(history)
    runs = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(columns=list(HISTORY_COLUMNS))
    for col in HISTORY_METRICS:
        if col not in TEXT_COLUMNS:
            history[col] = pd.to_numeric(history[col], errors="coerce")
    return runs.sort_values(["experiment", "run_id"], ignore_index=True), history


def run_telemetry(run_dir: Path) -> pd.DataFrame | None:
    """One run's telemetry.csv with its labels and each weight's `layer_order`; None when it recorded none."""
    run_dir = Path(run_dir)
    path = run_dir / "telemetry.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path)
    if table.empty:
        return None
    config = runio.load_yaml((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    labels = run_labels(run_dir, config, metrics)
    order = {name: i for i, name in enumerate(pd.unique(table["layer"]))}  # rows follow the model's weights
    table["layer_order"] = table["layer"].map(order)
    table["scale_invariant"] = table["scale_invariant"].astype(str).str.lower() == "true"
    for key in RUN_LABELS:
        table[key] = labels[key]
    return table[list(TELEMETRY_COLUMNS)]


def collect_telemetry(run_dirs) -> pd.DataFrame:
    """The telemetry table (TELEMETRY_COLUMNS) over `run_dirs`; empty, with its columns, when none recorded any."""
    tables = [t for t in (run_telemetry(Path(d)) for d in run_dirs) if t is not None]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=bool if c == "scale_invariant" else float if c in TELEMETRY_NUMERIC
                                          else object) for c in TELEMETRY_COLUMNS})
    table = pd.concat(tables, ignore_index=True)
    for col in TELEMETRY_NUMERIC:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table.sort_values(["experiment", "run_id", "epoch", "layer_order"], ignore_index=True)


def read_table(path: Path) -> pd.DataFrame:
    """An aggregated table; RunError naming the file when it does not read (torn, or not parquet)."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise RunError(f"{path}: missing; run the workflow (snakemake): its aggregate job writes it") from None
    except Exception as err:  # noqa: BLE001 pyarrow's errors for a damaged file are of several kinds
        raise RunError(f"{path}: damaged, not a readable table ({type(err).__name__}); run the workflow again: "
                       "it moves the file aside and rebuilds it from the runs") from None


def read_telemetry(out_dir: Path) -> pd.DataFrame:
    """telemetry.parquet of a results folder; an empty table with its columns when the folder has none."""
    path = Path(out_dir) / "telemetry.parquet"
    return read_table(path) if path.exists() else collect_telemetry([])


def write_table(df: pd.DataFrame, parquet: Path) -> None:
    """Parquet plus a CSV copy beside it, both written atomically."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    runio.write_bytes(parquet, buf.getvalue())
    runio.write_text(parquet.with_suffix(".csv"), df.to_csv(index=False))


def read_tables(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_table(Path(out_dir) / "runs.parquet"), read_table(Path(out_dir) / "history.parquet")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("run_dirs", nargs="*", type=Path)
    parser.add_argument("--from-file", type=Path, nargs="*", default=[],
                        help="files listing run directories, one a line")
    args = parser.parse_args(argv)
    dirs = list(args.run_dirs)
    for listing in args.from_file:
        dirs += [Path(line) for line in listing.read_text().split() if line]
    try:
        runs, history = collect(dirs)
        telemetry = collect_telemetry(dirs)
    except RunError as err:  # nothing written: the tables that were there stay
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    write_table(runs, args.out_dir / "runs.parquet")
    write_table(history, args.out_dir / "history.parquet")
    write_table(telemetry, args.out_dir / "telemetry.parquet")
    diverged = int((runs["status"] == "diverged").sum())
    print(f"{len(runs)} runs ({diverged} diverged), {len(history)} history rows, {len(telemetry)} telemetry rows "
          f"-> {args.out_dir}")


if __name__ == "__main__":
    main()
