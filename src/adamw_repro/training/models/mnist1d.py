"""Models for MNIST-1D (length-40 signals): a 1-D CNN and an MLP, width and depth configurable."""

from __future__ import annotations

from torch import nn

from adamw_repro.training.data.mnist1d import LENGTH


def cnn(in_channels: int, num_classes: int, width: int, depth: int, batch_norm: bool) -> nn.Sequential:
    """`depth` conv layers (kernel 5 then 3, stride 2 after the first), ReLU, then one linear classifier.

    As mnist1d's ConvBase, with no pooling: the classifier sees positions, so the net can over-fit.
    """
    layers, length, c_in = [], LENGTH, in_channels
    for i in range(depth):
        k = 5 if i == 0 else 3
        stride = 2 if i < 3 else 1  # 40 -> 19 -> 10 -> 5, then keep 5
        layers.append(nn.Conv1d(c_in, width, k, stride=stride, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        length = (length + 2 - k) // stride + 1
        c_in = width
    layers += [nn.Flatten(), nn.Linear(width * length, num_classes)]
    return nn.Sequential(*layers)


def mlp(in_channels: int, num_classes: int, width: int, depth: int) -> nn.Sequential:
    layers, d = [nn.Flatten()], in_channels * LENGTH
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, num_classes))
    return nn.Sequential(*layers)


def build(cfg, in_channels: int, num_classes: int) -> nn.Module:
    if cfg["name"] == "cnn":
        return cnn(in_channels, num_classes, cfg["width"], cfg["depth"], cfg.get("batch_norm", False))
    return mlp(in_channels, num_classes, cfg["width"], cfg["depth"])
