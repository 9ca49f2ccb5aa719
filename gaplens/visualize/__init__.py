"""Feature visualization: activation maximization, class models, DeepDream ("approach 1").

Create images that excite chosen parts of a model, by backpropagating to the input::

    from gaplens.visualize import class_model, channel_images, deepdream, optimize, objectives as obj
    classes = class_model(model, classes="all")                 # Simonyan et al. 2013
    units = channel_images(model, "layer3", channels=range(16))  # feature visualization
    custom = optimize(model, obj.channel("layer3", 5) + 0.5 * obj.diversity("layer3"), batch=4)
    dream = deepdream(model, sample_image("astronaut", size=256), "layer2")

Pieces, as in Lucid/Lucent: objectives (:mod:`~gaplens.visualize.objectives`, an algebra and a
registry), parameterizations (:mod:`~gaplens.visualize.param`: pixel, Fourier with decorrelated
colour, a start image), transforms and regularizers (:mod:`~gaplens.visualize.transforms`), and
figures (:mod:`~gaplens.visualize.figures`).
"""

from gaplens.visualize import objectives
from gaplens.visualize.figures import channel_grid_figure, class_model_figure, deepdream_figure
from gaplens.visualize.objectives import OBJECTIVES, Objective
from gaplens.visualize.optimize import (
    ClassModelResult,
    DreamResult,
    VisResult,
    channel_images,
    class_model,
    deepdream,
    optimize,
    top_classes,
)
from gaplens.visualize.param import PARAMETERIZATIONS, fourier_image, pixel_image
from gaplens.visualize.transforms import REGULARIZERS, STANDARD

__all__ = [
    "objectives", "Objective", "OBJECTIVES", "PARAMETERIZATIONS", "REGULARIZERS", "STANDARD", "VisResult",
    "ClassModelResult", "DreamResult", "optimize", "class_model", "channel_images", "deepdream", "top_classes",
    "pixel_image", "fourier_image", "class_model_figure", "channel_grid_figure", "deepdream_figure",
]
