"""Grad-CAM and Guided Grad-CAM against Captum, and Grad-CAM's closed form on a linear head."""

from __future__ import annotations

import pytest
import torch
from captum.attr import GuidedGradCam, LayerAttribution, LayerGradCam
from torch import nn

from gaplens.core.errors import InputError, LayerNotFoundError
from gaplens.core.hooks import resolve_layer
from gaplens.explain.base import attribute
from gaplens.explain.grad_cam import default_cam_layer


def _rel(actual, expected, rel=1e-6):
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= rel * max(scale, 1e-30)


def _layer(model):
    return "layer2" if hasattr(model.network, "layer2") else "features"


def test_default_layer(tiny_resnet, tiny_vgg):
    x = torch.rand(1, 3, 32, 32)
    assert default_cam_layer(tiny_resnet, x) == "layer2"
    assert default_cam_layer(tiny_vgg, x) == "features"


@pytest.mark.parametrize("relu", [True, False])
def test_grad_cam_matches_captum(model64, batch64, relu):
    x, target = batch64
    layer = _layer(model64)
    ours = attribute(model64, x, target=target, method="grad_cam", relu=relu, batch_size=3)
    cam = LayerGradCam(model64, resolve_layer(model64, layer)).attribute(x, target=target, relu_attributions=relu)
    _rel(ours, LayerAttribution.interpolate(cam, (32, 32), interpolate_mode="bilinear"))
    low = attribute(model64, x, target=target, method="grad_cam", relu=relu, upsample=False)
    _rel(low, cam)
    assert low.shape[-2:] != x.shape[-2:]


def test_guided_grad_cam_matches_captum(model64, batch64):
    x, target = batch64
    layer = _layer(model64)
    ours = attribute(model64, x, target=target, method="guided_grad_cam", layer=layer)
    theirs = GuidedGradCam(model64, resolve_layer(model64, layer)).attribute(
        x, target=target, interpolate_mode="bilinear")
    _rel(ours, theirs)


def test_guided_grad_cam_is_product(model64, batch64):
    x, target = batch64
    ggc = attribute(model64, x, target=target, method="guided_grad_cam")
    gb = attribute(model64, x, target=target, method="guided_backprop")
    cam = attribute(model64, x, target=target, method="grad_cam")
    torch.testing.assert_close(ggc, gb * cam)


class _IdentityConvHead(nn.Module):
    """features = identity "conv" on the input; logits = W . global-average-pooled features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_grad_cam_closed_form():
    torch.manual_seed(0)
    model = _IdentityConvHead().double().eval()
    x = torch.rand(3, 3, 6, 6, dtype=torch.float64)
    target = torch.tensor([0, 1, 1])
    cam = attribute(model, x, target=target, method="grad_cam", layer="conv", relu=False, upsample=False)
    # dS/dA_kij = W[c, k] / (h*w) for every position, so the channel weight is W[c, k] / (h*w)
    weights = model.fc.weight[target] / 36
    expected = (weights.view(3, 3, 1, 1) * x).sum(1, keepdim=True)
    torch.testing.assert_close(cam, expected.detach())


def test_bad_layers(tiny_resnet):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(LayerNotFoundError, match="layer2"):
        attribute(tiny_resnet, x, method="grad_cam", layer="layer9")
    with pytest.raises(InputError, match="4-D"):
        attribute(tiny_resnet, x, method="grad_cam", layer="fc")
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    with pytest.raises(InputError, match="map to space"):
        attribute(mlp, torch.rand(1, 3, 4, 4), method="grad_cam")


def test_default_layer_names_a_zero_gradient():
    """A head initialized to zeros (torchvision's ViT) gives every layer a zero gradient: the
    refusal says so instead of claiming no layer maps to space."""
    from explain.architectures import build as build_pattern

    vit = build_pattern("vit")
    head = [m for m in vit.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    with pytest.raises(InputError, match="gradient is zero at every layer.*layer="):
        default_cam_layer(vit, torch.rand(1, 3, 32, 32))
