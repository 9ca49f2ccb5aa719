"""The adversarial game: ``train_gan`` alternates ``k`` discriminator steps and one generator step.

Goodfellow et al. (2014), Algorithm 1, with the loss of either player chosen from
:data:`gaplens.gan.losses.LOSSES`. Seeded and resumable (see :mod:`gaplens.gan.resume`): the same
seed gives the same weights, and a killed run resumed with ``resume=True`` ends with the weights
of a run that was never interrupted.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gaplens.core.device import resolve_device
from gaplens.core.errors import InputError
from gaplens.gan.checkpoint import save_network
from gaplens.gan.losses import PROBABILISTIC, check_loss, discriminator_loss, generator_loss, gradient_penalty
from gaplens.gan.resume import Checkpoints, check_steps, chunk_seed
from gaplens.gan.samplers import as_sampler, data_length, noise_size
from gaplens.gan.toy import js_from_value


@dataclass
class GanRun:
    """A trained GAN.

    Attributes:
        generator, discriminator: the networks (eval mode).
        history: one record per ``log_every`` steps: ``step``, ``d_loss``, ``g_loss`` (means over
            those steps), and for the probabilistic losses ``d_real``/``d_fake`` (mean ``D(x)`` and
            ``D(G(z))``), ``value`` (``V(D, G)`` on the batches, nats) and ``js_estimate``
            (``(V + log 4) / 2``), plus ``seconds`` since the (re)start.
        samples: step -> ``G(z_fixed)`` on the CPU, ``(n_samples, ...)``: one snapshot per
            ``sample_every`` steps (one epoch of a tensor dataset) and at the end.
        z_fixed: the fixed noise ``(n_samples, z_dim)`` of the snapshots.
        checkpoint: the ``out`` folder (``generator.safetensors``, ``discriminator.safetensors``,
            the training state), or ``None``.
    """

    generator: nn.Module
    discriminator: nn.Module
    history: list[dict] = field(default_factory=list)
    samples: dict[int, torch.Tensor] = field(default_factory=dict)
    z_fixed: torch.Tensor | None = None
    checkpoint: Path | None = None

    @property
    def records(self) -> list[dict]:
        return self.history


def train_gan(generator: nn.Module, discriminator: nn.Module, data: object, *, steps: int, k: int = 1,
              loss: str = "nonsaturating", z_dim: int | None = None, batch_size: int = 64, lr: float = 2e-4,
              lr_d: float | None = None, betas: Sequence[float] = (0.5, 0.999), gp_weight: float = 10.0,
              seed: int = 0, out: str | os.PathLike | None = None, resume: bool = False,
              save_every: int | None = None, log_every: int = 10, sample_every: int | None = None,
              n_samples: int = 64, max_snapshots: int = 64, device: str | torch.device = "auto",
              progress: bool = True) -> GanRun:
    """Train ``generator`` and ``discriminator`` (in place) on ``data``; returns a :class:`GanRun`.

    Each step: ``k`` discriminator updates (``batch_size`` real samples, ``batch_size`` fresh
    ``G(z)``, ``z ~ N(0, I)``) then one generator update on the last of those ``G(z)``, each
    with its own Adam.

    Args:
        generator: ``(N, z_dim)`` noise to samples shaped like ``data``'s.
        discriminator: samples to ``(N,)`` logits (or a logit map; the loss averages it).
        data: a tensor of real samples ``(N, ...)`` (drawn uniformly with replacement), an object
            with ``.images``, or a sampler ``n -> (n, ...)``. Images for a tanh generator (DCGAN)
            belong in ``[-1, 1]``: pass ``images * 2 - 1``.
        steps: generator updates; k: discriminator updates per generator update.
        loss: ``"minimax"``, ``"nonsaturating"`` (default), ``"lsgan"`` or ``"wgan-gp"``
            (the critic gets ``gp_weight`` x the gradient penalty).
        z_dim: noise size (default: the generator's ``z_dim``).
        batch_size, lr, lr_d, betas: Adam for both players (``lr_d``: the discriminator's, default
            ``lr``); defaults are DCGAN's and pix2pix's (2e-4, betas (0.5, 0.999)).
        seed: the RNG stream (data draws, noise); initialize the networks yourself, seeded.
        out: a checkpoint folder: ``train_state.safetensors`` after every ``save_every`` steps,
            ``generator.safetensors`` / ``discriminator.safetensors`` (+ ``.json``) at the end.
        resume: continue from ``out``'s state (the settings must match).
        save_every: steps per chunk (RNG re-seeded, state saved); default about ``steps / 20``, a
            multiple of ``log_every``.
        log_every, sample_every, n_samples: history and snapshot cadence (a record also closes at
            each chunk end, so a resumed history equals an uninterrupted one); ``sample_every``
            defaults to one epoch of a tensor dataset (``ceil(N / batch_size)`` steps), else ``steps // 10``.
        max_snapshots: at most this many snapshots are kept (and saved in the state): beyond it,
            every second one is dropped, the first and the latest kept, so memory stays bounded.
        device: where to train (``"auto"``: CUDA when present). progress: a tqdm bar over steps.

    >>> from gaplens.gan.networks import build_network
    >>> from gaplens.gan.toy import gaussian
    >>> g, d = build_network("mlp_generator", z_dim=2, dim=1), build_network("mlp_discriminator", dim=1)
    >>> run = train_gan(g, d, gaussian(1.0, 0.5), steps=20, progress=False, device="cpu")
    >>> run.history[-1]["step"]
    20
    """
    loss = check_loss(loss)
    check_steps(steps=steps, k=k, batch_size=batch_size, log_every=log_every, n_samples=n_samples,
                max_snapshots=max_snapshots)
    for name, v in (("lr", lr), ("lr_d", lr if lr_d is None else lr_d), ("gp_weight", gp_weight)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf or (name != "gp_weight"
                                                                                               and v == 0):
            raise InputError(f"{name}={v!r}; expected a finite number > 0")
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise InputError(f"betas={betas}; expected two numbers in [0, 1)")
    z_dim = noise_size(generator, z_dim)
    n = data_length(data)
    save_every = save_every if save_every is not None else log_every * max(1, round(steps / 20 / log_every))
    sample_every = sample_every if sample_every is not None else (
        max(1, -(-n // batch_size)) if n is not None else max(1, steps // 10))
    check_steps(save_every=save_every, sample_every=sample_every)
    dev = resolve_device(device)
    generator.to(dev)
    discriminator.to(dev)
    draw_real = as_sampler(data, "data", dev)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr if lr_d is None else lr_d, betas=betas)
    settings = {"steps": steps, "k": k, "loss": loss, "z_dim": z_dim, "batch_size": batch_size, "lr": lr,
                "lr_d": lr_d, "betas": list(betas), "gp_weight": gp_weight, "seed": seed, "save_every": save_every,
                "log_every": log_every, "sample_every": sample_every, "n_samples": n_samples,
                "max_snapshots": max_snapshots, "n": n}
    state = Checkpoints(out, {"generator": generator, "discriminator": discriminator, "opt_g": opt_g,
                              "opt_d": opt_d}, settings, resume)
    first, history, extra = state.load()
    samples: dict[int, torch.Tensor] = dict(extra.get("samples", {}))
    z_fixed = torch.randn(n_samples, z_dim, generator=torch.Generator().manual_seed(seed + 1)).to(dev)

    def snapshot(step: int) -> None:
        was = generator.training
        generator.eval()
        with torch.no_grad():
            samples[step] = generator(z_fixed).detach().cpu()
        generator.train(was)
        if len(samples) > max_snapshots:
            keys = sorted(samples)
            for key in keys[1:-1:2]:
                del samples[key]

    from tqdm.auto import tqdm

    bar = tqdm(range(first, steps), desc=f"GAN ({loss})", disable=not progress, initial=first, total=steps,
               unit="step")
    generator.train()
    discriminator.train()
    probabilistic = loss in PROBABILISTIC
    sums = torch.zeros(4, device=dev)  # d_loss, g_loss, D(x), D(G(z))
    since = 0  # steps in sums (a record closes at every log_every steps and at every chunk end)
    start = time.perf_counter()
    d_params = list(discriminator.parameters())
    for step in bar:
        if step % save_every == 0 or step == first:
            torch.manual_seed(chunk_seed(seed, step - step % save_every))
        for j in range(k):
            real = draw_real(batch_size).to(dev)
            z = torch.randn(batch_size, z_dim, device=dev)
            if j == k - 1:
                fake = generator(z)
                fake_in = fake.detach()
            else:
                with torch.no_grad():
                    fake_in = generator(z)
            r, f = discriminator(real), discriminator(fake_in)
            d_loss = discriminator_loss(loss, r, f)
            if loss == "wgan-gp":
                d_loss = d_loss + gradient_penalty(discriminator, real, fake_in, gp_weight)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        flags = [p.requires_grad for p in d_params]  # D's weight gradients are not needed for G's step
        for p in d_params:
            p.requires_grad_(False)
        g_loss = generator_loss(loss, discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        for p, flag in zip(d_params, flags, strict=True):
            p.requires_grad_(flag)
        with torch.no_grad():
            sums[0] += d_loss
            sums[1] += g_loss
            if probabilistic:
                sums[2] += torch.sigmoid(r).mean()
                sums[3] += torch.sigmoid(f).mean()
        since += 1
        done = step + 1
        if done % log_every == 0 or done % save_every == 0 or done == steps:
            means = (sums / since).tolist()
            record = {"step": done, "d_loss": means[0], "g_loss": means[1]}
            if probabilistic:
                record.update(d_real=means[2], d_fake=means[3], value=-means[0], js_estimate=js_from_value(-means[0]))
            record["seconds"] = time.perf_counter() - start
            history.append(record)
            sums.zero_()
            since = 0
            bar.set_postfix({"d": round(means[0], 3), "g": round(means[1], 3)})
        if done % sample_every == 0 or done == steps:
            snapshot(done)
        if done % save_every == 0 or done == steps:
            state.save(done, history, {"samples": samples})
    if first >= steps and steps not in samples:
        snapshot(steps)
    generator.eval()
    discriminator.eval()
    folder = Path(out) if out is not None else None
    if folder is not None:
        save_network(generator, folder, "generator", z_dim=z_dim, loss=loss, steps=steps)
        save_network(discriminator, folder, "discriminator", loss=loss, steps=steps)
    return GanRun(generator, discriminator, history, dict(sorted(samples.items())), z_fixed.cpu(), folder)
