"""Incremental occlusion inference: equal to evaluating whole occluded images, on every layer kind."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_same_state, model_state
from torch import nn
from torch.overrides import TorchFunctionMode

from gaplens.core.errors import InputError
from gaplens.core.model import Classifier
from gaplens.explain import attribute, occlusion_top_class
from gaplens.explain.incremental import Cost, _Rect, incremental_engine
from gaplens.zoo import build


class Mixed(nn.Module):
    """Layer kinds the zoo lacks: padded stride-2 max-pool stem, dilation, groups, average pooling,
    functional activations, constants, a spatial constant (not incremental), two branches of different
    receptive fields, a tensor used twice, and a 1x1 conv with stride 3."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 5, stride=1, padding=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch = nn.Conv2d(8, 8, 1, stride=1)
        self.strided = nn.Conv2d(8, 12, 3, stride=3, padding=0)
        self.bn = nn.BatchNorm2d(12)
        self.act = nn.LeakyReLU(0.1)
        self.head = nn.Linear(12, 5)
        self.register_buffer("positional", torch.linspace(-1, 1, 25 * 25).view(1, 1, 25, 25))

    def forward(self, x):
        x = F.gelu(self.stem(x * 2.0 - 1.0))
        x = self.pool(x)                               # 25 x 25 for 49 x 49 and 50 x 50 inputs
        y = torch.sigmoid(self.dilated(x)) * x         # two branches, one grown by the dilated kernel
        y = y + self.avg(x) - self.branch(x)
        y = y * y + self.positional                    # a tensor used twice; a spatial constant
        y = self.act(self.bn(self.strided(y)))
        return self.head(y.mean(dim=(2, 3)))


def _models():
    torch.manual_seed(0)
    mixed = Mixed()
    with torch.no_grad():
        mixed.bn.running_mean.uniform_(-0.5, 0.5)
        mixed.bn.running_var.uniform_(0.5, 2.0)
    return {
        "resnet": Classifier(build("resnet", 5)),
        "vgg": Classifier(build("vgg", 5)),
        "vgg-plain": Classifier(build("vgg", 5, batch_norm=False)),
        "mixed": mixed,
    }


@pytest.mark.parametrize("name", ["resnet", "vgg", "vgg-plain", "mixed"])
@pytest.mark.parametrize(("size", "window", "stride"), [(50, 8, 6), (49, (7, 5), (5, 4)), (50, 50, 1)])
def test_incremental_equals_whole_images(name, size, window, stride):
    """Brute force (every occluded image evaluated whole) is the oracle, in float64."""
    model = _models()[name].double().eval()
    torch.manual_seed(1)
    x = torch.rand(2, 3, size, size, dtype=torch.float64)
    fill = torch.rand(3, 1, 1, dtype=torch.float64)
    common = {"target": [0, 4], "method": "occlusion", "score": "logit", "window": window, "stride": stride,
              "fill": fill, "batch_size": 7}
    assert incremental_engine(model)[0] is not None
    fast = attribute(model, x, incremental=True, **common)
    whole = attribute(model, x, incremental=False, **common)
    torch.testing.assert_close(fast, whole, rtol=1e-10, atol=1e-12)
    classes, probs = occlusion_top_class(model, x, window=window, stride=stride, fill=0.3, batch_size=5)
    ref_classes, ref_probs = occlusion_top_class(model, x, window=window, stride=stride, fill=0.3, batch_size=5,
                                                 incremental=False)
    assert torch.equal(classes, ref_classes)
    torch.testing.assert_close(probs, ref_probs, rtol=1e-10, atol=1e-12)


class _ConvShapes(TorchFunctionMode):
    """Records the output shape of every convolution with a weight of a given weight's shape.

    (The shape, not the tensor: the engine folds a BatchNorm into the conv before it, a new weight.)
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.shapes = weight, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (F.conv2d, torch.conv2d) and args[1].shape == self.weight.shape:
            self.shapes.append(tuple(out.shape))
        return out


def test_only_the_changed_region_is_recomputed():
    """A window's first conv output is computed on the window grown by the kernel, not the image."""
    model = Classifier(build("vgg", 5)).eval()
    with _ConvShapes(model.network.features[0].weight) as seen:
        attribute(model, torch.rand(2, 3, 64, 64), target=1, method="occlusion", window=8, stride=8, batch_size=16,
                  incremental=True)
    full = [s for s in seen.shapes if s[-2:] == (64, 64)]
    crops = [s for s in seen.shapes if s[-2:] != (64, 64)]
    # one window counted first (the probe), then 64 windows x 2 images in chunks of 16; 8 x 8 windows
    # grown by the 3 x 3 kernel
    assert crops[0] == (1, 16, 10, 10)
    assert len(crops) == 1 + 2 * 64 // 16 and all(s == (16, 16, 10, 10) for s in crops[1:])
    # full-size passes are the unoccluded ones: input checks and scores, then for the group of both
    # images the model's own forward and the traced one
    assert len(full) <= 4 and all(s[0] <= 2 for s in full)


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = build("vgg", 3)

    def forward(self, x):
        if x.mean() > 2:  # control flow on values: not traceable
            x = x * 0
        return self.net(x)


class _InplaceOnSharedTensor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        z = self.relu(y)  # changes y, which is used again below
        return self.fc((z + y).mean(dim=(2, 3)))


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = build("vgg", 3)
        self.calls = 0
        self.log: list[int] = []

    def forward(self, x):
        self.calls += 1
        self.log.append(1)
        return self.net(x)


@pytest.mark.parametrize(("model", "reason"), [
    (_DataDependent(), "cannot trace"),
    (_InplaceOnSharedTensor(), "in place"),
    (_Counting(), "attributes"),
])
def test_models_that_cannot_be_evaluated_incrementally(model, reason):
    model.eval()
    engine, why = incremental_engine(model)
    assert engine is None and reason in why
    x = torch.rand(2, 3, 24, 24)
    with pytest.raises(InputError, match=reason):
        attribute(model, x, target=0, method="occlusion", incremental=True)
    before = model_state(model)
    log = getattr(model, "log", None)
    calls = [getattr(model, "calls", 0)]
    auto = attribute(model, x, target=0, method="occlusion", score="logit", window=6, stride=6)
    calls.append(getattr(model, "calls", 0))
    whole = attribute(model, x, target=0, method="occlusion", score="logit", window=6, stride=6, incremental=False)
    calls.append(getattr(model, "calls", 0))
    torch.testing.assert_close(auto, whole)
    assert_same_state(before, model_state(model))
    # tracing ran the forward once more; its side effects were undone, the list refilled in place
    assert calls[1] - calls[0] == calls[2] - calls[1]
    assert log is None or (model.log is log and len(log) == model.calls)


def test_forward_hooks_mean_whole_images():
    """Hooks would see crops (or, on the model itself, not be part of the trace): whole images are used."""
    model = Classifier(build("resnet", 3)).eval()
    handle = model.register_forward_hook(lambda m, args, out: out * 2)
    try:
        x = torch.rand(1, 3, 24, 24)
        auto = attribute(model, x, target=0, method="occlusion", score="logit", window=6, stride=6)
        whole = attribute(model, x, target=0, method="occlusion", score="logit", window=6, stride=6,
                          incremental=False)
        torch.testing.assert_close(auto, whole)
        with pytest.raises(InputError, match="forward hooks"):
            attribute(model, x, target=0, method="occlusion", incremental=True)
    finally:
        handle.remove()


def test_bad_incremental_option():
    with pytest.raises(InputError, match="incremental='yes'"):
        attribute(Classifier(build("vgg", 3)), torch.rand(1, 3, 16, 16), method="occlusion", incremental="yes")


class _ScaledConv(nn.Conv2d):
    """A Conv2d subclass with its own forward (like quantisation-aware convs): not a plain conv."""

    def forward(self, x):
        return F.conv2d(x, self.weight * 0.5, self.bias, self.stride, self.padding)


class _Edgy(nn.Module):
    """Patterns from review: view(size(0), -1), buffer.to(x), a conv subclass, an alias written in
    place, a tensor constant the tracer attaches, side effects through a dict and a buffer."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        self.variant = variant
        self.conv = _ScaledConv(3, 4, 3, padding=1) if variant == "subclass" else nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 8 * 8, 3)
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.4))
        self.register_buffer("count", torch.zeros(()))
        self.stats = {"calls": 0}

    def forward(self, x):
        if self.variant == "to_like":
            x = x - self.mean.to(x)
        if self.variant == "constant":
            x = x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
        if self.variant == "dict":
            self.stats["calls"] += 1
        if self.variant == "buffer":
            self.count += 1
        y = self.conv(x)
        if self.variant == "alias":
            z = y.contiguous()
            z.relu_()  # also changes y, used again below
            y = y + z
        y = self.pool(y)
        return self.fc(y.view(y.size(0), -1))


@pytest.mark.parametrize(("variant", "incremental"), [
    ("plain", True), ("to_like", True), ("constant", True), ("subclass", True),
    ("alias", False), ("dict", False), ("buffer", False),
])
def test_review_patterns(variant, incremental):
    torch.manual_seed(2)
    model = _Edgy(variant).double().eval()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    before = model_state(model)
    stats, count = dict(model.stats), model.count.clone()
    engine, why = incremental_engine(model)
    assert (engine is not None) == incremental, why
    assert model.stats == stats and torch.equal(model.count, count)  # tracing's side effects undone
    common = {"target": [0, 2], "method": "occlusion", "score": "logit", "window": 5, "stride": 3, "batch_size": 9}
    auto = attribute(model, x, **common)
    whole = attribute(model, x, incremental=False, **common)
    torch.testing.assert_close(auto, whole, rtol=1e-10, atol=1e-12)
    if variant not in ("dict", "buffer"):
        assert_same_state(before, model_state(model))


def test_cost_counts_the_work_in_closed_form():
    """The unoccluded pass counts each layer's multiply-accumulates and written elements; a window's
    pass counts the conv on the window grown by its kernel, the crop it gathered, and the full map
    gathered where the network leaves the rectangles (the flatten)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16 * 16, 5))
    model = model.double().eval()
    engine, why = incremental_engine(model)
    assert engine is not None, why
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        engine.prepare(x, model(x))
    full = 4 * 16 * 16
    assert engine.cost_per_image.macs == full * 3 * 3 * 3 + 5 * full
    assert engine.cost_per_image.elements == 3 * full + 5  # conv, relu, flatten; logits
    window = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    cost = Cost()
    with torch.no_grad():
        logits = engine.logits(torch.tensor([1]), _Rect(window, torch.tensor([6]), torch.tensor([5])), cost)
        occluded = x[1:].clone()
        occluded[..., 6:10, 5:9] = window
        torch.testing.assert_close(logits, model(occluded), rtol=1e-12, atol=1e-12)
    changed = 4 * 6 * 6  # the 4 x 4 window grown by the 3 x 3 kernel
    assert cost.macs == changed * 3 * 3 * 3 + 5 * full
    # the 8 x 8 x 3 crop, conv and relu on the changed part, the full map gathered, flatten, logits
    assert cost.elements == 3 * 8 * 8 + 2 * changed + 2 * full + 5


def test_auto_decides_from_the_counted_work():
    """A deep conv net occluded by small windows changes little of each map: incremental; the ViT
    pattern reshapes its patch embedding to tokens, after which every op is dense: whole images."""
    from explain.architectures import build as build_pattern

    from gaplens.explain.occlusion import MAX_WORK_RATIO

    x = torch.rand(1, 3, 64, 64)
    conv = attribute(Classifier(build("vgg", 3)).eval(), x, target=0, method="occlusion", window=8, stride=8)
    assert conv.details["evaluation"] == "incremental" and conv.details["work_ratio"] <= MAX_WORK_RATIO
    assert f"{conv.details['work_ratio']:.0%}" in conv.details["reason"]
    vit = build_pattern("vit")
    x = torch.rand(1, 3, 32, 32)
    tokens = attribute(vit, x, target=0, method="occlusion", window=8, stride=8)
    assert tokens.details["evaluation"] == "whole" and tokens.details["work_ratio"] > MAX_WORK_RATIO
    forced = attribute(vit, x, target=0, method="occlusion", window=8, stride=8, incremental=True)
    torch.testing.assert_close(tokens, forced, rtol=1e-4, atol=1e-6)


class _InplaceAfterFlatten(nn.Module):
    """EfficientNet's head: pooled maps, ``torch.flatten``, then an in-place dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2, inplace=True)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.drop(torch.flatten(self.pool(self.conv(x)), 1)))


def test_inplace_op_after_a_view_function_is_safe():
    """``torch.flatten`` may return a view of its input: the in-place dropout after it is safe
    because the pooled map it views has no other user."""
    torch.manual_seed(0)
    model = _InplaceAfterFlatten().double().eval()
    engine, why = incremental_engine(model)
    assert engine is not None, why
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    common = {"target": [0, 2], "method": "occlusion", "score": "logit", "window": 4, "stride": 4}
    torch.testing.assert_close(attribute(model, x, incremental=True, **common),
                               attribute(model, x, incremental=False, **common), rtol=1e-10, atol=1e-12)


class _PatchAttention(nn.Module):
    """Patch embedding, self-attention over the patches, a matrix product, a linear head."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 8, stride=8)
        self.attention = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.mix = nn.Parameter(torch.randn(dim, dim))
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, 4, dim)
        attended = self.attention(tokens, tokens, tokens)[0]
        return self.head(torch.matmul(attended, self.mix).mean(1))


def test_cost_counts_attention_and_matrix_products_in_closed_form():
    """Multi-head attention counts its four projections and its two token-by-token products;
    ``torch.matmul`` and the linear head their inner dimension per output element."""
    torch.manual_seed(0)
    model = _PatchAttention().double().eval()
    engine, why = incremental_engine(model)
    assert engine is not None, why
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        engine.prepare(x, model(x))
    dim, tokens = 8, 4
    embed = dim * 2 * 2 * 3 * 8 * 8
    attention = tokens * (4 * dim * dim + 2 * tokens * dim)
    matmul = tokens * dim * dim
    head = 5 * dim
    assert engine.cost_per_image.macs == embed + attention + matmul + head
