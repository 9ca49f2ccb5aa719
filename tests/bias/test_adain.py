"""AdaIN: the output has the style's channel statistics; alpha blends with the content."""

from __future__ import annotations

import pytest
import torch

from gaplens.bias import adain, channel_mean_std
from gaplens.core.errors import InputError


def _features(seed: int, n: int = 3, c: int = 16, h: int = 9, w: int = 7, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    mean = torch.randn(n, c, 1, 1, generator=gen, dtype=dtype) * 2
    scale = torch.rand(n, c, 1, 1, generator=gen, dtype=dtype) * 3 + 0.5
    return mean + scale * torch.randn(n, c, h, w, generator=gen, dtype=dtype)


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference statistics, independent of the implementation: population mean and std."""
    flat = x.flatten(2)
    return flat.mean(-1), ((flat - flat.mean(-1, keepdim=True)) ** 2).mean(-1).sqrt()


def test_output_channel_means_and_stds_equal_the_style():
    content = 3.0 * _features(0)
    style = _features(1, h=5, w=11)  # another spatial size
    out = adain(content, style)
    assert out.shape == content.shape
    (out_mean, out_std), (style_mean, style_std) = _stats(out), _stats(style)
    torch.testing.assert_close(out_mean, style_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_std, style_std, atol=1e-5, rtol=0)


def test_exact_without_eps_in_double_precision():
    content, style = _features(2, dtype=torch.float64), _features(3, dtype=torch.float64)
    out = adain(content, style, eps=0.0)
    for got, want in zip(_stats(out), _stats(style), strict=True):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    # the normalized content keeps its spatial pattern: an affine map per channel
    expected = (content - content.mean((2, 3), keepdim=True)) / _stats(content)[1][..., None, None]
    expected = expected * _stats(style)[1][..., None, None] + _stats(style)[0][..., None, None]
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_alpha_zero_returns_the_content_and_alpha_blends():
    content, style = _features(4), _features(5)
    out = adain(content, style, alpha=0.0)
    assert torch.equal(out, content) and out is not content
    half = adain(content, style, alpha=0.5)
    torch.testing.assert_close(half, 0.5 * adain(content, style) + 0.5 * content)


def test_one_style_for_every_content_image_and_gradients():
    content = (3.0 * _features(6)).requires_grad_(True)
    style = _features(7, n=1).requires_grad_(True)
    out = adain(content, style)
    torch.testing.assert_close(_stats(out)[1], _stats(style)[1].expand(3, -1), atol=1e-5, rtol=0)
    out.square().sum().backward()
    assert content.grad is not None and style.grad is not None and torch.isfinite(style.grad).all()


def test_constant_maps_do_not_give_nan():
    out = adain(torch.ones(1, 2, 4, 4), _features(8, n=1, c=2))
    assert torch.isfinite(out).all()
    mean, std = channel_mean_std(torch.ones(1, 2, 1, 1))
    assert torch.isfinite(std).all()


def test_bad_inputs():
    with pytest.raises(InputError, match="channels"):
        adain(_features(0, c=4), _features(1, c=5))
    with pytest.raises(InputError, match="batch size"):
        adain(_features(0, n=3), _features(1, n=2))
    with pytest.raises(InputError, match="alpha"):
        adain(_features(0), _features(1), alpha=1.5)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        adain(torch.zeros(3, 4), _features(1))
