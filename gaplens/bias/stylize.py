"""AdaIN style transfer (Huang & Belongie 2017): stylize images, train a decoder, stylize a dataset.

:class:`~gaplens.bias.networks.Stylizer` encodes content and style images (VGG-19 up to
relu4_1, see :mod:`gaplens.bias.networks`), applies :func:`~gaplens.bias.adain.adain` and decodes.
:func:`train_decoder` fits the decoder with the paper's losses; :func:`stylize_folder` makes a
stylized copy of an image-folder dataset the way Stylized-ImageNet was made (Geirhos et al.,
ICLR 2019): every content image stylized once, with a style image drawn at random, class
folders preserved.

Offline use: with the released weights (``vgg_normalized.pth``, ``decoder.pth``, downloaded by
the user) call :func:`~gaplens.bias.weights.load_adain_weights`. Without them,
``train_decoder(random_encoder(), content, style, steps)`` trains a decoder for a random-weight
encoder on the user's own images (no download).

>>> from gaplens.bias.networks import decoder, random_encoder
>>> enc = random_encoder(widths=(4, 8, 8, 16))
>>> stylizer = Stylizer(enc, decoder(enc.widths))
>>> stylizer.stylize(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)).shape
torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.bias.adain import adain, channel_mean_std
from gaplens.bias.networks import Stylizer, VGGDecoder, decoder, random_encoder, vgg19_encoder
from gaplens.bias.weights import convert_adain_weights, load_adain_weights, save_adain_weights
from gaplens.core.batching import check_batch_size
from gaplens.core.device import model_device, resolve_device
from gaplens.core.errors import DataError, InputError
from gaplens.core.files import atomic_write
from gaplens.core.hooks import frozen
from gaplens.core.image_io import Size, _check_size, probe_image, read_image, resize_image, write_png
from gaplens.core.training_state import load_training_state, save_training_state
from gaplens.data.folder import IMG_EXTENSIONS, walk_once

__all__ = [
    "DecoderTraining", "STATE_FILE", "StylizeFolderResult", "Stylizer", "convert_adain_weights", "decoder",
    "decoder_loss", "load_adain_weights", "random_encoder", "stylize_folder", "stylize_synthetic", "train_decoder",
    "vgg19_encoder",
]  # fmt: skip

#: Training state written by :func:`train_decoder` into ``checkpoint_dir`` (read with weights_only=True).
STATE_FILE = "decoder_state.pt"
#: The manifest :func:`stylize_folder` writes into its output folder.
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("file", "content", "style", "shape_class", "texture_class", "alpha", "seed")


# --------------------------------------------------------------------------------------------
# Decoder training


def decoder_loss(
    encoder: nn.Module,
    dec: nn.Module,
    content: torch.Tensor,
    style: torch.Tensor,
    style_weight: float = 10.0,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The AdaIN training loss of Huang & Belongie (2017), section 6.

    ``t = AdaIN(f(content), f(style))`` at relu4_1; ``g(t)`` the decoded image.
    Content loss: ``mean((f(g(t)) - t)^2)``. Style loss: over relu1_1, relu2_1, relu3_1,
    relu4_1, ``mean((mu(phi(g(t))) - mu(phi(style)))^2) + mean((sigma(...) - sigma(...))^2)``.

    Args:
        encoder, dec: the (fixed) encoder and the decoder being trained.
        content, style: ``(N, 3, H, W)`` RGB in ``[0, 1]`` (same N).
        style_weight: lambda, the style loss weight (10 in the reference implementation).

    Returns:
        ``(total, content_loss, style_loss)`` scalars, ``total = content + style_weight * style``.
    """
    with torch.no_grad():
        style_feats = encoder.features(style)
        target = adain(encoder(content), style_feats[-1], eps=eps)
    out = dec(target)[..., : content.shape[-2], : content.shape[-1]]
    out_feats = encoder.features(out)
    content_loss = F.mse_loss(out_feats[-1], target)
    style_loss = out.new_zeros(())
    for got, want in zip(out_feats, style_feats, strict=True):
        got_mean, got_std = channel_mean_std(got, eps)
        want_mean, want_std = channel_mean_std(want, eps)
        style_loss = style_loss + F.mse_loss(got_mean, want_mean) + F.mse_loss(got_std, want_std)
    return content_loss + style_weight * style_loss, content_loss, style_loss


class _Images:
    """Random access to an image collection: ``get(indices) -> (B, 3, H, W)`` in ``[0, 1]``."""

    def __init__(self, source: object, name: str, size: Size | None) -> None:
        self.name, self.size = name, size
        self.tensor: torch.Tensor | None = None
        self.paths: list[Path] = []
        self.dataset = None
        if isinstance(source, (str, os.PathLike)):
            root = Path(source)
            if not root.is_dir():
                raise DataError(f"{name}={str(source)!r}: no such folder")
            self.paths = [root / rel for rel in _image_files(root)]
            if not self.paths:
                raise DataError(f"{root}: no image files ({name} images); looked for {', '.join(IMG_EXTENSIONS)}")
        elif isinstance(source, torch.Tensor) or hasattr(source, "images"):
            images = source if isinstance(source, torch.Tensor) else source.images
            if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
                raise InputError(f"{name}: expected images (N, 3, H, W); got {getattr(images, 'shape', images)}")
            self.tensor = images
        elif hasattr(source, "__getitem__") and hasattr(source, "__len__"):
            self.dataset = source
        else:
            raise InputError(
                f"{name}: expected a folder, an (N, 3, H, W) tensor, an object with .images, or a dataset; "
                f"got {type(source).__name__}"
            )
        if len(self) == 0:
            raise DataError(f"{name}: no images")

    def __len__(self) -> int:
        if self.tensor is not None:
            return int(self.tensor.shape[0])
        if self.paths:
            return len(self.paths)
        return len(self.dataset)

    def _one(self, index: int) -> torch.Tensor:
        if self.paths:
            image = read_image(self.paths[index])
        else:
            item = self.dataset[index]
            image = item[0] if isinstance(item, (tuple, list)) else item
        return image if self.size is None else resize_image(image, self.size)

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        if self.tensor is not None:
            batch = self.tensor[indices].float()
            return batch if self.size is None else resize_image(batch, self.size)
        images = [self._one(int(i)) for i in indices]
        if len({tuple(im.shape) for im in images}) > 1:
            raise InputError(f"{self.name} images differ in size; pass size=(H, W) (or an int) to resize them")
        return torch.stack(images)


@dataclass
class DecoderTraining:
    """What :func:`train_decoder` returns.

    ``stylizer`` holds the encoder and the trained decoder (eval mode); ``history`` one record
    per ``log_every`` steps (``step``, mean ``loss``, ``content_loss``, ``style_loss`` of those
    steps, ``seconds``); ``checkpoint`` the folder with ``encoder.safetensors`` and
    ``decoder.safetensors`` (``None`` without ``checkpoint_dir``).
    """

    stylizer: Stylizer
    history: list[dict] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def decoder(self) -> nn.Module:
        return self.stylizer.decoder

    @property
    def records(self) -> list[dict]:
        return self.history


def _init_decoder(widths: Sequence[int], seed: int) -> VGGDecoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VGGDecoder(widths)


def train_decoder(
    encoder: nn.Module,
    content: object,
    style: object,
    steps: int,
    *,
    dec: nn.Module | None = None,
    batch_size: int = 8,
    lr: float = 1e-4,
    lr_decay: float = 5e-5,
    style_weight: float = 10.0,
    size: Size | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_every: int = 500,
    log_every: int | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> DecoderTraining:
    """Train an AdaIN decoder for ``encoder`` with the paper's content + style loss (:func:`decoder_loss`).

    Each step draws ``batch_size`` content and ``batch_size`` style images uniformly at random
    (indices derived from ``(seed, step)``, so a resumed run draws the same batches as an
    uninterrupted one) and takes one Adam step with learning rate ``lr / (1 + lr_decay * step)``
    (the reference implementation's schedule; it does not depend on ``steps``, so a finished run
    can be resumed with a larger ``steps`` to train further).

    Args:
        encoder: fixed feature extractor with ``features()`` (see :class:`Stylizer`); neither
            its parameters nor their ``.grad`` are touched.
        content, style: image folders (any layout, searched recursively), ``(N, 3, H, W)``
            tensors in ``[0, 1]``, objects with ``.images`` (synthetic sets) or datasets.
        steps: total optimisation steps (including those of a resumed run).
        dec: the decoder to train (modified in place); default a fresh
            :class:`~gaplens.bias.networks.VGGDecoder` with the encoder's widths, initialised
            from ``seed``.
        size: resize every image (``(H, W)``, or an int: centre square crop then resize);
            needed when a folder's images differ in size.
        checkpoint_dir: write the training state (``decoder_state.pt``, atomically) every
            ``checkpoint_every`` steps and at the end, plus ``encoder.safetensors`` and
            ``decoder.safetensors`` (load with :func:`load_adain_weights`).
        resume: continue from ``checkpoint_dir``'s state (settings other than ``steps`` must match).
        log_every: steps per history record (default ``max(1, steps // 100)``).
        device: where to train (``"auto"``: CUDA when present).
        progress: a tqdm bar over steps with the running loss.

    Returns:
        :class:`DecoderTraining`.
    """
    for name, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1),
                             ("checkpoint_every", checkpoint_every, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name}={value!r}; expected an int >= {low}")
    for name, value, positive in (("lr", lr, True), ("lr_decay", lr_decay, False),
                                  ("style_weight", style_weight, False)):
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not finite or value < 0 or (positive and value == 0):
            raise InputError(f"{name}={value!r}; expected a finite number {'> 0' if positive else '>= 0'}")
    if resume and checkpoint_dir is None:
        raise InputError("resume=True needs checkpoint_dir= (where the interrupted run saved its state)")
    if not callable(getattr(encoder, "features", None)):
        raise InputError(f"encoder of type {type(encoder).__name__} has no features(images) method")
    size = None if size is None else _check_size(size)
    log_every = max(1, steps // 100) if log_every is None else int(log_every)
    dev = resolve_device(device)
    contents = _Images(content, "content", size)
    styles = _Images(style, "style", size)

    widths = getattr(encoder, "widths", None)
    if dec is None:
        if widths is None:
            raise InputError("dec=None needs an encoder with .widths; pass dec= for a custom encoder")
        dec = _init_decoder(widths, seed)
    # the caller's encoder is used as is on its device (a copy elsewhere); its flags are restored
    enc = encoder if model_device(encoder) == dev else copy.deepcopy(encoder).to(dev)
    dec.to(dev).train()
    params = [p for p in dec.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + lr_decay * step))
    parts = {"decoder": dec, "optimizer": opt, "scheduler": sched}  # what the resumable state holds
    settings = {"batch_size": batch_size, "lr": lr, "lr_decay": lr_decay, "style_weight": style_weight,
                "size": list(size) if isinstance(size, tuple) else size, "seed": seed,
                "n_content": len(contents), "n_style": len(styles)}
    history: list[dict] = []
    first = 0
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume and folder is not None and (folder / STATE_FILE).is_file():
        first, history = load_training_state(folder / STATE_FILE, "step", parts, settings)

    from tqdm.auto import tqdm

    sums = [0.0, 0.0, 0.0]
    counted = 0
    start = time.perf_counter()
    with frozen(enc, no_grad=False):
        bar = tqdm(range(first, steps), desc="training decoder", disable=not progress, initial=first,
                   total=steps, unit="step")
        for step in bar:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
            c_idx = torch.randint(len(contents), (batch_size,), generator=gen)
            s_idx = torch.randint(len(styles), (batch_size,), generator=gen)
            c, s = contents.get(c_idx).to(dev), styles.get(s_idx).to(dev)
            loss, c_loss, s_loss = decoder_loss(enc, dec, c, s, style_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums = [sums[0] + loss.item(), sums[1] + c_loss.item(), sums[2] + s_loss.item()]
            counted += 1
            if (step + 1) % log_every == 0 or step + 1 == steps:
                history.append({"step": step + 1, "loss": sums[0] / counted, "content_loss": sums[1] / counted,
                                "style_loss": sums[2] / counted, "lr": opt.param_groups[0]["lr"],
                                "seconds": time.perf_counter() - start})
                bar.set_postfix(loss=round(sums[0] / counted, 4))
                sums, counted = [0.0, 0.0, 0.0], 0
            if folder is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                save_training_state(folder / STATE_FILE, "step", step + 1, parts, settings, history)
    dec.eval()
    stylizer = Stylizer(enc, dec)
    if folder is not None:
        save_adain_weights(stylizer, folder)
    return DecoderTraining(stylizer=stylizer, history=history, checkpoint=folder)


# --------------------------------------------------------------------------------------------
# Stylized datasets


def _image_files(root: Path) -> list[str]:
    """Image files below ``root`` as sorted POSIX paths relative to it (hidden names skipped)."""
    found = []
    for dirpath, _, filenames in walk_once(root):
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMG_EXTENSIONS:
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(found)


def _class_of(rel: str) -> str:
    """The class folder of a relative path (its first component), ``""`` for a file at the top."""
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else ""


def _style_index(seed: int, rel: str, n_styles: int) -> int:
    """The style drawn for content ``rel``: a hash of (seed, path), stable across runs and additions."""
    digest = hashlib.blake2b(f"{seed}\0{rel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_styles


@dataclass
class StylizeFolderResult:
    """What :func:`stylize_folder` did: ``written`` new images, ``skipped`` already present,
    ``manifest`` the CSV listing every output with its content and style (``records``: its rows)."""

    out_dir: Path
    written: int
    skipped: int
    manifest: Path
    records: list[dict] = field(default_factory=list)


def stylize_folder(
    content_dir: str | os.PathLike,
    style_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    stylizer: Stylizer,
    alpha: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    size: Size | None = None,
    progress: bool = True,
) -> StylizeFolderResult:
    """Stylize every image of ``content_dir`` once, with a style image drawn at random, into ``out_dir``.

    The procedure of Stylized-ImageNet (Geirhos et al. 2019): ``out_dir`` mirrors the content
    folder's relative paths (so class folders and counts are preserved; outputs are PNG:
    ``cat/001.jpg`` -> ``cat/001.png``), each image stylized with AdaIN by one style image.
    The style of content file ``rel`` is ``hash(seed, rel) mod n_styles`` over the sorted style
    files: the same on every run, so a re-run skips outputs already on disk (resumable) and
    adding content files does not change earlier draws. Writes are atomic. Images are processed
    ``batch_size`` at a time, grouped by size; each style image is resized to its content
    image's size (AdaIN needs only its feature statistics).

    ``out_dir/manifest.csv`` lists ``file`` (relative to ``out_dir``), ``content``, ``style``,
    ``shape_class`` (the content's class folder), ``texture_class`` (the style's class folder,
    when ``style_dir`` has class folders; then the output is a cue-conflict set that
    :func:`gaplens.bias.shape_bias.load_stimuli` reads), ``alpha`` and ``seed``.

    Args:
        content_dir: images, normally one sub-folder per class (searched recursively).
        style_dir: style images (any layout, searched recursively).
        out_dir: where the stylized dataset goes.
        stylizer: the :class:`Stylizer` (moved nowhere: runs on its own device).
        alpha: content-style trade-off (1 = full stylization, as in Stylized-ImageNet).
        seed: selects the style assignment.
        batch_size: images per forward pass.
        size: resize content images first (``(H, W)`` or an int: centre square crop, resize);
            ``None`` keeps each image's size.
        progress: tqdm bar over images.

    Raises:
        DataError: a folder is missing or holds no image, or two content files would map to the
            same output (``a.jpg`` and ``a.png`` side by side).
    """
    check_batch_size(batch_size)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha={alpha!r}; expected a number in [0, 1]")
    if not isinstance(stylizer, Stylizer):
        raise InputError(f"stylizer: expected a gaplens.bias.stylize.Stylizer; got {type(stylizer).__name__}")
    size = None if size is None else _check_size(size)
    content_root, style_root, out_root = Path(content_dir), Path(style_dir), Path(out_dir)
    for name, root in (("content_dir", content_root), ("style_dir", style_root)):
        if not root.is_dir():
            raise DataError(f"{name}={str(root)!r}: no such folder")
    contents = _image_files(content_root)
    styles = _image_files(style_root)
    if not contents:
        raise DataError(f"{content_root}: no content images (looked for {', '.join(IMG_EXTENSIONS)})")
    if not styles:
        raise DataError(f"{style_root}: no style images (looked for {', '.join(IMG_EXTENSIONS)})")
    if out_root.resolve() == content_root.resolve():
        raise InputError(f"out_dir={str(out_root)!r} is the content folder; choose another folder")

    outputs: dict[str, str] = {}
    rows = []
    for rel in contents:
        out_rel = Path(rel).with_suffix(".png").as_posix()
        if out_rel in outputs:
            raise DataError(
                f"{content_root / rel} and {content_root / outputs[out_rel]} would both be written to "
                f"{out_root / out_rel}; rename one of them"
            )
        outputs[out_rel] = rel
        style_rel = styles[_style_index(seed, rel, len(styles))]
        rows.append({"file": out_rel, "content": rel, "style": style_rel, "shape_class": _class_of(rel),
                     "texture_class": _class_of(style_rel), "alpha": alpha, "seed": seed})
    todo = [row for row in rows if not (out_root / row["file"]).is_file()]

    from tqdm.auto import tqdm

    groups: dict[tuple[int, int], list[dict]] = {}
    for row in todo:
        hw = _content_size(content_root / row["content"], size)
        groups.setdefault(hw, []).append(row)
    with tqdm(total=len(rows), initial=len(rows) - len(todo), desc="stylizing", unit="img",
              disable=not progress) as bar:
        for hw, members in groups.items():
            for lo in range(0, len(members), batch_size):
                batch = members[lo : lo + batch_size]
                content = torch.stack([_read(content_root / r["content"], size) for r in batch])
                style = torch.stack([_read(style_root / r["style"], hw) for r in batch])
                images = stylizer.stylize(content, style, alpha=alpha, batch_size=batch_size)
                for row, image in zip(batch, images, strict=True):
                    write_png(out_root / row["file"], image)
                bar.update(len(batch))
    manifest = out_root / MANIFEST_FILE
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(manifest, buffer.getvalue().encode())
    return StylizeFolderResult(out_dir=out_root, written=len(todo), skipped=len(rows) - len(todo),
                               manifest=manifest, records=rows)


def stylize_synthetic(dataset, texture_agreement: float | None = None):
    """The "stylized" twin of a synthetic set: the same objects, each re-textured at random.

    The synthetic analogue of Stylized-ImageNet, exact and free: the twin is the generator's
    output for the same seed and image indices with ``texture_agreement = 1 / K`` (default), so
    every image keeps its shape, pose, colours and background, and its texture is that of a
    uniformly drawn class (the home texture again with probability ``1 / K``, as when a style
    image is drawn at random from a K-class dataset). Only the shape predicts the label.

    Use it where the demo needs stylized data and no VGG weights can be downloaded: AdaIN with a
    random-weight encoder (:func:`~gaplens.bias.networks.random_encoder`) did not preserve the
    synthetic shapes after 600 decoder steps (about 10 CPU minutes; see the notes in
    ``benchmarks/stylize.py``), while this costs only the generation time.

    A 50/50 mixture of a texture-world set (agreement 1) and its stylized version (agreement
    ``1 / K``) has, image by image, agreement ``(1 + 1 / K) / 2``: ``generate(n,
    texture_agreement=(1 + 1 / K) / 2, seed=...)`` draws such a mixed training set directly.

    Args:
        dataset: a :class:`~gaplens.data.synthetic.SyntheticSet` (from ``generate`` or ``subset``;
            not a cue-conflict set).
        texture_agreement: the twin's agreement (default ``1 / K``).

    Returns:
        A ``SyntheticSet`` aligned with ``dataset`` (same ``index``, ``labels`` and ``masks``).
    """
    from gaplens.data.synthetic import SyntheticSet, generate

    if not isinstance(dataset, SyntheticSet):
        raise InputError(f"dataset: expected a gaplens.data.synthetic.SyntheticSet; got {type(dataset).__name__}")
    if dataset.conflict:
        raise InputError("dataset is a cue-conflict set (conflict=True); stylize a normal synthetic set")
    k = len(dataset.class_names)
    agreement = 1.0 / k if texture_agreement is None else texture_agreement
    common = {"classes": k, "size": int(dataset.images.shape[-1]), "texture_agreement": agreement,
              "shift": dataset.shift, "seed": dataset.seed}
    index = dataset.index.tolist()
    runs: list[tuple[int, int]] = []  # (first global index, length) of consecutive runs
    for value in index:
        if runs and value == runs[-1][0] + runs[-1][1]:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    parts = [generate(length, start=first, **common) for first, length in runs]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return generate(0, **common)
    cat = {name: torch.cat([getattr(p, name) for p in parts])
           for name in ("images", "labels", "shape_labels", "texture_labels", "masks", "index")}
    first = parts[0]
    return SyntheticSet(**cat, class_names=first.class_names, texture_names=first.texture_names, seed=first.seed,
                        start=first.start, texture_agreement=first.texture_agreement, conflict=False,
                        shift=first.shift)


def _content_size(path: Path, size: Size | None) -> tuple[int, int]:
    if size is None:
        return probe_image(path)
    return (size, size) if isinstance(size, int) else tuple(size)


def _read(path: Path, size: Size | None) -> torch.Tensor:
    image = read_image(path)
    if size is not None:
        image = resize_image(image, size)
    return image
