"""GANs and conditional GANs: the minimax game, its optimal discriminator, and pix2pix.

Goodfellow et al. (2014) made checkable on data with known densities (:mod:`.toy`):
:func:`fit_discriminator` against a fixed generator approaches ``D* = p_data / (p_data + p_g)``,
the value approaches ``-log 4`` when ``p_g = p_data``, and :func:`train_gan` plays the game with
any of four losses (:mod:`.losses`). DCGAN (:mod:`.dcgan`) for small images, :class:`Pix2Pix`
(U-Net + PatchGAN, Isola et al. 2017) for aligned image pairs (:mod:`.pairs`), and evaluation
without Inception weights (:mod:`.evaluate`). Every network is saved as safetensors + JSON
(:mod:`.checkpoint`); training states are never pickled (:mod:`.state`).
"""

from gaplens.gan.checkpoint import load_network, save_network
from gaplens.gan.discriminator import DiscriminatorFit, estimate_value, fit_discriminator
from gaplens.gan.game import GanRun, train_gan
from gaplens.gan.losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty, value
from gaplens.gan.modes import ModeCoverage, mode_coverage
from gaplens.gan.networks import build_network
from gaplens.gan.pix2pix import Pix2Pix, Pix2PixRun, train_pix2pix
from gaplens.gan.toy import Mixture, gaussian, js_divergence, js_from_value, optimal_discriminator, ring_of_gaussians

__all__ = ["LOSSES", "DiscriminatorFit", "GanRun", "Mixture", "ModeCoverage", "Pix2Pix", "Pix2PixRun",
           "build_network", "discriminator_loss", "estimate_value", "fit_discriminator", "gaussian",
           "generator_loss", "gradient_penalty", "js_divergence", "js_from_value", "load_network", "mode_coverage",
           "optimal_discriminator", "ring_of_gaussians", "save_network", "train_gan", "train_pix2pix", "value"]
