"""Generalisation under image distortions (Geirhos et al., NeurIPS 2018).

The 12 distortions of the paper in a registry (:data:`DISTORTIONS`, in the paper's order),
applied in batched torch by :func:`distort`; accuracy-vs-level sweeps (:func:`sweep`) with exact
intervals and a figure; the mapping of 1000-class ImageNet outputs to the paper's 16 entry-level
categories (:mod:`gaplens.robustness.imagenet16`); a random-distortion augmentation for the
"train on all but one distortion" protocol (:func:`distortion_augment`); and the stimulus sheet
(:func:`stimulus_sheet_figure`).

>>> import torch
>>> from gaplens.robustness import DISTORTIONS, distort
>>> x = torch.rand(4, 3, 64, 64)
>>> y = distort(x, "uniform_noise", 0.35, seed=1)
>>> DISTORTIONS["uniform_noise"].levels[:3]
(0, 0.03, 0.05)
"""

from gaplens.robustness import colour, eidolon, filters, geometric, imagenet16, noise, spectral
from gaplens.robustness.augment import DistortionAugment, distortion_augment
from gaplens.robustness.base import DISTORTIONS, Distortion, clean, distort, register, select_distortions
from gaplens.robustness.colour import greyscale
from gaplens.robustness.eidolon import eidolon as eidolon_disarray
from gaplens.robustness.figures import accuracy_vs_level_figure, stimulus_sheet_figure
from gaplens.robustness.published import published_gamma_table, published_mean_spectrum
from gaplens.robustness.spectral import mean_amplitude_spectrum
from gaplens.robustness.sweep import sweep

for _distortion in (
    colour.COLOUR, colour.CONTRAST, filters.HIGH_PASS, filters.LOW_PASS, spectral.PHASE_NOISE,
    spectral.POWER_EQUALISATION, colour.OPPONENT_COLOUR, geometric.ROTATION, eidolon.EIDOLON_I,
    eidolon.EIDOLON_II, eidolon.EIDOLON_III, noise.UNIFORM_NOISE, noise.SALT_AND_PEPPER,
):
    if _distortion.name not in DISTORTIONS:
        register(_distortion)

__all__ = [
    "DISTORTIONS", "Distortion", "distort", "clean", "select_distortions", "greyscale", "eidolon_disarray",
    "mean_amplitude_spectrum", "sweep", "accuracy_vs_level_figure", "stimulus_sheet_figure",
    "distortion_augment", "DistortionAugment", "imagenet16", "published_gamma_table", "published_mean_spectrum",
]
