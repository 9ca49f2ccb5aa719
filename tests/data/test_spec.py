"""Parsing ``synthetic:...`` specs: each value checked by its parameter's type, each key once."""

from __future__ import annotations

import pytest

from gaplens.core.errors import InputError
from gaplens.data.spec import parse_synthetic_spec


def test_values_are_parsed_by_type() -> None:
    kwargs = parse_synthetic_spec("synthetic:n=20,texture_agreement=1/8,conflict=yes,shift=0.5,seed=3")
    assert kwargs == {"n": 20, "texture_agreement": 0.125, "conflict": True, "shift": 0.5, "seed": 3}
    assert parse_synthetic_spec("synthetic:conflict=0,shift=off") == {"conflict": False, "shift": False, "n": 1000}


@pytest.mark.parametrize(("spec", "message"), [
    ("synthetic:n=10,texture_agreement=1/0", r"texture_agreement='1/0' is not a finite number"),
    ("synthetic:texture_agreement=nan", r"texture_agreement='nan' is not a finite number"),
    ("synthetic:shift=inf", r"shift='inf' is not a finite number"),
    ("synthetic:conflict=maybe", r"conflict='maybe'; expected 0/1/true/false"),
    ("synthetic:n=10,n=20", r"n is given twice"),
    ("synthetic:n=ten", r"n='ten' is not an integer"),
    ("synthetic:colour=red", r"'colour=red' is not key=value with a key among"),
])
def test_bad_values_are_refused_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_synthetic_spec(spec)
    assert "\n" not in str(info.value)
