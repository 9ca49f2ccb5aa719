"""Tests of gaplens.data.synthetic: contract, determinism, label statistics, masks, shift."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gaplens.core.errors import InputError
from gaplens.data import synthetic
from gaplens.data.synthetic import SHAPE_NAMES, TEXTURE_NAMES, SyntheticSet, generate

TENSORS = ("images", "labels", "shape_labels", "texture_labels", "masks", "index")


def assert_same(a: SyntheticSet, b: SyntheticSet) -> None:
    for name in TENSORS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and torch.equal(x, y), name


# ------------------------------------------------------------------ contract


def test_shapes_dtypes_and_ranges():
    s = generate(12, classes=5, size=32, seed=1)
    assert len(s) == 12
    assert s.images.shape == (12, 3, 32, 32) and s.images.dtype == torch.float32
    assert s.masks.shape == (12, 1, 32, 32) and s.masks.dtype == torch.bool
    for name in ("labels", "shape_labels", "texture_labels", "index"):
        assert getattr(s, name).shape == (12,) and getattr(s, name).dtype == torch.int64
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0
    assert torch.isfinite(s.images).all()
    assert ((s.labels >= 0) & (s.labels < 5)).all()
    assert ((s.texture_labels >= 0) & (s.texture_labels < 5)).all()
    assert torch.equal(s.labels, s.shape_labels)
    assert s.class_names == list(SHAPE_NAMES[:5]) and s.texture_names == list(TEXTURE_NAMES[:5])
    assert (s.seed, s.start, s.texture_agreement, s.conflict, s.shift) == (1, 0, 1.0, False, False)
    assert torch.equal(s.index, torch.arange(12))


def test_names_are_unique_and_cover_16_classes():
    assert len(set(SHAPE_NAMES)) == len(SHAPE_NAMES) == 16
    assert len(set(TEXTURE_NAMES)) == len(TEXTURE_NAMES) == 16


def test_empty_set():
    s = generate(0, size=16)
    assert s.images.shape == (0, 3, 16, 16) and s.masks.shape == (0, 1, 16, 16) and len(s) == 0


def test_torch_dataset_protocol():
    s = generate(10, size=16, seed=2)
    image, label = s[3]
    assert torch.equal(image, s.images[3]) and label == int(s.labels[3])
    assert isinstance(label, int)
    images, labels = next(iter(torch.utils.data.DataLoader(s, batch_size=4)))
    assert torch.equal(images, s.images[:4]) and torch.equal(labels, s.labels[:4])


@pytest.mark.parametrize(
    "index, expected",
    [(slice(2, 5), [2, 3, 4]), ([4, 0, 4], [4, 0, 4]), (7, [7]), (np.array([1, 8]), [1, 8])],
)
def test_subset(index, expected):
    s = generate(10, size=16, seed=4, start=100, shift=True)
    sub = s.subset(index)
    assert isinstance(sub, SyntheticSet) and len(sub) == len(expected)
    assert torch.equal(sub.images, s.images[expected])
    assert torch.equal(sub.masks, s.masks[expected])
    assert torch.equal(sub.texture_labels, s.texture_labels[expected])
    assert sub.index.tolist() == [100 + i for i in expected]
    assert (sub.seed, sub.start, sub.shift) == (4, 100, True)


def test_subset_with_bool_mask_and_bad_index():
    s = generate(6, size=16)
    keep = s.labels == s.labels[0]
    assert torch.equal(s.subset(keep).labels, s.labels[keep])
    with pytest.raises(InputError, match="index"):
        s.subset([6])


# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"n": -1}, "n"),
        ({"n": 2.5}, "n"),
        ({"classes": 1}, "classes"),
        ({"classes": 17}, "classes"),
        ({"classes": True}, "classes"),
        ({"size": 15}, "size"),
        ({"texture_agreement": 1.5}, "texture_agreement"),
        ({"texture_agreement": -0.1}, "texture_agreement"),
        ({"texture_agreement": math.nan}, "texture_agreement"),
        ({"texture_agreement": "high"}, "texture_agreement"),
        ({"seed": -1}, "seed"),
        ({"start": -3}, "start"),
        ({"conflict": "yes"}, "conflict"),
        ({"shift": "yes"}, "shift"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, argument):
    args = {"n": 2, "size": 16} | kwargs
    with pytest.raises(InputError, match=argument):
        generate(**args)


def test_boundary_arguments_are_accepted():
    assert len(generate(1, classes=2, size=16, texture_agreement=0)) == 1
    assert generate(1, classes=16, size=16, texture_agreement=1).texture_agreement == 1.0


# ------------------------------------------------------------------ determinism


def test_same_seed_same_output_and_different_seeds_differ():
    a, b = generate(16, size=32, seed=7), generate(16, size=32, seed=7)
    assert_same(a, b)
    c = generate(16, size=32, seed=8)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"classes": 16, "conflict": True, "size": 40},
        {"classes": 3, "texture_agreement": 0.3, "shift": True, "size": 33},
    ],
)
def test_slice_equals_start_bit_for_bit(kwargs):
    whole = generate(24, seed=3, **kwargs)
    tail = generate(9, seed=3, start=15, **kwargs)
    assert_same(whole.subset(slice(15, None)), tail)
    assert_same(whole.subset([4]), generate(1, seed=3, start=4, **kwargs))


def test_chunk_size_does_not_change_results(monkeypatch):
    reference = generate(20, classes=16, size=32, texture_agreement=0.5, seed=11)
    for images_per_chunk in (1, 3, 7):
        monkeypatch.setattr(synthetic, "_CHUNK_PIXELS", images_per_chunk * 32 * 32)
        assert_same(generate(20, classes=16, size=32, texture_agreement=0.5, seed=11), reference)


def test_every_texture_and_shape_is_deterministic_under_regrouping():
    # images of all 16 shapes and textures computed together, then one by one
    together = generate(64, classes=16, size=24, texture_agreement=1 / 16, seed=5)
    assert set(together.texture_labels.tolist()) == set(range(16))
    for i in range(0, 64, 5):
        assert_same(
            together.subset([i]),
            generate(1, classes=16, size=24, texture_agreement=1 / 16, seed=5, start=i),
        )


def test_cue_conflict_set_is_paired_with_the_normal_set():
    normal = generate(32, size=32, seed=9)
    conflict = generate(32, size=32, seed=9, conflict=True)
    assert torch.equal(normal.labels, conflict.labels)
    assert torch.equal(normal.masks, conflict.masks)
    assert not torch.equal(normal.images, conflict.images)


# ------------------------------------------------------------------ label statistics


def test_conflict_never_matches_and_is_uniform_over_other_classes():
    s = generate(4000, classes=8, size=16, conflict=True, texture_agreement=1.0, seed=12)
    assert s.conflict and (s.texture_labels != s.labels).all()
    # within each shape class, the texture is uniform over the 7 other classes
    offset = (s.texture_labels - s.labels) % 8  # in 1..7
    counts = torch.bincount(offset, minlength=8)[1:].numpy()
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("p", [1.0, 0.5, 1 / 8, 0.0])
def test_agreement_frequency(p):
    n = 6000
    s = generate(n, classes=8, size=16, texture_agreement=p, seed=13)
    hits = int((s.texture_labels == s.labels).sum())
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(hits - n * p) <= 4 * sigma
    if p in (0.0, 1.0):
        assert hits == n * p


def test_labels_are_uniform():
    s = generate(6000, classes=12, size=16, seed=14)
    assert stats.chisquare(torch.bincount(s.labels, minlength=12).numpy()).pvalue > 1e-3


def test_random_texture_is_uniform_and_independent_of_shape():
    k = 8
    s = generate(8000, classes=k, size=16, texture_agreement=1 / k, seed=15)
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (s.labels.numpy(), s.texture_labels.numpy()), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-3  # independence
    assert stats.chisquare(table.sum(0)).pvalue > 1e-3  # texture marginal uniform


def test_colour_is_not_class_informative():
    s = generate(3000, classes=8, size=16, texture_agreement=1 / 8, seed=16)
    inside = s.masks.expand(-1, 3, -1, -1)
    pixels_in = inside.sum((2, 3)).clamp(min=1)
    mean_in = (s.images * inside).sum((2, 3)) / pixels_in  # (N, 3) object colour
    mean_out = (s.images * ~inside).sum((2, 3)) / (~inside).sum((2, 3))  # background colour
    for colours in (mean_in, mean_out):
        for channel in range(3):
            groups = [colours[s.labels == c, channel].numpy() for c in range(8)]
            assert stats.f_oneway(*groups).pvalue > 1e-3


# ------------------------------------------------------------------ masks and pixels


@pytest.mark.parametrize("shift", [False, True])
def test_masks_inside_image_nonempty_and_visible(shift):
    s = generate(160, classes=16, size=32, texture_agreement=1 / 16, shift=shift, seed=17)
    m = s.masks[:, 0]
    border = m[:, 0, :] | m[:, -1, :] | m[:, :, 0] | m[:, :, -1]
    assert not border.any()
    assert (m.sum((1, 2)) > 0).all()
    # every image differs inside vs outside: the background is one colour + mild noise,
    # a good share of the object's pixels lies clearly off that colour
    for image, mask in zip(s.images, m, strict=True):
        background = image[:, ~mask].median(dim=1).values
        far = (image[:, mask] - background[:, None]).abs().amax(0) > 0.1
        assert far.float().mean() > 0.25
        assert (image[:, ~mask] - background[:, None]).abs().amax() < 0.11


def test_shapes_are_distinct_under_rotation():
    k, size = 16, 96
    ids = np.arange(k)
    centre, radius = np.full(k, size / 2), np.full(k, 0.4 * size)
    base = synthetic._shape_masks(ids, size, centre, centre, radius, np.zeros(k))
    worst = np.zeros((k, k))
    for theta in np.linspace(0, 2 * np.pi, 36, endpoint=False):
        rotated = synthetic._shape_masks(ids, size, centre, centre, radius, np.full(k, theta))
        inter = (base[:, None] & rotated[None]).sum((2, 3))
        union = (base[:, None] | rotated[None]).sum((2, 3))
        worst = np.maximum(worst, inter / union)
    np.fill_diagonal(worst, 0.0)
    assert worst.max() < 0.9, np.unravel_index(worst.argmax(), worst.shape)


def test_shift_changes_object_size_colours_and_texture_scale():
    normal = generate(300, size=64, seed=19)
    shifted = generate(300, size=64, seed=19, shift=True)
    area = normal.masks.float().mean().item()
    area_shifted = shifted.masks.float().mean().item()
    assert area_shifted < 0.6 * area
    outside = ~normal.masks.expand(-1, 3, -1, -1)
    outside_shifted = ~shifted.masks.expand(-1, 3, -1, -1)
    background = normal.images[outside].mean().item()
    background_shifted = shifted.images[outside_shifted].mean().item()
    assert background - background_shifted > 0.2

    def transitions(s: SyntheticSet) -> float:
        """Share of horizontal neighbours inside the object that differ by > 1/3 contrast."""
        grey = s.images.mean(1)
        inside = s.masks[:, 0]
        big = torch.where(inside, grey, -1.0).amax((1, 2)) - torch.where(inside, grey, 2.0).amin((1, 2))
        change = (grey[:, :, 1:] - grey[:, :, :-1]).abs() > big[:, None, None] / 3
        both = inside[:, :, 1:] & inside[:, :, :-1]
        return (change & both).sum().item() / both.sum().item()

    # textures are finer: periods 0.07-0.10 instead of 0.12-0.19 of the image
    assert transitions(shifted) > 1.3 * transitions(normal)


def test_shift_strength_interpolates_between_the_endpoints():
    from gaplens.data.synthetic import generate as gen

    area = {s: float(gen(300, seed=4, shift=s).masks.float().mean()) for s in (False, 0.0, 0.5, 1.0, True)}
    assert area[False] == area[0.0] and area[True] == area[1.0]
    assert area[1.0] < area[0.5] < area[0.0]
    assert torch.equal(gen(5, seed=2, shift=0.0).images, gen(5, seed=2, shift=False).images)
    assert torch.equal(gen(5, seed=2, shift=1.0).images, gen(5, seed=2, shift=True).images)
    with pytest.raises(InputError, match="shift"):
        gen(2, shift=1.5)


def test_sets_too_large_for_memory_are_refused_before_allocating() -> None:
    with pytest.raises(InputError, match=r"n: expected an integer between 0 and 1000000, got 99999999999"):
        generate(99999999999)
    with pytest.raises(InputError, match=r"n: 500000 images of 64x64 px would take 24\.8 GiB .* start="):
        generate(500000)
