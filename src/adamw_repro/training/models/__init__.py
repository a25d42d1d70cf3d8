"""Models by name; each module has `build(cfg, in_channels, num_classes) -> nn.Module`, imported lazily."""

from __future__ import annotations

import importlib

MODELS = {
    "cnn": "adamw_repro.training.models.mnist1d",
    "mlp": "adamw_repro.training.models.mnist1d",
    "shake_shake": "adamw_repro.training.models.shake_shake",
    "resnet": "adamw_repro.training.models.resnet",
    "fastnet": "adamw_repro.training.models.fastnet",
}


def build_model(cfg, in_channels: int, num_classes: int):
    name = cfg["name"]
    if name not in MODELS:
        raise ValueError(f"model={name!r} is unknown; allowed: {', '.join(MODELS)} (files in conf/model/)")
    return importlib.import_module(MODELS[name]).build(cfg, in_channels, num_classes)
