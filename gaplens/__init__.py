"""gaplens: audit image classifiers.

What does a model look at, can those explanations be trusted, what do its units respond to,
and where, and why, does it stop generalizing?

>>> import gaplens
>>> model = gaplens.load_model("path/to/checkpoint")  # doctest: +SKIP
"""

# The built-in architectures register themselves in gaplens.core.architectures when the zoo is
# imported. Importing any gaplens module runs this file first, so checkpoints that name them load
# without core ever importing the zoo (the dependency points down: gaplens -> zoo -> core).
import gaplens.zoo  # noqa: F401
from gaplens.core.errors import GaplensError
from gaplens.core.model import Classifier, load_model, save_checkpoint

__version__ = "0.1.0"
__all__ = ["Classifier", "GaplensError", "load_model", "save_checkpoint", "__version__"]
