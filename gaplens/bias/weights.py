"""AdaIN weight files: read, check, convert and save the encoder/decoder pair.

The networks (:mod:`gaplens.bias.networks`) know nothing about files; this module reads
``.safetensors`` files, or torch files with ``torch.load(weights_only=True)`` (a pickle that
would run code is refused with :class:`~gaplens.core.errors.UnsafeFileError`), infers the
widths from the encoder file, and checks every key and shape: a mismatch raises
:class:`~gaplens.core.errors.CheckpointError` listing the missing keys, unexpected keys and
wrong shapes. :func:`convert_adain_weights` rewrites the released pair (``vgg_normalized.pth``,
``decoder.pth``) as safetensors; :func:`save_adain_weights` writes a
:class:`~gaplens.bias.networks.Stylizer`'s pair. No weights are ever downloaded.

Dependency order: ``stylize -> weights -> networks``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from gaplens.bias.networks import VGG19_WIDTHS, Stylizer, VGGDecoder, VGGEncoder
from gaplens.core.errors import CheckpointError, InputError, SpecError, UnsafeFileError, load_failure
from gaplens.core.files import atomic_write
from gaplens.core.model import list_keys, state_mismatches

__all__ = [
    "convert_adain_weights", "load_adain_weights", "load_decoder", "load_encoder", "read_state_dict",
    "save_adain_weights",
]  # fmt: skip

# Conv indices of the full VGG-19 in vgg_normalized.pth after relu4_1 (dropped on load).
_VGG19_TAIL_KEYS = frozenset(f"{i}.{p}" for i in (32, 35, 38, 42, 45, 48, 51) for p in ("weight", "bias"))
# Keys whose shapes reveal the widths: (key, dim) -> width index.
_ENCODER_WIDTH_KEYS = (("2.weight", 0), ("9.weight", 0), ("16.weight", 0), ("29.weight", 0))
_DECODER_WIDTH_KEYS = (("28.weight", 1), ("21.weight", 1), ("14.weight", 1), ("1.weight", 1))
_FORMAT = "gaplens-adain"


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
        raise UnsafeFileError(
            f"{file}: refused; it is not a plain tensor state dict that loads with weights_only=True "
            f"(a pickle containing code or other objects is never unpickled) ({load_failure(exc)})"
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


def load_adain_weights(encoder_path: str | os.PathLike, decoder_path: str | os.PathLike) -> Stylizer:
    """A :class:`~gaplens.bias.networks.Stylizer` from an encoder and a decoder weights file.

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
    encoder = load_encoder(encoder_path)
    dec = load_decoder(decoder_path, encoder.widths)
    return Stylizer(encoder, dec)


def _save(network: nn.Module, file: Path, role: str) -> Path:
    from safetensors.torch import save as st_save

    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    meta = {"format": _FORMAT, "role": role, "widths": json.dumps(list(getattr(network, "widths", ())))}
    return atomic_write(file, st_save(state, metadata=meta))


def save_adain_weights(stylizer: Stylizer, folder: str | os.PathLike) -> tuple[Path, Path]:
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
