"""Texture vs shape: cue-conflict stimuli, shape bias, AdaIN stylization (issue 7).

- :func:`shape_bias` / :func:`shape_bias_from_decisions`: the shape bias of a model (or of any
  decisions) on cue-conflict stimuli (Geirhos et al., ICLR 2019), with :func:`shape_bias_figure`.
- :func:`read_decisions` / :func:`shape_bias_of_recorded`: shape bias from recorded decisions in
  the published raw-data format (observers pooled and per observer).
- :func:`adain`: adaptive instance normalization (Huang & Belongie, ICCV 2017).
- :class:`Stylizer`, :func:`vgg19_encoder`, :func:`decoder`, :func:`random_encoder`,
  :func:`load_adain_weights`, :func:`convert_adain_weights`, :func:`train_decoder`,
  :func:`stylize_folder`: AdaIN stylization and Stylized-ImageNet-style datasets;
  :func:`stylize_synthetic`: the exact, free synthetic analogue (each image re-textured at random).
"""

from gaplens.bias.adain import adain, channel_mean_std
from gaplens.bias.decisions import RecordedDecisions, read_decisions, shape_bias_of_recorded
from gaplens.bias.figures import REFERENCE_SHAPE_BIAS, shape_bias_figure
from gaplens.bias.networks import Stylizer, VGGDecoder, VGGEncoder, decoder, random_encoder, vgg19_encoder
from gaplens.bias.shape_bias import (
    CueConflictStimuli,
    ShapeBiasResult,
    load_stimuli,
    parse_cue_conflict_name,
    shape_bias,
    shape_bias_from_decisions,
)
from gaplens.bias.stylize import (
    DecoderTraining,
    StylizeFolderResult,
    decoder_loss,
    stylize_folder,
    stylize_synthetic,
    train_decoder,
)
from gaplens.bias.weights import (
    convert_adain_weights,
    load_adain_weights,
    load_decoder,
    load_encoder,
    read_state_dict,
    save_adain_weights,
)

__all__ = [
    "REFERENCE_SHAPE_BIAS", "CueConflictStimuli", "DecoderTraining", "RecordedDecisions", "read_decisions",
    "shape_bias_of_recorded", "ShapeBiasResult", "StylizeFolderResult",
    "Stylizer", "VGGDecoder", "VGGEncoder", "adain", "channel_mean_std", "convert_adain_weights", "decoder",
    "decoder_loss", "load_adain_weights", "load_decoder", "load_encoder", "load_stimuli",
    "parse_cue_conflict_name", "random_encoder", "read_state_dict", "save_adain_weights", "shape_bias",
    "shape_bias_figure", "shape_bias_from_decisions", "stylize_folder", "stylize_synthetic", "train_decoder",
    "vgg19_encoder",
]  # fmt: skip
