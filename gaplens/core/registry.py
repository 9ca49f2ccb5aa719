"""A named registry: architectures, attribution methods, distortions and objectives register here.

Registries let the CLI, the report and contract tests enumerate every method of a kind, and give
one error message for an unknown name that lists the nearest known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from gaplens.core.errors import InputError

T = TypeVar("T")


def nearest(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """The ``n`` candidates closest to ``name`` (difflib ratio), best first."""
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.3)
    return close or candidates[:n]


class Registry(Generic[T]):
    """A mapping name -> object with a decorator to add entries and helpful lookup errors.

    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... def square(): return 4
    >>> SHAPES["square"]()
    4
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (names are unique)."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise InputError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            raise InputError(
                f"unknown {self.kind} {name!r}; expected one of {known} "
                f"(closest: {nearest(name, known, 3)})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def items(self):
        return self._entries.items()
