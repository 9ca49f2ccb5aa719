"""Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018): restoration with an untrained network.

A randomly initialized encoder-decoder, fitted to one corrupted image from a fixed random
input, restores it, because it fits natural structure long before it fits noise::

    from gaplens.restore import restore, fit_curves
    result = restore(noisy, task="denoise", clean=clean)      # or "inpaint", "jpeg", "super_resolution"
    result.image, result.history, result.stopped_at
    curves = fit_curves({"natural": img, "noise": noise}, steps=600, seed=0)   # name -> per-step MSE

Pieces: the skip network (:mod:`~gaplens.restore.network`), the fitting loop with the moving
average and input perturbation (:mod:`~gaplens.restore.fit`), the settings of each task
(:mod:`~gaplens.restore.settings`: the authors' and the CPU-sized defaults), corruptions and
data terms (:mod:`~gaplens.restore.tasks`), the Lanczos downsampler
(:mod:`~gaplens.restore.lanczos`), stopping rules (:mod:`~gaplens.restore.stopping`), PSNR/SSIM
(:mod:`~gaplens.restore.metrics`), scikit-image baselines (:mod:`~gaplens.restore.baselines`), the
prior experiment (:mod:`~gaplens.restore.curves`) and figures (:mod:`~gaplens.restore.figures`).
"""

from gaplens.restore.baselines import BASELINES, BaselineResult, baselines
from gaplens.restore.curves import PRIOR_SETTINGS, fit_curves, prior_images, steps_to_reach
from gaplens.restore.figures import fit_history_figure, prior_figure, restoration_figure
from gaplens.restore.fit import FitResult, build_network, fit_prior
from gaplens.restore.lanczos import LanczosDownsampler, lanczos_downsample, lanczos_matrix
from gaplens.restore.metrics import psnr, ssim
from gaplens.restore.network import SkipNet
from gaplens.restore.restore import STOPPING_RULES, RestoreResult, load_image, load_mask, restore
from gaplens.restore.settings import DEFAULTS, PAPER, TASKS, FitSettings, settings_for
from gaplens.restore.stopping import DiscrepancyStop, StoppingRule, VarianceStop
from gaplens.restore.tasks import add_noise, jpeg_compress, random_mask, task_loss, text_mask

__all__ = [
    "restore", "RestoreResult", "fit_prior", "FitResult", "build_network", "SkipNet", "FitSettings", "PAPER",
    "DEFAULTS", "TASKS", "STOPPING_RULES", "settings_for", "load_image", "load_mask", "add_noise", "random_mask",
    "text_mask", "jpeg_compress", "task_loss", "lanczos_downsample", "lanczos_matrix", "LanczosDownsampler", "psnr",
    "ssim", "StoppingRule", "VarianceStop", "DiscrepancyStop", "baselines", "BaselineResult", "BASELINES",
    "fit_curves", "prior_images", "steps_to_reach", "PRIOR_SETTINGS", "restoration_figure", "fit_history_figure",
    "prior_figure",
]
