"""The AdaIN encoder (VGG-19 up to relu4_1), its mirror-image decoder, and the Stylizer joining them.

Layer layout: both networks are :class:`torch.nn.Sequential` with exactly the layer order of the public
PyTorch port of AdaIN (``naoto0804/pytorch-AdaIN``, ``net.py``), so their state dicts have the
same keys as the released ``vgg_normalized.pth`` and ``decoder.pth``. With widths
``(w1, w2, w3, w4)`` (VGG-19: ``(64, 128, 256, 512)``):

Encoder (:class:`VGGEncoder`; keys ``"<index>.weight"`` / ``"<index>.bias"`` of each conv)::

    0  conv 1x1  3 -> 3     (the "normalized" VGG's built-in preprocessing; input is RGB in [0, 1])
    2  conv 3x3  3 -> w1    3: relu1_1
    5  conv 3x3  w1 -> w1   7: max-pool 2x2 (ceil mode)
    9  conv 3x3  w1 -> w2   10: relu2_1
    12 conv 3x3  w2 -> w2   14: max-pool
    16 conv 3x3  w2 -> w3   17: relu3_1
    19, 22, 25 conv 3x3 w3 -> w3   27: max-pool
    29 conv 3x3  w3 -> w4   30: relu4_1 (the encoder's output)

Every 3x3 conv is preceded by a 1-pixel reflection pad (the odd indices before it) and followed
by a ReLU. ``vgg_normalized.pth`` holds the whole VGG-19 (up to relu5_4): its keys ``32, 35, 38,
42, 45, 48, 51`` (``.weight``/``.bias``) belong to layers after relu4_1; they are recognised and
dropped, not reported as unexpected.

Decoder (:class:`VGGDecoder`; convs at indices ``1, 5, 8, 11, 14, 18, 21, 25, 28``)::

    1 w4 -> w3, upsample x2 (3), 5/8/11 w3 -> w3, 14 w3 -> w2, upsample (16),
    18 w2 -> w2, 21 w2 -> w1, upsample (23), 25 w1 -> w1, 28 w1 -> 3 (no ReLU: the output image)

Weights: this module holds no file I/O; :mod:`gaplens.bias.weights` reads, checks, converts and saves
the weight files (the released ``vgg_normalized.pth`` / ``decoder.pth`` or gaplens safetensors).
No weights are ever downloaded. Without the released files, :func:`random_encoder` gives a
random-weight encoder of the same layout (random multi-layer conv features still carry texture
statistics: Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017)
for which :func:`gaplens.bias.stylize.train_decoder` trains a decoder on the user's data (slow
to reach usable quality; see :func:`random_encoder`).

:class:`Stylizer` joins an encoder and a decoder with AdaIN (:mod:`gaplens.bias.adain`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaplens.bias.adain import adain
from gaplens.core.batching import check_batch_size
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen

__all__ = [
    "FEATURE_LAYERS", "MIN_SIZE", "VGG19_WIDTHS", "Stylizer", "VGGDecoder", "VGGEncoder", "decoder", "random_encoder",
    "vgg19_encoder",
]  # fmt: skip

#: Channel widths of VGG-19's first four stages (relu1_1 .. relu4_1).
VGG19_WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)
#: Names of the features :meth:`VGGEncoder.features` returns, in order.
FEATURE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Index of each of those ReLUs in the encoder's Sequential.
_FEATURE_INDEX = (3, 10, 17, 30)
#: Smallest image side the encoder accepts (its reflection pads need 2 pixels at relu4_1).
MIN_SIZE = 9


def _check_widths(widths: Sequence[int]) -> tuple[int, int, int, int]:
    values = tuple(widths) if isinstance(widths, (list, tuple)) else ()
    if len(values) != 4 or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in values):
        raise InputError(f"widths={widths!r}; expected four positive ints (relu1_1 .. relu4_1 channels)")
    return values  # type: ignore[return-value]


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"encoder input: expected images (N, 3, H, W); got {shape}")
    if min(images.shape[-2:]) < MIN_SIZE:
        raise InputError(
            f"encoder input: images of {tuple(images.shape[-2:])} pixels are too small; the VGG encoder needs "
            f"at least {MIN_SIZE} x {MIN_SIZE}"
        )


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]


class VGGEncoder(nn.Sequential):
    """VGG-19 up to relu4_1, in the layer layout of ``vgg_normalized.pth`` (see the module docstring).

    ``forward(images)`` maps ``(N, 3, H, W)`` RGB in ``[0, 1]`` to relu4_1 features
    ``(N, w4, ceil(H / 8), ceil(W / 8))``; :meth:`features` returns relu1_1 .. relu4_1.
    Images must be at least :data:`MIN_SIZE` (9) pixels on each side (reflection padding
    needs 2 pixels at relu4_1).
    """

    def __init__(self, widths: Sequence[int] = VGG19_WIDTHS) -> None:
        w1, w2, w3, w4 = _check_widths(widths)
        pool = nn.MaxPool2d(2, 2, 0, ceil_mode=True)
        layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
        layers += _conv(3, w1) + _conv(w1, w1) + [pool]
        layers += _conv(w1, w2) + _conv(w2, w2) + [nn.MaxPool2d(2, 2, 0, ceil_mode=True)]
        layers += _conv(w2, w3) + _conv(w3, w3) + _conv(w3, w3) + _conv(w3, w3)
        layers += [nn.MaxPool2d(2, 2, 0, ceil_mode=True)] + _conv(w3, w4)
        super().__init__(*layers)
        self.widths = (w1, w2, w3, w4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        return super().forward(images)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """relu1_1, relu2_1, relu3_1, relu4_1 of ``images`` ``(N, 3, H, W)`` (strides 1, 2, 4, 8)."""
        _check_images(images)
        out, x = [], images
        for index, layer in enumerate(self):
            x = layer(x)
            if index in _FEATURE_INDEX:
                out.append(x)
        return out


class VGGDecoder(nn.Sequential):
    """The AdaIN decoder: relu4_1 features ``(N, w4, h, w)`` -> images ``(N, 3, 8h, 8w)``.

    Mirrors :class:`VGGEncoder` with nearest-neighbour upsampling instead of pooling, in the
    layer layout of the released ``decoder.pth`` (see the module docstring). The output is not
    clamped (training needs the raw values); :class:`Stylizer` clamps.
    """

    def __init__(self, widths: Sequence[int] = VGG19_WIDTHS) -> None:
        w1, w2, w3, w4 = _check_widths(widths)
        layers: list[nn.Module] = _conv(w4, w3) + [nn.Upsample(scale_factor=2, mode="nearest")]
        layers += _conv(w3, w3) + _conv(w3, w3) + _conv(w3, w3) + _conv(w3, w2)
        layers += [nn.Upsample(scale_factor=2, mode="nearest")] + _conv(w2, w2) + _conv(w2, w1)
        layers += [nn.Upsample(scale_factor=2, mode="nearest")] + _conv(w1, w1)
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(w1, 3, 3)]
        super().__init__(*layers)
        self.widths = (w1, w2, w3, w4)


def vgg19_encoder(widths: Sequence[int] = VGG19_WIDTHS) -> VGGEncoder:
    """The AdaIN encoder in eval mode, with PyTorch's default random initialisation.

    Load the released ``vgg_normalized.pth`` (or a gaplens safetensors file) with
    :func:`gaplens.bias.weights.load_encoder` instead.

    Args:
        widths: channels at relu1_1 .. relu4_1; VGG-19's by default. Smaller widths give the
            same layout for fast tests and random-weight encoders.

    >>> vgg19_encoder(widths=(4, 8, 8, 16))(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 16, 4, 4])
    """
    return VGGEncoder(widths).eval()


def decoder(widths: Sequence[int] = VGG19_WIDTHS) -> VGGDecoder:
    """The AdaIN decoder mirroring :func:`vgg19_encoder`, randomly initialised, in eval mode.

    Load the released ``decoder.pth`` with :func:`gaplens.bias.weights.load_decoder`.
    """
    return VGGDecoder(widths).eval()


def random_encoder(widths: Sequence[int] = (16, 32, 64, 128), seed: int = 0) -> VGGEncoder:
    """A random-weight encoder of the VGG layout: texture statistics without downloaded weights.

    The 1x1 input conv centres the image (identity weights, bias ``-0.5``); every 3x3 conv gets
    He-normal weights (``std = sqrt(2 / fan_in)``, which keeps activations at a stable scale
    through the ReLUs) and zero biases, drawn from a private generator seeded with ``seed``
    (the global RNG is untouched). Such random features describe textures well (Ustyuzhaninov
    et al., ICLR 2017), so a decoder can be trained for this encoder without any download.

    Measured limits: the random relu4_1 features keep little of an image's layout, and a decoder
    needs far more training than a demo can afford (after 600 steps on 64x64 synthetic images
    its outputs had lost the shapes). For real stylization use the released VGG-19 weights; for
    stylized *synthetic* data use :func:`gaplens.bias.stylize.stylize_synthetic`.
    """
    encoder = VGGEncoder(widths)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        first = encoder[0]
        first.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        first.bias.fill_(-0.5)
        for layer in list(encoder)[1:]:
            if isinstance(layer, nn.Conv2d):
                fan_in = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                layer.bias.zero_()
    return encoder.eval()


class Stylizer(nn.Module):
    """Encoder + AdaIN + decoder.

    Args:
        encoder: a module with ``features(images) -> [relu1_1, ..., relu4_1]`` and
            ``forward(images) -> relu4_1`` (a :class:`~gaplens.bias.networks.VGGEncoder`);
            images are ``(N, 3, H, W)`` RGB in ``[0, 1]``.
        decoder: maps relu4_1 features back to images (a
            :class:`~gaplens.bias.networks.VGGDecoder` of the same widths).
        eps: AdaIN's variance epsilon.

    ``forward(content, style, alpha)`` is differentiable and unclamped; :meth:`stylize` is the
    batched, no-grad, clamped version for making images.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, eps: float = 1e-5) -> None:
        super().__init__()
        if not callable(getattr(encoder, "features", None)):
            raise InputError(
                f"encoder of type {type(encoder).__name__} has no features(images) method; use "
                "gaplens.bias.networks.vgg19_encoder() or random_encoder()"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.eps = float(eps)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Stylized images ``(N, 3, H, W)`` (not clamped) for content ``(N, 3, H, W)`` and style
        ``(N, 3, H', W')`` or ``(1, 3, H', W')``, both RGB in ``[0, 1]``."""
        for name, images in (("content", content), ("style", style)):
            if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
                shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
                raise InputError(f"{name}: expected images (N, 3, H, W); got {shape}")
        target = adain(self.encoder(content), self.encoder(style), alpha=alpha, eps=self.eps)
        out = self.decoder(target)
        height, width = content.shape[-2:]
        return out[..., :height, :width]

    def stylize(
        self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, batch_size: int = 16
    ) -> torch.Tensor:
        """Stylize ``content`` ``(N, 3, H, W)`` with ``style`` (``(N, 3, H', W')`` pairwise, or one
        ``(1, 3, H', W')`` / ``(3, H', W')`` for all), ``batch_size`` images per pass, in eval mode.

        Returns ``(N, 3, H, W)`` float32 in ``[0, 1]`` on the input's device. The module's
        training flags are restored afterwards.
        """
        check_batch_size(batch_size)
        if isinstance(style, torch.Tensor) and style.dim() == 3:
            style = style.unsqueeze(0)
        if not isinstance(content, torch.Tensor) or content.dim() != 4:
            raise InputError(f"content: expected images (N, 3, H, W); got {getattr(content, 'shape', content)}")
        if not isinstance(style, torch.Tensor) or style.dim() != 4 or style.shape[0] not in (1, content.shape[0]):
            raise InputError(
                f"style: expected (N, 3, H, W) with N = {content.shape[0]} or 1; got {getattr(style, 'shape', style)}"
            )
        dev = model_device(self)
        parts = []
        with frozen(self):
            for start in range(0, content.shape[0], batch_size):
                c = content[start : start + batch_size].to(dev, torch.float32)
                s = style if style.shape[0] == 1 else style[start : start + batch_size]
                parts.append(self(c, s.to(dev, torch.float32), alpha).clamp_(0.0, 1.0).to(content.device))
        return torch.cat(parts) if parts else content.new_empty((0, 3, *content.shape[-2:]))
