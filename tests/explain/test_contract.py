"""One contract over the whole registry: shapes, state left untouched, errors on bad input."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_state, model_state
from torch import nn

from gaplens.core.errors import GaplensError, InputError
from gaplens.explain import METHODS, attribute

FAST = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 3}, "smoothgrad_sq": {"n_samples": 3},
        "vargrad": {"n_samples": 3}, "occlusion": {"window": 16, "stride": 16}}


def test_registry_has_the_issue_methods():
    expected = {"gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "smoothgrad_sq", "vargrad",
                "guided_backprop", "deconvnet", "grad_cam", "guided_grad_cam", "occlusion", "edge"}
    assert expected <= set(METHODS.names())
    assert METHODS["grad_cam"].needs_layer and METHODS["smoothgrad"].stochastic
    assert METHODS["edge"].model_independent and METHODS["occlusion"].default_score == "probability"


@pytest.mark.parametrize("method", METHODS.names())
def test_shape_device_and_untouched_model(tiny_resnet, method):
    tiny_resnet.train()  # a user's model left in train mode must come back in train mode
    tiny_resnet.network.fc.bias.requires_grad_(False)
    before = model_state(tiny_resnet)
    x = torch.rand(3, 3, 32, 32)
    x_copy = x.clone()
    out = attribute(tiny_resnet, x, target=[0, 1, 2], method=method, batch_size=2, **FAST.get(method, {}))
    channels = 1 if METHODS[method].output == "map" else 3
    assert out.shape == (3, channels, 32, 32) and out.dtype == x.dtype and out.device == x.device
    assert torch.isfinite(out).all() and not out.requires_grad
    assert torch.equal(x, x_copy)
    assert_same_state(before, model_state(tiny_resnet))


class _FailsOnThirdForward(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("forward failed on the third batch")
        return self.inner(x)


@pytest.mark.parametrize("method", [m for m in METHODS.names() if not METHODS[m].model_independent])
def test_model_untouched_when_forward_raises(tiny_vgg, method):
    model = _FailsOnThirdForward(tiny_vgg).train()
    before = model_state(model)
    with pytest.raises(RuntimeError, match="third batch"):
        attribute(model, torch.rand(6, 3, 32, 32), target=1, method=method, batch_size=1, **FAST.get(method, {}))
    assert_same_state(before, model_state(model))


@pytest.mark.parametrize("bad,match", [
    (torch.rand(3, 32, 32), "batch dimension"),
    (torch.rand(2, 1, 32, 32), "RGB"),
    (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
    (torch.zeros(1, 3, 32, 32, dtype=torch.long), "dtype"),
])
def test_bad_inputs(tiny_vgg, bad, match):
    with pytest.raises(InputError, match=match):
        attribute(tiny_vgg, bad, method="gradient")


def test_bad_targets_and_names(tiny_vgg):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(InputError, match="out of range"):
        attribute(tiny_vgg, x, target=4, method="gradient")
    with pytest.raises(InputError, match="2 inputs"):
        attribute(tiny_vgg, x, target=[0, 1, 2], method="gradient")
    with pytest.raises(InputError, match="integer"):
        attribute(tiny_vgg, x, target=[0.5, 1.0], method="gradient")
    with pytest.raises(GaplensError, match="closest"):
        attribute(tiny_vgg, x, method="gradiant")
    with pytest.raises(InputError, match="score"):
        attribute(tiny_vgg, x, method="gradient", score="logits")


def test_default_target_is_prediction(tiny_vgg):
    x = torch.rand(3, 3, 32, 32)
    pred = tiny_vgg(x).argmax(1)
    torch.testing.assert_close(attribute(tiny_vgg, x, method="gradient"),
                               attribute(tiny_vgg, x, target=pred, method="gradient"))


def test_progress_bar_is_off_by_default_and_counts_every_evaluation(tiny_vgg, capsys):
    x = torch.rand(2, 3, 32, 32)
    attribute(tiny_vgg, x, target=0, method="integrated_gradients", n_steps=5, batch_size=3)
    assert capsys.readouterr().err == ""
    attribute(tiny_vgg, x, target=0, method="integrated_gradients", n_steps=5, batch_size=3, progress=True)
    err = capsys.readouterr().err
    assert "integrated_gradients" in err and "/10 " in err  # 2 images x 5 steps, with a total (an ETA)
    attribute(tiny_vgg, x, target=0, method="occlusion", window=16, stride=8, progress="occluding")
    assert "occluding" in capsys.readouterr().err
