"""Which engine trains a run: a function of the run's config (so of its digest), never of the pack it lands in.

- `batched`: the batched CNN of training/batched.py through vectorized.StackedEngine, one member or many; a
  member's numbers are bitwise the same in a stack of any size (tests/training/test_vectorized.py), so a run
  trained alone (`python -m adamw_repro.training.train`) reproduces the workflow's run of the same config bit
  for bit, and a pack of K runs costs about half of K runs one after another on a CPU thread.
- `loop`: the solo loop (loop.SoloEngine) with the model's own modules; what every model the batched form does
  not cover trains with, and what runs with per-layer telemetry, torch.compile or AMP use.

`engine: auto` (conf/config.yaml) picks `batched` where it covers the run, else `loop`. The two follow the same
arithmetic to float rounding, and a float difference grows over hundreds of steps into a seed-sized one: two
engines give two equally valid runs of a config, not the same numbers, which is why the choice is part of it.
Torch-free: the pack decides its stacks before importing torch.
"""

from __future__ import annotations

from adamw_repro import names
from adamw_repro.runconfig import ConfigError

ENGINES = ("auto", "loop", "batched")


def covers(model_cfg) -> bool:
    """Whether the batched form covers the model a config builds (models/mnist1d.py's `cnn` family)."""
    return model_cfg.get("name") == "cnn"


def batched_problem(cfg) -> str | None:
    """Why the batched engine cannot train this run, or None."""
    if not covers(cfg.model):
        return f"model={cfg.model.name} is not of the cnn family the batched engine covers"
    row = names.OPTIMIZERS.get(cfg.optimizer.name)
    if row is not None and not row.stacked:
        return f"optimizer={row.name} has no stacked update (its names.OPTIMIZERS row: stacked=False)"
    if cfg.get("telemetry_every"):
        return "per-layer telemetry (telemetry_every > 0) is recorded by the loop engine"
    if cfg.get("compile") or cfg.get("amp"):
        return "compile=true and amp=true run with the loop engine"
    return None


def engine_of(cfg) -> str:
    """`batched` or `loop` for this run (ConfigError for a `batched` it cannot have, naming why)."""
    choice = cfg.get("engine", "auto")
    problem = batched_problem(cfg)
    if choice == "auto":
        return "loop" if problem else "batched"
    if choice == "batched" and problem:
        raise ConfigError(f"engine=batched cannot train this run: {problem}; allowed: engine=auto or loop "
                          "(conf/config.yaml or engine=...)")
    return choice
