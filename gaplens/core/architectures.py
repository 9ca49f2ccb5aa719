"""The registry of architectures a gaplens checkpoint may name.

A checkpoint's JSON record names its architecture; only names registered here can be built when
loading, so a checkpoint file can never make gaplens import or call arbitrary code. Users add
their own with ``@ARCHITECTURES.register("name")`` on a factory ``(num_classes, **kwargs) ->
nn.Module``.

Core never imports the zoo: the built-in architectures (:mod:`gaplens.zoo`) register themselves
when the zoo is imported, and the ``gaplens`` package imports it, so they are registered before
any gaplens module runs (importing ``gaplens.core.model`` first imports ``gaplens``). The
dependency points one way, from the package down through ``zoo`` to ``core``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gaplens.core.registry import Registry

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")


def build_architecture(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build the registered architecture ``name`` with ``num_classes`` outputs.

    The network remembers its name and kwargs (``network.gaplens_arch``), so a checkpoint can
    record them and loading can rebuild it without unpickling anything. An unregistered name
    raises :class:`~gaplens.core.errors.InputError` listing the closest registered names.
    """
    network = ARCHITECTURES[name](num_classes=num_classes, **kwargs)
    network.gaplens_arch = {"name": name, "kwargs": dict(kwargs)}
    return network
