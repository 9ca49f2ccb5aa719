"""Phase noise keeps the amplitude spectrum; power equalisation imposes the target spectrum exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.robustness import distort, mean_amplitude_spectrum, published_mean_spectrum
from gaplens.robustness.base import ImageRandom
from gaplens.robustness.spectral import _published_scramble, phase_scramble, power_equalise


def _grey(x: torch.Tensor) -> torch.Tensor:
    return 0.2125 * x[:, :1] + 0.7154 * x[:, 1:2] + 0.0721 * x[:, 2:]


def _rng(n: int, seed: int = 0) -> ImageRandom:
    return ImageRandom(seed, torch.arange(n), torch.device("cpu"))


@pytest.mark.parametrize("size", [(32, 32), (31, 24), (17, 21)])
@pytest.mark.parametrize("width", [30, 90, 180])
def test_corrected_phase_noise_keeps_the_amplitude_spectrum(size, width):
    grey = _grey(torch.rand(3, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    out = phase_scramble(grey, width, _rng(3), variant="corrected")
    before, after = np.fft.fft2(grey.numpy()), np.fft.fft2(out.numpy())
    np.testing.assert_allclose(np.abs(after), np.abs(before), rtol=1e-9, atol=1e-9)
    # the phases moved by at most `width` degrees, and by width/2 on average (uniform shifts)
    shift = np.degrees(np.abs(np.angle(after / before)))
    assert shift.max() <= width + 1e-6
    assert abs(shift.mean() - width / 2) < 0.08 * width
    assert not np.allclose(out.numpy(), grey.numpy(), atol=1e-3)


def _authors_scramble_phases(channel: np.ndarray, phase_shifts: np.ndarray) -> np.ndarray:
    """scramble_phases of the published image_manipulation.py on one even-sized grey channel, given its draws."""
    f = np.fft.fftshift(np.fft.fft2(channel))
    f_amp, f_phase = np.abs(f), np.angle(f)
    flat = f_phase[1:, 1:].flatten()
    length = flat.shape[0]
    flat[:length // 2] += phase_shifts
    flat[length // 2 + 1:] -= phase_shifts
    f_phase[1:, 1:] = flat.reshape(f_phase[1:, 1:].shape)
    return np.fft.ifft2(np.fft.ifftshift(f_amp * np.exp(1j * f_phase))).real


@pytest.mark.parametrize("size", [(32, 32), (224, 224), (24, 40)])
def test_published_phase_noise_is_the_authors_procedure(size):
    grey = _grey(torch.rand(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    half = (size[0] - 1) * (size[1] - 1) // 2
    shifts = (torch.rand(2, half, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) - 0.5) * 2 * np.pi
    ours = _published_scramble(grey, shifts).numpy()[:, 0]
    for i in range(2):
        np.testing.assert_allclose(ours[i], _authors_scramble_phases(grey[i, 0].numpy(), shifts[i].numpy()),
                                   rtol=0, atol=1e-12)
    # the distortion draws its shifts per image; the mean grey (zero frequency) is kept
    out = phase_scramble(grey, 90, _rng(2))
    torch.testing.assert_close(out.mean(dim=(-2, -1)), grey.mean(dim=(-2, -1)), rtol=0, atol=1e-12)


def _power_ratio(out: torch.Tensor, grey: torch.Tensor) -> float:
    """Power of the non-constant part of ``out`` over that of ``grey`` (sum of squares about the mean)."""
    centred = lambda x: x - x.mean(dim=(-2, -1), keepdim=True)  # noqa: E731
    return float((centred(out) ** 2).sum() / (centred(grey) ** 2).sum())


@pytest.mark.parametrize(("width", "published_ratio"), [(30, 0.96), (90, 0.73), (180, 0.45)])
def test_published_phase_noise_loses_power_like_the_published_stimuli(width, published_ratio):
    """Conjugate-pairing effect: power before clipping (1 + sinc(w)^2) / 2 of the input; issue: 0.96/0.73/0.45."""
    grey = _grey(torch.rand(8, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(6)))
    ratio = _power_ratio(phase_scramble(grey, width, _rng(8)), grey)
    w = np.radians(width)
    expected = (1 + (np.sin(w) / w) ** 2) / 2
    # the published code leaves the Nyquist row and column (row and column 0 of the centred spectrum) alone
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey.numpy()[:, 0]), axes=(-2, -1))) ** 2
    power[:, 32, 32] = 0  # the mean
    kept = (power[:, 0, :].sum() + power[:, 1:, 0].sum()) / power.sum()
    assert ratio == pytest.approx(kept + (1 - kept) * expected, abs=0.01)
    # the single-image numbers scatter about the expectation (natural images: a few strong components;
    # e.g. 0.43-0.59 over draws at 180 degrees on scikit-image's 224 px photos)
    assert ratio == pytest.approx(published_ratio, abs=0.07)
    # the corrected variant keeps the power (the amplitude spectrum is unchanged)
    assert _power_ratio(phase_scramble(grey, width, _rng(8), "corrected"), grey) == pytest.approx(1, abs=1e-9)


def test_published_phase_shifts_are_triangular_and_shrink_amplitudes():
    """Effective shift = mean of two uniform draws (mean |shift| w/3, not w/2); amplitude scaled by |cos(d/2)|."""
    grey = _grey(torch.rand(4, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(7)))
    out = phase_scramble(grey, 90, _rng(4))
    before, after = np.fft.fft2(grey.numpy()[:, 0]), np.fft.fft2(out.numpy()[:, 0])
    inner = (slice(None), slice(1, 32), slice(1, 32))  # away from the untouched Nyquist row and column
    shift = np.degrees(np.abs(np.angle(after[inner] / before[inner])))
    assert shift.max() <= 90 + 1e-6
    assert shift.mean() == pytest.approx(30, abs=1.5)
    gain = np.abs(after[inner]) / np.abs(before[inner])
    # E|cos(d/2)| for d the difference of two uniforms on [-pi/2, pi/2]
    d = np.subtract.outer(np.linspace(-np.pi / 2, np.pi / 2, 801), np.linspace(-np.pi / 2, np.pi / 2, 801))
    assert gain.max() <= 1 + 1e-9 and gain.mean() == pytest.approx(np.abs(np.cos(d / 2)).mean(), abs=0.01)
    with pytest.raises(InputError, match="variant"):
        distort(torch.rand(1, 3, 8, 8), "phase_noise", 90, variant="fixed")


def test_phase_noise_of_width_zero_is_the_identity(images):
    grey = _grey(images.double())
    for variant in ("published", "corrected"):
        torch.testing.assert_close(phase_scramble(grey, 0, _rng(4), variant), grey, rtol=0, atol=1e-14)
    assert torch.equal(distort(images, "phase_noise", 0), distort(images, "colour", "greyscale"))
    scrambled = distort(images, "phase_noise", 90)
    assert torch.equal(scrambled[:, 0], scrambled[:, 2]) and scrambled.min() >= 0 and scrambled.max() <= 1


def test_power_equalisation_gives_the_target_spectrum(images):
    grey = _grey(images.double())
    target = mean_amplitude_spectrum(torch.rand(5, 3, 32, 32, dtype=torch.float64)).numpy()
    out = power_equalise(grey, torch.as_tensor(target))
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(out.numpy()), axes=(-2, -1)))
    np.testing.assert_allclose(amplitude[:, 0], np.broadcast_to(target, (4, 32, 32)), rtol=1e-9, atol=1e-9)
    # ... and keeps each image's phases
    np.testing.assert_allclose(np.angle(np.fft.fft2(out.numpy())[..., 1:5, 1:5]),
                               np.angle(np.fft.fft2(grey.numpy())[..., 1:5, 1:5]), atol=1e-9)


def test_power_equalisation_to_the_batch_mean_spectrum(images):
    """Named target "batch_mean"; also the default at sizes other than 224 x 224, where no published spectrum exists."""
    grey = _grey(images.double())
    mean = np.abs(np.fft.fftshift(np.fft.fft2(grey[:, 0].numpy()), axes=(-2, -1))).mean(0)
    out = power_equalise(grey, "batch_mean")
    torch.testing.assert_close(power_equalise(grey), out, rtol=0, atol=0)
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(out.numpy()), axes=(-2, -1)))
    np.testing.assert_allclose(amplitude[:, 0], np.broadcast_to(mean, (4, 32, 32)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mean_amplitude_spectrum(images.double()).numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(mean_amplitude_spectrum((images.double(), torch.zeros(4)), batch_size=3).numpy(),
                               mean, rtol=1e-12)


def test_an_uneven_target_is_replaced_by_its_even_part(images):
    grey = _grey(images.double())
    target = torch.rand(32, 32, dtype=torch.float64) * 50
    out = power_equalise(grey, target)
    unshifted = np.fft.ifftshift(target.numpy())
    even = (unshifted + np.roll(unshifted[::-1, ::-1], 1, axis=(0, 1))) / 2
    np.testing.assert_allclose(np.abs(np.fft.fft2(out.numpy()))[:, 0], np.broadcast_to(even, (4, 32, 32)),
                               rtol=1e-9, atol=1e-9)


def test_power_equalisation_with_the_published_imagenet_spectrum(imagenet_spectrum, smooth_images):
    x = smooth_images(2, 224, dtype=torch.float64)
    out = power_equalise(_grey(x), torch.as_tensor(imagenet_spectrum))
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(out.numpy()), axes=(-2, -1)))[:, 0]
    np.testing.assert_allclose(amplitude, np.broadcast_to(imagenet_spectrum, (2, 224, 224)), rtol=1e-8,
                               atol=1e-6 * imagenet_spectrum.max())
    assert abs(float(out.mean()) - imagenet_spectrum[112, 112] / 224 ** 2) < 1e-9  # DC sets the mean grey
    clipped = distort(x.float(), "power_equalisation", "equalised", target_spectrum=imagenet_spectrum)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_power_equalisation_defaults_to_the_published_imagenet_spectrum(imagenet_spectrum, smooth_images):
    """At the paper's 224 x 224 the default target is the published spectrum: an image's output is its own."""
    np.testing.assert_array_equal(published_mean_spectrum(), imagenet_spectrum)  # the shipped copy is the published
    x = smooth_images(3, 224, dtype=torch.float64)
    default = distort(x, "power_equalisation", "equalised")
    named = distort(x, "power_equalisation", "equalised", target_spectrum="imagenet")
    given = distort(x, "power_equalisation", "equalised", target_spectrum=imagenet_spectrum)
    assert torch.equal(default, named)
    torch.testing.assert_close(default, given, rtol=0, atol=1e-12)
    # one image's output no longer depends on the others in its batch (the batch mean did: max difference 0.5)
    torch.testing.assert_close(distort(x[:1], "power_equalisation", "equalised"), default[:1], rtol=0, atol=1e-12)
    batch_mean = distort(x, "power_equalisation", "equalised", target_spectrum="batch_mean")
    assert not torch.allclose(distort(x[:1], "power_equalisation", "equalised", target_spectrum="batch_mean"),
                              batch_mean[:1], atol=1e-3)
    with pytest.raises(InputError, match="224x224"):
        distort(x[..., :32, :32], "power_equalisation", "equalised", target_spectrum="imagenet")
    with pytest.raises(InputError, match="batch_mean"):
        distort(x, "power_equalisation", "equalised", target_spectrum="mean")
