"""CIFAR ResNets of He et al. 2016 (section 4.2): ResNet-20, -32, -44, -56, -110 (depth 6n+2).

A 3x3 stem of 16 channels, three stages of n basic blocks at widths 16, 32, 64 (32x32, 16x16, 8x8), global
average pool, linear classifier. Shortcuts are identities, zero-padded in width and subsampled where a stage
starts ("option A", the paper's choice for CIFAR), so ResNet-20 has 0.27M parameters and ResNet-56 0.85M.
"""

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the identity shortcut, then ReLU."""

    def __init__(self, in_width: int, out_width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_width, out_width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_width)
        self.conv2 = nn.Conv2d(out_width, out_width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_width)
        self.stride = stride
        self.extra_width = out_width - in_width

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: subsample by the stride and append zero channels; no parameters."""
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_width)) if self.extra_width else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images."""

    def __init__(self, depth: int, in_channels: int, num_classes: int, base_width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"model.depth={depth} must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...)")
        n = (depth - 2) // 6
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_width, 3, 1, 1, bias=False), nn.BatchNorm2d(base_width), nn.ReLU()
        ]
        width = base_width
        for stage in range(3):
            out_width = base_width * 2**stage
            for i in range(n):
                layers.append(BasicBlock(width, out_width, 2 if stage > 0 and i == 0 else 1))
                width = out_width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # He et al. 2015

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(cfg: Mapping[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """CIFAR ResNet from conf/model/resnet*.yaml: depth (6n+2), base_width (16 in the paper)."""
    return CifarResNet(int(cfg.get("depth", 20)), in_channels, num_classes, int(cfg.get("base_width", 16)))
