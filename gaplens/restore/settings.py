"""The fitting settings of each task: the authors' values and the CPU-sized defaults gaplens uses.

The authors' values are those of their notebooks (DmitryUlyanov/deep-image-prior:
``denoising.ipynb``, ``inpainting.ipynb``, ``super-resolution.ipynb``, ``models/skip.py``):
a 5-scale skip network, a fixed input ``z`` of ``input_depth`` channels drawn from
``U(0, 0.1)``, perturbed at every step by Gaussian noise of standard deviation
``reg_noise_std``, Adam at ``lr = 0.01``, and, for denoising and JPEG, the exponential moving
average of the outputs with weight ``ema = 0.99`` ("exp_weight").

==================  ======  =====================  ==============  ========  =====  =====  =====
task                depth   down = up              skip            upsample  noise  ema    steps
==================  ======  =====================  ==============  ========  =====  =====  =====
denoise (F16)       32      128 x 5                4 x 5           bilinear  1/30   0.99   3000
jpeg (snail)        3       8, 16, 32, 64, 128     0, 0, 0, 4, 4   bilinear  1/30   0.99   2400
inpaint (kate)      32      128 x 5                128 x 5         nearest   0.03   --     6001
super_resolution    32      128 x 5                4 x 5           bilinear  0.03   --     2000
==================  ======  =====================  ==============  ========  =====  =====  =====

On a CPU a step of the 128-channel network costs ~16x the 32-channel one (the convolutions
are quadratic in the width), so gaplens' defaults (:data:`DEFAULTS`) divide every width by 4
(128 -> 32, the JPEG network's 8..128 -> 4..32, never below 4 channels; skip widths of 4 kept)
and halve the number of steps; everything else is the authors'. :data:`PAPER` keeps their
values for a GPU (``settings=PAPER[task]``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gaplens.core.errors import InputError

__all__ = ["FitSettings", "PAPER", "DEFAULTS", "TASKS", "settings_for"]

#: The tasks :func:`gaplens.restore.restore` knows.
TASKS = ("denoise", "inpaint", "jpeg", "super_resolution")


@dataclass(frozen=True)
class FitSettings:
    """How one image is fitted.

    Attributes:
        input_depth: channels of the fixed random input ``z``.
        down, up, skip: per-scale channel counts of :class:`~gaplens.restore.network.SkipNet`.
        upsample: ``"bilinear"`` or ``"nearest"``.
        lr: Adam's learning rate.
        reg_noise_std: standard deviation of the Gaussian perturbation added to ``z`` at each
            step (0: none).
        ema: weight of the exponential moving average of the outputs (``avg = ema * avg + (1 -
            ema) * out``); ``None``: the result is the last output itself.
        steps: number of Adam steps when the caller gives none.
        input_scale: ``z`` is drawn from ``U(0, input_scale)``.
    """

    input_depth: int = 32
    down: tuple[int, ...] = (128,) * 5
    up: tuple[int, ...] = (128,) * 5
    skip: tuple[int, ...] = (4,) * 5
    upsample: str = "bilinear"
    lr: float = 0.01
    reg_noise_std: float = 1.0 / 30.0
    ema: float | None = 0.99
    steps: int = 3000
    input_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.ema is not None and not 0.0 <= self.ema < 1.0:
            raise InputError(f"ema={self.ema}; expected a weight in [0, 1) or None")
        if self.lr <= 0 or self.reg_noise_std < 0 or self.steps < 1 or self.input_scale <= 0:
            raise InputError(f"lr={self.lr}, reg_noise_std={self.reg_noise_std}, steps={self.steps}, "
                             f"input_scale={self.input_scale}: expected lr > 0, reg_noise_std >= 0, steps >= 1, "
                             "input_scale > 0")

    def scaled(self, width: float = 0.25, steps: float = 0.5) -> FitSettings:
        """These settings with channel counts times ``width`` (at least 4; skips of 0 kept), steps times ``steps``."""
        def shrink(channels: tuple[int, ...], floor: int = 4) -> tuple[int, ...]:
            return tuple(0 if c == 0 else max(min(c, floor), round(c * width)) for c in channels)

        return replace(self, down=shrink(self.down), up=shrink(self.up), skip=shrink(self.skip),
                       steps=max(1, round(self.steps * steps)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (tuples as lists)."""
        from dataclasses import asdict

        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


#: The authors' settings per task (their notebooks; see the module docstring).
PAPER: dict[str, FitSettings] = {
    "denoise": FitSettings(),
    "jpeg": FitSettings(input_depth=3, down=(8, 16, 32, 64, 128), up=(8, 16, 32, 64, 128), skip=(0, 0, 0, 4, 4),
                        steps=2400),
    "inpaint": FitSettings(skip=(128,) * 5, upsample="nearest", reg_noise_std=0.03, ema=None, steps=6001),
    "super_resolution": FitSettings(reg_noise_std=0.03, ema=None, steps=2000),
}

#: gaplens' CPU-sized defaults: the authors' settings with widths / 4 and half the steps.
DEFAULTS: dict[str, FitSettings] = {task: s.scaled() for task, s in PAPER.items()}


def settings_for(task: str, settings: FitSettings | dict | None = None) -> FitSettings:
    """The settings of ``task``: :data:`DEFAULTS`, or those given, or the defaults updated by a dict."""
    if task not in TASKS:
        raise InputError(f"task={task!r}; expected one of {list(TASKS)}")
    if isinstance(settings, FitSettings):
        return settings
    if settings is None:
        return DEFAULTS[task]
    if not isinstance(settings, dict):
        raise InputError(f"settings: expected a FitSettings, a dict of its fields or None, got "
                         f"{type(settings).__name__}")
    known = set(FitSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"settings: unknown field(s) {unknown}; known: {sorted(known)}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return replace(DEFAULTS[task], **fixed)
