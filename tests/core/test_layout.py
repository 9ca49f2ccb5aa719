"""The channels-last forward and its fallback (gaplens.core.layout), against the model's own forward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaplens.core.layout import LayoutForward, fast_layout
from gaplens.explain import attribute


class _Flat(nn.Module):
    """A conv whose map is flattened with ``view()``, which a channels-last map refuses."""

    def __init__(self, use_view: bool) -> None:
        super().__init__()
        self.use_view = use_view
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.shape[0], -1) if self.use_view else y.flatten(1))


def test_fast_layout_is_channels_last_on_the_cpu_only():
    assert fast_layout(torch.device("cpu")) is torch.channels_last
    assert fast_layout(torch.device("meta")) is torch.contiguous_format


@pytest.mark.parametrize("use_view", [False, True])
def test_layout_forward_equals_the_model(use_view):
    torch.manual_seed(0)
    model = _Flat(use_view).double().eval()
    x = torch.rand(5, 3, 8, 8, dtype=torch.float64)
    forward = LayoutForward(model, x.device)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(forward(x), expected, rtol=1e-12, atol=1e-12)
        # a view() of a channels-last map fails: the first call is repeated in the usual layout
        assert forward.layout is (torch.contiguous_format if use_view else torch.channels_last)
        torch.testing.assert_close(forward(x), expected, rtol=1e-12, atol=1e-12)
    assert forward.place(x).is_contiguous(memory_format=forward.layout)


def test_only_the_first_call_falls_back():
    """A later error is the model's own: it propagates, the layout stays as it was."""
    model = _Flat(use_view=False).eval()
    forward = LayoutForward(model, torch.device("cpu"))
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        forward(x)
        with pytest.raises(RuntimeError):
            forward(torch.rand(2, 3, 9, 9))  # the linear layer's size no longer fits
    assert forward.layout is torch.channels_last


def test_occlusion_on_a_model_that_views_its_maps():
    """The incremental engine makes a map the usual layout before ``view()``; whole images fall back."""
    torch.manual_seed(1)
    model = _Flat(use_view=True).double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    common = {"target": [0, 2], "method": "occlusion", "score": "logit", "window": 2, "stride": 2}
    incremental = attribute(model, x, incremental=True, **common)
    whole = attribute(model, x, incremental=False, **common)
    torch.testing.assert_close(incremental, whole, rtol=1e-10, atol=1e-12)
