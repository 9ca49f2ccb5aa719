"""Study "restore": Deep Image Prior restorations beside scikit-image's, and the prior experiment (issue 18).

Units (scope ``"restore"``):

- ``TASK/IMAGE`` for each task: crop the photograph, corrupt it (Gaussian noise, a mask, a JPEG
  round trip or a Lanczos downsampling), restore it with :func:`gaplens.restore.restore`, running
  every step so that the stopping rule's step can be compared with the best step, and run the
  task's scikit-image baselines (each at its best grid value). Records: one ``method`` row per
  method (the corrupted input, DIP at the stopping rule's step, at its best step, at the last
  step and at the wall time the best baseline took, each baseline), one ``summary`` and the
  fitting history (``step``, every few steps); arrays: the clean, corrupted and restored images
  and the full history; figures: before / after / baselines and the fitting curves.
- ``prior/IMAGE``: the paper's Figure 2 on the same crop: one network fitted to the photograph,
  the photograph plus noise, its pixels shuffled and white noise; records the steps each needs
  to reach a loss level, arrays the curves, the figure of the curves.

With ``observed=True`` the image is taken as already corrupted: there is no clean image, so no
PSNR, no baselines, and only the stopping rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.runner import Context

__all__ = ["Restore", "DEMO_SETTINGS"]

#: Settings of :meth:`Restore.demo`: a 3-scale, 16-channel network on a 32x32 crop.
DEMO_SETTINGS = {"input_depth": 16, "down": [16, 16, 16], "up": [16, 16, 16], "skip": [4, 4, 4], "ema": 0.9}
#: The history kept in the records: every this many steps (the full history is saved as an array).
HISTORY_EVERY = 5
TASK_LABELS = {"denoise": "denoising", "inpaint": "inpainting", "jpeg": "JPEG artifact removal",
               "super_resolution": "super-resolution"}


def _image_label(image: object) -> str:
    if isinstance(image, torch.Tensor):
        return "image"
    text = str(image)
    if text.startswith("sample:"):
        return text.split(":", 1)[1]
    return Path(text).stem or "image"


def _centre_crop(image: torch.Tensor, side: int | None, multiple: int = 1) -> torch.Tensor:
    h, w = image.shape[-2:]
    side_h = min(h, side) if side else h
    side_w = min(w, side) if side else w
    side_h, side_w = side_h - side_h % multiple, side_w - side_w % multiple
    top, left = (h - side_h) // 2, (w - side_w) // 2
    return image[:, top:top + side_h, left:left + side_w].contiguous()


@dataclass
class Restore(Study):
    """Deep Image Prior on one photograph: restorations for ``tasks`` and the prior experiment.

    Args:
        image: an image file, ``sample:NAME`` (scikit-image's photographs) or a ``(3, H, W)``
            tensor in [0, 1]: the clean image (or the corrupted one with ``observed=True``).
        tasks: some of ``"denoise"``, ``"inpaint"``, ``"jpeg"``, ``"super_resolution"``.
        resize: first resize the image so that its longer side has this many pixels (aspect kept;
            None: as it is).
        crop: side of the centre crop (pixels; None: the whole image). For super-resolution it is
            the clean image's side, rounded down to a multiple of ``factor``.
        noise: Gaussian noise level for denoising (std on the 0-255 scale).
        mask: inpainting mask: ``"random:F"`` (a fraction F of pixels missing), ``"text"``, or a
            mask image file of the crop's size (white = known).
        quality: JPEG quality of the JPEG task.
        factor: super-resolution factor.
        steps: Adam steps (None: each task's default, see :mod:`gaplens.restore.settings`).
        seed: network, input and corruption seed.
        stop: the stopping rule (``"variance"``, or ``"discrepancy"`` for denoising).
        settings: fields of :class:`gaplens.restore.FitSettings` overriding every task's defaults.
        observed: the image is already corrupted (no clean image: no PSNR, no baselines).
        baselines: run scikit-image's baselines (needs a clean image).
        prior: run the prior experiment on the same crop.
        prior_steps: steps of each fit of the prior experiment.
        prior_level: the loss level (MSE) whose first crossing the prior experiment reports.
        prior_settings: fields overriding :data:`gaplens.restore.PRIOR_SETTINGS`.
    """

    name = "restore"
    title = "Deep Image Prior"
    order = 30

    image: Any = "sample:astronaut"
    tasks: tuple[str, ...] = ("denoise",)
    resize: int | None = None
    crop: int | None = 128
    noise: float = 25.0
    mask: str | None = "random:0.5"
    quality: int = 10
    factor: int = 4
    steps: int | None = None
    seed: int = 0
    stop: str = "variance"
    settings: dict | None = None
    observed: bool = False
    baselines: bool = True
    prior: bool = True
    prior_steps: int = 600
    prior_level: float = 0.01
    prior_settings: dict | None = None

    @classmethod
    def demo(cls, **overrides: Any) -> Restore:
        """The demo's size: the prior experiment and a denoising of a 32x32 crop of the astronaut (~10 s of CPU)."""
        settings = dict(image="sample:astronaut", tasks=("denoise",), crop=32, steps=120,
                        settings=DEMO_SETTINGS, prior_steps=80, prior_settings=DEMO_SETTINGS)
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self) -> None:
        from gaplens.restore import STOPPING_RULES, TASKS, settings_for

        self.tasks = tuple(self.tasks)
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or (not self.tasks and not self.prior):
            raise InputError(f"tasks={list(self.tasks)}; expected some of {list(TASKS)} (or prior=True)")
        if self.stop not in STOPPING_RULES:
            raise InputError(f"stop={self.stop!r}; expected one of {list(STOPPING_RULES)}")
        if self.crop is not None and self.crop < 1:
            raise InputError(f"crop={self.crop}; expected a side in pixels or None")
        if self.resize is not None and self.resize < 1:
            raise InputError(f"resize={self.resize}; expected a side in pixels or None")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"steps={self.steps}; expected a positive number of steps")
        if self.prior_steps < 1:
            raise InputError(f"prior_steps={self.prior_steps}; expected a positive number of steps")
        for task in self.tasks:
            settings_for(task, self.settings)  # unknown fields fail here, before any work
        if self.observed and self.prior:
            self.prior = False  # the prior experiment needs the clean photograph
        if "inpaint" in self.tasks:
            self._mask_kind()

    def _mask_kind(self) -> tuple[str, float | None]:
        mask = self.mask or "random:0.5"
        if mask == "text":
            return "text", None
        if mask.startswith("random:"):
            try:
                fraction = float(mask.split(":", 1)[1])
            except ValueError:
                raise InputError(f"mask={mask!r}; expected 'random:F' with F a fraction, 'text' or a file") from None
            return "random", fraction
        if not Path(mask).is_file():
            raise InputError(f"mask={mask!r}: not a file; expected 'random:F', 'text' or a mask image")
        return "file", None

    # -- units -------------------------------------------------------------------------------

    def _source_digest(self) -> str:
        return data_digest(self.image)

    def units(self, ctx: Context) -> list[Unit]:
        label = _image_label(self.image)
        common = {"image": self._source_digest(), "resize": self.resize, "crop": self.crop, "seed": self.seed,
                  "observed": self.observed}
        units = []
        for task in self.tasks:
            inputs = {**common, "task": task, "steps": self.steps, "stop": self.stop, "settings": self.settings,
                      "baselines": self.baselines and not self.observed}
            if task == "denoise":
                inputs["noise"] = self.noise
            elif task == "inpaint":
                inputs["mask"] = self.mask
                if self._mask_kind()[0] == "file":
                    inputs["mask_file"] = data_digest(self.mask)
            elif task == "jpeg":
                inputs["quality"] = self.quality
            else:
                inputs["factor"] = self.factor
            units.append(Unit(f"{task}/{label}", inputs, scope="restore", payload=task))
        if self.prior:
            inputs = {**common, "steps": self.prior_steps, "level": self.prior_level, "noise": self.noise,
                      "settings": self.prior_settings}
            units.append(Unit(f"prior/{label}", inputs, scope="restore", payload="prior"))
        return units

    def _photo(self, multiple: int = 1) -> torch.Tensor:
        from gaplens.core.image_io import resize_image
        from gaplens.restore import load_image

        image = load_image(self.image)
        if self.resize is not None:
            h, w = image.shape[-2:]
            scale = self.resize / max(h, w)
            image = resize_image(image, (max(1, round(h * scale)), max(1, round(w * scale))))
        return _centre_crop(image, self.crop, multiple)

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        if unit.payload == "prior":
            return self._run_prior(unit, ctx)
        return self._run_task(unit.payload, unit, ctx)

    # -- one restoration -----------------------------------------------------------------------

    def _corrupt(self, task: str, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, str]:
        from gaplens.restore import add_noise, jpeg_compress, lanczos_downsample, load_mask, random_mask, text_mask

        size = tuple(clean.shape[-2:])
        if task == "denoise":
            return add_noise(clean, self.noise, seed=self.seed + 1), None, f"Gaussian noise, sigma = {self.noise:g}"
        if task == "inpaint":
            kind, fraction = self._mask_kind()
            if kind == "random":
                mask, what = random_mask(size, fraction, seed=self.seed + 1), f"{fraction:.0%} of pixels missing"
            elif kind == "text":
                mask, what = text_mask(size), "text over the image"
            else:
                mask, what = load_mask(self.mask, size), f"mask {Path(self.mask).name}"
            return clean * mask, mask, what
        if task == "jpeg":
            return jpeg_compress(clean, self.quality), None, f"JPEG, quality {self.quality}"
        return lanczos_downsample(clean.double(), self.factor).float().clamp(0, 1), None, \
            f"Lanczos downsampling x{self.factor}"

    def _run_task(self, task: str, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.restore import baselines, fit_history_figure, psnr, restoration_figure, restore, ssim

        label = _image_label(self.image)
        if self.observed:
            observed, clean, mask, what = self._photo(), None, None, "as given"
            if task == "inpaint":
                from gaplens.restore import load_mask

                if self._mask_kind()[0] != "file":
                    raise InputError(f"mask={self.mask!r}: inpainting an image given as already corrupted needs "
                                     "the mask of its missing pixels as an image file (white = known)")
                mask = load_mask(self.mask, tuple(observed.shape[-2:]))
        else:
            clean = self._photo(self.factor if task == "super_resolution" else 1)
            observed, mask, what = self._corrupt(task, clean)
        sigma = self.noise if task == "denoise" and not self.observed else None
        result = restore(observed, task, mask=mask, factor=self.factor, steps=self.steps, seed=self.seed, clean=clean,
                         progress=ctx.progress, sigma=sigma, stop=self.stop, early_stop=clean is None,
                         settings=self.settings, metric_every=1, device=_device(ctx.device))
        history = result.history
        records: list[dict] = []
        summary: dict[str, Any] = {"kind": "summary", "task": task, "image": label, "corruption": what,
                                   "size": f"{result.image.shape[-1]}x{result.image.shape[-2]}",
                                   "steps_run": len(history), "stopped_at": result.stopped_at,
                                   "fired_at": result.fired_at, "rule": result.rule.get("rule"),
                                   "seconds": result.seconds, "seconds_per_step": result.seconds / max(1, len(history)),
                                   "channels": max(result.settings.down), "ema": result.settings.ema}
        figures = []
        panels: list[tuple[str, torch.Tensor]] = []
        if clean is not None:
            shown_observed = observed if task != "super_resolution" else torch.nn.functional.interpolate(
                observed[None], size=clean.shape[-2:], mode="nearest")[0]
            chosen = result.stopped_at or len(history)
            best = result.best_step
            summary.update(best_step=best, best_psnr=history[best - 1]["psnr"], best_ssim=history[best - 1]["ssim"],
                           stopped_psnr=history[chosen - 1]["psnr"], stopped_ssim=history[chosen - 1]["ssim"],
                           final_psnr=history[-1]["psnr"], final_ssim=history[-1]["ssim"],
                           steps_from_best=None if result.stopped_at is None else result.stopped_at - best)
            if task != "super_resolution":
                summary.update(input_psnr=float(psnr(observed, clean)), input_ssim=float(ssim(observed, clean)))
                records.append({"kind": "method", "task": task, "method": f"corrupted input ({what})", "param": "",
                                "psnr": summary["input_psnr"], "ssim": summary["input_ssim"], "seconds": 0.0})
            runs = baselines(task, observed, clean, mask=mask, factor=self.factor) if self.baselines else []
            best_baseline = max(runs, key=lambda r: r.psnr) if runs else None
            rule_name = ("DIP, stopping rule (no clean image)" if result.stopped_at is not None
                         else "DIP, stopping rule (did not fire: last step)")
            rows = [(rule_name, chosen), ("DIP, best step (oracle)", best), ("DIP, last step", len(history))]
            if best_baseline is not None:
                equal = [r["step"] for r in history if r["seconds"] <= best_baseline.seconds]
                if equal:
                    rows.append((f"DIP at the wall time of {best_baseline.name}", equal[-1]))
                else:
                    records.append({"kind": "method", "task": task, "method": f"DIP at the wall time of "
                                    f"{best_baseline.name}", "param": f"no step within {best_baseline.seconds:.2f} s",
                                    "psnr": None, "ssim": None, "seconds": best_baseline.seconds})
                summary.update(baseline=best_baseline.name, baseline_psnr=best_baseline.psnr,
                               baseline_ssim=best_baseline.ssim, baseline_seconds=best_baseline.seconds)
            for method, step in rows:
                row = history[step - 1]
                records.append({"kind": "method", "task": task, "method": method, "param": f"step {step}",
                                "psnr": row["psnr"], "ssim": row["ssim"], "seconds": row["seconds"]})
            records += [{"kind": "method", "task": task, "method": f"scikit-image {r.name}", **{
                k: v for k, v in r.record.items() if k != "method"}} for r in runs]
            panels = [("clean", clean), (f"{what}\n{summary.get('input_psnr', float('nan')):.2f} dB", shown_observed),
                      (f"DIP (step {chosen})\n{summary['stopped_psnr']:.2f} dB", result.image)]
            panels += [(f"{r.name}\n{r.psnr:.2f} dB", r.image) for r in runs]
            figures.append(("history", fit_history_figure(
                history, best_step=best, stopped_at=result.stopped_at,
                title=f"Deep Image Prior, {TASK_LABELS[task]} of {label}",
                baseline_psnr=None if best_baseline is None else best_baseline.psnr,
                baseline_name=f"best baseline ({best_baseline.name})" if best_baseline else ""),
                f"Fitting curves: loss and PSNR per step, {TASK_LABELS[task]}"))
        else:
            panels = [("corrupted (as given)", observed), (f"DIP (step {result.stopped_at or len(history)})",
                                                           result.image)]
            figures.append(("history", fit_history_figure(history, stopped_at=result.stopped_at,
                                                          title=f"Deep Image Prior, {TASK_LABELS[task]} of {label}"),
                            f"Fitting curve: loss per step, {TASK_LABELS[task]}"))
        figures.insert(0, ("images", restoration_figure(panels, title=f"{TASK_LABELS[task]} of {label}"),
                           f"Before / after / baselines, {TASK_LABELS[task]} (PSNR in dB)"))
        records.append(summary)
        records += [{"kind": "step", "task": task, "step": r["step"], "loss": r["loss"], "psnr": r.get("psnr"),
                     "score": r["score"]} for r in history if r["step"] % HISTORY_EVERY == 0 or r["step"] == 1]
        columns = ["step", "loss", "seconds", "score", "psnr", "ssim"]
        table = np.array([[np.nan if r.get(c) is None else r[c] for c in columns] for r in history], dtype=np.float64)
        arrays = [("restored", result.image.cpu().numpy(), "restored image (3, H, W)"),
                  ("observed", observed.cpu().numpy(), "corrupted image (3, h, w)"),
                  ("history", table, "history: " + ", ".join(columns))]
        if clean is not None:
            arrays.append(("clean", clean.cpu().numpy(), "clean image (3, H, W)"))
        return UnitOutput(records=records, figures=figures, arrays=arrays)

    # -- the prior experiment ------------------------------------------------------------------

    def _run_prior(self, unit: Unit, ctx: Context) -> UnitOutput:
        from dataclasses import replace

        from gaplens.restore import PRIOR_SETTINGS, fit_curves, prior_figure, prior_images, steps_to_reach

        settings = PRIOR_SETTINGS
        if self.prior_settings:
            fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in self.prior_settings.items()}
            try:
                settings = replace(PRIOR_SETTINGS, **fixed)
            except TypeError as err:
                raise InputError(f"prior_settings: {err}") from None
        photo = self._photo()
        images = prior_images(photo, sigma=self.noise, seed=self.seed)
        curves = fit_curves({k: v.to(_device(ctx.device)) for k, v in images.items()}, steps=self.prior_steps,
                            seed=self.seed, settings=settings, progress=ctx.progress)
        label = _image_label(self.image)
        records = []
        for name, curve in curves.items():
            reached = steps_to_reach(curve, self.prior_level)
            records.append({"kind": "prior", "image": label, "target": name, "level": self.prior_level,
                            "steps_to_level": reached, "steps": self.prior_steps, "final_loss": float(curve[-1]),
                            "loss_at_10pct": float(curve[max(0, len(curve) // 10 - 1)])})
        fig = prior_figure({k: v.numpy() for k, v in curves.items()}, level=self.prior_level,
                           title=f"One network fitted to four images ({photo.shape[-1]}x{photo.shape[-2]} crop "
                                 f"of {label})")
        stacked = np.stack([v.numpy() for v in curves.values()])
        return UnitOutput(records=records, figures=[("prior", fig, "The prior experiment (the paper's Figure 2): "
                                                                   "loss per step for each image")],
                          arrays=[("curves", stacked, "MSE per step: " + ", ".join(curves))])

    # -- the report ----------------------------------------------------------------------------

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        kind = df["kind"] if "kind" in df else pd.Series([], dtype=str)
        tables = []
        methods = df[kind == "method"]
        if len(methods):
            tables.append(("Restoration quality: PSNR (dB) and SSIM against the clean image; seconds = wall time "
                           "(for DIP: since the start of the fit; for a baseline: its whole parameter grid)",
                           methods[["task", "method", "param", "psnr", "ssim", "seconds"]].reset_index(drop=True)))
        summaries = df[kind == "summary"]
        if len(summaries):
            cols = [c for c in ("task", "image", "size", "rule", "steps_run", "best_step", "stopped_at",
                                "steps_from_best", "best_psnr", "stopped_psnr", "seconds_per_step")
                    if c in summaries]
            tables.append(("The stopping rule: the step it chose without the clean image, and the best step "
                           "(highest PSNR, known only with the clean image)", summaries[cols].reset_index(drop=True)))
        priors = df[kind == "prior"]
        if len(priors):
            tables.append(("The prior experiment: steps until the loss first falls to the level (empty: never, "
                           "within the steps run)", priors[["image", "target", "level", "steps_to_level", "steps",
                                                             "final_loss"]].reset_index(drop=True)))
        findings = [_finding(summaries, priors)] if len(summaries) or len(priors) else []
        return Section(
            title=Restore.title,
            intro=("Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018): a randomly initialized "
                   "encoder-decoder with skip connections is fitted, from a fixed random input, to one corrupted "
                   "image; no training data is involved. It restores the image because it fits natural "
                   "structure long before it fits noise: the architecture itself is the prior.\n\n"
                   "The number of steps matters: fitted long enough the network reproduces the corruption too. "
                   "The stopping rule needs no clean image: it watches the running variance of the network's "
                   "outputs (Wang et al. 2023) and keeps the step where it was lowest; the table compares that "
                   "step with the best one. The scikit-image baselines each get their best parameter from a "
                   "small grid, chosen with the clean image (their best case)."),
            tables=tables, figures=figures_of(artifacts), findings=findings)


def _finding(summaries: pd.DataFrame, priors: pd.DataFrame) -> Finding:
    ratio_text = ""
    if len(priors):
        steps = dict(zip(priors["target"], priors["steps_to_level"], strict=False))
        natural, noise = steps.get("natural"), steps.get("white noise")
        total = int(priors["steps"].iloc[0])
        if natural is not None and pd.notna(natural):
            noise_text = f"{int(noise)}" if noise is not None and pd.notna(noise) else f"more than {total}"
            ratio_text = (f"prior experiment: the photograph reached loss {priors['level'].iloc[0]:g} in "
                          f"{int(natural)} steps, white noise in {noise_text}")
    if len(summaries):
        s = summaries.iloc[0]
        label = TASK_LABELS.get(s["task"], s["task"])
        if "baseline_psnr" in s and pd.notna(s.get("baseline_psnr")):
            gap = float(s["stopped_psnr"] - s["baseline_psnr"])
            detail = (f"{label} of {s['image']} ({s['size']}): DIP {s['stopped_psnr']:.2f} dB at the stopping rule's "
                      f"step {int(s['stopped_at']) if pd.notna(s['stopped_at']) else int(s['steps_run'])}, "
                      f"{s['best_psnr']:.2f} dB at its best step {int(s['best_step'])}; best baseline "
                      f"{s['baseline']} {s['baseline_psnr']:.2f} dB")
            return Finding(study="restore", measure=f"PSNR of DIP (stopping rule) minus the best scikit-image "
                                                    f"baseline, {label}", value=round(gap, 2),
                           verdict="pass" if gap >= 0 else "warning",
                           detail="; ".join(t for t in (detail, ratio_text) if t))
        if "best_psnr" in s and pd.notna(s.get("best_psnr")):
            return Finding(study="restore", measure=f"PSNR of DIP at the stopping rule's step, {label}",
                           value=round(float(s["stopped_psnr"]), 2), verdict="info",
                           detail=f"best step {int(s['best_step'])}: {s['best_psnr']:.2f} dB; {ratio_text}".strip("; "))
        return Finding(study="restore", measure=f"step chosen by the stopping rule, {label}",
                       value=s["stopped_at"] if pd.notna(s["stopped_at"]) else "never fired", verdict="info",
                       detail=f"{int(s['steps_run'])} steps run, no clean image to measure")
    steps = dict(zip(priors["target"], priors["steps_to_level"], strict=False))
    natural, noise = steps.get("natural"), steps.get("white noise")
    total = int(priors["steps"].iloc[0])
    if natural is None or pd.isna(natural):
        return Finding(study="restore", measure="steps for the photograph to reach the loss level", value="never",
                       verdict="warning", detail=f"within {total} steps; {ratio_text}".strip("; "))
    bound = noise if noise is not None and pd.notna(noise) else total
    ratio = float(bound) / float(natural)
    return Finding(study="restore", measure="white noise needs x times the steps of the photograph to reach the "
                                            "loss level" + (" (at least)" if noise is None or pd.isna(noise) else ""),
                   value=round(ratio, 1), verdict="pass" if ratio >= 2 else "warning", detail=ratio_text)


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


register_section(Restore.name, title=Restore.title, order=Restore.order)(Restore.section)
