"""The pix2pix discriminators: PatchGANs that classify every N x N patch as real or fake (Isola et al. 2017).

``layers = 0`` is the 1 x 1 "PixelGAN" (1x1 convs); ``layers = n >= 1`` stacks a ``Conv k4 s2 p1``
(no norm), ``n - 1`` more ``Conv k4 s2 p1`` with batch norm, one ``Conv k4 s1 p1`` with batch norm
(LeakyReLU 0.2 after each) and a last ``Conv k4 s1 p1`` to one logit per position. Channels double
per layer up to ``8 x width``. Receptive fields: 1 (``layers=0``), 16 (1), 34 (2), 70 (3, the
paper's default), 142 (4), 286 (5) pixels. The output is a map ``(N, 1, h, w)`` of logits; the
adversarial losses average over it.
"""

from __future__ import annotations

import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.gan.registry import NETWORKS, init_normal

#: Receptive field (pixels) -> number of strided layers.
PATCH_LAYERS = {1: 0, 16: 1, 34: 2, 70: 3, 142: 4, 286: 5}


def receptive_field(layers: int) -> int:
    """The receptive field in pixels of a PatchGAN with ``layers`` strided layers (the arithmetic, back to front)."""
    if layers == 0:
        return 1
    field = 1
    for kernel, stride in reversed([(4, 2)] * layers + [(4, 1), (4, 1)]):
        field = (field - 1) * stride + kernel
    return field


class PatchDiscriminator(nn.Module):
    """``(N, in_channels, H, W)`` to a logit map ``(N, 1, h, w)``, one logit per receptive-field patch."""

    def __init__(self, in_channels: int = 6, layers: int = 3, width: int = 64) -> None:
        super().__init__()
        for name, v, hi in (("in_channels", in_channels, 128), ("layers", layers, 5), ("width", width, 1024)):
            if isinstance(v, bool) or not isinstance(v, int) or not (0 if name == "layers" else 1) <= v <= hi:
                raise InputError(f"{name}={v!r}; expected an integer in {0 if name == 'layers' else 1}..{hi}")
        self.layers = layers
        if layers == 0:
            self.net = nn.Sequential(
                nn.Conv2d(in_channels, width, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(width, 2 * width, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * width, 1, 1, bias=False))
            return
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for n in range(1, layers + 1):
            out = width * min(2 ** n, 8)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(c, out, 4, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            c = out
        seq.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*seq)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.layers)

    def output_side(self, side: int) -> int:
        """The side of the logit map for an input side (< 1: the input is too small)."""
        if self.layers == 0:
            return side
        for _ in range(self.layers):
            side = (side + 2 - 4) // 2 + 1
        return side - 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or min(self.output_side(x.shape[-2]), self.output_side(x.shape[-1])) < 1:
            raise InputError(f"PatchGAN-{self.receptive_field}: input {tuple(x.shape)} is too small; expected "
                             "(N, C, H, W) large enough for one output (e.g. 24 px for patch70, 4 px for patch16)")
        return self.net(x)


@NETWORKS.register("patch_discriminator")
def patch_discriminator(in_channels: int = 6, layers: int = 3, width: int = 64) -> PatchDiscriminator:
    return init_normal(PatchDiscriminator(in_channels, layers, width))


def patch_layers(name: str | int) -> int:
    """Strided layers for ``"patch70"``, ``"patch16"``, ``"pixel"`` / ``"patch1"``, or a receptive field in pixels."""
    field = name
    if isinstance(name, str):
        text = name.strip().lower()
        field = 1 if text == "pixel" else (int(text[5:]) if text.startswith("patch") and text[5:].isdigit() else -1)
    if field not in PATCH_LAYERS:
        raise InputError(f"discriminator={name!r}; expected 'pixel' or one of "
                         f"{[f'patch{f}' for f in PATCH_LAYERS]}")
    return PATCH_LAYERS[field]
