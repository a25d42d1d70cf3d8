"""GPU-hours of a planned run from the throughput table conf/throughput.yaml, for the workflow's dry run.

The table gives training images per second for each model (a conf/model/ file name) on named GPUs; entries
with `measured: false` are estimates and say so in their `basis`.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from adamw_repro.runconfig import CONF_DIR

DEFAULT_TABLE = CONF_DIR / "throughput.yaml"
# Evaluation is forward-only: about a third of the FLOPs of a training step (forward + backward) per image.
EVAL_COST = 1 / 3


def load_table(path: str | Path = DEFAULT_TABLE) -> dict[str, Any]:
    """The throughput table at `path` (default conf/throughput.yaml)."""
    with open(path) as f:
        return yaml.safe_load(f)


def entry(model: str, gpu: str | None = None, table: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The table's entry of `model` on `gpu` (default: the table's `default_gpu`)."""
    table = load_table() if table is None else table
    gpu = gpu or table["default_gpu"]
    models = table["models"]
    if model not in models:
        raise ValueError(
            f"model {model!r} has no throughput entry; known: {', '.join(models)} (conf/throughput.yaml)"
        )
    if gpu not in models[model]:
        gpus = [k for k, v in models[model].items() if isinstance(v, Mapping)]
        raise ValueError(f"model {model!r} has no throughput on gpu {gpu!r}; known: {', '.join(gpus)} "
                         f"(conf/throughput.yaml)")
    return models[model][gpu]


def estimate_gpu_hours(
    model: str,
    epochs: int,
    train_size: int,
    table: Mapping[str, Any] | None = None,
    *,
    gpu: str | None = None,
    eval_images: int = 0,
) -> float:
    """GPU-hours to train `model` (a conf/model/ name) for `epochs` passes over `train_size` images.

    `eval_images`: images evaluated (forward only) after each epoch, e.g. train + validation + test sizes when
    the loop evaluates all three; counted at `EVAL_COST` of a training image.
    """
    if epochs < 0 or train_size < 0 or eval_images < 0:
        raise ValueError(
            f"epochs, train_size and eval_images must be >= 0, got {epochs}, {train_size}, {eval_images}"
        )
    rate = float(entry(model, gpu, table)["images_per_second"])
    return epochs * (train_size + EVAL_COST * eval_images) / rate / 3600
