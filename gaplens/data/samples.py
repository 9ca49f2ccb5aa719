"""Sample photographs, offline: the images bundled inside the scikit-image package.

Deep Image Prior, DeepDream and stylization need natural photographs; these ship with
scikit-image itself (no download, no ``pooch``), so demos and tests run without a network.
:data:`SAMPLE_IMAGES` lists only images whose file is inside the installed package; the
scikit-image images that must be downloaded (``eagle``, ``brain``, ``kidney``, ``lily``,
``skin``, ...) are deliberately left out, as are synthetic pictures (``logo``, ``horse``,
``colorwheel``, ``checkerboard``, ``shepp_logan_phantom``) and the alias ``cat`` (= ``chelsea``).

Example:
>>> from gaplens.data import sample_image
>>> sample_image("astronaut").shape
torch.Size([3, 512, 512])
>>> sample_image("camera", size=64).shape       # greyscale, replicated to 3 channels
torch.Size([3, 64, 64])
"""

from __future__ import annotations

import numpy as np
import torch

from gaplens.core.errors import DataError, InputError
from gaplens.core.image_io import Size, _check_size, resize_image

__all__ = ["SAMPLE_IMAGES", "sample_image"]

#: Names accepted by :func:`sample_image`: the photographs bundled with scikit-image
#: (each is the ``skimage.data`` function of the same name). Colour ones first.
SAMPLE_IMAGES: tuple[str, ...] = (
    # colour
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    # greyscale
    "brick",
    "camera",
    "cell",
    "clock",
    "coins",
    "grass",
    "gravel",
    "microaneurysms",
    "moon",
    "page",
    "text",
)


def _to_chw(array: np.ndarray, name: str) -> torch.Tensor:
    """``(H, W)`` / ``(H, W, 3|4)`` array (uint8, uint16, bool or float) -> ``(3, H, W)``."""
    if array.dtype == np.bool_:
        values = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        values = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    else:
        values = np.clip(array.astype(np.float32), 0.0, 1.0)
    if values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=-1)
    if values.ndim != 3 or values.shape[-1] < 3:
        raise DataError(f"sample image {name!r}: unexpected array shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(values[..., :3])).permute(2, 0, 1).contiguous()


def sample_image(name: str, size: Size | None = None) -> torch.Tensor:
    """Load a bundled sample photograph as ``float32`` ``(3, H, W)`` in ``[0, 1]``.

    Args:
        name: One of :data:`SAMPLE_IMAGES`.
        size: ``None``: the original size. ``int`` ``s``: centre-crop to a square on the shorter
            side, then resize to ``(s, s)``. ``(H, W)``: resize to exactly that (aspect ratio
            not kept). Resizing is bilinear with antialiasing.

    Greyscale photographs are replicated to 3 channels.

    Raises:
        InputError: Unknown ``name`` (the message lists the available ones) or malformed ``size``.
    """
    if name not in SAMPLE_IMAGES:
        raise InputError(
            f"name: unknown sample image {name!r}; available: {', '.join(SAMPLE_IMAGES)}"
        )
    target = None if size is None else _check_size(size)

    import skimage.data  # deferred: only sample users pay for importing scikit-image

    image = _to_chw(np.asarray(getattr(skimage.data, name)()), name)
    return image if target is None else resize_image(image, target)
