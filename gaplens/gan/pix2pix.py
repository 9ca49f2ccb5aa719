"""pix2pix (Isola et al., CVPR 2017): a conditional GAN for aligned image-to-image translation.

The generator (a U-Net, :mod:`.unet`) maps an image ``a`` to ``G(a)``; the discriminator (a
PatchGAN, :mod:`.patchgan`) sees ``a`` concatenated with ``b`` or with ``G(a)`` and classifies
every patch. The generator minimizes ``gan x cGAN loss + l1 x |G(a) - b|_1`` (the paper's 1 and
100); the discriminator's loss is halved, as in the paper. Adam, lr 2e-4, betas (0.5, 0.999);
dropout in the U-Net is the only noise, kept when translating. Images are ``[0, 1]`` outside and
``[-1, 1]`` inside.

The ablation of the paper's Table 1 on any pairs: ``Pix2Pix(..., gan=0.0)`` is L1 alone,
``Pix2Pix(..., l1=0.0)`` cGAN alone.
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

from gaplens.core.device import model_device, resolve_device
from gaplens.core.errors import CheckpointError, InputError
from gaplens.gan.checkpoint import load_network, read_record, save_network
from gaplens.gan.losses import check_loss, discriminator_loss, generator_loss
from gaplens.gan.networks import build_network
from gaplens.gan.pairs import PairSet
from gaplens.gan.patchgan import patch_layers
from gaplens.gan.resume import Checkpoints, check_steps, chunk_seed
from gaplens.gan.unet import depth_for

GENERATORS = {"unet": None, "unet_64": 6, "unet_128": 7, "unet_256": 8}


class Pix2Pix(nn.Module):
    """A U-Net generator and a PatchGAN discriminator with the loss weights.

    Args:
        in_channels, out_channels: channels of ``a`` and ``b``.
        generator: ``"unet"`` (depth ``log2(size)``, 1 x 1 at the bottleneck) or ``"unet_64"``,
            ``"unet_128"``, ``"unet_256"`` (depth 6, 7, 8).
        discriminator: ``"patch70"`` (default), ``"patch16"``, ``"pixel"`` (= ``"patch1"``), ``"patch34"``,
            ``"patch142"``, ``"patch286"``: the receptive field of one output in pixels.
        l1: weight of the L1 term (paper: 100; 0 = cGAN alone).
        gan: weight of the adversarial term (paper: 1; 0 = L1 alone, the discriminator is not trained).
        size: the image side for ``generator="unet"``; width, d_width: base channels of G and D.
        dropout: the U-Net's dropout probability; gan_loss: ``"nonsaturating"`` (the paper's) or ``"lsgan"``.

    >>> model = Pix2Pix(1, 3, size=32, width=4, d_width=4)
    >>> model.translate(torch.rand(2, 1, 32, 32)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(self, in_channels: int, out_channels: int, generator: str = "unet",
                 discriminator: str = "patch70", l1: float = 100.0, gan: float = 1.0, size: int = 256,
                 width: int = 64, d_width: int = 64, dropout: float = 0.5, gan_loss: str = "nonsaturating") -> None:
        super().__init__()
        if generator not in GENERATORS:
            raise InputError(f"generator={generator!r}; expected one of {list(GENERATORS)}")
        for name, v in (("l1", l1), ("gan", gan)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                raise InputError(f"{name}={v!r}; expected a finite weight >= 0")
        if l1 == 0 and gan == 0:
            raise InputError("l1=0 and gan=0: the generator would have no loss; set at least one weight > 0")
        if check_loss(gan_loss) not in ("nonsaturating", "lsgan"):
            raise InputError(f"gan_loss={gan_loss!r}; pix2pix uses 'nonsaturating' (the paper) or 'lsgan'")
        depth = GENERATORS[generator] or depth_for(size)
        self.generator = build_network("unet_generator", in_channels=in_channels, out_channels=out_channels,
                                       depth=depth, width=width, dropout=dropout)
        self.discriminator = build_network("patch_discriminator", in_channels=in_channels + out_channels,
                                           layers=patch_layers(discriminator), width=d_width)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.l1, self.gan, self.gan_loss = float(l1), float(gan), gan_loss
        self.discriminator_name = discriminator

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """``G(a)`` in ``[-1, 1]`` for ``a (N, in_channels, H, W)`` in ``[-1, 1]``."""
        return self.generator(a)

    def translate(self, a: torch.Tensor, dropout: bool = True, batch_size: int = 32) -> torch.Tensor:
        """``b`` for ``a`` (both in ``[0, 1]``): ``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)``.

        ``dropout=True`` (the paper's test time) keeps dropout on; batch norm always uses its
        running statistics. The model's modes and buffers are left as they were.
        """
        if a.dim() != 4 or a.shape[1] != self.in_channels:
            raise InputError(f"translate: a {tuple(a.shape)}; expected (N, {self.in_channels}, H, W) in [0, 1]")
        g = self.generator
        modes = {m: m.training for m in g.modules()}
        dev = model_device(g)
        try:
            g.eval()
            if dropout:
                for m in g.modules():
                    if isinstance(m, nn.Dropout):
                        m.train()
            with torch.no_grad():
                out = torch.cat([g(chunk.to(dev) * 2 - 1) for chunk in a.split(batch_size)])
        finally:
            for m, was in modes.items():
                m.train(was)
        return ((out + 1) / 2).clamp(0, 1).to(a.device)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``generator`` and ``discriminator`` checkpoints (safetensors + JSON) into ``folder``."""
        extra = {"model": "pix2pix", "l1": self.l1, "gan": self.gan, "gan_loss": self.gan_loss,
                 "discriminator_name": self.discriminator_name}
        save_network(self.generator, folder, "generator", **extra)
        save_network(self.discriminator, folder, "discriminator", **extra)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> Pix2Pix:
        """The model saved by :meth:`save` (or by :func:`train_pix2pix` with ``out=``), in eval mode."""
        record = read_record(folder, "generator")
        if record.get("model") != "pix2pix" or record.get("architecture") != "unet_generator":
            raise CheckpointError(f"{folder}: not a pix2pix checkpoint (its generator record says "
                                  f"{record.get('architecture')!r}, model {record.get('model')!r})")
        kw = record["kwargs"]
        d_record = read_record(folder, "discriminator")
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.generator = load_network(folder, "generator", device=device)
        model.discriminator = load_network(folder, "discriminator", device=device)
        model.in_channels, model.out_channels = int(kw["in_channels"]), int(kw["out_channels"])
        model.l1, model.gan = float(record["l1"]), float(record["gan"])
        model.gan_loss = str(record.get("gan_loss", "nonsaturating"))
        model.discriminator_name = str(d_record.get("discriminator_name", "patch70"))
        return model.eval()


@dataclass
class Pix2PixRun:
    """A trained pix2pix model (eval mode), one history record per ``log_every`` steps (``step``, ``epoch``,
    ``g_loss``, ``g_gan``, ``g_l1`` on ``[-1, 1]`` images, ``d_loss``, ``seconds``), translations of the first
    ``n_samples`` pairs per epoch (``epoch -> (n, Cb, H, W)`` in ``[0, 1]``, dropout on) and the checkpoint folder."""

    model: Pix2Pix
    history: list[dict] = field(default_factory=list)
    samples: dict[int, torch.Tensor] = field(default_factory=dict)
    checkpoint: Path | None = None

    @property
    def records(self) -> list[dict]:
        return self.history


def train_pix2pix(model: Pix2Pix, pairs: PairSet, *, epochs: int = 10, batch_size: int = 1, lr: float = 2e-4,
                  betas: Sequence[float] = (0.5, 0.999), seed: int = 0, out: str | os.PathLike | None = None,
                  resume: bool = False, save_every: int | None = None, log_every: int = 10, n_samples: int = 4,
                  device: str | torch.device = "auto", progress: bool = True) -> Pix2PixRun:
    """Train ``model`` (in place) on ``pairs`` (``a -> b``); returns a :class:`Pix2PixRun`.

    Each epoch visits every pair once in an order drawn from ``(seed, epoch)``; each step updates
    the discriminator on real ``(a, b)`` and fake ``(a, G(a))`` pairs (skipped when ``model.gan`` is
    0), then the generator. ``out``: a checkpoint folder (``train_state.safetensors`` every
    ``save_every`` steps, default one epoch; ``generator``/``discriminator`` safetensors + JSON at the
    end); ``resume=True`` continues from it and ends with the same weights as an uninterrupted run.
    """
    check_steps(epochs=epochs, batch_size=batch_size, log_every=log_every, n_samples=n_samples)
    if not isinstance(pairs, PairSet):
        raise InputError(f"pairs: a {type(pairs).__name__}; expected a PairSet (gaplens.gan.pairs)")
    if pairs.a.shape[1] != model.in_channels or pairs.b.shape[1] != model.out_channels:
        raise InputError(f"pairs have {pairs.a.shape[1]} -> {pairs.b.shape[1]} channels; the model translates "
                         f"{model.in_channels} -> {model.out_channels}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise InputError(f"lr={lr!r}; expected a finite number > 0")
    betas = tuple(float(b) for b in betas)
    n = len(pairs)
    per_epoch = -(-n // batch_size)
    steps = epochs * per_epoch
    save_every = save_every if save_every is not None else per_epoch
    check_steps(save_every=save_every)
    dev = resolve_device(device)
    model.to(dev)
    g, d = model.generator, model.discriminator
    a_all, b_all = pairs.a.to(dev) * 2 - 1, pairs.b.to(dev) * 2 - 1
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "betas": list(betas), "seed": seed,
                "save_every": save_every, "log_every": log_every, "n": n, "l1": model.l1, "gan": model.gan,
                "gan_loss": model.gan_loss, "n_samples": n_samples}
    state = Checkpoints(out, {"generator": g, "discriminator": d, "opt_g": opt_g, "opt_d": opt_d}, settings, resume)
    first, history, extra = state.load()
    samples: dict[int, torch.Tensor] = dict(extra.get("samples", {}))
    shown = pairs.a[:n_samples]

    def order_of(epoch: int) -> torch.Tensor:
        return torch.randperm(n, generator=torch.Generator().manual_seed(chunk_seed(seed, epoch) + 1)).to(dev)

    from tqdm.auto import tqdm

    bar = tqdm(range(first, steps), desc="pix2pix", disable=not progress, initial=first, total=steps, unit="step")
    g.train()
    d.train()
    adversarial = model.gan > 0
    sums = torch.zeros(4, device=dev)  # g_loss, g_gan, g_l1, d_loss
    since = 0
    start = time.perf_counter()
    order, order_epoch = None, -1
    d_params = list(d.parameters())
    for step in bar:
        if step % save_every == 0 or step == first:
            torch.manual_seed(chunk_seed(seed, step - step % save_every))
        epoch, within = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = order_of(epoch), epoch
        idx = order[within * batch_size:(within + 1) * batch_size]
        a, b = a_all[idx], b_all[idx]
        fake = g(a)
        if adversarial:
            d_loss = 0.5 * discriminator_loss(model.gan_loss, d(torch.cat([a, b], 1)),
                                              d(torch.cat([a, fake.detach()], 1)))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            flags = [p.requires_grad for p in d_params]
            for p in d_params:
                p.requires_grad_(False)
            g_gan = generator_loss(model.gan_loss, d(torch.cat([a, fake], 1)))
        else:
            d_loss = g_gan = torch.zeros((), device=dev)
        g_l1 = (fake - b).abs().mean()
        g_loss = model.gan * g_gan + model.l1 * g_l1
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if adversarial:
            for p, flag in zip(d_params, flags, strict=True):
                p.requires_grad_(flag)
        with torch.no_grad():
            sums += torch.stack([g_loss.detach(), g_gan.detach(), g_l1.detach(), d_loss.detach()])
        since += 1
        done = step + 1
        if done % log_every == 0 or done % save_every == 0 or done == steps:
            means = (sums / since).tolist()
            history.append({"step": done, "epoch": -(-done // per_epoch), "g_loss": means[0], "g_gan": means[1],
                            "g_l1": means[2], "d_loss": means[3], "seconds": time.perf_counter() - start})
            sums.zero_()
            since = 0
            bar.set_postfix({"l1": round(means[2], 3), "d": round(means[3], 3)})
        if done % per_epoch == 0:
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(seed)
                samples[done // per_epoch] = model.translate(shown.to(dev)).cpu()
            g.train()
        if done % save_every == 0 or done == steps:
            state.save(done, history, {"samples": samples})
    model.eval()
    folder = Path(out) if out is not None else None
    if folder is not None:
        model.save(folder)
    return Pix2PixRun(model, history, dict(sorted(samples.items())), folder)
