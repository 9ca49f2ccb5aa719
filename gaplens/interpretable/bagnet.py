"""Class-evidence maps of bag-of-local-features networks (Brendel & Bethge, ICLR 2019).

A BagNet's logit for class ``k`` is the mean of its patch logits, so the map of patch logits is
not an approximation of the decision: it *is* the decision, spread over the image. The authors'
``generate_heatmap_pytorch`` recovers that map by zero-padding the image, cutting out all ``H * W``
patches and feeding them through the network in batches of 1000; here the network is stride-1
by construction (:class:`gaplens.zoo.bagnet.BagNet`), so one fully convolutional pass gives the
same numbers (``benchmarks/bagnet.py`` checks they are equal and times both).

>>> import torch
>>> from gaplens.interpretable import BagNet, evidence
>>> net = BagNet(3, patch_size=9, width=8).eval()
>>> x = torch.rand(2, 3, 24, 24)
>>> maps = evidence(net, x, target=1)
>>> maps.shape
torch.Size([2, 24, 24])
>>> torch.allclose(maps.sum((1, 2)) / 16 ** 2, net(x)[:, 1], atol=1e-5)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaplens.core.errors import InputError
from gaplens.core.model import Classifier
from gaplens.zoo.bagnet import PATCH_SIZES, BagNet

__all__ = ["BagNet", "PATCH_SIZES", "evidence", "bagnet_of", "TopPatches", "top_patches"]

BORDERS = ("valid", "zeros")


def bagnet_of(model: nn.Module) -> tuple[BagNet, Classifier | None]:
    """The :class:`BagNet` inside ``model`` (itself, or a :class:`Classifier`'s network) and the
    wrapper (``None`` for a bare BagNet).

    Raises:
        InputError: ``model`` is not a BagNet (evidence maps need ``patch_logits``).
    """
    if isinstance(model, BagNet):
        return model, None
    if isinstance(model, Classifier) and isinstance(model.network, BagNet):
        return model.network, model
    raise InputError(f"model is a {type(model).__name__}; class-evidence maps need a BagNet "
                     "(gaplens.interpretable.BagNet, or a Classifier wrapping one)")


def _targets(target: int | Sequence[int] | torch.Tensor | None, n: int, k: int) -> torch.Tensor | None:
    if target is None:
        return None
    t = torch.as_tensor(target, dtype=torch.int64).flatten().cpu()
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise InputError(f"target has {t.numel()} entries for {n} images; give one int or one per image")
    if ((t < 0) | (t >= k)).any():
        raise InputError(f"target {t.tolist()[:8]} out of range; the model has {k} classes")
    return t


def _patch_logits(net: BagNet, wrapper: Classifier | None, images: torch.Tensor, border: str) -> torch.Tensor:
    x = images
    if wrapper is not None:  # the network's input space: normalised, as the authors padded it
        x = (x - wrapper.mean.to(x.dtype)) / wrapper.std.to(x.dtype)
    if border == "zeros":
        c = (net.patch_size - 1) // 2
        x = F.pad(x, (c, c, c, c))
    return net.patch_logits(x)


def evidence(
    model: nn.Module,
    images: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    border: str = "valid",
    batch_size: int = 64,
) -> torch.Tensor:
    """The target class's patch logit at each patch centre, from one fully convolutional pass.

    Args:
        model: a :class:`BagNet` or a :class:`Classifier` wrapping one (images in ``[0, 1]``).
        images: ``(N, 3, H, W)`` floats, ``H, W >= patch_size`` for ``border="valid"``.
        target: an int, ``N`` ints, or ``None`` (each image's predicted class).
        border: ``"valid"`` (default): only windows that lie wholly inside the image; the map is
            0 within ``c = (p - 1) // 2`` px of the border (no window is centred there), and
            ``maps.sum((1, 2)) / ((H - 2c) * (W - 2c))`` is exactly the model's logit.
            ``"zeros"``: the network's input is zero-padded by ``c`` on every side (the authors'
            ``generate_heatmap_pytorch``; for a Classifier, in normalised space, i.e. padding
            with the mean colour), so every pixel is a window centre; border windows then see
            padding, and the map's mean is no longer the logit.
        batch_size: images per forward pass.

    Returns:
        ``(N, H, W)`` logits (unnormalised, in the model's logit units) on the images' device,
        detached. The model's mode and flags are left as found (it runs in eval mode).

    Raises:
        InputError: not a BagNet, an unknown ``border``, a bad target, or images too small.
    """
    net, wrapper = bagnet_of(model)
    if border not in BORDERS:
        raise InputError(f"border={border!r}; expected one of {list(BORDERS)}")
    if images.dim() != 4:
        raise InputError(f"images of shape {tuple(images.shape)}; expected (N, 3, H, W)")
    n, _, h, w = images.shape
    targets = _targets(target, n, net.num_classes)
    c = (net.patch_size - 1) // 2
    out = images.new_zeros((n, h, w))
    param = next(net.parameters())
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            for lo in range(0, n, max(1, int(batch_size))):
                chunk = images[lo:lo + batch_size].to(param.device, param.dtype)
                logits = _patch_logits(net, wrapper, chunk, border)  # (B, K, h', w')
                if targets is None:
                    pick = logits.mean((2, 3)).argmax(1)
                else:
                    pick = targets[lo:lo + batch_size].to(logits.device)
                maps = logits[torch.arange(len(pick), device=logits.device), pick]
                maps = maps.to(images.device, images.dtype)
                if border == "zeros":
                    out[lo:lo + len(pick)] = maps
                else:
                    out[lo:lo + len(pick), c:h - c, c:w - c] = maps
    finally:
        for m, mode in modes:
            m.training = mode
    return out


@dataclass
class TopPatches:
    """The most class-discriminative patches of a dataset (the paper's Figure 2).

    Attributes:
        patches: ``(K, k, 3, p, p)`` image crops in ``[0, 1]``, best first, per class.
        scores: ``(K, k)`` their class evidence: the class's patch logit minus the mean of the
            other classes' logits at that patch (the paper ranks by logit).
        image_index: ``(K, k)`` index of the source image; ``rows``, ``cols``: ``(K, k)`` the
            top-left pixel of each patch in it.
        patch_size: ``p``.
    """

    patches: torch.Tensor
    scores: torch.Tensor
    image_index: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    patch_size: int


def top_patches(model: nn.Module, images: torch.Tensor, k: int = 8, *, classes: Sequence[int] | None = None,
                batch_size: int = 64) -> TopPatches:
    """The ``k`` patches with the highest evidence for each class across ``images``.

    Evidence of a patch for class ``j`` is its logit for ``j`` minus the mean of its other logits
    (the class-discriminative part; a patch that raises every logit alike is not shown). At most
    one patch per image and class is kept, so a single image cannot fill a row.

    Args:
        model: a BagNet or a Classifier wrapping one.
        images: ``(N, 3, H, W)`` in ``[0, 1]``.
        k: patches per class (``1 <= k <= N``).
        classes: which classes (default: all).
        batch_size: images per forward pass.
    """
    net, wrapper = bagnet_of(model)
    n = images.shape[0]
    if not 1 <= k <= n:
        raise InputError(f"k={k}; expected 1..{n} (one patch per image and class)")
    classes = list(range(net.num_classes)) if classes is None else [int(j) for j in classes]
    _targets(classes, len(classes), net.num_classes)
    p = net.patch_size
    best = torch.full((n, len(classes)), -torch.inf)
    where = torch.zeros((n, len(classes)), dtype=torch.int64)
    param = next(net.parameters())
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            for lo in range(0, n, batch_size):
                logits = _patch_logits(net, wrapper, images[lo:lo + batch_size].to(param.device, param.dtype),
                                       "valid").float().cpu()
                kk = logits.shape[1]
                contrast = (logits - logits.mean(1, keepdim=True)) * (kk / max(kk - 1, 1))  # logit - mean of the others
                flat = contrast[:, classes].flatten(2)  # (B, C, h'w')
                value, index = flat.max(2)
                best[lo:lo + len(value)] = value
                where[lo:lo + len(value)] = index
    finally:
        for m, mode in modes:
            m.training = mode
    width = images.shape[-1] - p + 1
    scores, order = best.topk(k, dim=0)  # (k, C)
    image_index = order.T.contiguous()
    scores = scores.T.contiguous()
    pos = where.gather(0, order).T
    rows, cols = pos // width, pos % width
    patches = torch.stack([torch.stack([images[i, :, r:r + p, c:c + p].detach().cpu() for i, r, c in
                                        zip(image_index[j].tolist(), rows[j].tolist(), cols[j].tolist(),
                                            strict=True)]) for j in range(len(classes))])
    return TopPatches(patches, scores, image_index, rows, cols, p)
