"""Build a registered GAN network by name; the built network remembers how it was built (for checkpoints).

>>> g = build_network("dcgan_generator", z_dim=8, channels=1, size=8, width=4)
>>> g(torch.zeros(2, 8)).shape
torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import torch  # noqa: F401  (used by the doctest)
from torch import nn

from gaplens.gan import dcgan, mlp, patchgan, unet  # noqa: F401  (register the networks)
from gaplens.gan.registry import NETWORKS


def build_network(name: str, **kwargs: object) -> nn.Module:
    """The registered network ``name`` (``mlp_generator``, ``dcgan_discriminator``, ``unet_generator``,
    ``patch_discriminator``, ...) built with ``kwargs``; it records ``gan_arch = {"name", "kwargs"}``."""
    network = NETWORKS[name](**kwargs)
    network.gan_arch = {"name": name, "kwargs": dict(kwargs)}
    return network


def names() -> list[str]:
    """The registered network names."""
    return NETWORKS.names()
