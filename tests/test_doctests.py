"""Every docstring example in gaplens runs, and shows what it says it shows.

One test per module: its examples run with ``ELLIPSIS | NORMALIZE_WHITESPACE`` in a fresh
namespace (the module's globals), so an example can use what its module imports. Examples that
need files the reader must supply (a user's checkpoint, a run folder) carry
``# doctest: +SKIP``; every other example must pass.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import matplotlib
import pytest
import torch

import gaplens

matplotlib.use("Agg")

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
ROOT = Path(gaplens.__file__).parent


def _module_names() -> list[str]:
    """Every module below ``gaplens/``, found from the files (importing happens in the test)."""
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _module_names()


def test_every_module_is_collected():
    assert {"gaplens", "gaplens.core.hooks", "gaplens.explain.base", "gaplens.zoo"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name, module=module)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    torch.manual_seed(0)
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
