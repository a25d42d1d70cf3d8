"""What a run may take: every key and value checked before anything is written, each failure one line.

The one validation of a run's config, used by every entry point: a solo run (training/train.py), a pack's
members (training/pack.py), the LR range test, and the workflow, which checks every run of a grid while it
builds the DAG (`snakemake -n`). A leaf (no torch): a finished run is answered without importing torch. The
checks that need the loaded data (the training set size, the steps of an epoch) are in `check_against_data`.

`check_config` takes a composed config, a DictConfig or the same resolved to plain Python (the workflow's
fast path), and reads it by item only.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from adamw_repro import names, runio
from adamw_repro.runconfig import CONF_DIR, ConfigError


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _where(cfg, key: str) -> str:
    """Where a value is set: its group file, or conf/config.yaml, plus the override that changes it."""
    group = key.split(".", 1)[0]
    if "." in key and group in cfg and "name" in cfg[group]:
        return f"conf/{group}/{cfg[group]['name']}.yaml or {key}=..."
    return f"conf/config.yaml or {key}=..."


def _need(ok: bool, cfg, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {allowed} ({_where(cfg, key)})")


def check_config(cfg, choices: Mapping[str, str] | None = None, conf_dir: Path | str | None = None) -> None:
    """Raise ConfigError for keys the config files do not define (`check_keys`; `choices`: group -> option,
    inferred from the config when not given) and for values the optimizers, schedules and loop cannot take."""
    check_keys(cfg, choices, conf_dir)
    opt, sched = cfg["optimizer"], cfg["schedule"]
    if opt["name"] not in names.OPTIMIZERS:  # the registry rows themselves: a new row is known at once
        raise ConfigError(f"optimizer.name={opt['name']!r} is unknown; allowed: {', '.join(names.OPTIMIZERS)} "
                          f"(choose a file in conf/optimizer/)")
    if sched["name"] not in names.SCHEDULES:
        raise ConfigError(f"schedule.name={sched['name']!r} is unknown; allowed: {', '.join(names.SCHEDULES)} "
                          f"(choose a file in conf/schedule/)")
    lr = opt["lr"]
    if not _is_number(lr) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"optimizer.lr={lr} must be a positive number "
                          f"(conf/optimizer/{opt['name']}.yaml or optimizer.lr=...)")
    for key in ("weight_decay", "lambda_norm"):
        value = opt.get(key)
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
            raise ConfigError(f"optimizer.{key}={value} must be a number >= 0 "
                              f"(conf/optimizer/{opt['name']}.yaml or optimizer.{key}=...)")
    if opt.get("lambda_norm") is not None and opt.get("weight_decay") is not None:
        raise ConfigError("optimizer.weight_decay and optimizer.lambda_norm are both set; set one of them "
                          f"(the other null) in conf/optimizer/{opt['name']}.yaml or the overrides")
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
    _need(_is_int(cfg["bn_samples"]) and cfg["bn_samples"] >= 0, cfg, "bn_samples", cfg["bn_samples"],
          "an integer >= 0 (0: evaluate with BatchNorm's running averages)")
    seconds = cfg["checkpoint_seconds"]
    _need(_is_number(seconds) and math.isfinite(seconds) and seconds >= 0, cfg, "checkpoint_seconds", seconds,
          "a number of seconds >= 0 (0: a checkpoint every epoch)")
    _need(_is_int(cfg["telemetry_every"]) and cfg["telemetry_every"] >= 0, cfg, "telemetry_every",
          cfg["telemetry_every"], "an integer >= 0 (0: no telemetry)")
    progress = cfg["progress_seconds"]
    _need(_is_number(progress) and math.isfinite(progress) and progress >= 0, cfg, "progress_seconds", progress,
          "a number of seconds >= 0 (0: a progress line every epoch)")
    if sched["name"] == "plateau" and cfg["val_every"] != 1:
        raise ConfigError(f"schedule=plateau steps on the validation loss of every epoch, but val_every="
                          f"{cfg['val_every']}; allowed: val_every=1 with plateau (conf/config.yaml, the "
                          "experiment file or val_every=...)")
    # torch's CPU generator keeps 32 bits of a seed: 2**32 would train bitwise like 0 under another digest
    _need(_is_int(cfg["seed"]) and 0 <= cfg["seed"] < 2**32, cfg, "seed", cfg["seed"],
          "an integer in 0..4294967295 (torch's generator keeps 32 bits: larger seeds alias smaller ones)")
    for key in ("width", "depth"):
        if key in cfg["model"]:
            _need(_is_int(cfg["model"][key]) and cfg["model"][key] >= 1, cfg, f"model.{key}", cfg["model"][key],
                  "an integer >= 1")
    _need(cfg["device"] in ("auto", "cpu", "cuda"), cfg, "device", cfg["device"], "auto, cpu, cuda")
    _need(cfg.get("engine", "auto") in ("auto", "loop", "batched"), cfg, "engine", cfg.get("engine"),
          "auto, loop, batched")
    train_size, pool, batch_size = cfg["data"].get("train_size"), cfg["data"].get("pool_size"), cfg["batch_size"]
    if train_size is not None:
        _need(_is_int(train_size) and train_size >= 1, cfg, "data.train_size", train_size, "an integer >= 1")
    if pool is not None and _is_int(train_size):
        least = train_size + int(cfg["data"].get("val_size") or 0)
        _need(_is_int(pool) and pool >= least, cfg, "data.pool_size", pool,
              f"null or an integer >= data.train_size + data.val_size = {least}")
    if _is_int(train_size) and _is_int(batch_size) and batch_size > train_size:
        raise ConfigError(f"batch_size={batch_size} is larger than the training set (data.train_size="
                          f"{train_size}); allowed: 1..{train_size} (conf/config.yaml or batch_size=...)")
    check_schedule(cfg)


def check_schedule(cfg) -> None:
    """The schedule values that would make a run hang or fail mid-way (a zero-length restart period)."""
    s = cfg["schedule"]
    if s["name"] == "warm_restarts":
        _need(_is_number(s["T0"]) and math.isfinite(s["T0"]) and s["T0"] > 0, cfg, "schedule.T0", s["T0"],
              "a number of epochs > 0")
        _need(_is_int(s["T_mult"]) and s["T_mult"] >= 1, cfg, "schedule.T_mult", s["T_mult"], "an integer >= 1")
    if "stepsize_epochs" in s:
        _need(_is_number(s["stepsize_epochs"]) and s["stepsize_epochs"] > 0, cfg, "schedule.stepsize_epochs",
              s["stepsize_epochs"], "a number of epochs > 0")
    if "warmup_epochs" in s:
        _need(_is_number(s["warmup_epochs"]) and s["warmup_epochs"] >= 0, cfg, "schedule.warmup_epochs",
              s["warmup_epochs"], "a number of epochs >= 0")


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


# -- keys: only those the config files define --------------------------------------------------------------------
# A `+` override adds any key Hydra is given: `+optimzer=sgd` adds a top-level `optimzer` and trains the default
# optimizer, `+optimizer.lrr=1` a value nothing reads. Every key of a run's config must come from a config file.
_ANY_BELOW = ("sweep", "hydra")  # an experiment's sweep (its own checks: workflow/sweeps.py); Hydra's node


@dataclass
class _Keys:
    """The keys config files define at one node: key -> its node (None: a value; anything may be set below it),
    and the files that define this node."""

    keys: dict[str, _Keys | None] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def check_keys(cfg, choices: Mapping[str, str] | None = None, conf_dir: Path | str | None = None) -> None:
    """ConfigError naming the first key of `cfg` that no composed config file defines, the keys allowed there
    and where they are defined. Allowed at the top level: the keys of conf/config.yaml, the config groups
    (conf/'s folders), `sweep` and `hydra`; below: the keys of the chosen option files (and what a scale's or an
    experiment's file, of package _global_, sets there). `choices` (group -> option) defaults to the option
    files whose `name` is the config's (every option of a group where none is)."""
    conf = Path(conf_dir or CONF_DIR)
    options = {g: (o,) for g, o in choices.items()} if choices is not None else _infer_choices(cfg, conf)
    _check_node(cfg, _defined_keys(conf, options), "", conf)


def _check_node(node, defined: _Keys, path: str, conf: Path) -> None:
    for key in node:
        if key not in defined.keys:
            raise ConfigError(_unknown_key(f"{path}{key}", defined, path, conf))
        below = defined.keys[key]
        if below is not None:
            value = node[key]
            if isinstance(value, Mapping):
                _check_node(value, below, f"{path}{key}.", conf)


def _unknown_key(name: str, defined: _Keys, path: str, conf: Path) -> str:
    import difflib

    allowed = sorted(defined.keys)
    close = difflib.get_close_matches(name.rsplit(".", 1)[-1], allowed, n=1)
    hint = f" (did you mean {path}{close[0]}?)" if close else ""
    cannot = "a + override cannot add a key: a config file must define it"
    if not path:
        return (f"{name} is not a config key{hint}; allowed at the top level: {', '.join(allowed)} (the keys of "
                f"{conf.name}/config.yaml, the config groups, folders of {conf.name}/, sweep and hydra; {cannot})")
    return (f"{name} is not a config key{hint}; keys of {path[:-1]}: {', '.join(allowed) or 'none'} (defined in "
            f"{', '.join(defined.files) or 'no config file'}; {cannot})")


def _infer_choices(cfg, conf: Path) -> dict[str, tuple[str, ...]]:
    """group -> the option files that can have made `cfg`: those whose name is the config's (`<group>.name`,
    or `<group>_name` for a file of package _global_, as an experiment's `experiment_name`); all if none is."""
    options = {}
    for group in sorted(p.name for p in conf.iterdir() if p.is_dir()):
        node = cfg.get(group) if isinstance(cfg.get(group), Mapping) else {}
        name = node.get("name") if "name" in node else cfg.get(f"{group}_name")
        stems = sorted(p.stem for p in (conf / group).glob("*.yaml"))
        options[group] = tuple(o for o in stems if _identity(conf / group / f"{o}.yaml", group) == name) or \
            tuple(stems)
    return options


def _identity(path: Path, group: str):
    """The name an option file gives its run: `name` of its node, or `<group>_name` at the top."""
    package, doc = _read(path, group)
    node = doc if package == group else doc.get(group)
    return node.get("name") if isinstance(node, dict) else doc.get(f"{group}_name")


def _defined_keys(conf: Path, options: Mapping[str, tuple[str, ...]]) -> _Keys:
    """The keys conf/config.yaml and the chosen option files define, each placed at its package."""
    files = [(conf / "config.yaml", "")] + [(conf / g / f"{o}.yaml", g) for g, opts in sorted(options.items())
                                             for o in opts if o and (conf / g / f"{o}.yaml").is_file()]
    return _defined_keys_of(str(conf), tuple((str(p), g, p.stat().st_mtime_ns) for p, g in files))


@functools.lru_cache(maxsize=256)
def _defined_keys_of(conf: str, files: tuple) -> _Keys:
    root = _Keys(keys=dict.fromkeys(_ANY_BELOW))
    for group in sorted(p.name for p in Path(conf).iterdir() if p.is_dir()):
        root.keys[group] = _Keys()  # a group's node: only what its option files define
    for path, group, _ in files:
        package, doc = _read(Path(path), group)
        node = root
        for part in package.split(".") if package != "_global_" else []:
            if not isinstance(node.keys.get(part), _Keys):
                node.keys[part] = _Keys()
            node = node.keys[part]
        _merge(node, doc, f"{Path(conf).name}/{Path(path).relative_to(conf)}")
    return root


def _merge(node: _Keys, doc: dict, source: str) -> None:
    if source not in node.files:
        node.files.append(source)
    for key, value in doc.items():
        if isinstance(value, dict):
            if not isinstance(node.keys.get(key), _Keys):
                node.keys[key] = _Keys()
            _merge(node.keys[key], value, source)
        else:
            node.keys.setdefault(key, None)


def _read(path: Path, group: str) -> tuple[str, dict]:
    """(the file's package: `_global_` or a dotted key, its group's by default; its YAML data without Hydra's
    defaults list), cached by the file's state."""
    return _read_file(str(path), group, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _read_file(path: str, group: str, mtime_ns: int) -> tuple[str, dict]:
    text = Path(path).read_text()
    package = group or "_global_"
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*@package\s+(\S+)", line)
        if match:
            package = match.group(1).replace("_group_", group)
    doc = runio.load_yaml(text)
    doc = dict(doc) if isinstance(doc, dict) else {}
    doc.pop("defaults", None)
    return package, doc
