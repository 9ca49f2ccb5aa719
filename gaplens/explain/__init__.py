"""Attribution methods: which input regions drive a prediction ("approach 2" of the lecture).

One call shape for all of them, as in Captum::

    from gaplens.explain import attribute, METHODS
    maps = attribute(model, images, target=None, method="integrated_gradients", n_steps=50)

``METHODS`` is the registry (name -> :class:`Method` with its defaults and properties); the CLI,
the report and the sanity checks enumerate it.
"""

from gaplens.explain import edge, grad_cam, gradient, guided, occlusion  # noqa: F401  (register the methods)
from gaplens.explain.base import METHODS, SCORES, Method, attribute, register_method
from gaplens.explain.occlusion import occlusion_top_class
from gaplens.explain.render import attribution_grid_figure, render

__all__ = ["METHODS", "SCORES", "Method", "attribute", "register_method", "occlusion_top_class",
           "render", "attribution_grid_figure"]
