"""A small fast CIFAR network for moderate budgets, after the net of KellerJordan/cifar10-airbench.

Not from the paper: it stands in for the Shake-Shake ResNet when a sweep of hundreds of runs must fit a few
GPU-hours. A 3x3 stem, then three blocks of conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU
(widths 64, 256, 256 by default: 2.0M parameters), global max pool, linear classifier. airbench's
training tricks (whitening stem, lookahead, label smoothing, test-time flips) are left out on purpose: the
optimizer and schedule under study should be the only things that differ between runs.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


def conv_bn(in_width: int, out_width: int) -> list[nn.Module]:
    """conv3x3 (no bias: BN follows) -> BN -> GELU."""
    return [nn.Conv2d(in_width, out_width, 3, 1, 1, bias=False), nn.BatchNorm2d(out_width), nn.GELU()]


def block(in_width: int, out_width: int) -> nn.Sequential:
    """conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU: halves the resolution."""
    conv, bn, act = conv_bn(in_width, out_width)
    return nn.Sequential(conv, nn.MaxPool2d(2), bn, act, *conv_bn(out_width, out_width))


class FastNet(nn.Module):
    """Stem, three pooling blocks, global max pool, linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, stem_width: int = 32,
                 widths: Sequence[int] = (64, 256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = conv_bn(in_channels, stem_width)
        width = stem_width
        for out_width in widths:
            layers.append(block(width, out_width))
            width = out_width
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(cfg: Mapping[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """FastNet from conf/model/fastnet.yaml: stem_width, widths (one per block)."""
    widths = [int(w) for w in cfg.get("widths", (64, 256, 256))]
    return FastNet(in_channels, num_classes, int(cfg.get("stem_width", 32)), widths)
