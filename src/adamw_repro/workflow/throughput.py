"""GPU-hours of a planned run from the throughput table conf/throughput.yaml, for the workflow's dry run.

The table gives training images per second for each model (a conf/model/ file name) on named GPUs; entries
with `measured: false` are estimates and say so in their `basis`.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adamw_repro import runio
from adamw_repro.runconfig import CONF_DIR

DEFAULT_TABLE = CONF_DIR / "throughput.yaml"
# Evaluation is forward-only: about a third of the FLOPs of a training step (forward + backward) per image.
EVAL_COST = 1 / 3


def load_table(path: str | Path = DEFAULT_TABLE) -> dict[str, Any]:
    """The throughput table at `path` (default conf/throughput.yaml)."""
    return runio.load_yaml(Path(path).read_text())


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


def estimate_seconds(model: str, epochs: int, train_size: int, table: Mapping[str, Any] | None = None, *,
                     device: str | None = None, eval_images: int = 0) -> float:
    """Seconds of training for one run on `device` (a GPU name of the table, or `cpu`); see estimate_gpu_hours."""
    return estimate_gpu_hours(model, epochs, train_size, table, gpu=device, eval_images=eval_images) * 3600


# A SLURM job spends some of its time limit starting (Snakemake, imports, data onto the device) before the first
# step, and SLURM may signal up to a minute early: a job is planned to train for its limit minus this, and for at
# least half of its limit.
JOB_STARTUP_SECONDS = 60
# Estimates are not measurements: a job asks for this many times the estimated time (and a retry covers the rest).
SLACK = 2.0


@dataclass(frozen=True)
class JobPlan:
    """How one run is split into SLURM jobs: each asks for `runtime_minutes`; `jobs` is how many it may need,
    each continuing from the checkpoint the previous one wrote when SIGTERM came before its time limit."""

    runtime_minutes: int
    jobs: int


def job_plan(seconds: float, max_minutes: int | None = None, *, slack: float = SLACK) -> JobPlan:
    """The time limit and number of jobs for a run estimated at `seconds`, under a site maximum (minutes)."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    if max_minutes is not None and max_minutes < 1:
        raise ValueError(f"the site's maximum runtime must be >= 1 minute, got {max_minutes}")
    wanted = math.ceil((seconds * slack + JOB_STARTUP_SECONDS) / 60)
    if max_minutes is None or wanted <= max_minutes:
        return JobPlan(max(wanted, 1), 1)
    useful = max(max_minutes * 60 - JOB_STARTUP_SECONDS, max_minutes * 30)
    return JobPlan(max_minutes, math.ceil(seconds * slack / useful))


def signal_lead_seconds(runtime_minutes: int) -> int:
    """Seconds before the time limit at which SLURM should send SIGTERM (`--signal=TERM@N`), or 0 for none.

    SLURM checks time limits about once a minute and may send the signal up to a minute early, so a lead only
    helps on jobs of ten minutes or more; shorter jobs rely on the SIGTERM that SLURM sends at the limit itself
    (KillWait, 30 s by default, before SIGKILL), which is ample for a small run's checkpoint."""
    return 0 if runtime_minutes < 10 else min(300, runtime_minutes * 6)


def run_seconds(cfg: Mapping[str, Any], model: str, table: Mapping[str, Any], device: str) -> float | None:
    """Estimated seconds of one run on `device` (a GPU of the table, or `cpu`) from its resolved config `cfg`;
    None when the table has no rate for `model` (a conf/model/ name) there.

    Data sizes: `data.images` (train includes the validation split, as in the data set's files) for real data
    sets, `data.train_size` / `data.test_size` for generated ones; the test set is evaluated every `test_every`
    epochs and at the end, the validation split every epoch."""
    if model not in table["models"] or device not in table["models"][model]:
        return None
    data, epochs = cfg["data"], int(cfg["epochs"])
    val = int(data.get("val_size", 0))
    if "images" in data:
        train, test = int(data["images"]["train"]) - val, int(data["images"]["test"])
    else:
        train, test = int(data.get("train_size", 0)), int(data.get("test_size", 0))
    test_every = int(cfg.get("test_every") or 0)
    test_passes = (epochs // test_every if test_every else 0) + 1
    eval_per_epoch = val + test * test_passes / max(epochs, 1)
    return estimate_seconds(model, epochs, train, table, device=device, eval_images=round(eval_per_epoch))
