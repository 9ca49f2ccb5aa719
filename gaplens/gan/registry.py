"""The registry of networks a GAN checkpoint may name, and the DCGAN / pix2pix weight initialization.

A saved generator or discriminator records its builder's name and keyword arguments (JSON);
loading builds only names registered here, so a checkpoint file never runs code.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gaplens.core.registry import Registry

NETWORKS: Registry[Callable[..., nn.Module]] = Registry("GAN network")


def init_normal(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN's and pix2pix's initialization, in place: conv and linear weights ``N(0, std)``, biases 0,
    batch-norm scales ``N(1, std)`` and shifts 0. Returns ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module
