"""One training run: `python -m adamw_repro.training.train [hydra overrides]`, or `train(cfg, run_dir)` from Python.

This module checks the config and answers a finished run before torch is imported: a finished run asked
again returns at once, and bad input fails in well under a second with one line that names the option,
the allowed values and the file to change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from adamw_repro.runconfig import CONF_DIR, ConfigError, config_digest, run_config, run_label
from adamw_repro.schema import OPTIMIZERS, SCHEDULES


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for values the optimizers and schedules cannot take."""
    opt, sched = cfg.optimizer, cfg.schedule
    if opt.name not in OPTIMIZERS:
        raise ConfigError(f"optimizer.name={opt.name!r} is unknown; allowed: {', '.join(OPTIMIZERS)} "
                          f"(choose a file in conf/optimizer/)")
    if sched.name not in SCHEDULES:
        raise ConfigError(f"schedule.name={sched.name!r} is unknown; allowed: {', '.join(SCHEDULES)} "
                          f"(choose a file in conf/schedule/)")
    if not isinstance(opt.lr, int | float) or opt.lr <= 0:
        raise ConfigError(f"optimizer.lr={opt.lr} must be a positive number "
                          f"(conf/optimizer/{opt.name}.yaml or optimizer.lr=...)")
    for key in ("weight_decay", "lambda_norm"):
        value = opt.get(key)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise ConfigError(f"optimizer.{key}={value} must be a number >= 0 "
                              f"(conf/optimizer/{opt.name}.yaml or optimizer.{key}=...)")
    if opt.get("lambda_norm") is not None and opt.get("weight_decay") is not None:
        raise ConfigError("optimizer.weight_decay and optimizer.lambda_norm are both set; set one of them "
                          f"(the other null) in conf/optimizer/{opt.name}.yaml or the overrides")
    for key in ("epochs", "batch_size", "threads"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f"{key}={cfg[key]} must be a positive integer (conf/config.yaml or {key}=...)")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device={cfg.device!r} is unknown; allowed: auto, cpu, cuda (conf/config.yaml)")


def finished_metrics(run_dir: Path, digest: str) -> dict | None:
    """The metrics of a finished run with this exact config, or None."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("config_digest") == digest else None


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Train one run into `run_dir` (Hydra's run directory by default); returns its metrics."""
    if run_dir is None:
        from hydra.core.hydra_config import HydraConfig

        run_dir = HydraConfig.get().runtime.output_dir
    run_dir = Path(run_dir)
    check_config(cfg)
    run_cfg = run_config(cfg)
    digest = config_digest(run_cfg)
    done = finished_metrics(run_dir, digest)
    if done is not None:
        return done
    from adamw_repro.training.loop import fit  # imports torch: only when there is work to do

    return fit(cfg, run_cfg, digest, run_dir)


def main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _main(cfg: DictConfig) -> None:
        try:
            metrics = train(cfg)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        from hydra.core.hydra_config import HydraConfig

        # The log's last line: the workflow shows it as the run's one-line summary.
        name = run_label(cfg, Path(HydraConfig.get().runtime.output_dir).name)
        print(f"{name}: {metrics['status']}, test error {metrics['final']['test_error']:.4f} "
              f"after {metrics['epochs']} epochs ({metrics['wall_seconds']:.1f} s)")

    _main()
    exit_now()


def exit_now(code: int = 0) -> None:
    """End the process without the interpreter's teardown, which takes ~0.5 s once torch is loaded (a tenth
    of a quick run). Every output is already written atomically; only logs and streams need flushing."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
