"""What a run may take: every value checked before anything is written, each failure one line.

No torch here: the workflow checks every run of a grid with `check_config` while it builds the DAG
(`snakemake -n`), and a finished run is answered without importing torch. The checks that need the loaded
data (the training set size, the steps of an epoch) are in `check_against_data`.
"""

from __future__ import annotations

import math

from adamw_repro.runconfig import ConfigError
from adamw_repro.schema import OPTIMIZERS, SCHEDULES


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _where(cfg, key: str) -> str:
    """Where a value is set: its group file, or conf/config.yaml, plus the override that changes it."""
    group = key.split(".", 1)[0]
    if "." in key and group in cfg and "name" in cfg[group]:
        return f"conf/{group}/{cfg[group].name}.yaml or {key}=..."
    return f"conf/config.yaml or {key}=..."


def _need(ok: bool, cfg, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {allowed} ({_where(cfg, key)})")


def check_config(cfg) -> None:
    """Raise ConfigError for values the optimizers, schedules and loop cannot take."""
    opt, sched = cfg.optimizer, cfg.schedule
    if opt.name not in OPTIMIZERS:
        raise ConfigError(f"optimizer.name={opt.name!r} is unknown; allowed: {', '.join(OPTIMIZERS)} "
                          f"(choose a file in conf/optimizer/)")
    if sched.name not in SCHEDULES:
        raise ConfigError(f"schedule.name={sched.name!r} is unknown; allowed: {', '.join(SCHEDULES)} "
                          f"(choose a file in conf/schedule/)")
    if not _is_number(opt.lr) or not math.isfinite(opt.lr) or opt.lr <= 0:
        raise ConfigError(f"optimizer.lr={opt.lr} must be a positive number "
                          f"(conf/optimizer/{opt.name}.yaml or optimizer.lr=...)")
    for key in ("weight_decay", "lambda_norm"):
        value = opt.get(key)
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
            raise ConfigError(f"optimizer.{key}={value} must be a number >= 0 "
                              f"(conf/optimizer/{opt.name}.yaml or optimizer.{key}=...)")
    if opt.get("lambda_norm") is not None and opt.get("weight_decay") is not None:
        raise ConfigError("optimizer.weight_decay and optimizer.lambda_norm are both set; set one of them "
                          f"(the other null) in conf/optimizer/{opt.name}.yaml or the overrides")
    betas = opt.get("betas")
    is_list = hasattr(betas, "__len__") and not isinstance(betas, str)
    _need(is_list and len(betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in betas), cfg,
          "optimizer.betas", list(betas) if is_list else betas, "two numbers in [0, 1), e.g. [0.9, 0.999]")
    eps = opt.get("eps")
    _need(_is_number(eps) and math.isfinite(eps) and eps >= 0, cfg, "optimizer.eps", eps, "a number >= 0, e.g. 1e-8")
    mom = opt.get("momentum")
    _need(_is_number(mom) and 0 <= mom < 1, cfg, "optimizer.momentum", mom, "a number in [0, 1)")
    for key in ("epochs", "batch_size", "threads", "eval_batch_size"):
        _need(_is_int(cfg[key]) and cfg[key] >= 1, cfg, key, cfg[key], "an integer >= 1")
    for key, what in (("val_every", "validate"), ("test_every", "test")):
        _need(_is_int(cfg[key]) and cfg[key] >= 0, cfg, key, cfg[key], f"an integer >= 0 (0: {what} only at the end)")
    _need(_is_int(cfg.bn_samples) and cfg.bn_samples >= 0, cfg, "bn_samples", cfg.bn_samples,
          "an integer >= 0 (0: evaluate with BatchNorm's running averages)")
    _need(_is_number(cfg.checkpoint_seconds) and math.isfinite(cfg.checkpoint_seconds)
          and cfg.checkpoint_seconds >= 0, cfg, "checkpoint_seconds", cfg.checkpoint_seconds,
          "a number of seconds >= 0 (0: a checkpoint every epoch)")
    _need(_is_int(cfg.telemetry_every) and cfg.telemetry_every >= 0, cfg, "telemetry_every", cfg.telemetry_every,
          "an integer >= 0 (0: no telemetry)")
    _need(_is_number(cfg.progress_seconds) and math.isfinite(cfg.progress_seconds) and cfg.progress_seconds >= 0,
          cfg, "progress_seconds", cfg.progress_seconds, "a number of seconds >= 0 (0: a progress line every epoch)")
    if cfg.schedule.name == "plateau" and cfg.val_every != 1:
        raise ConfigError(f"schedule=plateau steps on the validation loss of every epoch, but val_every="
                          f"{cfg.val_every}; allowed: val_every=1 with plateau (conf/config.yaml, the "
                          "experiment file or val_every=...)")
    # torch's CPU generator keeps 32 bits of a seed: 2**32 would train bitwise like 0 under another digest
    _need(_is_int(cfg.seed) and 0 <= cfg.seed < 2**32, cfg, "seed", cfg.seed,
          "an integer in 0..4294967295 (torch's generator keeps 32 bits: larger seeds alias smaller ones)")
    for key in ("width", "depth"):
        if key in cfg.model:
            _need(_is_int(cfg.model[key]) and cfg.model[key] >= 1, cfg, f"model.{key}", cfg.model[key],
                  "an integer >= 1")
    _need(cfg.device in ("auto", "cpu", "cuda"), cfg, "device", cfg.device, "auto, cpu, cuda")
    train_size, pool = cfg.data.get("train_size"), cfg.data.get("pool_size")
    if train_size is not None:
        _need(_is_int(train_size) and train_size >= 1, cfg, "data.train_size", train_size, "an integer >= 1")
    if pool is not None and _is_int(train_size):
        least = train_size + int(cfg.data.get("val_size") or 0)
        _need(_is_int(pool) and pool >= least, cfg, "data.pool_size", pool,
              f"null or an integer >= data.train_size + data.val_size = {least}")
    if _is_int(train_size) and _is_int(cfg.batch_size) and cfg.batch_size > train_size:
        raise ConfigError(f"batch_size={cfg.batch_size} is larger than the training set (data.train_size="
                          f"{train_size}); allowed: 1..{train_size} (conf/config.yaml or batch_size=...)")
    check_schedule(cfg)


def check_schedule(cfg) -> None:
    """The schedule values that would make a run hang or fail mid-way (a zero-length restart period)."""
    s = cfg.schedule
    if s.name == "warm_restarts":
        _need(_is_number(s.T0) and math.isfinite(s.T0) and s.T0 > 0, cfg, "schedule.T0", s.T0,
              "a number of epochs > 0")
        _need(_is_int(s.T_mult) and s.T_mult >= 1, cfg, "schedule.T_mult", s.T_mult, "an integer >= 1")
    if "stepsize_epochs" in s:
        _need(_is_number(s.stepsize_epochs) and s.stepsize_epochs > 0, cfg, "schedule.stepsize_epochs",
              s.stepsize_epochs, "a number of epochs > 0")
    if "warmup_epochs" in s:
        _need(_is_number(s.warmup_epochs) and s.warmup_epochs >= 0, cfg, "schedule.warmup_epochs",
              s.warmup_epochs, "a number of epochs >= 0")


def check_against_data(cfg, train_size: int) -> None:
    """Checks that need the size of the loaded training set."""
    if cfg.batch_size > train_size:
        raise ConfigError(f"batch_size={cfg.batch_size} is larger than the training set ({train_size} "
                          f"samples of data={cfg.data.name}); allowed: 1..{train_size} "
                          f"(conf/config.yaml or batch_size=...)")
    steps_per_epoch = math.ceil(train_size / cfg.batch_size)
    s = cfg.schedule
    if s.name == "warm_restarts" and round(s.T0 * steps_per_epoch) < 1:
        raise ConfigError(f"schedule.T0={s.T0} is shorter than one step ({steps_per_epoch} steps per epoch); "
                          f"allowed: >= {1 / steps_per_epoch:.3g} (conf/schedule/warm_restarts.yaml or "
                          f"schedule.T0=...)")
