"""Samples on demand: ``real`` and ``fake`` as callables ``n -> (n, ...)`` tensors, from tensors or callables."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gaplens.core.errors import InputError

Sampler = Callable[[int], torch.Tensor]


def data_length(source: object) -> int | None:
    """The number of samples of a tensor source (``None`` for a callable)."""
    tensor = getattr(source, "images", source)
    return int(tensor.shape[0]) if isinstance(tensor, torch.Tensor) else None


def as_sampler(source: object, what: str, device: torch.device | None = None) -> Sampler:
    """``source`` as a sampler: a callable is used as it is, a tensor ``(N, ...)`` (or an object with
    ``.images``) is drawn from uniformly with replacement (global RNG), on ``device``.

    Raises:
        InputError: ``source`` is neither, or an empty tensor (``what`` names the argument).
    """
    tensor = getattr(source, "images", source)
    if isinstance(tensor, torch.Tensor):
        if tensor.dim() < 1 or tensor.shape[0] == 0:
            raise InputError(f"{what}: an empty tensor {tuple(tensor.shape)}; expected (N, ...) samples, N >= 1")
        if not tensor.is_floating_point():
            raise InputError(f"{what}: a {tensor.dtype} tensor; expected floating-point samples")
        data = tensor.to(device) if device is not None else tensor

        def draw(n: int) -> torch.Tensor:
            return data[torch.randint(data.shape[0], (n,), device=data.device)]

        return draw
    if callable(source) and not isinstance(source, nn.Module):
        if device is None:
            return source
        return lambda n: source(n).to(device)
    raise InputError(f"{what}: a {type(source).__name__}; expected a tensor of samples (N, ...) or a callable "
                     "n -> (n, ...) tensor")


def generator_sampler(generator: nn.Module, z_dim: int, device: torch.device | None = None) -> Sampler:
    """The samples of a fixed generator: ``n -> G(z)``, ``z ~ N(0, I)`` of shape ``(n, z_dim)``, without gradients."""
    dev = device or next(generator.parameters()).device

    def draw(n: int) -> torch.Tensor:
        with torch.no_grad():
            return generator(torch.randn(n, z_dim, device=dev))

    return draw


def noise_size(generator: nn.Module, z_dim: int | None) -> int:
    """``z_dim``, or the generator's own (its ``z_dim`` attribute or its builder's kwargs)."""
    if z_dim is None:
        z_dim = getattr(generator, "z_dim", None)
        if z_dim is None:
            z_dim = (getattr(generator, "gan_arch", None) or {}).get("kwargs", {}).get("z_dim")
    if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
        raise InputError(f"z_dim={z_dim!r}; expected the generator's noise size (an integer >= 1)")
    return z_dim
