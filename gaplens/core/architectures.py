"""The registry of architectures a gaplens checkpoint may name.

A checkpoint's JSON record names its architecture; only names registered here can be built when
loading, so a checkpoint file can never make gaplens import or call arbitrary code. The built-in
architectures live in :mod:`gaplens.zoo` and register themselves on import; users add their own
with ``@ARCHITECTURES.register("name")`` on a factory ``(num_classes, **kwargs) -> nn.Module``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

from gaplens.core.registry import Registry

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")


def build_architecture(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build a registered architecture; the built-in zoo is imported on first use.

    The zoo depends on core, not the other way round: core only names the package that holds
    its built-in entries, the same way a plugin registry would.
    """
    if name not in ARCHITECTURES:
        importlib.import_module("gaplens.zoo")
    network = ARCHITECTURES[name](num_classes=num_classes, **kwargs)
    network.gaplens_arch = {"name": name, "kwargs": dict(kwargs)}
    return network
