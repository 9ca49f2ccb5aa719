"""Random distortions as a training augmentation (the "train on all but one distortion" protocol).

``fit(model, train_set, augment=distortion_augment("all-but:uniform_noise"))`` trains on images
that each carry a random distortion at a random level, as in Geirhos et al. (2018), Section 4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from gaplens.core.errors import InputError
from gaplens.robustness.base import DISTORTIONS, check_options, distort, level_key, resolve_levels, select_distortions

__all__ = ["DistortionAugment", "distortion_augment"]


class DistortionAugment:
    """``augment(images) -> images``: each image gets a random distortion and level (or stays clean).

    For each image, independently: with probability ``clean_fraction`` it is left unchanged;
    otherwise a distortion is drawn uniformly from ``distortions`` and then a level uniformly from
    its levels other than the undistorted one, and the image is distorted. Every random choice
    comes from torch's global generator (the distortion noise too, through a seed drawn from it),
    which :func:`gaplens.train.fit` seeds from ``(seed, epoch)``: an interrupted and resumed
    training run sees the same augmented images. Works on any device; images stay ``(N, 3, H, W)``
    in ``[0, 1]``.

    ``power_equalisation`` without a ``target_spectrum`` option equalises 224 x 224 images to the
    published ImageNet spectrum and images of other sizes to the mean spectrum of the images that
    drew it in the batch; pass the training set's
    :func:`~gaplens.robustness.mean_amplitude_spectrum` in ``options`` to use a fixed target.
    """

    def __init__(self, distortions: str | Sequence[str] = "all",
                 levels: str | Mapping[str, Sequence[object]] = "published", clean_fraction: float = 0.0,
                 options: Mapping[str, Mapping[str, object]] | None = None) -> None:
        if isinstance(clean_fraction, bool) or not isinstance(clean_fraction, (int, float)) \
                or not 0 <= clean_fraction < 1:
            raise InputError(f"clean_fraction={clean_fraction!r}; expected a fraction in [0, 1)")
        self.distortions = select_distortions(distortions)
        swept = resolve_levels(self.distortions, levels)
        self.levels = {}
        for name, chosen in swept.items():
            clean = level_key(DISTORTIONS[name].parse(DISTORTIONS[name].clean_level))
            kept = [lv for lv in chosen if level_key(lv) != clean]
            if not kept:
                raise InputError(f"levels[{name!r}] has only the undistorted level {clean}; nothing to train on")
            self.levels[name] = kept
        self.clean_fraction = float(clean_fraction)
        self.options = check_options(self.distortions, options)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        keep = torch.rand(n) < self.clean_fraction
        which = torch.randint(len(self.distortions), (n,))
        position = torch.rand(n)
        seed = int(torch.randint(2 ** 62, ()))
        out = images.clone()
        for d, name in enumerate(self.distortions):
            levels = self.levels[name]
            choice = (position * len(levels)).long().clamp_(max=len(levels) - 1)
            for j, level in enumerate(levels):
                rows = torch.nonzero((which == d) & (choice == j) & ~keep).flatten()
                if rows.numel():
                    rows_dev = rows.to(images.device)
                    out[rows_dev] = distort(images[rows_dev], name, level, seed=seed, index=rows,
                                            **self.options[name])
        return out

    def __repr__(self) -> str:
        return (f"DistortionAugment(distortions={self.distortions}, clean_fraction={self.clean_fraction})")


def distortion_augment(distortions: str | Sequence[str] = "all",
                       levels: str | Mapping[str, Sequence[object]] = "published", clean_fraction: float = 0.0,
                       options: Mapping[str, Mapping[str, object]] | None = None) -> DistortionAugment:
    """An ``augment=`` callable for :func:`gaplens.train.fit` (see :class:`DistortionAugment`).

    >>> import torch
    >>> augment = distortion_augment("all-but:uniform_noise", levels={"eidolon_I": [1]})
    >>> _ = torch.manual_seed(0)
    >>> augment(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 3, 32, 32])
    """
    return DistortionAugment(distortions, levels, clean_fraction, options)
