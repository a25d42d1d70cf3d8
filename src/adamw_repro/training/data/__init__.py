"""Datasets as tensors held on the training device, split into train / validation / test.

The validation split is carved from the training set; the test split is never used for selection.
Loaders are imported lazily by name so that a run imports only what it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Splits:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    # Train-time augmentation applied to each batch on the device (None: no augmentation).
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    name: str = ""


# data.name -> module with `load(cfg, device) -> Splits`.
LOADERS = {
    "mnist1d": "adamw_repro.training.data.mnist1d",
    "cifar10": "adamw_repro.training.data.cifar",
    "cifar100": "adamw_repro.training.data.cifar",
    "imagenet32": "adamw_repro.training.data.imagenet32",
}


def load_splits(cfg, device: torch.device | str = "cpu") -> Splits:
    """Load the data set named by cfg.name onto `device`."""
    name = cfg["name"]
    if name not in LOADERS:
        raise ValueError(f"data={name!r} is unknown; allowed: {', '.join(LOADERS)} (files in conf/data/)")
    return importlib.import_module(LOADERS[name]).load(cfg, torch.device(device))
