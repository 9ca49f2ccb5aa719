"""Study "explain": attribution maps of every method for a few images, and where they fall.

One unit per (model, method), in the model's scope, holding the maps (``maps/*.npy``) and one
record per image; then one unit draws the grid figure from the saved maps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.data.align import align_classes
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context


def mask_fraction(attributions: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each image's rendered |attribution| mass inside its object mask: ``(N,)`` in [0, 1].

    Maps are rendered as in Adebayo et al. (channel sum of |a|, clipped at the 99th percentile);
    a method that ignores the object scores about the mask's area fraction.
    """
    from gaplens.explain import render

    heat = render(attributions, mode="abs")
    if heat.shape[-2:] != masks.shape[-2:]:
        heat = torch.nn.functional.interpolate(heat, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    total = heat.flatten(1).sum(1)
    inside = (heat * masks.to(heat)).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.zeros_like(total))


def load_batch(images: object, model, limit: int):
    """An :class:`~gaplens.data.spec.ImageBatch` from a spec (at the model's input size) or as given."""
    from gaplens.data.spec import ImageBatch, load_image_batch

    if isinstance(images, torch.Tensor):
        return ImageBatch(images)
    if isinstance(images, str):
        images = load_image_batch(images, size=model.input_size, limit=limit)
    if not isinstance(images, ImageBatch):
        raise InputError(f"images: expected a spec, an ImageBatch or an (N, 3, H, W) tensor, "
                         f"got {type(images).__name__}")
    return align_batch(images, model)


def align_batch(batch, model):
    """The batch with its labels re-indexed to the model's classes by name (see :mod:`gaplens.data.align`)."""
    from gaplens.data.spec import ImageBatch

    names = getattr(model, "class_names", None)
    if batch.labels is None or batch.class_names is None or names is None or list(names) == batch.class_names:
        return batch
    relabelled = align_classes(_Named(batch.images, batch.labels, batch.class_names), names, what="images")
    return ImageBatch(batch.images, relabelled.labels, batch.ids, batch.masks, list(names))


class _Named:
    """Tensors with class names, as :func:`align_classes` reads them."""

    def __init__(self, images, labels, class_names):
        self.images, self.labels, self.class_names = images, torch.as_tensor(labels), class_names


def resolve_targets(target: str | int, batch, logits: torch.Tensor) -> torch.Tensor:
    """The class explained for each image: ``"pred"`` (the model's top class), ``"label"`` or an index."""
    if target == "pred":
        return logits.argmax(1)
    if target == "label":
        if batch.labels is None:
            raise InputError("target='label' needs labelled images (an image folder or synthetic data)")
        return torch.as_tensor(batch.labels).long()
    try:
        index = int(target)
    except (TypeError, ValueError):
        raise InputError(f"target={target!r}; expected 'pred', 'label' or a class index") from None
    if not 0 <= index < logits.shape[1]:
        raise InputError(f"target={index}: the model has classes 0..{logits.shape[1] - 1}")
    return torch.full((logits.shape[0],), index, dtype=torch.long)


def _target_text(target: str | int) -> str:
    return {"pred": "the predicted class", "label": "the true label"}.get(str(target), f"class {target}")


@dataclass
class Explain(Study):
    """Attribution maps of ``methods`` for the images, per model.

    Args:
        models: one or several specs, models or :class:`ModelRef` s.
        images: an image spec (``synthetic:...``, folder, file, ``sample:NAME``), an ImageBatch or a tensor.
        methods: method names, or ``("all",)``.
        target: ``"pred"``, ``"label"`` or a class index.
        limit: at most this many images of a spec.
        batch_size: bound on the inputs per forward pass (does not change results).
        options: ``method -> keyword arguments`` (e.g. ``{"integrated_gradients": {"n_steps": 32}}``).
    """

    name = "explain"
    title = "Explanations"
    order = 0

    models: Any
    images: Any
    methods: Sequence[str] = ("all",)
    target: str | int = "pred"
    limit: int = 8
    batch_size: int = 64
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from gaplens.explain import METHODS

        self.refs: list[ModelRef] = model_refs(self.models if isinstance(self.models, (list, tuple, dict))
                                               else [self.models])
        chosen = list(self.methods)
        self.method_names = METHODS.names() if chosen in (["all"], []) else chosen
        for method in self.method_names:
            METHODS[method]  # unknown names fail before any work
        unknown = sorted(set(self.options) - set(self.method_names))
        if unknown:
            raise InputError(f"options for {unknown}, which are not among the methods {self.method_names}")
        if self.limit < 1:
            raise InputError(f"limit={self.limit}; expected at least 1 image")
        self._batches: dict[str, Any] = {}
        self._scores: dict[str, torch.Tensor] = {}

    def _batch(self, ref: ModelRef):
        if ref.label not in self._batches:
            self._batches[ref.label] = load_batch(self.images, ref.load(), self.limit)
        return self._batches[ref.label]

    def _logits(self, ref: ModelRef) -> torch.Tensor:
        """The model's logits for the batch, computed once per model (every unit needs its targets)."""
        if ref.label not in self._scores:
            model = ref.load()
            with torch.no_grad():
                self._scores[ref.label] = model(self._batch(ref).images.to(model_device(model))).float().cpu()
        return self._scores[ref.label]

    def units(self, ctx: Context) -> list[Unit]:
        units = []
        for ref in self.refs:
            batch = self._batch(ref)
            common = {"model": ref.digest, "images": data_digest(batch.images), "target": str(self.target)}
            keys = []
            for method in self.method_names:
                unit = Unit(f"{ref.label}/{method}", {**common, "method": method,
                                                       "options": self.options.get(method, {})},
                            scope=ref.label, payload=(ref, method))
                units.append(unit)
                keys.append(unit.key)
            units.append(Unit(f"{ref.label}/figure", common, scope=ref.label, depends=tuple(keys),
                              payload=(ref, None)))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.explain import attribute
        from gaplens.explain.render import attribution_grid_figure

        ref, method = unit.payload
        model = ref.load()
        batch = self._batch(ref)
        logits = self._logits(ref)
        targets = resolve_targets(self.target, batch, logits)
        if method is None:
            maps = {m: torch.from_numpy(ctx.load_array(self.name, f"{ref.label}/{m}", "maps"))
                    for m in self.method_names}
            titles = [f"{model.class_name(int(t))} ({float(logits[i, int(t)]):.1f})" for i, t in enumerate(targets)]
            fig = attribution_grid_figure(batch.images, maps, titles=titles, mode="abs",
                                          title=f"Attributions of {ref.label} (target: {_target_text(self.target)})")
            return UnitOutput(figures=[("grid", fig, f"Attribution maps of {ref.label}")])
        options = dict(self.options.get(method, {}))
        if method == "integrated_gradients":
            options.setdefault("return_delta", True)
        started = time.perf_counter()
        result = attribute(model, batch.images, target=targets, method=method, batch_size=self.batch_size,
                           progress=f"{ref.label} {method}" if ctx.progress else False, **options)
        seconds = time.perf_counter() - started
        attr, delta = result if isinstance(result, tuple) else (result, None)
        fractions = mask_fraction(attr, batch.masks) if batch.masks is not None else None
        records = []
        for i, image_id in enumerate(batch.ids):
            t = int(targets[i])
            row = {"model": ref.label, "method": method, "image": image_id, "target": t,
                   "target_name": model.class_name(t), "target_kind": str(self.target),
                   "logit": float(logits[i, t]), "seconds": seconds / len(batch)}
            if delta is not None:
                row["completeness_delta"] = float(delta[i])
            if fractions is not None:
                row["mask_fraction"] = float(fractions[i])
                row["mask_area"] = float(batch.masks[i].float().mean())
            records.append(row)
        return UnitOutput(records=records, arrays=[("maps", attr.detach().cpu().numpy(),
                                                    f"{method} maps of {ref.label}")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        rows = df[df["method"].notna()] if "method" in df else df
        aggregations = {"images": ("image", "count"), "seconds per image": ("seconds", "mean")}
        if "mask_fraction" in rows:
            aggregations["mass inside object"] = ("mask_fraction", "mean")
            aggregations["object area"] = ("mask_area", "mean")
        if "completeness_delta" in rows:
            aggregations["mean |IG gap|"] = ("completeness_delta", lambda v: v.abs().mean())
        summary = rows.groupby(["method", "model"], sort=False).agg(**aggregations).reset_index()
        kinds = sorted(set(rows.get("target_kind", pd.Series(dtype=str)).dropna().astype(str)))
        explained = " and ".join(_target_text(k) for k in kinds) if kinds else "the chosen class"
        intro = (f"Attribution maps for the same images under every method; each map explains {explained} "
                 "(gradients of its logit; occlusion uses its probability). ")
        findings = []
        if "mask_fraction" in rows and rows["mask_fraction"].notna().any():
            intro += ("'Mass inside object' is the share of the rendered |attribution| (channel sum, clipped at the "
                      "99th percentile) that falls inside the object's silhouette; a map that ignores the object "
                      "scores about the object's area.")
            methods = summary[summary["method"] != "edge"]  # the edge detector is a control, not a method
            if len(methods):
                best = methods.loc[methods["mass inside object"].idxmax()]
                ratio = best["mass inside object"] / max(best["object area"], 1e-12)
                per = {str(m): f"{p['mass inside object'].max():.3g} "
                               f"({p.loc[p['mass inside object'].idxmax(), 'method']})"
                       for m, p in methods.groupby("model", sort=False)}
                findings.append(Finding(
                    study="explain", measure=f"attribution mass inside the object (best: {best['method']}, "
                                             f"{best['model']})",
                    value=best["mass inside object"], verdict="pass" if ratio > 1.5 else "warning",
                    detail=f"object area {best['object area']:.3g}, so {ratio:.3g}x what a map ignoring the object "
                           f"scores" + (f"; best per model: {per_model(per)}" if len(per) > 1 else "")))
        else:
            findings.append(Finding(study="explain", measure="maps computed", value=len(rows), verdict="info",
                                    detail=f"{summary['method'].nunique()} methods, {summary['model'].nunique()} "
                                           "models"))
        return Section(title="Explanations", intro=intro, tables=[("Methods", summary)],
                       figures=figures_of(artifacts), findings=findings)


register_section(Explain.name, title=Explain.title, order=Explain.order)(Explain.section)
