"""Image parameterizations: the tensors an optimizer changes, and how they map to an image.

Every parameterization maps its parameters to images ``(B, 3, H, W)`` in ``[0, 1]`` as

    images = sigmoid(colour(spatial(params)))

- ``spatial``: the identity for :func:`pixel_image`; for :func:`fourier_image` an inverse real FFT
  of a spectrum whose frequency ``f`` (cycles per pixel) is scaled by ``1 / max(f, 1/max(H, W))``
  raised to ``decay_power`` (Olah et al. 2017, "Feature Visualization"): the optimizer works on
  a whitened spectrum, so low frequencies are not starved by the 1/f statistics of images and
  the result has fewer high-frequency artefacts. The FFT is orthonormal and the result is
  divided by 4 (Lucid's constant), so learning rates carry over between the two.
- ``colour`` (``decorrelate=True``): the parameters' three channels are decorrelated colour
  components, mapped to RGB by :data:`COLOR_CORRELATION` (the square root of ImageNet's colour
  covariance, columns scaled to unit maximum norm, as in Lucid); :func:`decorrelate_colors` and
  :func:`correlate_colors` are exact inverses.
- ``sigmoid`` keeps every pixel in ``(0, 1)``.

``start=`` initializes any parameterization to reproduce a given image exactly (pixels clamped
to ``[1e-3, 1 - 1e-3]`` so the sigmoid can be inverted): "start from any image", DeepDream.

>>> images = fourier_image(batch=2, size=32, seed=0)().detach()
>>> images.shape, float(images.min()) >= 0.0, float(images.max()) <= 1.0
(torch.Size([2, 3, 32, 32]), True, True)
>>> image = torch.rand(3, 16, 16) * 0.9 + 0.05
>>> torch.allclose(pixel_image(size=16, start=image)()[0], image, atol=1e-5)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from gaplens.core.errors import InputError
from gaplens.core.image_io import _check_size
from gaplens.core.registry import Registry

__all__ = [
    "ImageParam", "PixelParam", "FourierParam", "pixel_image", "fourier_image", "image_param", "PARAMETERIZATIONS",
    "COLOR_CORRELATION", "decorrelate_colors", "correlate_colors", "fft_scale",
]

_SQRT_COLOR_COV = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64)
#: ``(3, 3)``: decorrelated colour components -> RGB (columns: the colour directions).
COLOR_CORRELATION = (_SQRT_COLOR_COV / _SQRT_COLOR_COV.norm(dim=0).max()).float()
_EPS = 1e-3  # start images are clamped to [eps, 1 - eps] before the sigmoid is inverted
_FOURIER_DIVISOR = 4.0  # Lucid's constant: keeps the initial image's contrast low


def decorrelate_colors(components: Tensor, matrix: Tensor | None = None) -> Tensor:
    """Map decorrelated colour components ``(B, 3, H, W)`` to RGB: ``COLOR_CORRELATION @ x`` per pixel.

    ``matrix``: :data:`COLOR_CORRELATION` already on the components' device and dtype (optional).
    """
    if matrix is None:
        matrix = COLOR_CORRELATION.to(device=components.device, dtype=components.dtype)
    return torch.einsum("ij,bjhw->bihw", matrix, components)


def correlate_colors(rgb: Tensor) -> Tensor:
    """The inverse of :func:`decorrelate_colors`: RGB ``(B, 3, H, W)`` -> decorrelated components."""
    matrix = torch.linalg.inv(COLOR_CORRELATION.double()).to(device=rgb.device, dtype=rgb.dtype)
    return torch.einsum("ij,bjhw->bihw", matrix, rgb)


def fft_scale(height: int, width: int, decay_power: float = 1.0) -> Tensor:
    """``(H, W // 2 + 1)`` spectrum scale ``1 / max(f, 1 / max(H, W)) ** decay_power``, ``f`` in cycles/pixel."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    return (1.0 / freqs.clamp_min(1.0 / max(height, width)) ** decay_power).float()


class ImageParam:
    """Parameters plus the map to images: ``param()`` -> ``(B, 3, H, W)`` in ``[0, 1]``.

    Attributes:
        kind: ``"pixel"`` or ``"fourier"``.
        params: the leaf tensors to optimize (``requires_grad=True``).
        batch, size: ``B`` and ``(H, W)``.
        decorrelate: whether the channels are decorrelated colour components.
    """

    kind = "base"

    def __init__(self, batch: int, size: tuple[int, int], decorrelate: bool) -> None:
        self.batch = batch
        self.size = size
        self.decorrelate = decorrelate
        self.params: list[Tensor] = []
        self._matrix: Tensor | None = None

    def spatial(self) -> Tensor:
        """The pre-colour, pre-sigmoid image ``(B, 3, H, W)``."""
        raise NotImplementedError

    def _set_spatial(self, values: Tensor) -> None:
        """Set the parameters so that :meth:`spatial` returns ``values``."""
        raise NotImplementedError

    def __call__(self) -> Tensor:
        x = self.spatial()
        if self.decorrelate:
            if self._matrix is None or self._matrix.device != x.device or self._matrix.dtype != x.dtype:
                self._matrix = COLOR_CORRELATION.to(device=x.device, dtype=x.dtype)  # once, not every step
            x = decorrelate_colors(x, self._matrix)
        return torch.sigmoid(x)

    def set_image(self, images: Tensor) -> None:
        """Set the parameters so that ``self()`` returns ``images`` (clamped to ``[1e-3, 1 - 1e-3]``)."""
        device = self.params[0].device
        target = images.detach().to(device=device, dtype=torch.float32).clamp(_EPS, 1.0 - _EPS)
        x = torch.logit(target)
        if self.decorrelate:
            x = correlate_colors(x)
        with torch.no_grad():
            self._set_spatial(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.batch}, size={self.size}, decorrelate={self.decorrelate})"


class PixelParam(ImageParam):
    """One parameter per pixel and colour component."""

    kind = "pixel"

    def __init__(self, values: Tensor, decorrelate: bool) -> None:
        super().__init__(values.shape[0], tuple(values.shape[-2:]), decorrelate)
        self.values = values.requires_grad_(True)
        self.params = [self.values]

    def spatial(self) -> Tensor:
        return self.values

    def _set_spatial(self, values: Tensor) -> None:
        self.values.copy_(values)


class FourierParam(ImageParam):
    """A 1/f-scaled spectrum ``(B, 3, H, W // 2 + 1, 2)`` (real, imaginary), inverse-FFT'd to pixels."""

    kind = "fourier"

    def __init__(self, spectrum: Tensor, size: tuple[int, int], decay_power: float, decorrelate: bool) -> None:
        super().__init__(spectrum.shape[0], size, decorrelate)
        self.decay_power = decay_power
        self.scale = fft_scale(*size, decay_power).to(spectrum.device)[None, None]
        self.spectrum = spectrum.requires_grad_(True)
        self.params = [self.spectrum]

    def spatial(self) -> Tensor:
        coefficients = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfft2(coefficients, s=self.size, norm="ortho") / _FOURIER_DIVISOR

    def _set_spatial(self, values: Tensor) -> None:
        coefficients = torch.fft.rfft2(values * _FOURIER_DIVISOR, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(coefficients))


def _batch_and_size(batch: int, size: int | Sequence[int] | None, start: Tensor | None) -> tuple[int, tuple[int, int],
                                                                                                  Tensor | None]:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch={batch!r}; expected a positive number of images")
    if start is not None:
        if not isinstance(start, Tensor) or start.ndim not in (3, 4) or start.shape[-3] != 3:
            shape = tuple(start.shape) if isinstance(start, Tensor) else type(start).__name__
            raise InputError(f"start has shape {shape}; expected an image (3, H, W) or images (B, 3, H, W) in [0, 1]")
        if not start.is_floating_point() or not torch.isfinite(start).all():
            raise InputError("start must hold finite floats in [0, 1]")
        start = start.detach() if start.ndim == 4 else start.detach().unsqueeze(0)
        if start.shape[0] not in (1, batch):
            raise InputError(f"start has {start.shape[0]} images for batch={batch}; give 1 or {batch}")
        start = start.expand(batch, -1, -1, -1)
        hw = (int(start.shape[-2]), int(start.shape[-1]))
        if size is not None:
            want = _check_size(size)
            want = (want, want) if isinstance(want, int) else want
            if want != hw:
                raise InputError(f"size={size!r} but start is {hw[0]}x{hw[1]}; give size=None or resize start")
        return batch, hw, start
    if size is None:
        raise InputError("size is required when no start image is given: an int or (H, W)")
    want = _check_size(size)
    return batch, ((want, want) if isinstance(want, int) else want), None


def _noise(shape: Sequence[int], sd: float, seed: int, device: torch.device | str | None) -> Tensor:
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.randn(*shape, generator=gen) * float(sd)).to(device or "cpu")


def pixel_image(batch: int = 1, size: int | Sequence[int] | None = 128, *, sd: float = 0.01, decorrelate: bool = True,
                start: Tensor | None = None, device: torch.device | str | None = None, seed: int = 0) -> PixelParam:
    """Pixel parameterization: ``B x 3 x H x W`` parameters, initialized ``N(0, sd^2)`` (a grey image).

    Args:
        batch: number of images ``B``.
        size: ``H = W`` (int) or ``(H, W)``; taken from ``start`` when ``None``.
        sd: standard deviation of the initial parameters (0 gives exactly 0.5 grey).
        decorrelate: parameters are decorrelated colour components (see the module docstring).
        start: ``(3, H, W)`` or ``(B, 3, H, W)`` image(s) in ``[0, 1]`` to start from instead.
        device: where the parameters live (pass the model's device).
        seed: seeds the initial noise (a local generator; global RNG untouched).
    """
    batch, hw, start = _batch_and_size(batch, size, start)
    param = PixelParam(_noise((batch, 3, *hw), sd, seed, device), decorrelate)
    if start is not None:
        param.set_image(start)
    return param


def fourier_image(batch: int = 1, size: int | Sequence[int] | None = 128, *, sd: float = 0.01,
                  decay_power: float = 1.0, decorrelate: bool = True, start: Tensor | None = None,
                  device: torch.device | str | None = None, seed: int = 0) -> FourierParam:
    """Fourier parameterization with 1/f spectrum scaling (see the module docstring).

    Arguments as :func:`pixel_image`; ``decay_power`` is the exponent of the 1/f scaling (0: a
    plain orthonormal FFT basis; 1: Lucid's default).
    """
    if not math.isfinite(decay_power) or decay_power < 0:
        raise InputError(f"decay_power={decay_power!r}; expected a number >= 0")
    batch, hw, start = _batch_and_size(batch, size, start)
    spectrum = _noise((batch, 3, hw[0], hw[1] // 2 + 1, 2), sd, seed, device)
    param = FourierParam(spectrum, hw, float(decay_power), decorrelate)
    if start is not None:
        param.set_image(start)
    return param


#: Parameterizations by name (``"pixel"``, ``"fourier"``); each ``(batch, size, **options)``.
PARAMETERIZATIONS: Registry = Registry("parameterization")
PARAMETERIZATIONS.register("pixel")(pixel_image)
PARAMETERIZATIONS.register("fourier")(fourier_image)


def image_param(kind: str, batch: int = 1, size: int | Sequence[int] | None = 128, **options) -> ImageParam:
    """The parameterization ``kind`` (a key of :data:`PARAMETERIZATIONS`) with its options."""
    return PARAMETERIZATIONS[kind](batch, size, **options)
