"""``restore()``: denoise, inpaint, de-JPEG or super-resolve one image with an untrained network.

Example (a few steps; real use takes the task's default number of steps):
>>> from gaplens.restore import add_noise, restore
>>> from gaplens.data import sample_image
>>> clean = sample_image("astronaut", size=64)
>>> result = restore(add_noise(clean, 25), "denoise", steps=3, clean=clean, progress=False)
>>> result.image.shape, len(result.history), result.history[-1]["psnr"] > 0
(torch.Size([3, 64, 64]), 3, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gaplens.core.errors import InputError
from gaplens.restore.fit import fit_prior
from gaplens.restore.settings import FitSettings, settings_for
from gaplens.restore.stopping import DiscrepancyStop, StoppingRule, VarianceStop
from gaplens.restore.tasks import check_image, check_mask, task_loss

__all__ = ["RestoreResult", "restore", "load_image", "load_mask", "STOPPING_RULES"]

#: Names accepted by ``restore(stop=...)``.
STOPPING_RULES = ("variance", "discrepancy", "none")


@dataclass
class RestoreResult:
    """A restoration and how it went.

    Attributes:
        image: ``(3, H, W)`` restored image (at ``stopped_at`` when the stopping rule fired).
        final: ``(3, H, W)`` result at the last step run.
        history: per step: ``step``, ``loss``, ``seconds``, ``score`` and, with a clean image,
            ``psnr`` and ``ssim``.
        stopped_at: the step the stopping rule chose, or None.
        fired_at: the step at which the rule fired (``stopped_at`` + patience for the variance rule).
        best_step: the step of highest PSNR (with a clean image), else None.
        task, settings, rule: what was run.
        seconds: wall time of the fit.
    """

    image: torch.Tensor
    final: torch.Tensor
    history: list[dict]
    stopped_at: int | None
    fired_at: int | None
    best_step: int | None
    task: str
    settings: FitSettings
    rule: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> list[dict[str, Any]]:
        """One summary record (flat): task, steps, the rule's step, the best step and their PSNR."""
        last = self.history[-1] if self.history else {}
        row: dict[str, Any] = {"task": self.task, "steps_run": len(self.history), "stopped_at": self.stopped_at,
                               "fired_at": self.fired_at, "best_step": self.best_step, "seconds": self.seconds,
                               "final_loss": last.get("loss"), "rule": self.rule.get("rule")}
        if self.best_step is not None:
            row["best_psnr"] = self.history[self.best_step - 1]["psnr"]
            row["final_psnr"] = last.get("psnr")
            if self.stopped_at is not None:
                row["stopped_psnr"] = self.history[self.stopped_at - 1]["psnr"]
        return [row]


def load_image(image: object, what: str = "image") -> torch.Tensor:
    """A ``(3, H, W)`` tensor in [0, 1], an image file or ``sample:NAME`` -> ``(3, H, W)`` float tensor."""
    if isinstance(image, torch.Tensor):
        return check_image(image, what)
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        from gaplens.data.spec import SAMPLE_PREFIX

        text = str(image)
        if text.startswith(SAMPLE_PREFIX):
            from gaplens.data.samples import sample_image

            return sample_image(text[len(SAMPLE_PREFIX):])
        from pathlib import Path

        from gaplens.core.image_io import read_image

        if not Path(text).is_file():
            raise InputError(f"{what}: {text!r} is neither an image file nor 'sample:NAME'")
        return read_image(text)
    raise InputError(f"{what}: expected a (3, H, W) tensor, an image path or 'sample:NAME', got "
                     f"{type(image).__name__}")


def load_mask(mask: object, size: tuple[int, int]) -> torch.Tensor:
    """A ``(1, H, W)`` / ``(H, W)`` tensor or a mask image file (white = known, black = missing) -> ``(1, H, W)``."""
    if isinstance(mask, str) or hasattr(mask, "__fspath__"):
        from pathlib import Path

        from gaplens.core.image_io import read_image

        if not Path(str(mask)).is_file():
            raise InputError(f"mask: {str(mask)!r} is not a file (expected an image, white = known pixel)")
        pixels = read_image(str(mask))
        if tuple(pixels.shape[-2:]) != tuple(size):
            raise InputError(f"mask: {str(mask)!r} is {pixels.shape[-1]}x{pixels.shape[-2]} pixels; the image is "
                             f"{size[1]}x{size[0]}")
        return (pixels.mean(dim=0, keepdim=True) > 0.5).float()
    return check_mask(mask, size)


def _rule(stop: str | StoppingRule | None, task: str, sigma: float | None, steps: int) -> StoppingRule | None:
    if isinstance(stop, StoppingRule):
        return stop
    if stop is None or stop == "none":
        return None
    if stop == "variance":
        return VarianceStop(patience=max(20, round(steps / 8)), start=min(50, max(1, steps // 10)))
    if stop == "discrepancy":
        if task != "denoise" or sigma is None:
            raise InputError("stop='discrepancy' needs task='denoise' and the noise level sigma (0-255 scale)")
        return DiscrepancyStop(sigma / 255.0)
    raise InputError(f"stop={stop!r}; expected one of {list(STOPPING_RULES)} or a StoppingRule")


def restore(image: object, task: str = "denoise", mask: object = None, factor: int = 4, steps: int | None = None,
            seed: int = 0, clean: object = None, progress: bool = True, *, sigma: float | None = None,
            stop: str | StoppingRule | None = "variance", early_stop: bool = True,
            settings: FitSettings | dict | None = None, metric_every: int = 10,
            device: str | torch.device | None = None) -> RestoreResult:
    """Restore the corrupted ``image`` by fitting an untrained skip network to it (Deep Image Prior).

    Args:
        image: the corrupted image: ``(3, H, W)`` in [0, 1], an image file or ``sample:NAME``. For
            ``"super_resolution"`` the low-resolution image; for ``"inpaint"`` the values of missing
            pixels are ignored.
        task: ``"denoise"``, ``"inpaint"``, ``"jpeg"`` or ``"super_resolution"``.
        mask: inpainting only: ``(1, H, W)`` with 1 = known pixel, 0 = missing, or a mask image.
        factor: super-resolution factor (the result is ``factor`` times larger on each side).
        steps: Adam steps (the task's default from :mod:`~gaplens.restore.settings` if None).
        seed: the network's initialization, its input and the perturbations.
        clean: optional clean image of the result's size: adds PSNR/SSIM to the history.
        progress: show a progress bar.
        sigma: the noise level (0-255 scale) when known; needed by ``stop="discrepancy"``.
        stop: the stopping rule that needs no clean image: ``"variance"`` (the running variance of
            the outputs, any task; patience an eighth of ``steps``), ``"discrepancy"`` (denoising
            with ``sigma``), ``"none"``/None, or a :class:`StoppingRule`.
        early_stop: stop when the rule fires; False runs all steps and only records the rule's step.
        settings: a :class:`FitSettings` or a dict of fields overriding the task's defaults.
        metric_every: SSIM every this many steps (PSNR every step).
        device: where to fit (default: the image's device).

    Returns:
        A :class:`RestoreResult`.
    """
    fit_settings = settings_for(task, settings)
    observed = load_image(image)
    device = torch.device(device) if device is not None else observed.device
    observed = observed.to(device)
    h, w = observed.shape[-2:]
    if task == "super_resolution":
        if not isinstance(factor, int) or factor < 1:
            raise InputError(f"factor={factor!r}; expected a positive integer")
        size = (h * factor, w * factor)
    else:
        size = (h, w)
    known = load_mask(mask, size).to(device) if task == "inpaint" and mask is not None else None
    if task != "inpaint" and mask is not None:
        raise InputError(f"mask: only task='inpaint' takes a mask (task={task!r})")
    reference = None
    if clean is not None:
        reference = load_image(clean, "clean").to(device)
        if tuple(reference.shape[-2:]) != size:
            raise InputError(f"clean: shape {tuple(reference.shape)}; the result of task={task!r} is (3, {size[0]}, "
                             f"{size[1]})")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise InputError(f"steps={steps!r}; expected a positive integer")
    rule = _rule(stop, task, sigma, fit_settings.steps if steps is None else steps)
    loss_fn = task_loss(task, observed, known, factor)
    fit = fit_prior(loss_fn, size, fit_settings, steps=steps, seed=seed, clean=reference, rule=rule,
                    early_stop=early_stop, metric_every=metric_every, device=device, progress=progress,
                    desc=f"deep image prior ({task})")
    return RestoreResult(image=fit.image, final=fit.final, history=fit.history, stopped_at=fit.stopped_at,
                         fired_at=fit.fired_at, best_step=fit.best_step, task=task, settings=fit_settings,
                         rule=rule.describe() if rule is not None else {"rule": "none"}, seconds=fit.seconds)
