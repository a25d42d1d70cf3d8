"""Shake-Shake ResNets (Gastaldi 2017), the paper's networks: "26 2x64d" (11.6M parameters) and "26 2x96d".

Follows Gastaldi's Torch code (github.com/xgastaldi/shake-shake, models/shakeshake*.lua), on which the paper's
experiments ran: a 16-channel 3x3 stem, three stages of (depth - 2) / 6 blocks with widths w, 2w, 4w
("2x64d": two residual branches, w = 64), each branch ReLU-conv3x3-BN-ReLU-conv3x3-BN, convolutions without
bias, and a two-path 1x1 shortcut wherever the width changes. The random mixing weights are drawn from torch's
global RNG, so `torch.manual_seed` makes a run repeatable.
"""

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

FORWARD_MODES = ("shake", "even")  # alpha ~ U(0, 1) per draw, or alpha = 0.5
BACKWARD_MODES = ("shake", "even", "keep")  # beta ~ U(0, 1), beta = 0.5, or beta = alpha
LEVELS = ("image", "batch")  # one draw per image ("Shake-Shake-Image", the paper's setting) or per batch


class ShakeShake(torch.autograd.Function):
    """alpha*x1 + (1-alpha)*x2 forward; the gradient reaches the branches as beta*g and (1-beta)*g."""

    @staticmethod
    def forward(
        ctx: Any, x1: torch.Tensor, x2: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(beta)
        return alpha * x1 + (1 - alpha) * x2

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        (beta,) = ctx.saved_tensors
        return beta * grad, (1 - beta) * grad, None, None


def shake_shake(
    x1: torch.Tensor, x2: torch.Tensor, training: bool, forward: str = "shake", backward: str = "shake",
    level: str = "image",
) -> torch.Tensor:
    """Mix the two residual branches; at evaluation (and under "even") both weigh 0.5.

    beta is drawn together with alpha in the forward pass (Gastaldi draws it during the backward pass): the
    distribution is the same, and every draw then happens in a fixed order on the global RNG.
    """
    if not training:
        return 0.5 * (x1 + x2)
    shape = (x1.shape[0], 1, 1, 1) if level == "image" else (1, 1, 1, 1)
    half = torch.full(shape, 0.5, device=x1.device, dtype=x1.dtype)
    alpha = torch.rand(shape, device=x1.device, dtype=x1.dtype) if forward == "shake" else half
    beta = {"shake": lambda: torch.rand(shape, device=x1.device, dtype=x1.dtype), "even": lambda: half,
            "keep": lambda: alpha}[backward]()
    return ShakeShake.apply(x1, x2, alpha, beta)


def branch(in_width: int, out_width: int, stride: int) -> nn.Sequential:
    """One residual branch: ReLU-conv3x3-BN-ReLU-conv3x3-BN."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(in_width, out_width, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_width),
        nn.ReLU(),
        nn.Conv2d(out_width, out_width, 3, 1, 1, bias=False),
        nn.BatchNorm2d(out_width),
    )


class Shortcut(nn.Module):
    """Gastaldi's shortcut where the width changes.

    ReLU, then two strided 1x1 convolutions to half the output width each, the second on the input shifted one
    pixel right and down so that it sees the other pixels, then concatenation and BN.
    """

    def __init__(self, in_width: int, out_width: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.path1 = nn.Conv2d(in_width, out_width // 2, 1, bias=False)
        self.path2 = nn.Conv2d(in_width, out_width - out_width // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        # Lua's SpatialZeroPadding(1, -1, 1, -1): pad left and top by one, crop right and bottom by one.
        shifted = F.pad(x, (1, -1, 1, -1))
        s = self.stride
        return self.bn(torch.cat([self.path1(x[:, :, ::s, ::s]), self.path2(shifted[:, :, ::s, ::s])], dim=1))


class ShakeBlock(nn.Module):
    """Two residual branches mixed by shake-shake, plus the identity or `Shortcut`."""

    def __init__(
        self, in_width: int, out_width: int, stride: int, forward: str, backward: str, level: str
    ) -> None:
        super().__init__()
        self.branch1 = branch(in_width, out_width, stride)
        self.branch2 = branch(in_width, out_width, stride)
        self.shortcut = Shortcut(in_width, out_width, stride) if in_width != out_width else nn.Identity()
        self.modes = (forward, backward, level)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = shake_shake(self.branch1(x), self.branch2(x), self.training, *self.modes)
        return self.shortcut(x) + mixed


class ShakeShakeResNet(nn.Module):
    """Stem, three stages of `ShakeBlock`s (widths w, 2w, 4w), ReLU, global average pool, linear layer."""

    def __init__(
        self, depth: int, base_width: int, in_channels: int, num_classes: int, forward: str = "shake",
        backward: str = "shake", level: str = "image", stem_width: int = 16,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"model.depth={depth} must be 6n+2 with n >= 1 (the paper's 26 has n = 4)")
        for value, allowed in ((forward, FORWARD_MODES), (backward, BACKWARD_MODES), (level, LEVELS)):
            if value not in allowed:
                raise ValueError(
                    f"shake-shake mode {value!r} not in {allowed} (conf/model/shake_shake_*.yaml)"
                )
        blocks_per_stage = (depth - 2) // 6
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_width)
        ]
        width = stem_width
        for stage, out_width in enumerate((base_width, 2 * base_width, 4 * base_width)):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(ShakeBlock(width, out_width, stride, forward, backward, level))
                width = out_width
        layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def init_weights(model: nn.Module) -> None:
    """fb.resnet.torch's initialization: conv N(0, 2/fan_out), BN weight 1 and bias 0, linear bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


def build(cfg: Mapping[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """Shake-Shake ResNet from conf/model/shake_shake_*.yaml: depth, base_width, forward, backward, level."""
    return ShakeShakeResNet(
        depth=int(cfg.get("depth", 26)),
        base_width=int(cfg.get("base_width", 64)),
        in_channels=in_channels,
        num_classes=num_classes,
        forward=cfg.get("forward", "shake"),
        backward=cfg.get("backward", "shake"),
        level=cfg.get("level", "image"),
        stem_width=int(cfg.get("stem_width", 16)),
    )
