"""DCGAN (Radford et al. 2016) for small images: a transposed-conv generator and a strided-conv discriminator.

Both work at ``size = 4 * 2**L`` pixels (8, 16, 32, 64, ...): the generator maps ``z (N, z_dim)``
to a ``4 x 4`` map of ``width * 2**(L-1)`` channels (``ConvTranspose 4x4``), doubles the size ``L``
times (``ConvTranspose k4 s2 p1``, batch norm, ReLU; tanh at the end: images in ``[-1, 1]``),
halving the channels; the discriminator mirrors it (``Conv k4 s2 p1``, batch norm except on the
first layer, LeakyReLU 0.2) down to ``4 x 4`` and a last ``4 x 4`` conv to one logit. Weights
start from ``N(0, 0.02)`` as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.gan.registry import NETWORKS, init_normal


def doublings(size: int) -> int:
    """``L`` with ``size == 4 * 2**L``, ``L >= 1``; an :class:`InputError` for other sizes."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size > 1024 or size & (size - 1):
        raise InputError(f"size={size!r}; DCGAN needs a power of two in 8..1024 (4 x 4 doubled L >= 1 times)")
    return size.bit_length() - 3


def _check_width(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
        raise InputError(f"{name}={value!r}; expected an integer in 1..1024")


class DCGANGenerator(nn.Module):
    """``(N, z_dim)`` noise to ``(N, channels, size, size)`` images in ``[-1, 1]``."""

    def __init__(self, z_dim: int = 64, channels: int = 3, size: int = 32, width: int = 64) -> None:
        super().__init__()
        steps = doublings(size)
        for name, v in (("z_dim", z_dim), ("channels", channels), ("width", width)):
            _check_width(name, v)
        self.z_dim = z_dim
        c = width * 2 ** (steps - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """``(N, channels, size, size)`` images to ``(N,)`` logits; ``batch_norm=False`` for a WGAN-GP critic."""

    def __init__(self, channels: int = 3, size: int = 32, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        steps = doublings(size)
        _check_width("channels", channels)
        _check_width("width", width)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for _ in range(steps - 1):
            layers.append(nn.Conv2d(c, c * 2, 4, 2, 1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            c *= 2
        layers.append(nn.Conv2d(c, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


@NETWORKS.register("dcgan_generator")
def dcgan_generator(z_dim: int = 64, channels: int = 3, size: int = 32, width: int = 64) -> DCGANGenerator:
    return init_normal(DCGANGenerator(z_dim, channels, size, width))


@NETWORKS.register("dcgan_discriminator")
def dcgan_discriminator(channels: int = 3, size: int = 32, width: int = 64,
                        batch_norm: bool = True) -> DCGANDiscriminator:
    return init_normal(DCGANDiscriminator(channels, size, width, batch_norm))
