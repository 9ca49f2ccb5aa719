"""Occlusion: Captum as oracle, a closed form on a linear model, batching, state, bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from helpers import assert_same_state, model_state
from torch import nn
from torch.overrides import TorchFunctionMode

from gaplens.core.errors import InputError
from gaplens.explain import METHODS, attribute, occlusion_top_class
from gaplens.explain.occlusion import occlusion

TARGETS = [0, 3, 1, 2]


def _rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


class Recorder(nn.Module):
    """Wraps a model; records the batch size of every forward call, raises from call ``fail_at`` on.

    (A single failing call could be the channels-last probe, which occlusion repeats once in the
    usual layout: see :mod:`gaplens.core.layout`.)
    """

    def __init__(self, model: nn.Module, fail_at: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.fail_at = fail_at
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        if self.fail_at is not None and len(self.sizes) >= self.fail_at:
            raise RuntimeError("forward failed on purpose")
        return self.model(x)


class Linear(nn.Module):
    """logits = W . flatten(x) + b."""

    def __init__(self, shape: tuple[int, int, int], classes: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(math.prod(shape), classes).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("net", ["tiny_resnet", "tiny_vgg"])
@pytest.mark.parametrize(
    "score, window, stride, fill",
    [
        # (32 - 10) = 22 is not a multiple of 7: the last window starts at 28 and is cropped to 4 rows
        ("logit", 10, 7, 0.3),
        # rectangular windows, (32 - 6) = 26 not a multiple of 4 along the width; per-channel fill
        ("probability", (8, 6), (8, 4), torch.tensor([0.2, 0.5, 0.9]).view(3, 1, 1)),
    ],
)
def test_matches_captum(request, net, score, window, stride, fill):
    model = copy.deepcopy(request.getfixturevalue(net)).double()
    torch.manual_seed(1)
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    ours = attribute(model, x, target=TARGETS, method="occlusion", window=window, stride=stride, fill=fill,
                     score=score)
    wh, ww = (window, window) if isinstance(window, int) else window
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    forward = model if score == "logit" else (lambda z: model(z).softmax(1))
    baselines = fill if isinstance(fill, float) else fill.double().unsqueeze(0)
    ref = Occlusion(forward).attribute(x, target=TARGETS, sliding_window_shapes=(3, wh, ww), strides=(3, sh, sw),
                                       baselines=baselines, perturbations_per_eval=64)
    assert ours.shape == x.shape and ours.dtype == torch.float64
    assert ref.abs().max() > 0
    # Captum divides by its float32 window counts in float32 (feature_ablation.py), hence ~1e-7 at best
    assert _rel_error(ours, ref) <= 1e-6
    assert torch.equal(ours[:, 0], ours[:, 1]) and torch.equal(ours[:, 0], ours[:, 2])


def _brute_force_linear(model: Linear, x: torch.Tensor, target: list[int], window: tuple[int, int],
                        stride: tuple[int, int], fill: float) -> torch.Tensor:
    """Mean window drop per pixel, one window at a time: drop = sum_covered W[t] * (x - fill)."""
    n, c, h, w = x.shape
    weights = model.fc.weight.detach().view(-1, c, h, w)

    def starts(size: int, win: int, step: int) -> list[int]:
        out, p = [], 0
        while True:  # slide until a window reaches the far edge (that one may be cropped)
            out.append(p)
            if p + win >= size:
                return out
            p += step

    result = torch.zeros(n, c, h, w, dtype=torch.float64)
    for i in range(n):
        total = torch.zeros(h, w, dtype=torch.float64)
        count = torch.zeros(h, w, dtype=torch.float64)
        for top in starts(h, window[0], stride[0]):
            for left in starts(w, window[1], stride[1]):
                rows = slice(top, min(top + window[0], h))
                cols = slice(left, min(left + window[1], w))
                drop = (weights[target[i], :, rows, cols] * (x[i, :, rows, cols] - fill)).sum()
                total[rows, cols] += drop
                count[rows, cols] += 1
        result[i] = total / count
    return result


def test_linear_model_closed_form():
    torch.manual_seed(2)
    shape = (3, 11, 13)
    model = Linear(shape)
    x = torch.rand(3, *shape, dtype=torch.float64)
    target = [2, 0, 1]
    window, stride, fill = (4, 5), (3, 2), 0.25
    ours = attribute(model, x, target=target, method="occlusion", score="logit", window=window, stride=stride,
                     fill=fill)
    expected = _brute_force_linear(model, x, target, window, stride, fill)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_batch_size_independence_and_forward_calls(tiny_vgg):
    torch.manual_seed(3)
    x = torch.rand(2, 3, 32, 32)
    target = torch.tensor([1, 3])
    positions = 4 * 4  # window 11, stride 8 on 32 pixels: 4 positions per axis, the last one cropped
    results = {}
    for batch_size in (1, 10, 64):
        recorder = Recorder(tiny_vgg)
        results[batch_size] = occlusion(recorder, x, target, "logit", batch_size, window=11, stride=8,
                                        incremental=False)
        assert max(recorder.sizes) <= batch_size
        # the unoccluded images, then every (image, window) pair, packed into full chunks
        assert sum(recorder.sizes) == 2 + 2 * positions
        assert len(recorder.sizes) == math.ceil(2 / batch_size) + math.ceil(2 * positions / batch_size)
    torch.testing.assert_close(results[1], results[64], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[10], results[64], rtol=1e-5, atol=1e-6)


def test_default_score_is_probability(tiny_resnet):
    x = torch.rand(1, 3, 32, 32)
    assert METHODS["occlusion"].default_score == "probability"
    assert METHODS["occlusion"].defaults == {"window": None, "stride": None, "fill": 0.5, "incremental": "auto"}
    default = attribute(tiny_resnet, x, target=2, method="occlusion")
    explicit = attribute(tiny_resnet, x, target=2, method="occlusion", score="probability", window=8, stride=4,
                         fill=0.5)
    assert default.shape == x.shape
    torch.testing.assert_close(default, explicit)


def test_top_class(tiny_resnet):
    torch.manual_seed(4)
    x = torch.rand(2, 3, 32, 32)
    classes, probs = occlusion_top_class(tiny_resnet, x, window=10, stride=(7, 4), fill=0.2, batch_size=9)
    rows, cols = math.ceil(22 / 7) + 1, math.ceil(22 / 4) + 1
    assert classes.shape == (2, rows, cols) and classes.dtype == torch.int64
    assert probs.shape == (2, rows, cols)
    for i, r, c in [(0, 0, 0), (1, 2, 3), (0, rows - 1, cols - 1)]:
        occluded = x[i : i + 1].clone()
        occluded[:, :, r * 7 : r * 7 + 10, c * 4 : c * 4 + 10] = 0.2
        with torch.no_grad():
            p = tiny_resnet(occluded).softmax(1)[0]
        assert classes[i, r, c].item() == p.argmax().item()
        assert probs[i, r, c].item() == pytest.approx(p.max().item(), abs=1e-6)


def test_model_untouched(tiny_vgg):
    tiny_vgg.train()
    params = list(tiny_vgg.parameters())
    params[0].requires_grad_(False)
    params[-1].grad = torch.ones_like(params[-1])
    before = model_state(tiny_vgg)
    attribute(tiny_vgg, torch.rand(2, 3, 32, 32), target=[0, 1], method="occlusion", window=16, stride=8,
              batch_size=4)
    assert_same_state(before, model_state(tiny_vgg))
    occlusion_top_class(tiny_vgg, torch.rand(2, 3, 32, 32), window=16, stride=8, batch_size=4)
    assert_same_state(before, model_state(tiny_vgg))


@pytest.mark.parametrize("call", ["attribute", "top_class"])
def test_model_untouched_when_forward_raises(tiny_resnet, call):
    model = Recorder(tiny_resnet, fail_at=3)
    model.train()
    before = model_state(model)
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(RuntimeError, match="on purpose"):
        if call == "attribute":
            attribute(model, x, target=[0, 1], method="occlusion", batch_size=8)
        else:
            occlusion_top_class(model, x, batch_size=8)
    assert model.training
    assert_same_state(before, model_state(model))


@pytest.mark.parametrize(
    "options, name",
    [
        (dict(window=33), "window"),
        (dict(window=(8, 40)), "window"),
        (dict(window=0), "window"),
        (dict(window=2.5), "window"),
        (dict(stride=0), "stride"),
        (dict(window=4, stride=5), "stride"),
        (dict(fill=torch.zeros(3, 2, 2)), "fill"),
        (dict(fill=torch.zeros(5, 3, 32, 32)), "fill"),
        (dict(fill="grey"), "fill"),
    ],
)
def test_bad_input(tiny_vgg, options, name):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(InputError, match=name):
        attribute(tiny_vgg, x, target=0, method="occlusion", **options)
    with pytest.raises(InputError, match=name):
        occlusion_top_class(tiny_vgg, x, **options)


def test_stride_longer_than_a_full_window_is_allowed(tiny_vgg):
    # Captum's rule: stride > window is fine along a dimension the window spans entirely
    x = torch.rand(1, 3, 32, 32)
    result = attribute(tiny_vgg, x, target=0, method="occlusion", window=(32, 8), stride=(40, 8))
    assert result.shape == x.shape
    classes, _ = occlusion_top_class(tiny_vgg, x, window=(32, 8), stride=(40, 8))
    assert classes.shape == (1, 1, 4)


def test_default_window_scales_with_the_image():
    from gaplens.explain.occlusion import default_window

    assert default_window(torch.zeros(1, 3, 32, 32), None, None) == (8, 4)
    assert default_window(torch.zeros(1, 3, 224, 224), None, None) == (28, 14)
    assert default_window(torch.zeros(1, 3, 299, 400), None, None) == (37, 18)
    assert default_window(torch.zeros(1, 3, 6, 6), None, None) == (6, 3)
    assert default_window(torch.zeros(1, 3, 32, 32), (10, 6), None) == ((10, 6), (5, 3))


def test_auto_says_how_it_evaluated(tiny_vgg, caplog):
    x = torch.rand(2, 3, 32, 32)
    with caplog.at_level("INFO", logger="gaplens.explain.occlusion"):
        auto = attribute(tiny_vgg, x, target=1, method="occlusion", window=8, stride=4, batch_size=8)
    assert auto.details["evaluation"] in ("whole", "incremental") and 0 < auto.details["work_ratio"] < 1
    assert f"{auto.details['evaluation']} evaluation" in caplog.text and "costs" in auto.details["reason"]
    assert auto.details["window"] == (8, 8) and auto.details["stride"] == (4, 4)
    forced = attribute(tiny_vgg, x, target=1, method="occlusion", window=8, stride=4, batch_size=8,
                       incremental=True)
    assert forced.details["evaluation"] == "incremental" and forced.details["work_ratio"] == auto.details["work_ratio"]
    torch.testing.assert_close(auto, forced)
    whole = attribute(tiny_vgg, x, target=1, method="occlusion", window=8, stride=4, incremental=False)
    assert whole.details == {"evaluation": "whole", "reason": "incremental=False", "window": (8, 8),
                             "stride": (4, 4)}


class _WideMaps(nn.Module):
    """64 channels at 64 x 64 px: 1 MiB of float32 per image and map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class _LinearBatches(TorchFunctionMode):
    """Records the batch size of every ``F.linear`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.linear:
            self.sizes.append(args[0].shape[0])
        return func(*args, **(kwargs or {}))


def test_passes_are_sized_for_the_caches():
    """A row's full map of 1 MiB: passes of CACHE_BYTES / 1 MiB = 16 rows, not batch_size = 64; a
    model with small maps keeps batch_size; never fewer than MIN_ROWS."""
    from gaplens.explain.occlusion import CACHE_BYTES, MIN_ROWS, _cache_rows

    assert CACHE_BYTES // 2**20 == 16
    assert _cache_rows(2**20, 64) == 16 and _cache_rows(2**20, 10) == 10 and _cache_rows(0, 64) == 64
    assert _cache_rows(64 * 2**20, 64) == MIN_ROWS
    model = _WideMaps().eval()
    x = torch.rand(1, 3, 64, 64)
    with _LinearBatches() as seen:
        result = attribute(model, x, target=0, method="occlusion", window=8, stride=8, batch_size=64)
    assert result.details["evaluation"] == "incremental"
    # single rows: the unoccluded passes (target, scores, the model and its trace) and the probe's
    # window; then the 64 windows
    assert seen.sizes[-4:] == [16] * 4 and set(seen.sizes[:-4]) == {1}
    with _LinearBatches() as seen:
        attribute(model, x, target=0, method="occlusion", window=8, stride=8, batch_size=64, incremental=False)
    assert seen.sizes[-1] == 64 and set(seen.sizes[:-1]) == {1}
