"""Tests of gaplens.explain.render: normalization against a numpy oracle, blends, the grid figure."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.explain.render import attribution_grid_figure, render
from gaplens.report.figures import save_figure

# the module itself: gaplens.explain re-exports the function `render`, which shadows the submodule's name
render_module = importlib.import_module("gaplens.explain.render")


def oracle(attr: np.ndarray, mode: str, percentile: float) -> np.ndarray:
    """The normalization written out per image with numpy: (N, C, H, W) -> (N, 1, H, W)."""
    out = []
    for a in attr:
        if mode == "abs":
            m = np.abs(a).sum(axis=0)
            q = np.percentile(m, percentile, method="linear")
            q = q if q > 0 else (m.max() if m.max() > 0 else 1.0)
            out.append(np.minimum(m, q) / q)
        else:
            s = a.sum(axis=0)
            q = np.percentile(np.abs(s), percentile, method="linear")
            q = q if q > 0 else (np.abs(s).max() if np.abs(s).max() > 0 else 1.0)
            out.append(np.clip(s / q, -1.0, 1.0))
    return np.stack(out)[:, None]


def heavy_tailed(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) ** 3  # outliers, so clipping matters


@pytest.mark.parametrize("mode", ["abs", "diverging"])
@pytest.mark.parametrize("percentile", [99.0, 90.0, 50.5, 100.0])
def test_matches_numpy_oracle(mode: str, percentile: float) -> None:
    attr = heavy_tailed(3, 3, 17, 13)
    attr[1] *= 1000.0  # per-image scaling: image 1 must not change the others
    out = render(attr, mode=mode, percentile=percentile)
    assert out.shape == (3, 1, 17, 13) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), oracle(attr.numpy(), mode, percentile), rtol=1e-12, atol=1e-12)
    low = 0.0 if mode == "abs" else -1.0
    assert out.min() >= low and out.max() <= 1.0
    assert out.max() == 1.0  # the clipped top percent saturates
    if mode == "diverging":
        assert out.min() == -1.0
        assert torch.equal(torch.sign(out), torch.sign(attr.sum(1, keepdim=True)))


def test_float32_and_one_channel_gradcam_map() -> None:
    cam = torch.relu(heavy_tailed(2, 1, 7, 7, seed=1)).float()
    out = render(cam)
    assert out.dtype == torch.float32 and out.shape == (2, 1, 7, 7)
    np.testing.assert_allclose(out.numpy(), oracle(cam.double().numpy(), "abs", 99.0), rtol=1e-5, atol=1e-6)
    assert render(cam.half()).dtype == torch.float32
    assert render(torch.ones(1, 1, 2, 2, dtype=torch.long)).dtype == torch.float32


@pytest.mark.parametrize("mode", ["abs", "diverging"])
def test_kthvalue_path_for_large_maps_equals_quantile(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    attr = heavy_tailed(2, 3, 31, 29, seed=2)
    expected = render(attr, mode=mode, percentile=97.3)
    assert render_module._QUANTILE_MAX == 2**24
    monkeypatch.setattr(render_module, "_QUANTILE_MAX", 100)  # force the torch.quantile-size fallback
    large = render(attr, mode=mode, percentile=97.3)
    torch.testing.assert_close(large, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(large.numpy(), oracle(attr.numpy(), mode, 97.3), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(render(attr, mode=mode, percentile=100.0), expected.new_tensor(
        oracle(attr.numpy(), mode, 100.0)))


def test_map_over_torch_quantile_limit() -> None:
    attr = torch.zeros(1, 1, 4097, 4097)  # 2**24 + 8193 elements: torch.quantile would refuse it
    attr[0, 0, :8, :8] = torch.arange(64.0).view(8, 8)
    out = render(attr, percentile=99.999)
    assert out.shape == attr.shape and torch.isfinite(out).all()
    # sorted values: 0 ... 0, 1, ..., 63; the 99.999th percentile lies between two zeros -> max is used
    assert out.max() == 1.0 and out[0, 0, 0, 1] == pytest.approx(1 / 63)


def test_zero_maps_stay_zero_without_nan() -> None:
    attr = torch.zeros(3, 3, 8, 8)
    attr[1, :, 2, 3] = 5.0  # a single bright pixel: the 99th percentile is 0, so the max scales it
    for mode in ("abs", "diverging"):
        out = render(attr, mode=mode)
        assert torch.isfinite(out).all()
        assert (out[0] == 0).all() and (out[2] == 0).all()
        assert out[1, 0, 2, 3] == 1.0 and out[1].sum() == 1.0
    blended = render(attr, image=torch.full((3, 3, 8, 8), 0.5), mode="blend", alpha=1.0)
    assert torch.isfinite(blended).all()
    black = torch.tensor(colormaps["inferno"](0.0)[:3], dtype=torch.float32)
    torch.testing.assert_close(blended[0], black.view(3, 1, 1).expand(3, 8, 8))


def test_three_d_input_gives_three_d_output() -> None:
    attr = heavy_tailed(3, 9, 9, seed=3)
    for mode in ("abs", "diverging"):
        out = render(attr, mode=mode)
        assert out.shape == (1, 9, 9)
        torch.testing.assert_close(out, render(attr[None], mode=mode)[0])
    image = torch.rand(3, 9, 9)
    blended = render(attr, image=image, mode="blend")
    assert blended.shape == (3, 9, 9)
    torch.testing.assert_close(blended, render(attr[None], image=image[None], mode="blend")[0])


def test_blend_shape_range_alpha_and_resize() -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32)
    cam = torch.rand(2, 1, 4, 4)  # low-resolution Grad-CAM
    out = render(cam, image=images, mode="blend", alpha=0.6)
    assert out.shape == (2, 3, 32, 32) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(render(cam, image=images, mode="blend", alpha=0.0), images, rtol=0, atol=0)
    # alpha = 1: the colour map alone; every pixel is an inferno colour, brighter where the map is higher
    pure = render(cam, image=images, mode="blend", alpha=1.0)
    lut = torch.tensor(colormaps["inferno"](np.linspace(0, 1, 256))[:, :3], dtype=torch.float32)
    pixels = pure.permute(0, 2, 3, 1).reshape(-1, 1, 3)
    assert (pixels - lut).abs().amax(-1).amin(-1).max() < 1e-6
    heat = torch.nn.functional.interpolate(render(cam), size=(32, 32), mode="bilinear", align_corners=False)
    luminance = pure.mean(1, keepdim=True)
    assert torch.corrcoef(torch.stack([heat.flatten(), luminance.flatten()]))[0, 1] > 0.95
    # the blend is linear in alpha
    half = render(cam, image=images, mode="blend", alpha=0.5)
    torch.testing.assert_close(half, 0.5 * images + 0.5 * pure)


def test_blend_needs_matching_image() -> None:
    attr = torch.randn(2, 3, 8, 8)
    with pytest.raises(InputError, match="image"):
        render(attr, mode="blend")
    with pytest.raises(InputError, match=r"\(2, 3, H, W\)"):
        render(attr, image=torch.rand(1, 3, 8, 8), mode="blend")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        render(attr, image=torch.rand(2, 3, 8, 8) * 255, mode="blend")
    with pytest.raises(InputError, match="alpha"):
        render(attr, image=torch.rand(2, 3, 8, 8), mode="blend", alpha=1.5)


def test_bad_arguments_raise_input_error() -> None:
    attr = torch.randn(2, 3, 8, 8)
    with pytest.raises(InputError) as info:
        render(attr, mode="hot")
    assert "mode='hot'" in str(info.value)
    for mode in ("abs", "diverging", "blend"):
        assert mode in str(info.value)
    for percentile in (0, -5, 100.5, float("nan"), True):
        with pytest.raises(InputError, match="percentile"):
            render(attr, percentile=percentile)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        render(torch.randn(8, 8))
    with pytest.raises(InputError, match="torch.Tensor"):
        render(np.zeros((1, 3, 4, 4)))
    bad = attr.clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"images \[1\]"):
        render(bad)


def test_keeps_device_and_leaves_input_alone() -> None:
    attr = torch.randn(2, 3, 8, 8, requires_grad=True)
    before = attr.detach().clone()
    out = render(attr, mode="diverging")
    assert out.device == attr.device and not out.requires_grad
    assert torch.equal(attr.detach(), before)


def test_grid_figure_axes_titles_and_png(tmp_path: Path) -> None:
    torch.manual_seed(0)
    images = torch.rand(3, 3, 16, 16)
    maps = {
        "gradient": torch.randn(3, 3, 16, 16),
        "grad-cam $layer4$": torch.rand(3, 1, 4, 4),  # different channels and size; '$' stays literal
        "integrated gradients": torch.randn(3, 3, 16, 16),
    }
    titles = ["cat (logit 3.2)", "price $5 tag", "$\\frac{unbalanced"]  # would break mathtext
    scores = {"gradient": [0.1, 0.25, 0.9]}
    fig = attribution_grid_figure(images, maps, titles=titles, scores=scores, title="test $set")
    assert isinstance(fig, Figure)
    grid = [ax for ax in fig.axes if ax.images]
    assert len(grid) == 3 * (1 + len(maps))
    top = grid[: 1 + len(maps)]
    assert [ax.get_title() for ax in top[1:]] == list(maps)
    assert [grid[r * 4].get_title() for r in range(3)] == titles
    assert [grid[r * 4 + 1].get_xlabel() for r in range(3)] == ["0.1", "0.25", "0.9"]
    cam_cell = top[2].images[0].get_array()
    assert cam_cell.shape == (16, 16)  # resized to the image
    assert cam_cell.min() >= 0 and cam_cell.max() <= 1
    assert fig._suptitle.get_text() == "test $set"
    path = save_figure(fig, tmp_path / "grid.png")
    assert path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grid_figure_diverging_and_blend(tmp_path: Path) -> None:
    torch.manual_seed(1)
    images = torch.rand(2, 3, 12, 12)
    maps = {"a": torch.randn(2, 3, 12, 12), "b": torch.randn(2, 1, 6, 6)}
    fig = attribution_grid_figure(images, maps, mode="diverging")
    cells = [ax.images[0] for ax in fig.axes if ax.images and ax.images[0].get_array().ndim == 2]
    assert len(cells) == 4
    assert all(c.get_clim() == (-1.0, 1.0) and c.get_cmap().name == "bwr" for c in cells)
    assert save_figure(fig, tmp_path / "div.png").stat().st_size > 0
    long = "an extremely long class name that goes on and on (logit 2.0)"
    fig = attribution_grid_figure(images, maps, titles=[long, "y"], mode="blend")
    head = fig.axes[0].get_title()
    assert head.startswith("an extremely long") and head.count("\n") == 1 and head.endswith("\u2026")
    assert sum(1 for ax in fig.axes if ax.images) == 6
    assert save_figure(fig, tmp_path / "blend.png").stat().st_size > 0


def test_grid_figure_rejects_mismatches() -> None:
    images = torch.rand(2, 3, 8, 8)
    maps = {"g": torch.randn(2, 3, 8, 8)}
    with pytest.raises(InputError, match="maps\\['h'\\]"):
        attribution_grid_figure(images, {**maps, "h": torch.randn(3, 3, 8, 8)})
    with pytest.raises(InputError, match="titles"):
        attribution_grid_figure(images, maps, titles=["one"])
    with pytest.raises(InputError, match="not in maps"):
        attribution_grid_figure(images, maps, scores={"other": [1.0, 2.0]})
    with pytest.raises(InputError, match="mode"):
        attribution_grid_figure(images, maps, mode="jet")
    with pytest.raises(InputError, match="empty"):
        attribution_grid_figure(images, {})
