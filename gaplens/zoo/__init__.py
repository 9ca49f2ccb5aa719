"""Architectures gaplens trains itself, registered by name in ``core.architectures``.

>>> net = build("resnet", num_classes=8)
>>> net(torch.zeros(2, 3, 64, 64)).shape
torch.Size([2, 8])
"""

from __future__ import annotations

import torch  # noqa: F401  (used by the doctest)
from torch import nn

from gaplens.core.architectures import ARCHITECTURES, build_architecture
from gaplens.zoo import bagnet, resnet, vgg  # noqa: F401  (registers the architectures)


def build(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build architecture ``name`` (``"vgg"``, ``"resnet"``, ...) with ``num_classes`` outputs.

    The network remembers its name and kwargs, so ``save_checkpoint`` can record them and
    ``load_model`` can rebuild it without unpickling anything.
    """
    return build_architecture(name, num_classes, **kwargs)


def names() -> list[str]:
    """The registered architecture names."""
    return ARCHITECTURES.names()
