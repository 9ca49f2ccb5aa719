"""The corruptions Deep Image Prior undoes, and the data term of each task.

Degradations (to make a corrupted image from a clean one, for experiments with a known answer):

- :func:`add_noise`: i.i.d. Gaussian noise of standard deviation ``sigma`` on the 0-255 scale,
  clipped to ``[0, 1]`` (as the authors' ``get_noisy_image``);
- :func:`random_mask` (a fraction of pixels missing) and :func:`text_mask` (text written over
  the image): ``(1, H, W)`` masks with 1 = known pixel, 0 = missing;
- :func:`jpeg_compress`: a JPEG round trip at a quality (Pillow, in memory);
- :func:`~gaplens.restore.lanczos.lanczos_downsample` for super-resolution.

Data terms (:func:`task_loss`): the mean squared error between the network's output passed
through the task's forward model and the corrupted image: the identity for denoising and JPEG,
the mask for inpainting (only known pixels count: the mean is over them, so a missing pixel's
value never reaches the loss or its gradient), the Lanczos downsampler for super-resolution.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch

from gaplens.core.errors import InputError
from gaplens.restore.lanczos import LanczosDownsampler
from gaplens.restore.settings import TASKS

__all__ = ["add_noise", "random_mask", "text_mask", "jpeg_compress", "task_loss", "check_image", "check_mask"]


def check_image(image: object, what: str = "image") -> torch.Tensor:
    """``image`` as a float ``(3, H, W)`` tensor in ``[0, 1]``, or a clear :class:`InputError`."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{what}: expected a (3, H, W) tensor in [0, 1], got {type(image).__name__}")
    if image.dim() != 3 or image.shape[0] != 3:
        raise InputError(f"{what}: expected shape (3, H, W), got {tuple(image.shape)}")
    image = image.float()
    if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise InputError(f"{what}: values must be finite and in [0, 1] (got min {float(image.min()):.3g}, "
                         f"max {float(image.max()):.3g})")
    return image


def check_mask(mask: object, size: tuple[int, int], what: str = "mask") -> torch.Tensor:
    """``mask`` as a float ``(1, H, W)`` tensor of 0/1 matching ``size``, or a clear :class:`InputError`."""
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"{what}: expected a (1, H, W) tensor with 1 = known pixel, 0 = missing, got "
                         f"{type(mask).__name__}")
    if mask.dim() == 2:
        mask = mask[None]
    if mask.dim() != 3 or mask.shape[0] != 1 or tuple(mask.shape[-2:]) != tuple(size):
        raise InputError(f"{what}: expected shape (1, {size[0]}, {size[1]}) (the image's size), got "
                         f"{tuple(mask.shape)}")
    mask = mask.float()
    if not ((mask == 0) | (mask == 1)).all():
        raise InputError(f"{what}: values must be 0 (missing) or 1 (known)")
    if mask.sum() == 0:
        raise InputError(f"{what}: every pixel is missing; nothing to fit")
    return mask


def add_noise(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """``image`` ``(C, H, W)`` plus Gaussian noise of std ``sigma / 255``, clipped to [0, 1]."""
    if not sigma >= 0:
        raise InputError(f"sigma={sigma}; expected a noise level >= 0 on the 0-255 scale")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator) * (sigma / 255.0)
    return (image + noise.to(image.device)).clamp(0, 1)


def random_mask(size: tuple[int, int], missing: float = 0.5, seed: int = 0) -> torch.Tensor:
    """``(1, H, W)`` mask with each pixel missing (0) with probability ``missing``."""
    if not 0.0 <= missing < 1.0:
        raise InputError(f"missing={missing}; expected a fraction in [0, 1)")
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((1, *size), generator=generator) >= missing).float()


def text_mask(size: tuple[int, int], text: str = "Deep Image Prior restores what the text hides",
              stroke: int | None = None) -> torch.Tensor:
    """``(1, H, W)`` mask with ``text`` written over the image in lines (the written pixels are missing).

    The font is Pillow's default font at about a tenth of the height; ``stroke`` widens the
    strokes (default: 1 pixel per 256 of height, so none below 256 pixels).
    """
    from PIL import Image, ImageDraw, ImageFont

    h, w = size
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    font_size = max(8, h // 10)
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        font = ImageFont.load_default()
    stroke = h // 256 if stroke is None else stroke
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > 0.9 * w and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    y = font_size // 2
    while y < h - font_size // 2:
        for row in lines:
            draw.text((w * 0.05, y), row, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
            y += int(font_size * 1.6)
            if y >= h - font_size // 2:
                break
    written = torch.from_numpy(np.asarray(canvas) > 127)
    return (~written).float()[None]


def jpeg_compress(image: torch.Tensor, quality: int = 10) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] after a JPEG round trip at ``quality`` (1-95; Pillow, 4:2:0 chroma)."""
    from PIL import Image

    if not 1 <= int(quality) <= 95:
        raise InputError(f"quality={quality}; expected a JPEG quality in 1..95")
    array = (check_image(image).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1).contiguous().to(image.device)


def task_loss(task: str, observed: torch.Tensor, mask: torch.Tensor | None = None,
              factor: int = 4) -> Callable[[torch.Tensor], torch.Tensor]:
    """The data term of ``task`` for the corrupted image ``observed`` ``(3, h, w)``: output ``(1, 3, H, W)`` -> loss.

    ``mask`` ``(1, H, W)`` (1 = known) is required for ``"inpaint"``; ``factor`` is the
    super-resolution factor (the output is ``factor`` times the observed size).
    """
    if task not in TASKS:
        raise InputError(f"task={task!r}; expected one of {list(TASKS)}")
    target = observed[None]
    if task == "inpaint":
        if mask is None:
            raise InputError("mask: inpainting needs a (1, H, W) mask with 1 = known pixel, 0 = missing")
        known = mask[None].to(observed.device)
        count = float(known.sum()) * observed.shape[0]
        clean_target = torch.where(known > 0, target, torch.zeros_like(target))  # missing values never enter

        def masked(out: torch.Tensor) -> torch.Tensor:
            return ((out * known - clean_target) ** 2).sum() / count

        return masked
    if task == "super_resolution":
        h, w = observed.shape[-2:]
        down = LanczosDownsampler((h * factor, w * factor), factor).to(observed.device)

        def downsampled(out: torch.Tensor) -> torch.Tensor:
            return torch.mean((down(out) - target) ** 2)

        return downsampled

    def plain(out: torch.Tensor) -> torch.Tensor:
        return torch.mean((out - target) ** 2)

    return plain
