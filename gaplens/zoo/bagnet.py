"""Bag-of-local-features networks (BagNet, Brendel & Bethge, ICLR 2019), stride 1 by construction.

A BagNet classifies every ``patch_size x patch_size`` window of the image on its own and averages
the window logits: ``model(x) = patch_logits(x).mean((2, 3))``. Its decision is therefore exactly
the average of a map of local class evidence.

How this differs from the authors' ``bagnets/pytorchnet.py`` (same idea, own layout):

- **stride 1**: where the authors' net downsamples (strides 2, 2, 2, 1, so their patch logits are
  8 px apart), this one keeps full resolution and *dilates* the later 3x3 kernels instead
  (dilations 1, 2, 4, 8: the "a trous" form of the same receptive field). ``patch_logits`` then
  has one logit vector per pixel position, which is what the authors' heatmap utility recovers by
  feeding every one of the ``H * W`` crops through the net.
- **centred shortcuts**: an unpadded 3x3 convolution shrinks its input by ``dilation`` pixels on
  every side; the residual branch is cropped by the same amount on every side (the authors crop
  from the bottom-right only, which shifts the shortcut against the window).

Receptive field: a 1x1 then a 3x3 stem (3 px), then four stages of bottleneck blocks
(1x1 -> 3x3 -> 1x1). The first block of stage ``s`` (dilation ``2**s``) gets a 3x3 kernel only
while that keeps the receptive field within ``patch_size`` (3 -> 5 -> 9 -> 17 -> 33); every other
spatial kernel is 1x1. So ``patch_size`` is one of :data:`PATCH_SIZES`.

Borders: no convolution pads, so an output position exists only where its whole window lies
inside the input: an ``(H, W)`` image gives ``(H - p + 1, W - p + 1)`` patch logits, the window of
output ``(i, j)`` being input rows ``i .. i + p - 1`` and columns ``j .. j + p - 1``. Pixels within
``(p - 1) / 2`` of the border are seen by fewer windows than interior ones (a corner pixel by one);
nothing outside the image is ever made up. (``gaplens.interpretable.evidence(border="zeros")``
pads explicitly when a map with one value per pixel is wanted.)

Two ways through the same function. Training, and any pass that needs gradients or carries hooks,
runs the modules one by one (every ``nn.Conv2d``, ``nn.BatchNorm2d`` and ``nn.ReLU`` is called, so
hooks and explanation methods see them). Inference (eval mode, no gradients, no hooks) takes a
fused path with the same output: BatchNorm folded into the convolution before it, the two linear
stem convolutions composed into one 3x3 kernel (no nonlinearity lies between them), in-place
residual sums and ReLUs, channels-last maps, images in chunks of at most :data:`CHUNK_BYTES` of
activation each (fresh multi-MB buffers cost page faults on every layer), and ``forward`` pooling
the features before the 1x1 classifier (the mean of a linear map is the linear map of the mean).
The state dict is the same either way, so checkpoints of either version load in the other.

>>> net = BagNet(4, patch_size=9, width=8)
>>> net.patch_logits(torch.zeros(2, 3, 20, 20)).shape
torch.Size([2, 4, 12, 12])
>>> net(torch.zeros(2, 3, 20, 20)).shape
torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gaplens.core.architectures import ARCHITECTURES
from gaplens.core.errors import InputError
from gaplens.zoo.limits import MAX_WIDTH, check_sizes

#: The receptive fields a BagNet can have: a 3 px stem, then each stage may double it minus one.
PATCH_SIZES = (3, 5, 9, 17, 33)
#: Stages of every BagNet; stage ``s`` dilates its 3x3 kernel by ``2**s``.
STAGES = 4
#: The fused inference path runs images in chunks whose widest activation map takes at most this
#: many bytes (at least one image per chunk).
CHUNK_BYTES = 8 << 20


def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``bn(conv(x))`` in eval mode as one convolution: its weight ``(O, I, k, k)`` and bias ``(O,)``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), bias


def _hooked(module: nn.Module) -> bool:
    """Whether ``module`` or a submodule carries a forward (pre-)hook, or a global one is set."""
    from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

    if _global_forward_hooks or _global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


class Bottleneck(nn.Module):
    """1x1 -> kxk (dilated, unpadded) -> 1x1, plus a shortcut cropped to the same window.

    Output size: ``H - 2 * crop`` with ``crop = dilation * (kernel - 1) // 2`` (0 for ``kernel=1``).
    """

    def __init__(self, in_channels: int, planes: int, out_channels: int, kernel: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.crop = dilation * (kernel - 1) // 2
        self.downsample: nn.Module | None = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        if self.crop:
            c = self.crop
            identity = identity[:, :, c:-c, c:-c]
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)

    def fused(self, x: torch.Tensor) -> torch.Tensor:
        """The same block in eval mode without autograd: BatchNorm folded, sums and ReLUs in place."""
        out = F.conv2d(x, *folded(self.conv1, self.bn1)).relu_()
        out = F.conv2d(out, *folded(self.conv2, self.bn2), dilation=self.conv2.dilation).relu_()
        out = F.conv2d(out, *folded(self.conv3, self.bn3))
        identity = x if self.downsample is None else F.conv2d(x, *folded(self.downsample[0], self.downsample[1]))
        if self.crop:
            c = self.crop
            identity = identity[:, :, c:-c, c:-c]
        return out.add_(identity).relu_()


class BagNet(nn.Module):
    """A bag-of-local-features classifier with receptive field exactly ``patch_size``.

    Args:
        num_classes: number of logits ``K``.
        patch_size: the window each patch logit sees, one of :data:`PATCH_SIZES` (9, 17, 33 are
            the paper's BagNet-9/17/33).
        width: channels inside the blocks (bottleneck width); blocks output ``2 * width``.
        blocks: bottleneck blocks per stage (4 stages); only the first block of a stage can hold
            a 3x3 kernel, so extra blocks add depth, not receptive field.

    ``patch_logits(x)``: ``(N, 3, H, W) -> (N, K, H - p + 1, W - p + 1)``; ``forward(x)``: their
    mean over positions, ``(N, K)``. Inputs smaller than ``p`` raise :class:`InputError`.
    """

    def __init__(self, num_classes: int, patch_size: int = 17, width: int = 32,
                 blocks: Sequence[int] = (1, 1, 1, 1)) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"num_classes={num_classes!r}; expected an integer >= 1")
        if patch_size not in PATCH_SIZES or isinstance(patch_size, bool):
            raise InputError(f"patch_size={patch_size!r}; expected one of {list(PATCH_SIZES)}")
        check_sizes("width", [width], MAX_WIDTH // 2)
        blocks = tuple(blocks)
        if len(blocks) != STAGES:
            raise InputError(f"blocks={list(blocks)}; expected {STAGES} entries, one per stage")
        check_sizes("blocks", blocks, 16, 64)
        self.num_classes = num_classes
        self.patch_size = patch_size
        self.conv1 = nn.Conv2d(3, width, 1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        field, channels, stages = 3, width, []
        for s, count in enumerate(blocks):
            dilation = 2 ** s
            kernel = 3 if field + 2 * dilation <= patch_size else 1
            field += (kernel - 1) * dilation
            stage = [Bottleneck(channels, width, 2 * width, kernel, dilation)]
            stage += [Bottleneck(2 * width, width, 2 * width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            channels = 2 * width
        if field != patch_size:  # pragma: no cover - PATCH_SIZES are exactly the reachable ones
            raise AssertionError(f"receptive field {field} != patch_size {patch_size}")
        self.layers = nn.Sequential(*stages)
        self.classifier = nn.Conv2d(channels, num_classes, 1)  # the paper's fc, applied per position

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every ``p x p`` window, ``(N, K, H - p + 1, W - p + 1)``; entry ``(i, j)`` is
        the window whose top-left input pixel is ``(i, j)`` (its centre ``(i + c, j + c)``,
        ``c = (p - 1) // 2``)."""
        self._check(x)
        if self._fusable():
            return torch.cat([self.classifier(self._fused_features(part)) for part in self._chunks(x)]).contiguous()
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        return self.classifier(self.layers(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fusable():
            self._check(x)
            weight = self.classifier.weight.flatten(1)
            return torch.cat([F.linear(self._fused_features(part).mean((2, 3)), weight, self.classifier.bias)
                              for part in self._chunks(x)])
        return self.patch_logits(x).mean(dim=(2, 3))

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[-1] < self.patch_size or x.shape[-2] < self.patch_size:
            raise InputError(f"input of shape {tuple(x.shape)}; a BagNet with patch_size={self.patch_size} "
                             f"needs (N, 3, H, W) with H, W >= {self.patch_size}")

    def _fusable(self) -> bool:
        """Inference only: eval mode, no autograd, no hooks that would miss the modules it skips."""
        return not self.training and not torch.is_grad_enabled() and not _hooked(self)

    def _chunks(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        widest = self.classifier.in_channels * x.shape[-2] * x.shape[-1] * x.element_size()
        return x.split(max(1, CHUNK_BYTES // widest))

    def _fused_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W) -> (N, 2 * width, H - p + 1, W - p + 1)`` features, channels-last, no autograd."""
        weight, bias = folded(self.conv2, self.bn1)
        stem = torch.einsum("omhw,mi->oihw", weight, self.conv1.weight.flatten(1))  # 1x1 then 3x3: one 3x3
        x = F.conv2d(x.contiguous(memory_format=torch.channels_last), stem, bias).relu_()
        for stage in self.layers:
            for block in stage:
                x = block.fused(x)
        return x

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}"


@ARCHITECTURES.register("bagnet")
def bagnet(num_classes: int, patch_size: int = 17, width: int = 32,
           blocks: Sequence[int] = (1, 1, 1, 1)) -> BagNet:
    """The zoo's BagNet (see :class:`BagNet`)."""
    return BagNet(num_classes, patch_size=patch_size, width=width, blocks=tuple(blocks))
