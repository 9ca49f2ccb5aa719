"""The fitting loop of Deep Image Prior: one randomly initialized network fitted to one image.

``x_t = f_theta(z + eps_t)``, ``eps_t ~ N(0, reg_noise_std^2)`` drawn anew each step, ``theta``
updated by Adam on ``loss(x_t)`` (the task's data term: the corrupted image through the task's
degradation); the result is the exponential moving average of the outputs (or the last output
when the settings have no ``ema``). A :class:`~gaplens.restore.stopping.StoppingRule` may stop
the loop; when a clean image is given, the history records PSNR (every step) and SSIM (every
``metric_every`` steps) of the result against it.

The loop adds nothing per step to the authors' own (perturb, forward, loss, backward, Adam, EMA)
but one ``loss.item()``, the stopping rule's running variance and, only with a clean image, the
metrics; ``benchmarks/restore.py`` measures the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gaplens.restore.metrics import psnr, ssim
from gaplens.restore.network import SkipNet
from gaplens.restore.settings import FitSettings
from gaplens.restore.stopping import StoppingRule

__all__ = ["FitResult", "fit_prior", "build_network", "network_input"]


@dataclass
class FitResult:
    """What one fit produced.

    Attributes:
        image: ``(C, H, W)`` the result at ``stopped_at`` when the stopping rule chose a step, else
            at the last step (the moving average when the settings have one).
        final: ``(C, H, W)`` the result at the last step run.
        history: one dict per step: ``step`` (1-based), ``loss``, ``seconds`` (since the start),
            ``score`` (the rule's, or None), and with a clean image ``psnr`` and ``ssim`` (None
            between SSIM evaluations).
        stopped_at: the step the stopping rule chose (None if it never fired).
        fired_at: the step at which the rule fired (None if it never did).
        steps_run: steps actually run.
        seconds: wall time of the loop.
    """

    image: torch.Tensor
    final: torch.Tensor
    history: list[dict] = field(default_factory=list)
    stopped_at: int | None = None
    fired_at: int | None = None
    steps_run: int = 0
    seconds: float = 0.0

    @property
    def best_step(self) -> int | None:
        """The step of highest PSNR (needs a clean image), else None."""
        rows = [r for r in self.history if r.get("psnr") is not None]
        return max(rows, key=lambda r: r["psnr"])["step"] if rows else None

    def at(self, step: int) -> dict:
        """The history row of ``step``."""
        return self.history[step - 1]


def build_network(settings: FitSettings, channels: int, seed: int, device: torch.device | str = "cpu") -> SkipNet:
    """The network of ``settings`` initialized from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SkipNet(settings.input_depth, channels, settings.down, settings.up, settings.skip,
                      upsample=settings.upsample)
    return net.to(device)


def network_input(settings: FitSettings, size: tuple[int, int], generator: torch.Generator,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """The fixed input ``z``: ``(1, input_depth, H, W)`` from ``U(0, input_scale)``."""
    z = torch.rand((1, settings.input_depth, *size), generator=generator, device=device)
    return z * settings.input_scale


def fit_prior(loss_fn: Callable[[torch.Tensor], torch.Tensor], size: tuple[int, int], settings: FitSettings, *,
              steps: int | None = None, seed: int = 0, channels: int = 3, clean: torch.Tensor | None = None,
              rule: StoppingRule | None = None, early_stop: bool = True, metric_every: int = 10,
              device: torch.device | str = "cpu", progress: bool = False, desc: str = "deep image prior") -> FitResult:
    """Fit a fresh network's output ``(1, channels, H, W)`` to ``loss_fn``.

    Args:
        loss_fn: ``(1, C, H, W)`` output -> scalar loss.
        size: ``(H, W)`` of the output.
        settings: network and optimizer settings.
        steps: number of steps (``settings.steps`` if None).
        seed: initializes the network, ``z`` and the perturbations: the same seed gives the same
            result on the same device.
        clean: ``(C, H, W)`` clean image, for PSNR/SSIM in the history.
        rule: stopping rule fed every step's raw output and loss.
        early_stop: stop the loop when the rule fires; False runs every step (to measure the rule).
        metric_every: SSIM every this many steps (PSNR every step).
    """
    from tqdm.auto import tqdm

    steps = settings.steps if steps is None else int(steps)
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    net = build_network(settings, channels, seed, device)
    z = network_input(settings, size, generator, device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    reference = None if clean is None else clean.to(device)[None]
    average: torch.Tensor | None = None
    chosen_image: torch.Tensor | None = None
    history: list[dict] = []
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=desc, unit="step", disable=not progress, leave=False)
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        noisy_z = z if settings.reg_noise_std == 0 else z + settings.reg_noise_std * torch.randn(
            z.shape, generator=generator, device=device)
        out = net(noisy_z)
        loss = loss_fn(out)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            raw = out.detach()
            if settings.ema is None:
                average = raw
            elif average is None:
                average = raw.clone()
            else:
                average.mul_(settings.ema).add_(raw, alpha=1 - settings.ema)
            value = loss.item()
            row = {"step": step, "loss": value, "seconds": time.perf_counter() - start, "score": None}
            stop = False
            if rule is not None and rule.fired is None:
                stop = rule.update(step, raw, value)
                row["score"] = rule.score
                if rule.chosen == step:
                    chosen_image = average.clone()
            if reference is not None:
                row["psnr"] = float(psnr(average, reference))
                row["ssim"] = float(ssim(average, reference)) if step % metric_every == 0 or step == 1 else None
            history.append(row)
        if stop and early_stop:
            break
    bar.close()
    final = average[0].clone()
    fired = rule.fired if rule is not None else None
    stopped_at = rule.chosen if fired is not None else None
    image = chosen_image[0] if stopped_at is not None and chosen_image is not None else final
    return FitResult(image=image, final=final, history=history, stopped_at=stopped_at, fired_at=fired,
                     steps_run=len(history), seconds=time.perf_counter() - start)
