"""Gradient family against Captum (float64, rel. error <= 1e-6) and against closed forms."""

from __future__ import annotations

import pytest
import torch
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency

from gaplens.core.errors import InputError
from gaplens.explain.base import attribute
from gaplens.explain.gradient import path_weights


def _rel(actual, expected, rel=1e-6):
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= rel * max(scale, 1e-30)


def test_gradient_matches_captum(model64, batch64):
    x, target = batch64
    ours = attribute(model64, x, target=target, method="gradient", batch_size=3)
    _rel(ours, Saliency(model64).attribute(x.clone().requires_grad_(), target=target, abs=False))
    ours_abs = attribute(model64, x, target=target, method="gradient", abs=True)
    _rel(ours_abs, Saliency(model64).attribute(x.clone().requires_grad_(), target=target))


def test_input_x_gradient_matches_captum(model64, batch64):
    x, target = batch64
    ours = attribute(model64, x, target=target, method="input_x_gradient")
    _rel(ours, InputXGradient(model64).attribute(x.clone().requires_grad_(), target=target))


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                                  "riemann_middle"])
def test_integrated_gradients_matches_captum(model64, batch64, rule):
    x, target = batch64
    baseline = torch.full_like(x, 0.2)
    ours, delta = attribute(model64, x, target=target, method="integrated_gradients", n_steps=16, rule=rule,
                            baseline=baseline, batch_size=7, return_delta=True)
    theirs, their_delta = IntegratedGradients(model64).attribute(
        x, baselines=baseline, target=target, n_steps=16, method=rule, return_convergence_delta=True)
    if rule == "riemann_trapezoid":
        # Captum's trapezoid puts n points on [0, 1] but weighs them with spacing 1/n instead of
        # 1/(n - 1): its weights sum to (n - 1)/n. gaplens uses the true trapezoid rule, so
        # Captum's result is rescaled here (and its delta is not comparable).
        theirs = theirs * 16 / 15
        assert path_weights(16, rule)[1].sum() == pytest.approx(1.0)
    else:
        torch.testing.assert_close(delta, their_delta, rtol=1e-6, atol=1e-9)
    _rel(ours, theirs)


def test_ig_completeness(model64, batch64):
    x, _ = batch64
    with torch.no_grad():  # the class whose score changes most along the path, per image
        target = (model64(x) - model64(torch.zeros_like(x))).abs().argmax(1).tolist()
    attr, delta = attribute(model64, x, target=target, method="integrated_gradients", n_steps=200,
                            return_delta=True)
    with torch.no_grad():
        logits = model64(x)[range(4), target] - model64(torch.zeros_like(x))[range(4), target]
    assert (delta.abs() <= 0.01 * logits.abs()).all()
    torch.testing.assert_close(attr.flatten(1).sum(1) - logits, delta)


def test_path_weights_integrate_polynomials_exactly():
    for rule in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        alphas, weights = path_weights(20, rule)
        assert weights.sum() == pytest.approx(1.0)
        assert (weights * alphas).sum() == pytest.approx(0.5)
    alphas, weights = path_weights(8, "gausslegendre")  # exact up to degree 15
    assert (weights * alphas**7).sum() == pytest.approx(1 / 8, rel=1e-12)


def test_smoothgrad_family_matches_noise_tunnel(model64, batch64):
    x, target = batch64
    gen = torch.Generator().manual_seed(3)
    noise = 0.1 * torch.randn((5, *x.shape), generator=gen, dtype=x.dtype)
    for method, nt_type in (("smoothgrad", "smoothgrad"), ("smoothgrad_sq", "smoothgrad_sq"),
                            ("vargrad", "vargrad")):
        ours = attribute(model64, x, target=target, method=method, noise_tensors=noise, batch_size=6)
        _rel(ours, _captum_tunnel_with_noise(model64, x, target, noise, nt_type))


def _captum_tunnel_with_noise(model, x, target, noise, nt_type):
    """Captum's NoiseTunnel(Saliency) fed our exact perturbations.

    Captum draws its noise with one ``torch.normal`` call over the inputs repeated
    ``repeat_interleave``-style (image-major); the patch returns our noise in that order.
    """
    import captum.attr._core.noise_tunnel as nt_module

    n_samples = noise.shape[0]
    stacked = noise.transpose(0, 1).reshape(-1, *x.shape[1:])  # captum repeats each example n_samples times

    original = nt_module.torch.normal

    def fake_normal(mean, std, size=None, **kwargs):
        return stacked.clone()

    nt_module.torch.normal = fake_normal
    try:
        return NoiseTunnel(Saliency(model)).attribute(
            x, nt_type=nt_type, nt_samples=n_samples, stdevs=1.0, target=target, abs=False,
            nt_samples_batch_size=n_samples)
    finally:
        nt_module.torch.normal = original


def test_smoothgrad_one_sample_zero_noise_is_gradient(model64, batch64):
    x, target = batch64
    sg = attribute(model64, x, target=target, method="smoothgrad", n_samples=1, noise=0.0)
    torch.testing.assert_close(sg, attribute(model64, x, target=target, method="gradient"))
    vg = attribute(model64, x, target=target, method="vargrad", n_samples=1, noise=0.0)
    assert vg.abs().max() == 0


def test_smoothgrad_seeded_and_batch_independent(tiny_vgg):
    x = torch.rand(3, 3, 32, 32)
    a = attribute(tiny_vgg, x, method="smoothgrad", n_samples=6, seed=1, batch_size=4)
    b = attribute(tiny_vgg, x, method="smoothgrad", n_samples=6, seed=1, batch_size=18)
    c = attribute(tiny_vgg, x, method="smoothgrad", n_samples=6, seed=2, batch_size=18)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_bad_options(tiny_vgg):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(InputError, match="rule"):
        attribute(tiny_vgg, x, method="integrated_gradients", rule="simpson")
    with pytest.raises(InputError, match="noise_tensors"):
        attribute(tiny_vgg, x, method="smoothgrad", noise_tensors=torch.zeros(3, 2, 3, 8, 8))
    with pytest.raises(InputError, match="baseline"):
        attribute(tiny_vgg, x, method="integrated_gradients", baseline=torch.zeros(5, 3, 32, 32))
    with pytest.raises(InputError, match="no option"):
        attribute(tiny_vgg, x, method="gradient", n_steps=3)
