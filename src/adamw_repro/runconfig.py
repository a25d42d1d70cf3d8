"""What identifies a run, shared by every layer (a leaf: imports nothing of the package).

The conf/ folder, the config keys that do not change what a run computes, and the digest of the rest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# Keys of the composed config that do not change what a run computes: where the data live, how often
# to checkpoint, the sweep a run belongs to. The same run on another machine keeps its digest.
NOT_PART_OF_RUN = ("sweep", "hydra", "scale", "threads", "checkpoint_seconds", "progress_seconds", "lr_range",
                  "tensorboard")
NOT_PART_OF_DATA = ("root", "generate", "verify_checksums")


def experiment_names(conf_dir: Path = CONF_DIR) -> list[str]:
    """The experiments conf/ declares: one file each in conf/experiment/."""
    return sorted(p.stem for p in (conf_dir / "experiment").glob("*.yaml"))


class ConfigError(ValueError):
    """Bad input, reported as one line before anything is written."""


def run_config(cfg: DictConfig) -> dict:
    """The resolved config of one run, without the keys that do not change its result.

    Key by key, so that the `hydra` node (present when the default run directory is resolved) is never
    resolved: its run.dir is computed from this very function."""
    run = {}
    for key in cfg:
        if key not in NOT_PART_OF_RUN:
            node = cfg[key]
            run[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    run["data"] = {k: v for k, v in run["data"].items() if k not in NOT_PART_OF_DATA}
    return run


def config_digest(run_cfg: dict) -> str:
    """sha1 of the run's resolved config: metrics.json and checkpoint.pt carry it to tell their run apart."""
    return hashlib.sha1(json.dumps(run_cfg, sort_keys=True, default=str).encode()).hexdigest()


def _run_digest_resolver(*, _root_: DictConfig) -> str:
    return config_digest(run_config(_root_))[:12]


# `${run_digest:}` in conf/config.yaml names the default run directory after the config: the same command
# without hydra.run.dir finds its own run again (resumes it, or answers it when finished).
if not OmegaConf.has_resolver("run_digest"):
    OmegaConf.register_new_resolver("run_digest", _run_digest_resolver)


def run_label(cfg: DictConfig, run_id: str) -> str:
    """A run named by what it is, for logs: experiment, optimizer, schedule, alpha, lambda, budget, seed, directory."""
    opt = cfg.optimizer
    decay = (f"lambda_norm={opt.lambda_norm:g}" if opt.get("lambda_norm") is not None
             else f"lambda={opt.get('weight_decay') or 0:g}")
    return (f"{cfg.get('experiment_name', 'adhoc')} {opt.name} {cfg.schedule.name} alpha={opt.lr:g} {decay} "
            f"epochs={cfg.epochs} seed={cfg.seed} ({run_id})")
