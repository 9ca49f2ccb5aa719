"""A small VGG-style network: stacks of 3x3 conv + in-place ReLU, max-pooling between stages.

In-place ReLUs and max-pooling are kept on purpose: they are what trips attribution code
(guided backprop, hooks whose stored tensors are overwritten), and gaplens must be right on them.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from gaplens.core.architectures import ARCHITECTURES
from gaplens.core.errors import InputError
from gaplens.zoo.limits import check_stages


class VGG(nn.Module):
    """``features`` (conv-ReLU(inplace)-... -maxpool stages) -> global average pool -> ``classifier``.

    Args:
        num_classes: number of logits.
        widths: channels of each stage (each stage ends with a 2x2 max-pool; each at most
            :data:`~gaplens.zoo.limits.MAX_WIDTH`).
        convs_per_stage: 3x3 convolutions in each stage (each at most
            :data:`~gaplens.zoo.limits.MAX_BLOCKS`, :data:`~gaplens.zoo.limits.MAX_TOTAL_BLOCKS` in all;
            at most :data:`~gaplens.zoo.limits.MAX_STAGES` stages).
        batch_norm: insert BatchNorm after each convolution (default: without it, plain VGG
            trains too slowly on the shape-only synthetic data to reach 90% within the 2-minute
            CPU budget; ``batch_norm=False`` gives the original VGG).

    Input ``(N, 3, H, W)`` with H, W >= 2**len(widths); output ``(N, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int] = (16, 32, 64, 128),
        convs_per_stage: Sequence[int] = (1, 1, 2, 2),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise InputError(f"num_classes={num_classes}; expected >= 1")
        if len(widths) != len(convs_per_stage) or not widths:
            raise InputError(f"widths={list(widths)} and convs_per_stage={list(convs_per_stage)} must be equally long")
        check_stages(widths, "convs_per_stage", convs_per_stage)
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        channels = 3
        for width, count in zip(widths, convs_per_stage, strict=True):
            for _ in range(count):
                layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.pool(self.features(x))))


@ARCHITECTURES.register("vgg")
def vgg(num_classes: int, widths: Sequence[int] = (16, 32, 64, 128),
        convs_per_stage: Sequence[int] = (1, 1, 2, 2), batch_norm: bool = True) -> VGG:
    """The zoo's VGG-style net (see :class:`VGG`)."""
    return VGG(num_classes, tuple(widths), tuple(convs_per_stage), batch_norm)
