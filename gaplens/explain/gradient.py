"""Gradient-based attributions: saliency, Gradient x Input, Integrated Gradients, SmoothGrad family.

All of them are weighted sums of input gradients at perturbed inputs, so all of them go through
one batched routine (:func:`gaplens.explain.base.input_gradients`): the perturbed copies of all
images are stacked and evaluated ``batch_size`` at a time, one forward and one backward pass
per chunk.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.explain.base import declare_work, input_gradients, register_method, select_scores


@register_method("gradient", description="Simonyan et al. 2013 saliency: d S_c / d I")
def gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
             abs: bool = False) -> torch.Tensor:  # noqa: A002  (Captum's option name)
    """Simonyan et al. 2013 saliency, signed by default (``abs=True`` for Captum's Saliency default)."""
    grads = input_gradients(model, inputs, target, score, batch_size)
    return grads.abs() if abs else grads


@register_method("input_x_gradient", description="Gradient x Input")
def input_x_gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                     batch_size: int) -> torch.Tensor:
    """Gradient x Input: the first-order Taylor contribution of each pixel."""
    return inputs * input_gradients(model, inputs, target, score, batch_size)


# --------------------------------------------------------------------------------------------
# Integrated Gradients


def path_weights(n_steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alpha`` in [0, 1] on the straight path and their quadrature weights.

    ``gausslegendre`` is Gauss-Legendre quadrature mapped from [-1, 1] to [0, 1] (Captum's
    default); the Riemann rules use ``n_steps`` equal sub-intervals.
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"n_steps={n_steps!r}; expected a positive integer")
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    if rule == "riemann_trapezoid":
        if n_steps < 2:
            raise InputError("rule='riemann_trapezoid' needs n_steps >= 2")
        alphas = np.linspace(0.0, 1.0, n_steps)
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] *= 0.5
        return alphas, weights
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if rule not in offsets:
        raise InputError(
            f"rule={rule!r}; expected 'gausslegendre', 'riemann_trapezoid', 'riemann_left', "
            "'riemann_right' or 'riemann_middle'"
        )
    alphas = (np.arange(n_steps) + offsets[rule]) / n_steps
    return alphas, np.full(n_steps, 1.0 / n_steps)


def make_baseline(inputs: torch.Tensor, baseline: object) -> torch.Tensor:
    """The IG baseline as a tensor like ``inputs``: None/"black" (zeros), "blur", "uniform", a tensor."""
    if baseline is None or (isinstance(baseline, str) and baseline == "black"):
        return torch.zeros_like(inputs)
    if isinstance(baseline, str):
        if baseline == "blur":
            from gaplens.core.smoothing import gaussian_blur

            return gaussian_blur(inputs, sigma=max(inputs.shape[-2:]) / 16)
        if baseline == "uniform":
            gen = torch.Generator(device=inputs.device).manual_seed(0)
            return torch.rand(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype)
        raise InputError(f"baseline={baseline!r}; expected None, 'black', 'blur', 'uniform' or a tensor")
    if isinstance(baseline, (int, float)):
        return torch.full_like(inputs, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise InputError(f"baseline of type {type(baseline).__name__}; expected None, a string or a tensor")
    try:
        return torch.broadcast_to(baseline.to(inputs), inputs.shape).clone()
    except RuntimeError as exc:
        raise InputError(
            f"baseline has shape {tuple(baseline.shape)}; expected one broadcastable to {tuple(inputs.shape)}"
        ) from exc


def _path_gradient_sum(model, inputs, baseline, target, score, batch_size, alphas, weights) -> torch.Tensor:
    """sum_i w_i * grad(baseline + alpha_i (x - baseline)) for every image, batched over (step, image)."""
    n, steps = inputs.shape[0], len(alphas)
    declare_work(n * steps)
    alphas_t = torch.as_tensor(alphas, dtype=inputs.dtype, device=inputs.device)
    weights_t = torch.as_tensor(weights, dtype=inputs.dtype, device=inputs.device)
    delta = inputs - baseline
    total = torch.zeros_like(inputs)
    # rows are (step, image) pairs in step-major order, built chunk by chunk (bounded memory)
    for start in range(0, n * steps, batch_size):
        rows = torch.arange(start, min(start + batch_size, n * steps), device=inputs.device)
        step, image = rows // n, rows % n
        points = baseline[image] + alphas_t[step].view(-1, 1, 1, 1) * delta[image]
        grads = input_gradients(model, points, target[image], score, batch_size)
        total.index_add_(0, image, grads * weights_t[step].view(-1, 1, 1, 1))
    return total


@register_method("integrated_gradients", description="Sundararajan et al. 2017 Integrated Gradients")
def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                         batch_size: int, baseline: object = None, n_steps: int = 50,
                         rule: str = "gausslegendre", return_delta: bool = False):
    """(x - x') * integral_0^1 grad S(x' + a (x - x')) da by quadrature.

    With ``return_delta=True`` returns ``(attributions, delta)`` where ``delta`` (N,) is the
    completeness gap ``sum(attributions) - (S(x) - S(x'))``.
    """
    base = make_baseline(inputs, baseline)
    alphas, weights = path_weights(n_steps, rule)
    attributions = (inputs - base) * _path_gradient_sum(model, inputs, base, target, score, batch_size,
                                                        alphas, weights)
    if not return_delta:
        return attributions
    with torch.no_grad():
        ends = torch.cat([select_scores(model(t), target, score) for t in (inputs, base)])
    n = inputs.shape[0]
    delta = attributions.flatten(1).sum(1) - (ends[:n] - ends[n:])
    return attributions, delta


# --------------------------------------------------------------------------------------------
# SmoothGrad, SmoothGrad-squared, VarGrad


def noisy_gradient_moments(model, inputs, target, score, batch_size, n_samples, noise, seed, noise_tensors,
                           statistic: str) -> torch.Tensor:
    """A statistic over ``n_samples`` noisy copies of each image of the gradient there, streamed.

    ``statistic`` is ``"mean"`` (SmoothGrad), ``"mean_square"`` (SmoothGrad-squared) or
    ``"variance"`` (VarGrad, population variance), all updated one sample at a time (Welford's
    algorithm), so memory is bounded by ``batch_size`` and the images, not by ``n_samples``.

    Noise is Gaussian with std ``noise * (max(x) - min(x))`` per image (Smilkov et al.'s
    relative noise level); sample ``s`` is the ``s``-th ``(N, C, H, W)`` draw of a generator
    seeded with ``seed``, made when its first row is needed. ``noise_tensors``
    ``(n_samples, N, C, H, W)`` replaces it with exact perturbations.
    """
    n = inputs.shape[0]
    if noise_tensors is not None:
        given = torch.as_tensor(noise_tensors).to(inputs)
        if given.ndim != 5 or given.shape[1:] != inputs.shape:
            raise InputError(
                f"noise_tensors has shape {tuple(given.shape)}; "
                f"expected (n_samples, {', '.join(map(str, inputs.shape))})"
            )
        n_samples = given.shape[0]

        def sample_noise(s: int) -> torch.Tensor:
            return given[s]
    else:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"n_samples={n_samples!r}; expected a positive integer")
        if noise < 0:
            raise InputError(f"noise={noise}; expected a non-negative fraction of each image's value range")
        flat = inputs.flatten(1)
        sigma = (noise * (flat.max(1).values - flat.min(1).values)).view(n, 1, 1, 1)
        gen = torch.Generator(device=inputs.device).manual_seed(seed)
        drawn: dict[int, torch.Tensor] = {}

        def sample_noise(s: int) -> torch.Tensor:
            while s not in drawn:  # samples are needed in order: draw the next one, forget old ones
                index = len(drawn) and max(drawn) + 1
                drawn[index] = torch.randn(inputs.shape, generator=gen, device=inputs.device,
                                           dtype=inputs.dtype) * sigma
                for old in [k for k in drawn if k < index - 1]:
                    del drawn[old]
            return drawn[s]

    declare_work(n_samples * n)
    mean = torch.zeros_like(inputs)
    spread = torch.zeros_like(inputs) if statistic == "variance" else None
    for start in range(0, n_samples * n, batch_size):
        rows = torch.arange(start, min(start + batch_size, n_samples * n), device=inputs.device)
        sample, image = rows // n, rows % n
        first, last = int(sample[0]), int(sample[-1])
        eps = torch.cat([sample_noise(s)[image[sample == s]] for s in range(first, last + 1)])
        grads = input_gradients(model, inputs[image] + eps, target[image], score, batch_size)
        for s in range(first, last + 1):  # within one sample, every image appears once
            chosen = sample == s
            idx, g = image[chosen], grads[chosen]
            value = g.square() if statistic == "mean_square" else g
            delta = value - mean[idx]
            mean[idx] += delta / (s + 1)
            if spread is not None:
                spread[idx] += delta * (value - mean[idx])
    if statistic == "variance":
        return spread / n_samples
    return mean


@register_method("smoothgrad", stochastic=True, description="Smilkov et al. 2017 SmoothGrad (mean gradient)")
def smoothgrad(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
               n_samples: int = 50, noise: float = 0.15, seed: int = 0, noise_tensors=None) -> torch.Tensor:
    """Mean of the signed gradients at noisy copies of the input."""
    return noisy_gradient_moments(model, inputs, target, score, batch_size, n_samples, noise, seed, noise_tensors,
                                  "mean")


@register_method("smoothgrad_sq", stochastic=True, description="SmoothGrad-squared (mean squared gradient)")
def smoothgrad_sq(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
                  n_samples: int = 50, noise: float = 0.15, seed: int = 0, noise_tensors=None) -> torch.Tensor:
    """Mean of the squared gradients at noisy copies of the input."""
    return noisy_gradient_moments(model, inputs, target, score, batch_size, n_samples, noise, seed, noise_tensors,
                                  "mean_square")


@register_method("vargrad", stochastic=True, description="Adebayo et al. 2018 VarGrad (gradient variance)")
def vargrad(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
            n_samples: int = 50, noise: float = 0.15, seed: int = 0, noise_tensors=None) -> torch.Tensor:
    """Variance (population, 1/n) of the gradients at noisy copies of the input."""
    return noisy_gradient_moments(model, inputs, target, score, batch_size, n_samples, noise, seed, noise_tensors,
                                  "variance")
