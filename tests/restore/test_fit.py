"""The fitting loop: determinism, the moving average against a hand loop, denoising gains, the prior."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gaplens.restore import (
    add_noise,
    build_network,
    fit_curves,
    prior_images,
    psnr,
    restore,
    steps_to_reach,
)
from gaplens.restore.fit import network_input


def test_the_same_seed_gives_the_same_result_and_another_seed_another(tiny, crop):
    noisy = add_noise(crop, 25, seed=1)
    runs = [restore(noisy, "denoise", steps=8, seed=s, settings=tiny, progress=False) for s in (3, 3, 4)]
    assert torch.equal(runs[0].image, runs[1].image)
    assert [r["loss"] for r in runs[0].history] == [r["loss"] for r in runs[1].history]
    assert not torch.allclose(runs[0].image, runs[2].image)


def test_the_global_rng_is_left_alone(tiny, crop):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    restore(crop, "denoise", steps=2, settings=tiny, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_moving_average_and_perturbation_match_a_hand_written_loop(tiny, crop):
    """The authors' loop written out: z + noise each step, Adam, avg = w avg + (1 - w) out."""
    settings = replace(tiny, ema=0.9)
    steps, seed = 6, 7
    result = restore(crop, "denoise", steps=steps, seed=seed, settings=settings, stop=None, progress=False)

    generator = torch.Generator().manual_seed(seed)
    net = build_network(settings, 3, seed)
    z = network_input(settings, (32, 32), generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    outputs, losses = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        out = net(z + settings.reg_noise_std * torch.randn(z.shape, generator=generator))
        loss = ((out - crop[None]) ** 2).mean()
        loss.backward()
        optimizer.step()
        outputs.append(out.detach()[0])
        losses.append(loss.item())
    w = settings.ema
    # closed form of the recursion started at the first output
    expected = w ** (steps - 1) * outputs[0] + sum((1 - w) * w ** (steps - 1 - k) * outputs[k] for k in range(1, steps))
    torch.testing.assert_close(result.final, expected, rtol=0, atol=1e-6)
    assert [r["loss"] for r in result.history] == pytest.approx(losses, rel=1e-6)
    # without a moving average the result is the last output itself
    plain = restore(crop, "denoise", steps=steps, seed=seed, settings=replace(settings, ema=None), stop=None,
                    progress=False)
    torch.testing.assert_close(plain.final, outputs[-1], rtol=0, atol=1e-6)


def test_denoising_a_small_crop_gains_psnr_over_the_noisy_input(tiny, crop):
    noisy = add_noise(crop, 25, seed=1)
    # a shorter average than the authors' 0.99, which would still remember the first, blank outputs at step 120
    result = restore(noisy, "denoise", steps=120, settings=replace(tiny, ema=0.9), clean=crop, progress=False,
                     early_stop=False)
    before = float(psnr(noisy, crop))
    assert result.history[-1]["psnr"] > before + 3.0
    assert result.best_step == max(result.history, key=lambda r: r["psnr"])["step"]
    assert result.history[-1]["psnr"] == pytest.approx(float(psnr(result.final, crop)))
    assert sum(r["ssim"] is not None for r in result.history) == 1 + 120 // 10


def test_a_natural_image_is_fitted_several_times_faster_than_white_noise(tiny, crop):
    images = prior_images(crop)
    curves = fit_curves({k: images[k] for k in ("natural", "white noise")}, steps=100, settings=tiny, progress=False)
    assert all(c.shape == (100,) for c in curves.values())
    natural = steps_to_reach(curves["natural"], 0.01)
    noise = steps_to_reach(curves["white noise"], 0.01)
    assert natural is not None and natural <= 100 / 3
    assert noise is None or noise >= 3 * natural


def test_prior_images_keep_the_colours_and_lose_the_structure(crop):
    images = prior_images(crop, seed=0)
    shuffled = images["shuffled pixels"]
    torch.testing.assert_close(shuffled.flatten(1).sort(dim=1).values, crop.flatten(1).sort(dim=1).values)
    # neighbours are alike in the photograph, not in the shuffled image
    def neighbour_gap(x):
        return (x[:, :, 1:] - x[:, :, :-1]).abs().mean()
    assert neighbour_gap(shuffled) > 2 * neighbour_gap(crop)
    assert images["white noise"].shape == crop.shape
    assert steps_to_reach(torch.tensor([0.5, 0.2, 0.1]), 0.2) == 2
    assert steps_to_reach(torch.tensor([0.5, 0.3]), 0.2) is None
