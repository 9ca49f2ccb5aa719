"""``gaplens audit``: every study that applies to one model and its images, in one report.

The entry point for a user's own trained model and image folder. What runs depends on what is
given:

============== ======================================================= ==========================
study          runs when                                               on
============== ======================================================= ==========================
evaluate       the images are labelled (class sub-folders, synthetic)  every image
explain        always                                                  a sample, every method
sanity         always (data randomization also with ``train``, for a   a smaller sample
               gaplens zoo model whose architecture can be rebuilt)
visualize      always: class models and the model's top classes        every class
robustness     the images are labelled                                 a sample spread over classes
shape_bias     ``stimuli`` is given                                    the stimuli
shift          ``new`` is given                                        both sets
============== ======================================================= ==========================

``studies`` selects among them; ``quick=True`` shrinks every sample and setting for a first
look in a minute or two. The report opens with the findings table (one line per study).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from gaplens.core.errors import InputError
from gaplens.data.folder import IMG_EXTENSIONS
from gaplens.data.spec import SAMPLE_PREFIX, SYNTHETIC_PREFIX, ImageBatch, load_image_batch
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput
from gaplens.studies.executors import Executor
from gaplens.studies.explain import Explain, align_batch
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context, Runner, safe_name

__all__ = ["AUDIT_STUDIES", "AuditSizes", "audit", "load_audit_images"]

logger = logging.getLogger(__name__)

#: The studies an audit may run, in the order it runs them.
AUDIT_STUDIES = ("evaluate", "explain", "sanity", "visualize", "robustness", "shape_bias", "shift")


@dataclass(frozen=True)
class AuditSizes:
    """Sample sizes and settings of an audit (:data:`FULL` or :data:`QUICK`)."""

    n_explain: int = 8
    n_sanity: int = 4
    sanity_modes: tuple[str, ...] = ("cascading", "independent")
    sanity_methods: tuple[str, ...] | None = None
    n_robustness: int = 500
    distortions: str = "all"
    vis_steps: int = 256
    random_label_epochs: int = 10
    explain_options: tuple = (("integrated_gradients", {"n_steps": 32}), ("smoothgrad", {"n_samples": 32}),
                              ("smoothgrad_sq", {"n_samples": 32}), ("vargrad", {"n_samples": 32}))
    explain_methods: tuple[str, ...] = ("all",)


FULL = AuditSizes()
QUICK = AuditSizes(n_explain=4, n_sanity=2, sanity_modes=("cascading",),
                   sanity_methods=("gradient", "integrated_gradients", "guided_backprop", "grad_cam"),
                   n_robustness=100, distortions="contrast,low_pass,uniform_noise,rotation", vis_steps=64,
                   random_label_epochs=3,
                   explain_options=(("integrated_gradients", {"n_steps": 16}), ("smoothgrad", {"n_samples": 8})),
                   explain_methods=("gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "grad_cam",
                                    "occlusion"))


def _flat_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def is_labelled(images: str) -> bool:
    """Whether an image spec carries labels: synthetic data, or a folder with class sub-folders."""
    if images.startswith(SYNTHETIC_PREFIX):
        return True
    path = Path(images)
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def load_audit_images(images: str, size: tuple[int, int] | None, limit: int) -> ImageBatch:
    """Up to ``limit`` images of a spec at ``size``; a folder of images without class folders is unlabeled."""
    path = Path(images)
    if path.is_dir() and not is_labelled(images):
        from gaplens.core.image_io import read_image, resize_image

        files = _flat_images(path)
        if not files:
            raise InputError(f"images={images!r}: no image files in it (looked for {', '.join(IMG_EXTENSIONS)}) "
                             "and no class sub-folders")
        step = max(1, len(files) // limit)
        picked = files[::step][:limit]
        loaded = [read_image(f) for f in picked]
        if size is not None:
            loaded = [resize_image(im, size) for im in loaded]
        elif len({tuple(im.shape) for im in loaded}) > 1:
            shape = tuple(loaded[0].shape[-2:])
            loaded = [resize_image(im, shape) for im in loaded]
        return ImageBatch(torch.stack(loaded), ids=[f.name for f in picked])
    return load_image_batch(images, size=size, limit=limit)


def audit(model: str | torch.nn.Module | ModelRef, images: str, out: str | os.PathLike, *,
          train: str | None = None, stimuli: str | None = None, new: str | None = None,
          studies: Sequence[str] | None = None, quick: bool = False, fresh: bool = False, device: str = "auto",
          progress: bool = True, trust_code: bool = False, executor: str | Executor | None = None) -> Path:
    """Run every study that applies to ``model`` on ``images`` into ``out``; returns ``report.html``.

    Args:
        model: a model spec, a model or a :class:`ModelRef`.
        images: a folder with one sub-folder per class (labelled), a folder of images (unlabeled),
            an image file, ``sample:NAME`` or ``synthetic:...``.
        train: a labelled training set (spec); enables the data randomization test.
        stimuli: cue-conflict stimuli (folder, manifest or synthetic spec); enables shape bias.
        new: a new test set with the same classes as ``images``; enables the new-test-set study.
        studies: a subset of :data:`AUDIT_STUDIES` (default: all that apply).
        quick: small samples and settings (:data:`QUICK`).
        fresh: recompute every unit.
        trust_code: let ``model`` be a TorchScript archive or a ``module:factory`` spec, which
            runs its code (see :func:`gaplens.load_model`); only for code you trust.
        executor: where units run (:func:`gaplens.studies.executors.make_executor`; default local).
    """
    from gaplens.studies import ClassModels, Evaluate, Sanity, ShapeBias, ShiftEvaluate, Sweep, Train

    chosen = list(AUDIT_STUDIES if not studies else studies)
    unknown = [s for s in chosen if s not in AUDIT_STUDIES]
    if unknown:
        raise InputError(f"studies={unknown}: expected among {list(AUDIT_STUDIES)}")
    if not isinstance(images, str) or not (images.startswith((SYNTHETIC_PREFIX, SAMPLE_PREFIX))
                                           or Path(images).exists()):
        raise InputError(f"images={images!r}: not a folder, an image file, 'sample:NAME' or 'synthetic:...'")
    sizes = QUICK if quick else FULL
    (ref,) = model_refs([model], device=device, trust_code=trust_code)
    classifier = ref.load()
    labelled = is_labelled(images)
    skipped: list[tuple[str, str]] = []  # (study, why it was left out)
    params = {"model": ref.spec or ref.label, "images": images, "train": train, "stimuli": stimuli, "new": new,
              "studies": chosen, "quick": quick}
    with Runner(out, "audit", params, fresh=fresh, device=device, progress=progress, executor=executor) as runner:
        if "evaluate" in chosen:
            if labelled:
                runner.run(Evaluate([ref], {Path(images).name or images: images}))
            else:
                skipped.append(("evaluate", "the images have no labels"))
        sample = load_audit_images(images, classifier.input_size, sizes.n_explain)
        if "explain" in chosen:
            runner.run(Explain([ref], sample, sizes.explain_methods, target="pred",
                               options=dict(sizes.explain_options)))
        if "sanity" in chosen:
            twin = None
            if train is not None:
                arch = getattr(getattr(classifier, "network", None), "gaplens_arch", None)
                if arch is None:
                    skipped.append(("sanity: data randomization", "the model is not a gaplens zoo model, so its "
                                    "architecture cannot be retrained on random labels"))
                else:
                    trained = Train(f"{safe_name(ref.label)}-random-labels", train, arch=arch["name"],
                                    arch_kwargs=arch["kwargs"],
                                    fit={"epochs": sizes.random_label_epochs, "random_labels": True})
                    runner.run(trained)
                    twin = trained.model(runner.out, device)
            small = ImageBatch(sample.images[:sizes.n_sanity], ids=sample.ids[:sizes.n_sanity])
            runner.run(Sanity(ref, small, sizes.sanity_modes, sizes.sanity_methods, twin))
        if "visualize" in chosen:
            runner.run(ClassModels(ref, ("logit",), {"steps": sizes.vis_steps}))
        if "robustness" in chosen:
            if labelled:
                batch = align_batch(load_audit_images(images, classifier.input_size, sizes.n_robustness), classifier)
                runner.run(Sweep([ref], (batch.images, batch.labels), sizes.distortions))
            else:
                skipped.append(("robustness", "the images have no labels"))
        if "shape_bias" in chosen:
            if stimuli is not None:
                runner.run(ShapeBias([ref], stimuli))
            else:
                skipped.append(("shape_bias", "no cue-conflict stimuli given (--stimuli)"))
        if "shift" in chosen:
            if new is not None and labelled:
                runner.run(ShiftEvaluate([ref], images, new, scale="probit", comparison="audit"))
            else:
                why = "no new test set given (--new)" if new is None else "the images have no labels"
                skipped.append(("shift", why))
        runner.run(AuditScope(ref.label, images, chosen, skipped))
    if skipped:
        logger.info("audit of %s left out: %s", ref.label, "; ".join(f"{n} ({why})" for n, why in skipped))
    return runner.report_path


@dataclass
class AuditScope(Study):
    """One record per study the audit ran or left out, with the reason: the report's first section."""

    name = "audit"
    title = "Audit"
    order = -40

    model: str
    images: str
    chosen: list
    skipped: list

    def units(self, ctx: Context) -> list[Unit]:
        return [Unit(self.model, {"chosen": self.chosen, "skipped": [list(s) for s in self.skipped],
                                  "images": self.images},
                     scope=self.model)]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        left_out = {name for name, _ in self.skipped}
        rows = [{"model": self.model, "images": self.images, "name": name, "left_out": False, "reason": ""}
                for name in self.chosen if name not in left_out]
        rows += [{"model": self.model, "images": self.images, "name": name, "left_out": True, "reason": why}
                 for name, why in self.skipped]
        return UnitOutput(records=rows)

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        left_out = df[df["left_out"].astype(bool)]
        findings = [Finding(study="audit", measure=f"left out: {row['name']}", value="—", verdict="info",
                            detail=row["reason"]) for _, row in left_out.iterrows()]
        models = ", ".join(dict.fromkeys(df["model"].astype(str)))
        images = ", ".join(dict.fromkeys(df["images"].astype(str)))
        ran = ", ".join(df.loc[~df["left_out"].astype(bool), "name"].astype(str))
        intro = f"Audit of {models} on {images}. Studies run: {ran or 'none'}."
        intro += " Studies left out, and why:" if len(left_out) else " Every requested study applied."
        return Section(title="Audit", intro=intro,
                       tables=[("Left out", left_out[["name", "reason"]])] if len(left_out) else [],
                       findings=findings)


register_section(AuditScope.name, title=AuditScope.title, order=AuditScope.order)(AuditScope.section)
