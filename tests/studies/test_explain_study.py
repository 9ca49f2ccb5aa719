"""The explain study's helpers: the mask-fraction metric against closed forms, image batches, targets."""

from __future__ import annotations

import torch

from gaplens.data.spec import load_image_batch
from gaplens.studies.explain import mask_fraction


def test_mask_fraction_closed_forms():
    masks = torch.zeros(3, 1, 10, 10, dtype=torch.bool)
    masks[:, :, 2:6, 3:8] = True  # area 20 / 100
    inside = torch.zeros(3, 3, 10, 10)
    inside[:, :, 3, 4] = 1.0
    uniform = torch.ones(3, 3, 10, 10)
    outside = torch.zeros(3, 3, 10, 10)
    outside[:, 0, 9, 9] = -2.0
    torch.testing.assert_close(mask_fraction(inside, masks), torch.ones(3))
    torch.testing.assert_close(mask_fraction(uniform, masks), torch.full((3,), 0.2))
    torch.testing.assert_close(mask_fraction(outside, masks), torch.zeros(3))
    torch.testing.assert_close(mask_fraction(torch.zeros(3, 3, 10, 10), masks), torch.zeros(3))


def test_load_image_batch_kinds(tmp_path):
    from gaplens.core.image_io import write_png

    sample = load_image_batch("sample:astronaut", size=(24, 24))
    assert sample.images.shape == (1, 3, 24, 24) and sample.labels is None
    write_png(tmp_path / "one.png", torch.rand(3, 8, 9))
    single = load_image_batch(str(tmp_path / "one.png"))
    assert single.images.shape == (1, 3, 8, 9) and single.ids == ["one.png"]
    for cls in ("2", "10"):
        for i in range(3):
            write_png(tmp_path / "folder" / cls / f"{i}.png", torch.rand(3, 8, 8))
    folder = load_image_batch(str(tmp_path / "folder"), limit=4)
    assert len(folder) == 4 and folder.class_names == ["2", "10"]
    assert set(folder.labels.tolist()) == {0, 1}
    synth = load_image_batch("synthetic:n=50,classes=3,size=16,seed=1", limit=5)
    assert len(synth) == 5 and synth.masks.shape == (5, 1, 16, 16)
