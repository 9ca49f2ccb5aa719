"""Sanity checks for saliency maps (Adebayo et al. 2018): model and data randomization, edge comparison.

>>> from gaplens.sanity import model_randomization, data_randomization, edge_similarity
>>> result = model_randomization(model, images, methods=("gradient", "guided_backprop"))  # doctest: +SKIP
>>> result.verdicts["guided_backprop"]  # doctest: +SKIP
{'passed': False, 'value': 0.76, 'threshold': 0.5, 'metric': 'spearman', 'check': '...'}

``similarity`` holds the metrics (``spearman_abs``, ``spearman``, ``ssim``, ``hog``; registry
``METRICS``), ``randomization`` the tests, ``figures`` the two figures of the paper.
"""

from gaplens.sanity.figures import randomization_grid_figure, similarity_figure
from gaplens.sanity.randomization import (
    DEFAULT_METHODS,
    DEFAULT_METRICS,
    Block,
    data_randomization,
    edge_similarity,
    model_randomization,
    noise_floor,
    parameterized_blocks,
    randomization_steps,
    randomize_blocks,
)
from gaplens.sanity.result import (
    DEFAULT_THRESHOLD,
    DEFAULT_VERDICT_METRIC,
    DEFAULT_VERDICT_STEP,
    RECORD_KEYS,
    VERDICT_RATIONALE,
    SanityResult,
)
from gaplens.sanity.similarity import METRICS, Metric, hog, spearman, spearman_abs, ssim

__all__ = [
    "model_randomization", "data_randomization", "edge_similarity", "parameterized_blocks", "randomize_blocks",
    "randomization_steps", "Block", "SanityResult", "RECORD_KEYS", "METRICS", "Metric", "spearman",
    "spearman_abs", "ssim", "hog", "DEFAULT_METHODS", "DEFAULT_METRICS", "similarity_figure",
    "randomization_grid_figure", "DEFAULT_THRESHOLD", "DEFAULT_VERDICT_METRIC", "DEFAULT_VERDICT_STEP",
    "VERDICT_RATIONALE", "noise_floor",
]
