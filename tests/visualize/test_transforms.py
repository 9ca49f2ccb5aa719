"""Transforms (Lucid's standard list) and image regularizers."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.visualize.objectives import Context
from gaplens.visualize.transforms import (
    STANDARD,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    blur,
    l2,
    resolve_transforms,
    total_variation,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ctx(images: torch.Tensor) -> Context:
    return Context(images, images, torch.zeros(images.shape[0], 2))


def test_pad_and_jitter_geometry():
    x = torch.rand(2, 3, 20, 24, generator=_gen())
    padded = Pad(3)(x, _gen())
    assert padded.shape == (2, 3, 26, 30) and torch.equal(padded[..., 3:-3, 3:-3], x)
    assert (padded[..., 0, :] == 0.5).all()
    crop = Jitter(4)(x, _gen(1))
    assert crop.shape == (2, 3, 16, 20)
    # a crop: some window of the input, the same for every image
    windows = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(x[..., dy : dy + 16, dx : dx + 20], crop)]
    assert len(windows) == 1


def test_rotation_and_scale():
    x = torch.arange(36.0).view(1, 1, 6, 6).expand(2, 3, 6, 6)
    assert torch.allclose(RandomRotate([90])(x, _gen()), torch.rot90(x, 1, (-2, -1)), atol=1e-4)
    assert torch.equal(RandomRotate([0])(x, _gen()), x)
    assert RandomScale([1.5])(x, _gen()).shape == (2, 3, 9, 9)


def test_standard_is_lucids_list_and_is_seeded():
    assert [type(t).__name__ for t in STANDARD] == ["Pad", "Jitter", "RandomScale", "RandomRotate", "Jitter"]
    assert (STANDARD[0].width, STANDARD[1].d, STANDARD[4].d) == (12, 8, 4)
    assert min(STANDARD[2].scales) == pytest.approx(0.9) and max(STANDARD[2].scales) == pytest.approx(1.1)
    pipeline = resolve_transforms("standard")
    x = torch.rand(2, 3, 32, 32, generator=_gen(), requires_grad=True)
    a, b = pipeline(x, _gen(7)), pipeline(x, _gen(7))
    assert torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert len(resolve_transforms(None).transforms) == 0 and len(resolve_transforms("none").transforms) == 0
    with pytest.raises(InputError, match="transforms='lucid'"):
        resolve_transforms("lucid")
    with pytest.raises(InputError, match="Jitter"):
        Jitter(0)


def test_regularizers_values():
    x = torch.rand(2, 3, 8, 8, generator=_gen())
    assert torch.allclose(l2()(_ctx(x)), (x - 0.5).pow(2).flatten(1).mean(1))
    centre = torch.tensor([0.2, 0.4, 0.6])
    assert torch.allclose(l2(centre)(_ctx(x)), (x - centre.view(1, 3, 1, 1)).pow(2).flatten(1).mean(1))
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(total_variation()(_ctx(flat)), torch.zeros(2))
    assert torch.allclose(blur(1.0)(_ctx(flat)), torch.zeros(2), atol=1e-10)
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1.0
    assert torch.allclose(total_variation()(_ctx(stripes)), torch.tensor([1.0]))  # |dx| = 1 everywhere, dy = 0
    assert blur(1.0)(_ctx(stripes)) > 0
    with pytest.raises(InputError, match="sigma"):
        blur(0.0)
