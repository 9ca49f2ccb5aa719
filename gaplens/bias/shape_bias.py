"""Shape bias on cue-conflict stimuli (Geirhos et al., "ImageNet-trained CNNs are biased towards texture", ICLR 2019).

A cue-conflict image has the shape of one category and the texture of another. Over the trials
whose shape and texture categories differ, a decision is a *shape* decision when it names the
shape category, a *texture* decision when it names the texture category, and neither otherwise::

    shape bias = shape decisions / (shape decisions + texture decisions)

Trials whose shape and texture categories agree are excluded (they carry no conflict). The
result also gives the fraction of trials decided by either cue (``cue_correct_fraction``), the
shape bias per shape category, and an exact (Clopper-Pearson) 95% interval.

Stimuli (:func:`load_stimuli`):

- a synthetic set from ``gaplens.data.synthetic.generate(..., conflict=True)`` (texture ``k`` is
  the home texture of class ``k``, so it counts as category ``class_names[k]``);
- a folder of files named in the published convention ``<shape><n>-<texture><m>.<ext>``, e.g.
  ``dog10-bird2.png`` (shape dog, texture bird), optionally inside one folder per shape
  category as in the released cue-conflict set (``dog/dog10-bird2.png``);
- a manifest CSV with columns ``file``, ``shape_class``, ``texture_class`` (paths relative to the
  CSV), as written by ``gaplens.data.export.write_synthetic`` and
  :func:`gaplens.bias.stylize.stylize_folder`.

Decisions: ``decision="argmax"`` takes the model's top logit, whose index must be a category
index (the model's ``class_names`` are then matched to the stimuli's by name). Any callable
``decision(logits (N, K)) -> (N,)`` category indices works too (``-1``: no category), e.g. a map
from ImageNet's 1000 classes to the 16 categories of the published stimuli; a ``class_names``
attribute on the callable names its categories.

>>> import torch
>>> shape, texture = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 0])
>>> result = shape_bias_from_decisions(torch.tensor([0, 2, 2, 0]), shape, texture)
>>> result.n_trials, result.n_shape, result.n_texture, result.shape_bias
(3, 2, 1, 0.6666666666666666)
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from gaplens.core.batching import check_batch_size
from gaplens.core.errors import DataError, InputError
from gaplens.core.image_io import Size, _check_size, read_image, resize_image
from gaplens.core.stats import clopper_pearson
from gaplens.data.folder import IMG_EXTENSIONS, walk_once
from gaplens.data.synthetic import SHAPE_NAMES, TEXTURE_NAMES

__all__ = [
    "CueConflictStimuli", "ShapeBiasResult", "load_stimuli", "parse_cue_conflict_name", "shape_bias",
    "shape_bias_from_decisions",
]  # fmt: skip

Decision = Callable[[torch.Tensor], torch.Tensor]

# <shape><number>-<texture><number>: names are letters and underscores (as in the published set).
_NAME = re.compile(
    r"(?P<shape>[A-Za-z][A-Za-z_]*)(?P<shape_id>[0-9]+)-(?P<texture>[A-Za-z][A-Za-z_]*)(?P<texture_id>[0-9]+)"
)
_MANIFEST_COLUMNS = ("file", "shape_class", "texture_class")


# --------------------------------------------------------------------------------------------
# Stimuli


class CueConflictStimuli(Dataset):
    """Images with a shape category and a texture category each.

    Attributes:
        class_names: the categories; ``shape_labels``/``texture_labels`` index into them.
        shape_labels, texture_labels: ``(N,)`` int64.
        ids: one identifier per image (file path, or ``synthetic:<index>``).
        source: where the stimuli came from (for records and messages).

    Items are ``(image (3, H, W) float32 in [0, 1], shape label)``; :meth:`tensors` returns
    in-memory images at once when the stimuli hold them.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        shape_labels: torch.Tensor,
        texture_labels: torch.Tensor,
        ids: Sequence[str],
        *,
        images: torch.Tensor | None = None,
        paths: Sequence[str | os.PathLike] | None = None,
        size: Size | None = None,
        source: str = "stimuli",
    ) -> None:
        self.class_names = [str(c) for c in class_names]
        self.shape_labels = torch.as_tensor(shape_labels, dtype=torch.int64)
        self.texture_labels = torch.as_tensor(texture_labels, dtype=torch.int64)
        self.ids = [str(i) for i in ids]
        self.source = source
        self.size = None if size is None else _check_size(size)
        n = self.shape_labels.shape[0]
        if (images is None) == (paths is None):
            raise InputError("CueConflictStimuli: give exactly one of images= or paths=")
        if self.texture_labels.shape != (n,) or self.shape_labels.shape != (n,) or len(self.ids) != n:
            raise InputError(
                f"CueConflictStimuli: shape_labels {tuple(self.shape_labels.shape)}, texture_labels "
                f"{tuple(self.texture_labels.shape)} and {len(self.ids)} ids must all have length N"
            )
        k = len(self.class_names)
        for name, labels in (("shape_labels", self.shape_labels), ("texture_labels", self.texture_labels)):
            if n and (int(labels.min()) < 0 or int(labels.max()) >= k):
                raise InputError(f"CueConflictStimuli: {name} must lie in [0, {k}) (one per class name)")
        self._images = images
        self._paths = [Path(p) for p in paths] if paths is not None else None
        if images is not None and (images.dim() != 4 or images.shape[0] != n or images.shape[1] != 3):
            raise InputError(f"CueConflictStimuli: images must be ({n}, 3, H, W); got {tuple(images.shape)}")
        if self._paths is not None and len(self._paths) != n:
            raise InputError(f"CueConflictStimuli: {len(self._paths)} paths for {n} labels")

    def __len__(self) -> int:
        return int(self.shape_labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self._images is not None:
            image = self._images[index]
        else:
            image = read_image(self._paths[index])
        if self.size is not None:
            image = resize_image(image, self.size)
        return image, int(self.shape_labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(images (N, 3, H, W), shape_labels)`` when the images are in memory, else ``None``."""
        if self._images is None:
            return None
        images = self._images if self.size is None else resize_image(self._images, self.size)
        return images, self.shape_labels

    def __repr__(self) -> str:
        excluded = int((self.shape_labels == self.texture_labels).sum())
        return (f"CueConflictStimuli(source={self.source!r}, images={len(self)}, classes={len(self.class_names)}, "
                f"same_category={excluded})")


def parse_cue_conflict_name(path: str | os.PathLike) -> tuple[str, str]:
    """``(shape, texture)`` from a file name in the convention ``<shape><n>-<texture><m>.<ext>``.

    >>> parse_cue_conflict_name("stimuli/dog/dog10-bird2.png")
    ('dog', 'bird')

    Category names are letters and underscores; the numbers are required.

    Raises:
        DataError: the name does not follow the convention (the message names the file).
    """
    file = Path(path)
    match = _NAME.fullmatch(file.stem)
    if match is None:
        raise DataError(
            f"{file}: file name {file.name!r} does not follow the cue-conflict convention "
            "'<shape><number>-<texture><number>.<ext>' (e.g. 'dog10-bird2.png': shape dog, texture bird; "
            "category names are letters and underscores)"
        )
    return match["shape"], match["texture"]


def _from_folder(root: Path, class_names: Sequence[str] | None, size: Size | None) -> CueConflictStimuli:
    files = []
    for dirpath, _, filenames in walk_once(root):
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMG_EXTENSIONS:
                files.append(Path(dirpath) / name)
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise DataError(f"{root}: no image files (looked for {', '.join(IMG_EXTENSIONS)})")
    pairs, bad = [], []
    for file in files:
        try:
            shape, texture = parse_cue_conflict_name(file)
        except DataError as exc:
            bad.append(str(exc))
            continue
        parent = file.parent
        if parent != root and parent.name != shape:
            bad.append(f"{file}: its shape category {shape!r} (from the file name) differs from its folder "
                       f"{parent.name!r}")
            continue
        pairs.append((file, shape, texture))
    if bad:
        listing = "\n".join(f"  {line}" for line in bad[:20])
        listing += f"\n  ... ({len(bad) - 20} more)" if len(bad) > 20 else ""
        raise DataError(f"{root}: {len(bad)} of {len(files)} stimulus file(s) have bad names:\n{listing}")
    found = {s for _, s, _ in pairs} | {t for _, _, t in pairs}
    names = list(class_names) if class_names is not None else sorted(found)
    index = {n: i for i, n in enumerate(names)}
    unknown = [(f, s, t) for f, s, t in pairs if s not in index or t not in index]
    if unknown:
        f, s, t = unknown[0]
        missing = sorted({x for _, s2, t2 in unknown for x in (s2, t2) if x not in index})
        raise DataError(f"{f}: categories {missing} (and {len(unknown)} file(s) using them) are not among "
                        f"class_names {names}")
    return CueConflictStimuli(
        names, torch.tensor([index[s] for _, s, _ in pairs]), torch.tensor([index[t] for _, _, t in pairs]),
        [f.relative_to(root).as_posix() for f, _, _ in pairs], paths=[f for f, _, _ in pairs], size=size,
        source=str(root),
    )


def _from_manifest(
    file: Path,
    class_names: Sequence[str] | None,
    size: Size | None,
    split: str | None,
    texture_to_class: dict[str, str] | None,
) -> CueConflictStimuli:
    try:
        with file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: cannot read the manifest ({exc})") from exc
    missing = [c for c in _MANIFEST_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"{file}: manifest lacks column(s) {missing}; expected columns {list(_MANIFEST_COLUMNS)}, "
                        f"found {columns}")
    if split is not None:
        if "split" not in columns:
            raise DataError(f"{file}: split={split!r} asked for, but the manifest has no 'split' column")
        rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise DataError(f"{file}: no rows" + (f" with split {split!r}" if split is not None else ""))
    shapes = [r["shape_class"].strip() for r in rows]
    known = set(class_names) if class_names is not None else set(shapes)
    if texture_to_class is not None:
        mapping = dict(texture_to_class)
    elif set(shapes) <= set(SHAPE_NAMES) and {(r["texture_class"] or "").strip() for r in rows} <= set(TEXTURE_NAMES):
        mapping = dict(zip(TEXTURE_NAMES, SHAPE_NAMES, strict=True))  # written by data.export.write_synthetic
    else:
        mapping = {}
    textures = []
    for line, (row, shape) in enumerate(zip(rows, shapes, strict=True), start=2):
        texture = (row["texture_class"] or "").strip()
        if not shape or not texture:
            raise DataError(f"{file}: row {line} ({row['file']}) has an empty shape_class or texture_class")
        textures.append(texture if texture in known else mapping.get(texture, texture))
    names = list(class_names) if class_names is not None else sorted(set(shapes) | set(textures))
    index = {n: i for i, n in enumerate(names)}
    for line, (row, shape, texture) in enumerate(zip(rows, shapes, textures, strict=True), start=2):
        if shape not in index or texture not in index:
            bad = [x for x in (shape, texture) if x not in index]
            raise DataError(f"{file}: row {line} ({row['file']}): categories {bad} are not among class_names {names}")
    paths = [file.parent / r["file"] for r in rows]
    return CueConflictStimuli(
        names, torch.tensor([index[s] for s in shapes]), torch.tensor([index[t] for t in textures]),
        [r["file"] for r in rows], paths=paths, size=size, source=str(file),
    )


def load_stimuli(
    source: object,
    class_names: Sequence[str] | None = None,
    size: Size | None = None,
    split: str | None = None,
    texture_to_class: dict[str, str] | None = None,
) -> CueConflictStimuli:
    """Cue-conflict stimuli from a synthetic set, a folder of ``dog10-bird2.png`` files or a manifest CSV.

    Args:
        source: a :class:`CueConflictStimuli` (returned as is), an object with ``images``,
            ``shape_labels``, ``texture_labels`` and ``class_names`` (``generate(conflict=True)``),
            a folder, or a ``.csv`` manifest (see the module docstring).
        class_names: the categories in index order; default: the set's own (folders and manifests:
            every name found, sorted). A name in the files outside this list is an error.
        size: resize images when read (``(H, W)``, or an int: centre square crop then resize).
        split: manifests only: keep rows of this ``split``.
        texture_to_class: manifests only: maps texture names to categories (values that are
            category names already are kept). Default: when every shape is a synthetic shape name
            and every texture a synthetic texture name (a manifest of
            ``gaplens.data.export.write_synthetic``), each home texture maps to its class
            (``stripes45`` -> ``circle``, ...); otherwise texture names are categories as they are.

    Raises:
        DataError: bad file names (all listed, each naming its file), unknown categories,
            empty or malformed manifests.
    """
    if isinstance(source, CueConflictStimuli):
        return source
    if all(hasattr(source, a) for a in ("images", "shape_labels", "texture_labels", "class_names")):
        names = list(source.class_names)
        n = int(source.shape_labels.shape[0])
        start = int(getattr(source, "start", 0))
        stimuli = CueConflictStimuli(
            names, source.shape_labels, source.texture_labels, [f"synthetic:{start + i}" for i in range(n)],
            images=source.images, size=size, source=f"synthetic(seed={getattr(source, 'seed', '?')})",
        )
        return stimuli if class_names is None else _remap(stimuli, list(class_names))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _from_folder(path, class_names, size)
        if path.is_file() and path.suffix.lower() == ".csv":
            return _from_manifest(path, class_names, size, split, texture_to_class)
        raise DataError(f"stimuli={str(source)!r}: expected a folder of cue-conflict images or a .csv manifest")
    raise InputError(
        f"stimuli of type {type(source).__name__}: expected a synthetic conflict set, a folder or a manifest CSV"
    )


def _remap(stimuli: CueConflictStimuli, categories: list[str]) -> CueConflictStimuli:
    """The same stimuli with labels re-indexed into ``categories`` (matched by name)."""
    if stimuli.class_names == categories:
        return stimuli
    index = {n: i for i, n in enumerate(categories)}
    used = sorted({stimuli.class_names[i] for i in torch.cat([stimuli.shape_labels, stimuli.texture_labels]).tolist()})
    unknown = [n for n in used if n not in index]
    if unknown:
        raise DataError(f"{stimuli.source}: stimulus categories {unknown} are not among the decision categories "
                        f"{categories}; pass class_names= or a decision callable whose categories cover them")
    lookup = torch.tensor([index.get(n, -1) for n in stimuli.class_names], dtype=torch.int64)
    remapped = CueConflictStimuli.__new__(CueConflictStimuli)
    remapped.__dict__.update(stimuli.__dict__)
    remapped.class_names = list(categories)
    remapped.shape_labels = lookup[stimuli.shape_labels]
    remapped.texture_labels = lookup[stimuli.texture_labels]
    return remapped


# --------------------------------------------------------------------------------------------
# Shape bias


@dataclass
class ShapeBiasResult:
    """Shape bias of one decision maker on one stimulus set.

    Attributes:
        shape_bias: ``n_shape / (n_shape + n_texture)`` (NaN when no decision names either cue).
        n_shape, n_texture: decisions naming the shape / the texture category.
        n_trials: conflict trials (shape != texture); ``n_excluded`` trials were left out.
        interval: Clopper-Pearson 95% interval of ``shape_bias`` (``(0, 1)`` without data).
        cue_correct_fraction: ``(n_shape + n_texture) / n_trials``.
        per_category: shape category -> ``{"n_trials", "n_shape", "n_texture", "shape_bias",
            "ci_low", "ci_high", "cue_correct_fraction"}``.
        decisions, shape_labels, texture_labels: ``(N,)`` int64 over *all* stimuli;
            ``included`` ``(N,)`` bool marks the conflict trials.
        records: one row for ``category == "all"`` and one per shape category.
    """

    shape_bias: float
    n_shape: int
    n_texture: int
    n_trials: int
    n_excluded: int
    interval: tuple[float, float]
    cue_correct_fraction: float
    per_category: dict[str, dict]
    class_names: list[str]
    decisions: torch.Tensor
    shape_labels: torch.Tensor
    texture_labels: torch.Tensor
    included: torch.Tensor
    model: str = "model"
    stimuli: str = "stimuli"
    ids: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    @property
    def texture_bias(self) -> float:
        """``1 - shape_bias``: the fraction of cue decisions that follow the texture."""
        return 1.0 - self.shape_bias


def _summary(n_trials: int, n_shape: int, n_texture: int) -> dict:
    decided = n_shape + n_texture
    low, high = clopper_pearson(n_shape, decided) if decided else (0.0, 1.0)
    return {"n_trials": n_trials, "n_shape": n_shape, "n_texture": n_texture,
            "n_other": n_trials - decided, "shape_bias": n_shape / decided if decided else math.nan,
            "ci_low": float(low), "ci_high": float(high),
            "cue_correct_fraction": decided / n_trials if n_trials else math.nan}


def _as_labels(name: str, values: object) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.dim() != 1 or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise InputError(f"{name}: expected a 1-D integer tensor of category indices; got "
                         f"{tuple(tensor.shape)} {tensor.dtype}")
    return tensor.to(torch.int64).cpu()


def shape_bias_from_decisions(
    decisions: object,
    shape_labels: object,
    texture_labels: object,
    class_names: Sequence[str] | None = None,
    *,
    model: str = "model",
    stimuli: str = "stimuli",
    ids: Sequence[str] | None = None,
) -> ShapeBiasResult:
    """Shape bias from decisions: the pure computation behind :func:`shape_bias`.

    Args:
        decisions: ``(N,)`` category indices chosen per trial (``-1`` or any index that is neither
            cue: an "other" decision).
        shape_labels, texture_labels: ``(N,)`` the shape and texture category of each stimulus.
        class_names: category names for ``per_category`` and the records (default ``"0"``, ...).
        model, stimuli: written into the records.
        ids: per-stimulus identifiers kept in the result.

    Trials with ``shape == texture`` are excluded from every count.

    Raises:
        InputError: lengths differ, labels are negative, or no trial has shape != texture.
    """
    pred = _as_labels("decisions", decisions)
    shape = _as_labels("shape_labels", shape_labels)
    texture = _as_labels("texture_labels", texture_labels)
    if not pred.shape == shape.shape == texture.shape:
        raise InputError(f"decisions {tuple(pred.shape)}, shape_labels {tuple(shape.shape)} and texture_labels "
                         f"{tuple(texture.shape)} must have the same length")
    if shape.numel() and (int(shape.min()) < 0 or int(texture.min()) < 0):
        raise InputError("shape_labels and texture_labels must be category indices >= 0")
    included = shape != texture
    n_trials = int(included.sum())
    if n_trials == 0:
        raise InputError(f"{stimuli}: no cue-conflict trial ({shape.numel()} stimuli, all with shape == texture)")
    k = max(int(shape.max()), int(texture.max())) + 1
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) < k:
        raise InputError(f"class_names has {len(names)} names but the labels go up to {k - 1}")
    is_shape = included & (pred == shape)
    is_texture = included & (pred == texture)
    overall = _summary(n_trials, int(is_shape.sum()), int(is_texture.sum()))
    per_category = {}
    for c in range(len(names)):
        rows = included & (shape == c)
        if rows.any():
            per_category[names[c]] = _summary(int(rows.sum()), int((is_shape & rows).sum()),
                                              int((is_texture & rows).sum()))
    base = {"model": model, "stimuli": stimuli, "metric": "shape_bias"}
    records = [{**base, "category": "all", **overall}]
    records += [{**base, "category": name, **summary} for name, summary in per_category.items()]
    return ShapeBiasResult(
        shape_bias=overall["shape_bias"], n_shape=overall["n_shape"], n_texture=overall["n_texture"],
        n_trials=n_trials, n_excluded=int(shape.numel()) - n_trials,
        interval=(overall["ci_low"], overall["ci_high"]), cue_correct_fraction=overall["cue_correct_fraction"],
        per_category=per_category, class_names=names, decisions=pred, shape_labels=shape,
        texture_labels=texture, included=included, model=model, stimuli=stimuli,
        ids=list(ids) if ids is not None else [], records=records,
    )


def _categories(model: nn.Module, decision: str | Decision, class_names, stimuli: CueConflictStimuli) -> list[str]:
    if class_names is not None:
        return list(class_names)
    if callable(decision) and getattr(decision, "class_names", None) is not None:
        return list(decision.class_names)
    if decision == "argmax" and getattr(model, "class_names", None) is not None:
        return list(model.class_names)
    return list(stimuli.class_names)


@torch.no_grad()
def shape_bias(
    model: nn.Module,
    stimuli: object,
    decision: str | Decision = "argmax",
    batch_size: int = 256,
    *,
    class_names: Sequence[str] | None = None,
    size: Size | None = None,
    model_name: str = "model",
) -> ShapeBiasResult:
    """The shape bias of ``model`` on cue-conflict ``stimuli``.

    Args:
        model: maps ``(N, 3, H, W)`` in ``[0, 1]`` to logits ``(N, K)`` (its training flags are
            restored afterwards).
        stimuli: anything :func:`load_stimuli` accepts (a conflict synthetic set, a folder of
            ``dog10-bird2.png`` files, a manifest CSV) or :class:`CueConflictStimuli`.
        decision: ``"argmax"`` (logit index = category index), or a callable
            ``logits (N, K) -> (N,)`` category indices (``-1`` = none); a ``class_names``
            attribute on it names its categories (e.g. the 16 ImageNet categories).
        batch_size: images per forward pass.
        class_names: the decision categories in index order; default the decision's, then (for
            ``"argmax"``) the model's ``class_names``, then the stimuli's. Stimulus labels are
            matched to them by name.
        size: resize stimuli when read (see :func:`load_stimuli`).
        model_name: written into the records.

    Returns:
        :class:`ShapeBiasResult`.

    Raises:
        DataError: malformed stimuli, or stimulus categories that the decision cannot name.
        InputError: an unknown ``decision``, a decision callable returning the wrong shape or
            indices, or (``"argmax"``) a model whose output count differs from the categories'.

    >>> from gaplens.data.synthetic import generate                   # doctest: +SKIP
    >>> result = shape_bias(model, generate(400, classes=8, conflict=True, seed=9))  # doctest: +SKIP
    >>> result.shape_bias, result.interval                            # doctest: +SKIP
    """
    from gaplens.evaluate import predict

    check_batch_size(batch_size)
    if not (decision == "argmax" or callable(decision)):
        raise InputError(f"decision={decision!r}; expected 'argmax' or a callable logits -> category indices")
    loaded = load_stimuli(stimuli, size=size)
    categories = _categories(model, decision, class_names, loaded)
    loaded = _remap(loaded, categories)
    pair = loaded.tensors()
    logits, _ = predict(model, pair if pair is not None else loaded, batch_size)
    if decision == "argmax":
        if logits.shape[1] != len(categories):
            raise InputError(
                f"the model has {logits.shape[1]} outputs but there are {len(categories)} categories "
                f"{categories[:8]}{' ...' if len(categories) > 8 else ''}; pass class_names= (one per output) "
                "or a decision callable mapping logits to categories"
            )
        decisions = logits.argmax(1)
    else:
        decisions = decision(logits)
        if not isinstance(decisions, torch.Tensor):
            decisions = torch.as_tensor(decisions)
        if decisions.shape != (logits.shape[0],) or decisions.is_floating_point():
            raise InputError(f"decision returned {tuple(decisions.shape)} {decisions.dtype}; expected "
                             f"({logits.shape[0]},) integer category indices")
        decisions = decisions.to(torch.int64).cpu()
        if decisions.numel() and (int(decisions.min()) < -1 or int(decisions.max()) >= len(categories)):
            raise InputError(f"decision returned indices outside [-1, {len(categories)}) "
                             f"(there are {len(categories)} categories)")
    return shape_bias_from_decisions(decisions, loaded.shape_labels, loaded.texture_labels, categories,
                                     model=model_name, stimuli=loaded.source, ids=loaded.ids)
