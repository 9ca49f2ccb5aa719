"""scikit-learn's handwritten digits (1,797 images of 8 x 8 px, bundled with scikit-learn, never downloaded)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gaplens.core.errors import InputError


def load_digits(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (1797, 1, size, size) float32 in [0, 1], labels (1797,) int64)``; ``size > 8`` upsamples bilinearly.

    Raises:
        InputError: scikit-learn is not installed (it ships the data set), or ``size < 8``.
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise InputError("the digits data set ships with scikit-learn, which is not installed "
                         "(pip install scikit-learn), or use the synthetic shapes") from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise InputError(f"size={size!r}; expected an integer >= 8 (the digits are 8 x 8 px)")
    bunch = sk_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)
