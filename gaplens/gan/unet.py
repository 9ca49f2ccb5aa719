"""The pix2pix generator: a U-Net encoder-decoder with skip connections (Isola et al. 2017, after Ronneberger et al.).

``depth`` encoder blocks (``Conv k4 s2 p1``: LeakyReLU 0.2 before, batch norm after, except on the
first and the innermost block) halve the image down to ``size / 2**depth`` (1 x 1 for
``size = 2**depth``: 8 blocks at 256 px, as in the paper); the decoder mirrors them
(ReLU, ``ConvTranspose k4 s2 p1``, batch norm), each decoder block reading the encoder's output at
its resolution concatenated with the block below (the skips). The three decoder blocks next to the
innermost one apply dropout 0.5: pix2pix's only source of noise, kept at test time. Channels
``width * min(2**i, 8)`` at encoder level ``i`` (64, 128, 256, 512, 512, ... for width 64); the
output goes through tanh (images in ``[-1, 1]``). Weights start from ``N(0, 0.02)``.
"""

from __future__ import annotations

import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.gan.registry import NETWORKS, init_normal

#: Decoder blocks next to the innermost one that apply dropout.
DROPOUT_BLOCKS = 3


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"{name}={value!r}; expected an integer in {lo}..{hi}")


class UNetGenerator(nn.Module):
    """``(N, in_channels, H, W)`` in ``[-1, 1]`` to ``(N, out_channels, H, W)`` in ``[-1, 1]``; ``H, W`` multiples of
    ``2**depth``."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, depth: int = 8, width: int = 64,
                 dropout: float = 0.5) -> None:
        super().__init__()
        _check("in_channels", in_channels, 1, 64)
        _check("out_channels", out_channels, 1, 64)
        _check("depth", depth, 2, 12)
        _check("width", width, 1, 1024)
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout={dropout!r}; expected a probability in [0, 1)")
        self.depth = depth
        chans = [width * min(2 ** i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        for i in range(depth):
            if i == 0:
                self.down.append(nn.Conv2d(in_channels, chans[0], 4, 2, 1))
                continue
            innermost = i == depth - 1
            block: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(chans[i - 1], chans[i], 4, 2, 1, bias=innermost)]
            if not innermost:
                block.append(nn.BatchNorm2d(chans[i]))
            self.down.append(nn.Sequential(*block))
        self.up = nn.ModuleList()  # self.up[i] decodes level i (its input: level i's features + level i+1's output)
        for i in range(depth):
            c_in = chans[i] if i == depth - 1 else 2 * chans[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()))
                continue
            block = [nn.ReLU(), nn.ConvTranspose2d(c_in, chans[i - 1], 4, 2, 1, bias=False),
                     nn.BatchNorm2d(chans[i - 1])]
            if depth - 1 - DROPOUT_BLOCKS <= i < depth - 1 and dropout > 0:
                block.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2 ** self.depth
        if x.dim() != 4 or x.shape[-1] % side or x.shape[-2] % side:
            raise InputError(f"U-Net of depth {self.depth}: input {tuple(x.shape)}; expected (N, C, H, W) with H and "
                             f"W multiples of {side}")
        features = []
        h = x
        for block in self.down:
            h = block(h)
            features.append(h)
        h = self.up[-1](features[-1])
        for i in range(self.depth - 2, -1, -1):
            h = self.up[i](torch.cat([features[i], h], 1))
        return h


def depth_for(size: int) -> int:
    """The U-Net depth that brings a ``size``-pixel image to 1 x 1 (``size`` a power of two, 4..4096)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 4 or size > 4096 or size & (size - 1):
        raise InputError(f"size={size!r}; the U-Net needs a power of two in 4..4096 (2**depth)")
    return size.bit_length() - 1


@NETWORKS.register("unet_generator")
def unet_generator(in_channels: int = 3, out_channels: int = 3, depth: int = 8, width: int = 64,
                   dropout: float = 0.5) -> UNetGenerator:
    return init_normal(UNetGenerator(in_channels, out_channels, depth, width, dropout))
