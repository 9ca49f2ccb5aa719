"""The AdaIN encoder (VGG-19 up to relu4_1) and its mirror-image decoder, and their weight files.

Layer layout
------------
Both networks are :class:`torch.nn.Sequential` with exactly the layer order of the public
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

Weights
-------
:func:`load_adain_weights` reads ``.safetensors`` files, or torch files with
``torch.load(weights_only=True)`` (a pickle that would run code is refused with
:class:`~gaplens.core.errors.UnsafeFileError`), infers the widths from the encoder file, and
checks every key and shape: a mismatch raises :class:`~gaplens.core.errors.CheckpointError`
listing the missing keys, unexpected keys and wrong shapes. :func:`convert_adain_weights` writes
the pair as safetensors.

No weights are ever downloaded. Without the released files, :func:`random_encoder` gives a
random-weight encoder of the same layout (random multi-layer conv features still carry texture
statistics: Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017)
for which :func:`gaplens.bias.stylize.train_decoder` trains a decoder on the user's data (slow
to reach usable quality; see :func:`random_encoder`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from gaplens.core.errors import CheckpointError, InputError, SpecError, UnsafeFileError
from gaplens.core.files import atomic_write
from gaplens.core.model import list_keys, state_mismatches

__all__ = [
    "FEATURE_LAYERS", "MIN_SIZE", "VGG19_WIDTHS", "VGGDecoder", "VGGEncoder", "convert_adain_weights", "decoder",
    "load_adain_weights", "load_decoder", "load_encoder", "random_encoder", "read_state_dict",
    "save_adain_weights", "vgg19_encoder",
]  # fmt: skip

#: Channel widths of VGG-19's first four stages (relu1_1 .. relu4_1).
VGG19_WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)
#: Names of the features :meth:`VGGEncoder.features` returns, in order.
FEATURE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Index of each of those ReLUs in the encoder's Sequential.
_FEATURE_INDEX = (3, 10, 17, 30)
# Conv indices of the full VGG-19 in vgg_normalized.pth after relu4_1 (dropped on load).
_VGG19_TAIL_KEYS = frozenset(f"{i}.{p}" for i in (32, 35, 38, 42, 45, 48, 51) for p in ("weight", "bias"))
# Keys whose shapes reveal the widths: (key, dim) -> width index.
_ENCODER_WIDTH_KEYS = (("2.weight", 0), ("9.weight", 0), ("16.weight", 0), ("29.weight", 0))
_DECODER_WIDTH_KEYS = (("28.weight", 1), ("21.weight", 1), ("14.weight", 1), ("1.weight", 1))
_FORMAT = "gaplens-adain"
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
    clamped (training needs the raw values); :class:`~gaplens.bias.stylize.Stylizer` clamps.
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


def vgg19_encoder(widths: Sequence[int] = VGG19_WIDTHS, weights: str | os.PathLike | None = None) -> VGGEncoder:
    """The AdaIN encoder, optionally with weights (e.g. the released ``vgg_normalized.pth``).

    Args:
        widths: channels at relu1_1 .. relu4_1; VGG-19's by default. Smaller widths give the
            same layout for fast tests and random-weight encoders.
        weights: a ``.safetensors`` or torch state dict file (see :func:`load_encoder`);
            ``None`` leaves PyTorch's default random initialisation.

    >>> vgg19_encoder(widths=(4, 8, 8, 16))(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 16, 4, 4])
    """
    if weights is not None:
        return load_encoder(weights, widths)
    return VGGEncoder(widths).eval()


def decoder(widths: Sequence[int] = VGG19_WIDTHS, weights: str | os.PathLike | None = None) -> VGGDecoder:
    """The AdaIN decoder mirroring :func:`vgg19_encoder` (``weights``: e.g. the released ``decoder.pth``)."""
    if weights is not None:
        return load_decoder(weights, widths)
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


# --------------------------------------------------------------------------------------------
# Weight files


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file, never running pickled code.

    Torch files are read with ``torch.load(weights_only=True)``; a ``{"state_dict": {...}}``
    wrapper is unwrapped.

    Raises:
        SpecError: no such file.
        UnsafeFileError: the file needs full unpickling (it contains code or arbitrary objects).
        CheckpointError: not a valid safetensors file, or not a dict of tensors.
    """
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"{file}: no such weights file")
    with file.open("rb") as handle:
        head = handle.read(9)
    if file.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{"):
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        try:
            return dict(st_load(file.read_bytes()))
        except (SafetensorError, ValueError, OSError) as exc:
            raise CheckpointError(f"{file}: not a valid safetensors file ({exc})") from exc
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise UnsafeFileError(
            f"{file}: refused; it is not a plain tensor state dict that loads with weights_only=True "
            f"(a pickle containing code or other objects is never unpickled) ({type(exc).__name__}: {first})"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{file}: expected a dict of tensors (a state dict); got {type(state).__name__}")
    return dict(state)


def _infer_widths(state: dict[str, torch.Tensor], keys: tuple[tuple[str, int], ...]) -> tuple[int, ...] | None:
    widths = []
    for key, dim in keys:
        tensor = state.get(key)
        if tensor is None or tensor.dim() != 4:
            return None
        widths.append(int(tensor.shape[dim]))
    return tuple(widths)


def _load_checked(network: nn.Module, state: dict[str, torch.Tensor], file: Path, what: str) -> None:
    """Load ``state`` into ``network`` strictly; one error lists every mismatch."""
    own = network.state_dict()

    def order(key: str) -> tuple[int, str]:
        head = key.split(".", 1)[0]
        return (int(head) if head.isdigit() else 10**6, key)

    parts = state_mismatches(own, state, order)
    if parts:
        widths = getattr(network, "widths", None)
        raise CheckpointError(
            f"{file}: does not match the AdaIN {what} (nn.Sequential state dict, widths {widths}; "
            f"expected keys {list_keys(sorted(own, key=order), 6)}; see gaplens.bias.networks): " + "; ".join(parts)
        )
    with torch.no_grad():
        network.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_encoder(path: str | os.PathLike, widths: Sequence[int] | None = None) -> VGGEncoder:
    """An encoder with the weights in ``path`` (``vgg_normalized.pth``, or a gaplens safetensors file).

    ``widths=None`` infers the widths from the shapes of the convs at indices 2, 9, 16, 29 (VGG-19's
    when those keys are absent, so the error then lists them as missing). The full VGG-19's keys
    after relu4_1 (``32.weight`` ... ``51.bias``) are dropped; any other difference raises
    :class:`~gaplens.core.errors.CheckpointError`.
    """
    file = Path(path)
    state = read_state_dict(file)
    if widths is None:
        widths = _infer_widths(state, _ENCODER_WIDTH_KEYS) or VGG19_WIDTHS
    encoder = VGGEncoder(widths)
    state = {k: v for k, v in state.items() if k not in _VGG19_TAIL_KEYS}
    _load_checked(encoder, state, file, "encoder (VGG-19 up to relu4_1)")
    return encoder.eval()


def load_decoder(path: str | os.PathLike, widths: Sequence[int] | None = None) -> VGGDecoder:
    """A decoder with the weights in ``path`` (``decoder.pth``, or a gaplens safetensors file).

    ``widths=None`` infers them from the convs at indices 28, 21, 14 and 1.
    """
    file = Path(path)
    state = read_state_dict(file)
    if widths is None:
        widths = _infer_widths(state, _DECODER_WIDTH_KEYS) or VGG19_WIDTHS
    net = VGGDecoder(widths)
    _load_checked(net, state, file, "decoder")
    return net.eval()


def load_adain_weights(encoder_path: str | os.PathLike, decoder_path: str | os.PathLike):
    """A :class:`~gaplens.bias.stylize.Stylizer` from an encoder and a decoder weights file.

    The files are the released ``vgg_normalized.pth`` and ``decoder.pth`` (torch state dicts,
    read with ``weights_only=True``), or safetensors files written by
    :func:`convert_adain_weights` / :func:`save_adain_weights` /
    :func:`~gaplens.bias.stylize.train_decoder`. The decoder is checked against the widths
    of the encoder, so a decoder trained for another encoder is rejected.

    Raises:
        SpecError, UnsafeFileError, CheckpointError: see :func:`read_state_dict`; a
            :class:`CheckpointError` lists missing keys, unexpected keys and wrong shapes.

    >>> stylizer = load_adain_weights("vgg_normalized.pth", "decoder.pth")  # doctest: +SKIP
    """
    from gaplens.bias.stylize import Stylizer

    encoder = load_encoder(encoder_path)
    dec = load_decoder(decoder_path, encoder.widths)
    return Stylizer(encoder, dec)


def _save(network: nn.Module, file: Path, role: str) -> Path:
    from safetensors.torch import save as st_save

    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    meta = {"format": _FORMAT, "role": role, "widths": json.dumps(list(getattr(network, "widths", ())))}
    return atomic_write(file, st_save(state, metadata=meta))


def save_adain_weights(stylizer, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``encoder.safetensors`` and ``decoder.safetensors`` of ``stylizer`` into ``folder`` (atomic)."""
    out = Path(folder)
    if out.suffix == ".safetensors":
        raise InputError(f"folder={str(folder)!r}: give a folder, not a file name")
    return _save(stylizer.encoder, out / "encoder.safetensors", "encoder"), _save(
        stylizer.decoder, out / "decoder.safetensors", "decoder"
    )


def convert_adain_weights(
    encoder_path: str | os.PathLike, decoder_path: str | os.PathLike, folder: str | os.PathLike
) -> tuple[Path, Path]:
    """Check the released AdaIN weights and rewrite them as safetensors in ``folder``.

    Returns the paths of ``encoder.safetensors`` (only the layers up to relu4_1) and
    ``decoder.safetensors``; both load with :func:`load_adain_weights` without unpickling.
    """
    return save_adain_weights(load_adain_weights(encoder_path, decoder_path), folder)
