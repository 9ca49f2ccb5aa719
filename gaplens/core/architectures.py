"""The registry of architectures a gaplens checkpoint may name, and the bounds on what it may ask.

A checkpoint's JSON record names its architecture; only names registered here can be built when
loading, so a checkpoint file can never make gaplens import or call arbitrary code. Users add
their own with ``@ARCHITECTURES.register("name")`` on a factory ``(num_classes, **kwargs) ->
nn.Module``; a factory should refuse kwargs that would build an absurd network (the zoo's bound
widths and depths), because a checkpoint's record is untrusted input.

A record is bounded before anything is built (:func:`check_record_kwargs`: at most
:data:`MAX_CLASSES` classes, JSON scalars or short flat lists, integers up to
:data:`MAX_KWARG_INT`), the network is then built on the ``meta`` device (no memory), and it
may hold at most :data:`MAX_PARAMETERS` values (:func:`build_on_meta`).

Core never imports the zoo: the built-in architectures (:mod:`gaplens.zoo`) register themselves
when the zoo is imported, and the ``gaplens`` package imports it, so they are registered before
any gaplens module runs (importing ``gaplens.core.model`` first imports ``gaplens``). The
dependency points one way, from the package down through ``zoo`` to ``core``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.core.registry import Registry

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")

#: The most classes (logits) a checkpoint may declare.
MAX_CLASSES = 100_000
#: The largest integer an architecture kwarg may hold (a width, a count).
MAX_KWARG_INT = 16_384
#: The longest list an architecture kwarg may hold (e.g. one entry per stage).
MAX_KWARG_LIST = 64
#: The most values (parameters and buffers together) a checkpoint's network may hold: 2e9,
#: 8 GB in float32.
MAX_PARAMETERS = 2_000_000_000


def build_architecture(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build the registered architecture ``name`` with ``num_classes`` outputs.

    The network remembers its name and kwargs (``network.gaplens_arch``), so a checkpoint can
    record them and loading can rebuild it without unpickling anything. An unregistered name
    raises :class:`~gaplens.core.errors.InputError` listing the closest registered names.
    """
    network = ARCHITECTURES[name](num_classes=num_classes, **kwargs)
    network.gaplens_arch = {"name": name, "kwargs": dict(kwargs)}
    return network


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_record_kwargs(num_classes: object, kwargs: object) -> None:
    """Refuse a record's ``num_classes`` and ``kwargs`` beyond the bounds above, before any build.

    Raises:
        InputError: naming the field (``num_classes``, ``kwargs.widths``, ...) and the bound.
    """
    if not _is_int(num_classes) or not 1 <= num_classes <= MAX_CLASSES:
        raise InputError(f"num_classes={num_classes!r}; expected an integer in 1..{MAX_CLASSES}")
    if not isinstance(kwargs, dict):
        raise InputError(f"kwargs={type(kwargs).__name__}; expected a JSON object of keyword arguments")
    for key, value in kwargs.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > MAX_KWARG_LIST:
            raise InputError(f"kwargs.{key} has {len(value)} entries; at most {MAX_KWARG_LIST} are allowed")
        for item in items:
            if item is not None and not isinstance(item, (bool, int, float, str)):
                raise InputError(f"kwargs.{key}={value!r}; expected numbers, strings or flat lists of them")
            if isinstance(item, str) and len(item) > 256:
                raise InputError(f"kwargs.{key}: a string of {len(item)} characters; at most 256 are allowed")
            if _is_int(item) and abs(item) > MAX_KWARG_INT:
                raise InputError(f"kwargs.{key}={_short(value)}; each value must be at most {MAX_KWARG_INT}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def build_on_meta(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build the architecture on the ``meta`` device: its parameter names and shapes, no memory.

    Raises:
        InputError: the network would hold more than :data:`MAX_PARAMETERS` values, or its
            factory refuses the kwargs.
    """
    try:
        with torch.device("meta"):
            network = build_architecture(name, num_classes, **kwargs)
    except (NotImplementedError, RuntimeError) as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        raise InputError(f"architecture {name!r} cannot be checked on the meta device ({first})") from exc
    total = sum(t.numel() for t in network.state_dict().values())
    if total > MAX_PARAMETERS:
        raise InputError(f"kwargs={_short(kwargs)} make a network of {total:,} values; at most "
                         f"{MAX_PARAMETERS:,} are allowed")
    return network
