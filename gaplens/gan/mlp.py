"""Small fully connected generator and discriminator for the toy densities (1-D and 2-D)."""

from __future__ import annotations

import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.gan.registry import NETWORKS


def _check(**values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4096:
            raise InputError(f"{name}={v!r}; expected an integer in 1..4096")


class MLP(nn.Module):
    """``depth`` hidden layers of ``hidden`` units (LeakyReLU 0.2) between ``in_features`` and ``out_features``.

    ``squeeze=True`` returns ``(N,)`` instead of ``(N, 1)`` (a discriminator's one logit per sample).
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = 64, depth: int = 2,
                 squeeze: bool = False) -> None:
        super().__init__()
        _check(in_features=in_features, out_features=out_features, hidden=hidden, depth=depth)
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(1) if self.squeeze else out


@NETWORKS.register("mlp_generator")
def mlp_generator(z_dim: int = 2, dim: int = 1, hidden: int = 64, depth: int = 2) -> MLP:
    """``G(z)``: ``(N, z_dim)`` noise to ``(N, dim)`` points."""
    return MLP(z_dim, dim, hidden, depth)


@NETWORKS.register("mlp_discriminator")
def mlp_discriminator(dim: int = 1, hidden: int = 64, depth: int = 2) -> MLP:
    """``D(x)``: ``(N, dim)`` points to ``(N,)`` logits."""
    return MLP(dim, 1, hidden, depth, squeeze=True)
