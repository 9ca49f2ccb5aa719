"""``gaplens explain --option METHOD.KEY=VALUE``: parsed into the study's per-method options."""

from __future__ import annotations

import pytest

from gaplens.cli import _method_options
from gaplens.core.errors import GaplensError, InputError


def test_values_are_json_when_they_parse():
    assert _method_options(["integrated_gradients.n_steps=32", "occlusion.window=[16, 8]",
                            "occlusion.incremental=false", "grad_cam.layer=layer4", "grad_cam.relu=true"]) == {
        "integrated_gradients": {"n_steps": 32}, "occlusion": {"window": (16, 8), "incremental": False},
        "grad_cam": {"layer": "layer4", "relu": True}}
    assert _method_options([]) == {}


@pytest.mark.parametrize("item,match", [("n_steps=32", "METHOD.KEY=VALUE"), ("occlusion.window", "METHOD.KEY"),
                                        ("occlusion.windw=3", "no option 'windw'"),
                                        ("oclusion.window=3", "closest")])
def test_mistakes_are_named(item, match):
    with pytest.raises((InputError, GaplensError), match=match):
        _method_options([item])
