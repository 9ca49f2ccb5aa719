"""The encoder-decoder with skip connections of Deep Image Prior (Ulyanov et al. 2018, supp. Fig. 21).

One scale ``i`` (of ``len(down)``) takes a map of ``c`` channels at resolution ``s`` and returns
one of ``up[i]`` channels at the same resolution:

- encoder ("deeper"): conv ``k x k`` stride 2 (``c -> down[i]``), BN, LeakyReLU; conv ``k x k``
  (``down[i] -> down[i]``), BN, LeakyReLU; then the next scale (absent at the deepest), then
  upsampling x2 (``bilinear`` or ``nearest``) back to resolution ``s``;
- skip ("d_i" in the paper): conv 1x1 (``c -> skip[i]``), BN, LeakyReLU, at resolution ``s``
  (none when ``skip[i] == 0``);
- decoder: concatenation of the two, BN, conv ``k x k`` (``-> up[i]``), BN, LeakyReLU, and
  conv 1x1 (``up[i] -> up[i]``), BN, LeakyReLU.

A final conv 1x1 maps ``up[0]`` channels to the image's channels and a sigmoid puts them in
``[0, 1]``. Every convolution pads by reflection (the paper's choice for every task we use).

Upsampling goes to the exact size of the skip branch's map, so odd sizes work: a side of ``n``
becomes ``ceil(n / 2)`` at the next scale. Each side must be at least ``2 ** (len(down) + 1)``
pixels so that the deepest map still has two pixels to reflect.

Example:
>>> import torch
>>> net = SkipNet(8, 3, down=(8, 16), up=(8, 16), skip=(4, 4))
>>> net(torch.zeros(1, 8, 20, 24)).shape
torch.Size([1, 3, 20, 24])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.errors import InputError

__all__ = ["SkipNet", "min_side"]

UPSAMPLE_MODES = ("bilinear", "nearest")


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, padding_mode="reflect")


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, slope: float = 0.2) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, kernel, stride), nn.BatchNorm2d(cout), nn.LeakyReLU(slope))


def min_side(scales: int) -> int:
    """The smallest image side a :class:`SkipNet` with ``scales`` scales accepts (``2 ** (scales + 1)``)."""
    return 2 ** (scales + 1)


class _Scale(nn.Module):
    """One scale: encoder, the deeper scales, upsampling, skip, decoder (see the module docstring)."""

    def __init__(self, cin: int, down: int, up: int, skip: int, deeper: _Scale | None, deeper_out: int,
                 kernel: int, upsample: str) -> None:
        super().__init__()
        self.encode = nn.Sequential(_conv_bn_act(cin, down, kernel, stride=2), _conv_bn_act(down, down, kernel))
        self.deeper = deeper
        self.skip = _conv_bn_act(cin, skip, 1) if skip else None
        merged = skip + (deeper_out if deeper is not None else down)
        self.merge_bn = nn.BatchNorm2d(merged)
        self.decode = nn.Sequential(_conv_bn_act(merged, up, kernel), _conv_bn_act(up, up, 1))
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.encode(x)
        if self.deeper is not None:
            y = self.deeper(y)
        align = False if self.upsample == "bilinear" else None
        y = F.interpolate(y, size=x.shape[-2:], mode=self.upsample, align_corners=align)
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.decode(self.merge_bn(y))


class SkipNet(nn.Module):
    """Deep Image Prior's skip encoder-decoder: ``(N, in_channels, H, W) -> (N, out_channels, H, W)`` in [0, 1].

    Args:
        in_channels: channels of the fixed random input ``z``.
        out_channels: channels of the image (3).
        down, up, skip: per-scale channel counts of the encoder, the decoder and the skip
            connections, finest scale first, all of the same length (the number of scales); a
            skip width of 0 drops that skip connection.
        kernel: size of the encoder and decoder convolutions (3 in the paper).
        upsample: ``"bilinear"`` or ``"nearest"``.
    """

    def __init__(self, in_channels: int, out_channels: int = 3, down: Sequence[int] = (128,) * 5,
                 up: Sequence[int] = (128,) * 5, skip: Sequence[int] = (4,) * 5, kernel: int = 3,
                 upsample: str = "bilinear") -> None:
        super().__init__()
        down, up, skip = tuple(int(c) for c in down), tuple(int(c) for c in up), tuple(int(c) for c in skip)
        if not down or not len(down) == len(up) == len(skip):
            raise InputError(f"down={list(down)}, up={list(up)}, skip={list(skip)}: expected three non-empty channel "
                             "lists of one length (one entry per scale)")
        if min(down + up) < 1 or min(skip) < 0 or in_channels < 1 or out_channels < 1:
            raise InputError(f"down={list(down)}, up={list(up)}, skip={list(skip)}, in_channels={in_channels}: "
                             "channel counts must be positive (skip widths may be 0)")
        if upsample not in UPSAMPLE_MODES:
            raise InputError(f"upsample={upsample!r}; expected one of {list(UPSAMPLE_MODES)}")
        if kernel < 1 or kernel % 2 == 0:
            raise InputError(f"kernel={kernel}; expected an odd positive size")
        self.scales = len(down)
        deeper: _Scale | None = None
        for i in reversed(range(self.scales)):
            cin = in_channels if i == 0 else down[i - 1]
            deeper_out = up[i + 1] if i + 1 < self.scales else down[i]
            deeper = _Scale(cin, down[i], up[i], skip[i], deeper, deeper_out, kernel, upsample)
        self.body = deeper
        self.head = nn.Conv2d(up[0], out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        side = min(z.shape[-2:])
        if side < min_side(self.scales):
            raise InputError(f"input of size {tuple(z.shape[-2:])}: a {self.scales}-scale network needs each side to "
                             f"be at least {min_side(self.scales)} pixels; use fewer scales or a larger image")
        return torch.sigmoid(self.head(self.body(z)))
