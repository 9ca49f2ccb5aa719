"""Corruptions, the data terms (the inpainting mask, the super-resolution downsampler) and input errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gaplens.core.errors import InputError
from gaplens.core.image_io import read_image, write_png
from gaplens.restore import add_noise, jpeg_compress, random_mask, restore, task_loss, text_mask


def test_masked_pixels_never_enter_the_loss_or_its_gradient():
    torch.manual_seed(0)
    observed = torch.rand(3, 16, 16)
    mask = random_mask((16, 16), missing=0.4, seed=2)
    out = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss = task_loss("inpaint", observed, mask)(out)
    loss.backward()
    missing = mask[0] == 0
    assert (out.grad[0][:, missing] == 0).all() and (out.grad[0][:, ~missing] != 0).all()
    # whatever sits in the missing pixels (even NaN) does not change the loss
    scrambled = observed.clone()
    scrambled[:, missing] = float("nan")
    assert task_loss("inpaint", scrambled, mask)(out).item() == pytest.approx(loss.item(), rel=1e-6)
    # the mean over known pixels, by brute force
    o, y, m = out.detach()[0].numpy(), observed.numpy(), mask[0].numpy()
    total = sum((o[c, i, j] - y[c, i, j]) ** 2 for c in range(3) for i in range(16) for j in range(16) if m[i, j])
    assert loss.item() == pytest.approx(total / (3 * m.sum()), rel=1e-5)


def test_super_resolution_loss_compares_the_pillow_downsampled_output():
    rng = np.random.default_rng(0)
    low = torch.from_numpy(rng.random((3, 8, 10)).astype(np.float32))
    out = torch.from_numpy(rng.random((1, 3, 32, 40)).astype(np.float32))
    down = np.stack([np.asarray(Image.fromarray(p, mode="F").resize((10, 8), Image.LANCZOS)) for p in out[0].numpy()])
    expected = float(np.mean((down - low.numpy()) ** 2))
    assert task_loss("super_resolution", low, factor=4)(out).item() == pytest.approx(expected, rel=1e-4)


def test_super_resolution_returns_the_enlarged_image(tiny, crop):
    low = torch.nn.functional.avg_pool2d(crop[None], 2)[0]
    result = restore(low, "super_resolution", factor=2, steps=3, settings=tiny, clean=crop, progress=False)
    assert result.image.shape == (3, 32, 32) and result.history[-1]["psnr"] > 0


def test_corruptions():
    clean = torch.full((3, 64, 64), 0.5)
    noisy = add_noise(clean, 25, seed=0)
    assert float((noisy - clean).std()) == pytest.approx(25 / 255, rel=0.05)
    assert torch.equal(noisy, add_noise(clean, 25, seed=0)) and not torch.equal(noisy, add_noise(clean, 25, seed=1))
    mask = random_mask((64, 64), missing=0.3, seed=0)
    assert mask.shape == (1, 64, 64) and float(1 - mask.mean()) == pytest.approx(0.3, abs=0.03)
    text = text_mask((64, 64))
    assert text.shape == (1, 64, 64) and 0.02 < float(1 - text.mean()) < 0.5


def test_jpeg_round_trip_is_pillows_and_loses_more_at_low_quality():
    from gaplens.data import sample_image

    clean = sample_image("astronaut", size=64)
    array = (clean.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=10)
    expected = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255
    low = jpeg_compress(clean, 10)
    np.testing.assert_array_equal(low.permute(1, 2, 0).numpy(), expected)
    assert (jpeg_compress(clean, 90) - clean).abs().mean() < (low - clean).abs().mean()


def test_bad_inputs_are_clear_errors(tiny, crop, tmp_path):
    with pytest.raises(InputError, match="task='blur'"):
        restore(crop, "blur")
    with pytest.raises(InputError, match="expected shape \\(3, H, W\\)"):
        restore(crop[:1], "denoise", settings=tiny)
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        restore(crop * 2, "denoise", settings=tiny)
    with pytest.raises(InputError, match="only task='inpaint' takes a mask"):
        restore(crop, "denoise", mask=torch.ones(1, 32, 32), settings=tiny)
    with pytest.raises(InputError, match="inpainting needs a"):
        restore(crop, "inpaint", settings=tiny)
    with pytest.raises(InputError, match="expected shape \\(1, 32, 32\\)"):
        restore(crop, "inpaint", mask=torch.ones(1, 16, 16), settings=tiny)
    with pytest.raises(InputError, match="clean: shape"):
        restore(crop, "super_resolution", factor=2, clean=crop, settings=tiny)
    with pytest.raises(InputError, match="neither an image file"):
        restore(str(tmp_path / "missing.png"), "denoise")
    with pytest.raises(InputError, match="stop='discrepancy' needs"):
        restore(crop, "jpeg", stop="discrepancy", settings=tiny)
    with pytest.raises(InputError, match="unknown field"):
        restore(crop, "denoise", settings={"widths": 3})
    mask_file = tmp_path / "mask.png"
    write_png(mask_file, torch.ones(3, 20, 20))
    with pytest.raises(InputError, match="mask.png.*20x20 pixels; the image is 32x32"):
        restore(crop, "inpaint", mask=str(mask_file), settings=tiny)


def test_a_mask_image_and_a_file_image_are_read(tiny, crop, tmp_path):
    mask = random_mask((32, 32), missing=0.5, seed=0)
    write_png(tmp_path / "mask.png", mask.expand(3, -1, -1))
    write_png(tmp_path / "photo.png", crop)
    from_files = restore(str(tmp_path / "photo.png"), "inpaint", mask=str(tmp_path / "mask.png"), steps=3,
                         settings=tiny, progress=False)
    from_tensors = restore(read_image(tmp_path / "photo.png"), "inpaint", mask=mask, steps=3, settings=tiny,
                           progress=False)
    torch.testing.assert_close(from_files.image, from_tensors.image, atol=1e-5, rtol=0)
