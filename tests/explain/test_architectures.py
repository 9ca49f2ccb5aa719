"""Every method on the architecture patterns of real models (tests/explain/architectures.py).

Each method runs on each pattern, or refuses with its documented message; none changes the model;
gradient, Integrated Gradients and occlusion equal Captum in float64; Grad-CAM finds a layer it
can map to space (channels-last maps and ViT tokens included) and equals an oracle there.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from captum.attr import GuidedBackprop, IntegratedGradients, LayerGradCam, Occlusion, Saliency
from explain.architectures import ARCHITECTURES, DEFAULT_CAM_LAYERS, NON_RELU, TinySwin, build
from helpers import assert_same_state, model_state
from torch import nn

from gaplens.core.errors import InputError
from gaplens.core.hooks import capture
from gaplens.core.model import Classifier
from gaplens.explain import METHODS, attribute
from gaplens.explain.base import strip_ansi
from gaplens.explain.grad_cam import default_cam_layer, spatial_layout

NAMES = list(ARCHITECTURES)
FAST = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 2}, "smoothgrad_sq": {"n_samples": 2},
        "vargrad": {"n_samples": 2}, "occlusion": {"window": 16, "stride": 16}}
GUIDED = ("guided_backprop", "deconvnet", "guided_grad_cam")


@pytest.fixture(scope="module")
def models():
    return {name: build(name) for name in NAMES}


@pytest.fixture(scope="module")
def models64(models):
    return {name: copy.deepcopy(model).double() for name, model in models.items()}


def _x(dtype=torch.float32, n=2):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(3), dtype=dtype)


def _rel(actual, expected, rel=1e-6):
    scale = expected.abs().max().item()
    assert scale > 0
    assert (actual - expected).abs().max().item() <= rel * scale


@pytest.mark.parametrize("name", NAMES)
def test_every_method_runs_or_refuses_and_leaves_the_model(models, name):
    model = models[name].train()  # must come back in train mode
    before = model_state(model)
    x = _x()
    try:
        for method in METHODS.names():
            if method in GUIDED and name in NON_RELU:
                with pytest.raises(InputError, match=f"(rule for ReLUs only|needs ReLUs).*{NON_RELU[name]}"):
                    attribute(model, x, target=[0, 1], method=method)
                continue
            out = attribute(model, x, target=[0, 1], method=method, **FAST.get(method, {}))
            channels = 1 if METHODS[method].output == "map" else 3
            assert out.shape == (2, channels, 32, 32) and torch.isfinite(out).all(), method
            if not METHODS[method].model_independent and method not in ("occlusion",):
                assert out.abs().sum() > 0, method
    finally:
        assert_same_state(before, model_state(model))
        model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_ig_occlusion_match_captum(models64, name):
    model = models64[name]
    x, target = _x(torch.float64), [1, 3]
    _rel(attribute(model, x, target=target, method="gradient"),
         Saliency(model).attribute(x.clone().requires_grad_(), target=target, abs=False))
    ours = attribute(model, x, target=target, method="integrated_gradients", n_steps=6, batch_size=5)
    _rel(ours, IntegratedGradients(model).attribute(x, target=target, n_steps=6))
    ours = attribute(model, x, target=target, method="occlusion", score="logit", window=8, stride=8,
                     incremental=True if name in ("densenet", "inception") else "auto")
    theirs = Occlusion(model).attribute(x, target=target, sliding_window_shapes=(3, 8, 8), strides=(3, 8, 8),
                                        baselines=0.5, perturbations_per_eval=32)
    _rel(ours, theirs)


@pytest.mark.parametrize("name", NAMES)
def test_grad_cam_default_layer(models, name):
    assert default_cam_layer(models[name], _x(n=1)) == DEFAULT_CAM_LAYERS[name]
    # the same through a Classifier (names relative to the wrapped network)
    assert default_cam_layer(Classifier(models[name]), _x(n=1)) == DEFAULT_CAM_LAYERS[name]


def test_grad_cam_channels_last_equals_its_channels_first_permute(models64):
    """Swin: Grad-CAM on the (N, H, W, C) norm output equals Captum's on the NCHW permute of it."""
    model = models64["swin"]
    x, target = _x(torch.float64), [0, 2]
    assert spatial_layout((2, 4, 4, 32), (32, 32)) == ("nhwc", (4, 4))
    ours = attribute(model, x, target=target, method="grad_cam", layer="norm", upsample=False, relu=False)
    theirs = LayerGradCam(model, model.permute).attribute(x, target=target, relu_attributions=False)
    _rel(ours, theirs)
    assert ours.shape == (2, 1, 4, 4)
    stage = attribute(model, x, target=target, method="grad_cam", layer="features", upsample=False)
    assert stage.shape == (2, 1, 4, 4)


def test_grad_cam_on_vit_tokens_equals_the_formula(models64):
    model = models64["vit"]
    x, target = _x(torch.float64), [1, 2]
    ours = attribute(model, x, target=target, method="grad_cam", upsample=False, relu=False)
    layer = "encoder.layers.0.ln_1"
    xr = x.clone().requires_grad_(True)
    with capture(model, layer, keep_graph=True) as cap:
        out = model(xr)
        tokens = cap[layer]  # (N, 1 + 16, C)
        (grads,) = torch.autograd.grad(out[[0, 1], target].sum(), tokens)
    weights = grads[:, 1:].mean(1)  # (N, C): the class token dropped, mean over the 16 patches
    expected = (tokens[:, 1:] * weights[:, None]).sum(-1).view(2, 1, 4, 4)
    _rel(ours, expected.detach())
    assert ours[0].abs().sum() > 0


def test_grad_cam_refuses_what_it_cannot_map(models):
    vit, x = models["vit"], _x()
    with pytest.raises(InputError, match=r"\(2, 4\); Grad-CAM needs"):
        attribute(vit, x, method="grad_cam", layer="heads")
    with pytest.raises(InputError, match="cannot map to space"):  # 3 tokens: no grid
        spatial_layout((2, 3, 48), (32, 32))
    # (N, 16, 16, 16) fits (N, C, h, w) and (N, h, w, C): a conv decides, a bare tensor is refused
    with pytest.raises(InputError, match="several layouts"):
        spatial_layout((1, 16, 16, 16), (32, 32))
    assert spatial_layout((1, 16, 16, 16), (32, 32), tensor=nn.Conv2d(3, 16, 1)(torch.rand(1, 3, 16, 16)))[0] == "nchw"
    with pytest.raises(InputError, match="does not fit layout='tokens'"):
        attribute(models["swin"], x, method="grad_cam", layer="norm", layout="tokens")
    with pytest.raises(InputError, match="layout="):
        attribute(vit, x, method="grad_cam", layout="nwhc")


def test_guided_backprop_refuses_up_front(models):
    """Refused after one forward pass of one image, naming the activations and the wrapped network."""
    calls = []
    model = Classifier(models["mobilenet_v3"])
    handle = model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    try:
        with pytest.raises(InputError) as err:
            attribute(model, _x(n=2), target=[0, 1], method="guided_backprop")
    finally:
        handle.remove()
    message = str(err.value)
    assert "TinyMobileNetV3" in message and "Classifier" not in message
    assert "Hardswish (3 calls)" in message and "Hardsigmoid (1 call)" in message and "non_relu='gradient'" in message
    assert calls == [1, 1]  # the target check, then the activation scan: no batch, no backward pass


def test_guided_backprop_with_plain_gradients_elsewhere_equals_captum(models64):
    """non_relu='gradient' is Captum's GuidedBackprop: ReLU modules guided, other activations plain."""
    model = models64["mobilenet_v3"]
    x, target = _x(torch.float64), [0, 3]
    ours = attribute(model, x, target=target, method="guided_backprop", non_relu="gradient")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = GuidedBackprop(model).attribute(x.clone().requires_grad_(), target=target)
    _rel(ours, theirs)


def test_relu6_gets_the_guided_rule():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2)).double()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64) * 20
    ours = attribute(model, x, target=[0, 1], method="guided_backprop")
    xr = x.clone().requires_grad_(True)
    pre = model[0](xr)
    pre.register_hook(lambda g: g * ((pre > 0) & (pre < 6)))  # the forward mask of relu6 ...
    h = pre.clamp(0, 6)
    h.register_hook(lambda g: g.clamp(min=0))  # ... after the guided rule's relu(grad)
    model[4](model[3](model[2](h)))[[0, 1], [0, 1]].sum().backward()
    _rel(ours, xr.grad)


def test_float64_model_float32_images(models64, models):
    out = attribute(models64["convnext"], _x(), target=[0, 1], method="integrated_gradients", n_steps=4)
    assert out.dtype == torch.float32
    ref = attribute(models64["convnext"], _x().double(), target=[0, 1], method="integrated_gradients",
                    n_steps=4)
    torch.testing.assert_close(out, ref.float())


def test_saturated_softmax_warns_and_names_logit():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([200.0, 0.0, 0.0]))  # probability of class 0: exactly 1.0 in float32
    with pytest.warns(UserWarning, match="score='logit'"):
        attribute(model, torch.rand(1, 3, 8, 8), target=0, method="gradient", score="probability")


def test_ansi_codes_are_stripped():
    assert strip_ansi("\x1b[1mRuntimeError\x1b[0m: bad \x1b[31mthing\x1b[0m") == "RuntimeError: bad thing"


def test_layout_of_real_shapes():
    """The shapes the issue reports from torchvision: swin_t features, vit_b_16 tokens, convnext, inception."""
    assert spatial_layout((1, 7, 7, 768), (224, 224)) == ("nhwc", (7, 7))
    assert spatial_layout((1, 197, 768), (224, 224)) == ("tokens", (1, 14, 14))
    assert spatial_layout((1, 768, 7, 7), (224, 224)) == ("nchw", (7, 7))
    assert spatial_layout((1, 2048, 8, 8), (299, 299)) == ("nchw", (8, 8))
    assert spatial_layout((1, 198, 384), (224, 224)) == ("tokens", (2, 14, 14))  # DeiT: class + distillation
    with pytest.raises(InputError, match="cannot map"):
        spatial_layout((1, 768), (224, 224))


def test_rectangular_images_on_a_channels_last_model():
    model = TinySwin().eval()
    x = torch.rand(1, 3, 32, 48)
    assert default_cam_layer(model, x) == "permute"
    assert spatial_layout((1, 4, 6, 32), (32, 48)) == ("nhwc", (4, 6))
    out = attribute(model, x, method="grad_cam", layer="norm", upsample=False, relu=False)
    torch.testing.assert_close(out, attribute(model, x, method="grad_cam", layer="permute", upsample=False,
                                              relu=False))
    assert out.shape == (1, 1, 4, 6)
