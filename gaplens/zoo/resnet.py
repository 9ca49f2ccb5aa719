"""A small ResNet-style network with BatchNorm and residual blocks.

Each block calls the *same* ``nn.ReLU`` module twice, exactly as torchvision's ResNet does, so
that hooks keyed by module, and guided backprop implementations that swap ReLU modules, are
tested against the pattern real models use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaplens.core.architectures import ARCHITECTURES
from gaplens.core.errors import InputError
from gaplens.zoo.limits import check_stages


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + shortcut, then the same ReLU again (torchvision's layout)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """stride-2 stem -> ``layer1..layerL`` (stride 2 from layer2 on) -> global average pool -> ``fc``.

    Args:
        num_classes: number of logits.
        widths: channels of each stage (each at most :data:`~gaplens.zoo.limits.MAX_WIDTH`).
        blocks: residual blocks per stage (each at most :data:`~gaplens.zoo.limits.MAX_BLOCKS`,
            :data:`~gaplens.zoo.limits.MAX_TOTAL_BLOCKS` in all; at most :data:`~gaplens.zoo.limits.MAX_STAGES` stages).

    Input ``(N, 3, H, W)``; output ``(N, num_classes)``.
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = (16, 32, 64, 128),
                 blocks: Sequence[int] = (1, 1, 1, 1)) -> None:
        super().__init__()
        if num_classes < 1:
            raise InputError(f"num_classes={num_classes}; expected >= 1")
        if len(widths) != len(blocks) or not widths:
            raise InputError(f"widths={list(widths)} and blocks={list(blocks)} must be equally long")
        check_stages(widths, "blocks", blocks)
        self.num_classes = num_classes
        # a stride-2 stem, as in torchvision's ResNet: full-resolution stages cost 4x on a CPU
        self.conv1 = nn.Conv2d(3, widths[0], 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        channels = widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks, strict=True), start=1):
            stride = 1 if index == 1 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(count - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*stage))
            channels = width
        self.stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(1, self.stages + 1):
            x = getattr(self, f"layer{index}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


@ARCHITECTURES.register("resnet")
def resnet(num_classes: int, widths: Sequence[int] = (16, 32, 64, 128),
           blocks: Sequence[int] = (1, 1, 1, 1)) -> ResNet:
    """The zoo's ResNet-style net (see :class:`ResNet`)."""
    return ResNet(num_classes, tuple(widths), tuple(blocks))
