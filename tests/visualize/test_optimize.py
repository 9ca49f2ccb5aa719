"""optimize / class_model / channel_images / deepdream / top_classes: improvement, batching, state, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import assert_same_state, model_state

from gaplens.core.errors import InputError
from gaplens.visualize import (
    OBJECTIVES,
    channel_images,
    class_model,
    deepdream,
    optimize,
    top_classes,
)
from gaplens.visualize import objectives as obj
from gaplens.visualize.transforms import REGULARIZERS

# one small instance of every registered objective and regularizer (a penalty is minimized: negated)
CASES = {
    "class_logit": lambda: obj.class_logit([1, 3]),
    "channel": lambda: obj.channel("layer1", [2, 5]),
    "neuron": lambda: obj.neuron("layer2.0.conv1", 4),
    "layer_l2": lambda: obj.layer_l2("layer1.0.relu"),
    "direction": lambda: obj.direction("layer2", torch.linspace(-1.0, 1.0, 16)),
    "diversity": lambda: obj.diversity("layer1"),
    "l2": lambda: -REGULARIZERS["l2"](),
    "total_variation": lambda: -REGULARIZERS["total_variation"](),
    "blur": lambda: -REGULARIZERS["blur"](),
}


def test_every_registered_objective_has_a_case():
    assert set(OBJECTIVES.names()) | set(REGULARIZERS.names()) == set(CASES)


@pytest.mark.parametrize("param", ["pixel", "fourier"])
@pytest.mark.parametrize("name", list(CASES))
def test_objective_improves(tiny_resnet, name, param):
    steps = 20
    # sd=0.3: visible random noise, so that the smoothness penalties have something to remove
    result = optimize(tiny_resnet, CASES[name](), param=param, size=32, batch=2, steps=steps, lr=0.05,
                      transforms=None, param_options={"sd": 0.3})
    history = result.history.mean(1)
    assert result.history.shape == (steps, 2)
    assert history[-steps // 10:].mean() > history[: steps // 10].mean()
    assert result.images.shape == (2, 3, 32, 32) and result.images.min() >= 0 and result.images.max() <= 1


def test_objective_improves_under_standard_transforms(tiny_vgg):
    result = optimize(tiny_vgg, obj.channel("features.3", [0, 1, 2]), param="fourier", size=32, steps=30, seed=1)
    history = result.history.mean(1)
    assert result.images.shape == (3, 3, 32, 32)  # batch from the objective's three targets
    assert history[-3:].mean() > history[:3].mean()


def test_a_batch_equals_separate_runs(tiny_resnet):
    """One batch of three classes gives the three images that three separate runs give."""
    options = {"param": "pixel", "size": 32, "steps": 10, "transforms": None, "param_options": {"sd": 0.0}}
    batched = optimize(tiny_resnet, obj.class_logit([0, 2, 3]), **options)
    for i, c in enumerate([0, 2, 3]):
        alone = optimize(tiny_resnet, obj.class_logit(c), **options)
        assert torch.allclose(batched.images[i], alone.images[0], atol=1e-4)
        assert torch.allclose(batched.history[:, i], alone.history[:, 0], atol=1e-4)


def test_model_left_exactly_as_found(tiny_resnet):
    model = tiny_resnet.train()  # a user's model in train mode, with a frozen layer and a stale gradient
    model.network.fc.weight.requires_grad_(False)
    model.network.conv1.weight.grad = torch.ones_like(model.network.conv1.weight)
    before = model_state(model)
    optimize(model, obj.channel("layer1", 0) + obj.diversity("layer1"), size=32, batch=2, steps=3)
    class_model(model, classes=[0, 1], steps=3, size=32)
    channel_images(model, "layer2.0.conv2", channels=[0, 3], steps=3, size=32)
    with pytest.warns(UserWarning):
        deepdream(model, torch.rand(3, 32, 32), "layer1", octaves=2, steps_per_octave=2)
    top_classes(model, torch.rand(2, 3, 32, 32))
    assert_same_state(before, model_state(model))
    with pytest.raises(InputError, match="out of range"):
        optimize(model, obj.channel("layer1", 99), size=32, steps=3)
    assert_same_state(before, model_state(model))


def test_class_model_is_simonyan(tiny_resnet):
    """Starts from the model's "zero" (its mean colour) and the L2 penalty pulls towards it."""
    mean = tiny_resnet.mean.flatten()
    held = class_model(tiny_resnet, classes=[1], l2=1e4, steps=15, size=32, transforms=None)
    free = class_model(tiny_resnet, classes=[1], l2=0.0, steps=15, size=32, transforms=None)
    assert (held.images[0] - mean.view(3, 1, 1)).abs().mean() < 0.005  # start noise (std 0.01) pulled back
    assert (free.images[0] - mean.view(3, 1, 1)).abs().mean() > 0.03
    assert held.history[-1, 0] > held.history[0, 0] and free.history[-1, 0] > free.history[0, 0]
    assert "l2(center=[0.5, 0.4, 0.3])" in held.objective
    result = class_model(tiny_resnet, classes="all", score="softmax", steps=5, size=32, k=9, batch_size=3)
    assert result.labels == list("abcd") and result.classes.tolist() == [0, 1, 2, 3]
    assert result.top_classes.shape == (4, 4) and result.top_scores.shape == (4, 4)  # k clipped to 4 classes
    assert torch.allclose(result.top_scores.sum(1), torch.ones(4), atol=1e-5)
    assert [r["class"] for r in result.records] == [0, 1, 2, 3] and result.history.shape == (5, 4)
    row = result.records[2]
    assert {"top1", "top1_probability", "is_top1", "target_probability", "target_rank", "final_value"} <= set(row)
    assert row["is_top1"] == (row["target_rank"] == 1) == (int(result.top_classes[2, 0]) == 2)
    with pytest.raises(InputError, match=r"classes: 4 is out of range; expected 0..3"):
        class_model(tiny_resnet, classes=[4], steps=1, size=32)


def test_top_classes_is_the_softmax_top_k(tiny_vgg):
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    classes, scores = top_classes(tiny_vgg, images, k=2)
    with torch.no_grad():
        expected = tiny_vgg(images).softmax(1).topk(2)
    assert torch.equal(classes, expected.indices) and torch.allclose(scores, expected.values)
    logit_classes, logits = top_classes(tiny_vgg, images[0], k=9, score="logit")
    assert logit_classes.shape == (1, 4)


def test_deepdream_octaves_and_sizes(tiny_resnet):
    photo = torch.rand(3, 60, 80, generator=torch.Generator().manual_seed(0))
    result = deepdream(tiny_resnet, photo, "layer1", octaves=3, octave_scale=1.4, steps_per_octave=4, jitter=8,
                       size=(64, 96))
    assert [tuple(o.shape[-2:]) for o in result.octaves] == [(33, 49), (46, 69), (64, 96)]
    assert result.images.shape == (1, 3, 64, 96) and result.original.shape == (1, 3, 64, 96)
    assert torch.equal(result.images, result.octaves[-1])
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert result.history.shape == (12, 1)
    # within each octave the layer's energy grows
    per_octave = result.history[:, 0].view(3, 4)
    assert (per_octave[:, -1] > per_octave[:, 0]).all()
    assert not torch.allclose(result.images, result.original)


def test_deepdream_resizes_a_small_image_with_a_warning(tiny_resnet):
    with pytest.warns(UserWarning, match=r"32x32 image is too small for 4 octaves.*resized to 88x88"):
        result = deepdream(tiny_resnet, torch.rand(3, 32, 32), "layer1", steps_per_octave=1)
    assert result.images.shape == (1, 3, 88, 88)
    with pytest.raises(InputError, match=r"expected an RGB image \(3, H, W\)"):
        deepdream(tiny_resnet, torch.rand(1, 64, 64), "layer1")
    with pytest.raises(InputError, match="octave_scale"):
        deepdream(tiny_resnet, torch.rand(3, 64, 64), "layer1", octave_scale=0.5)


def test_float64_model_and_objective_as_dream_target(tiny_vgg):
    model = copy.deepcopy(tiny_vgg).double()
    result = optimize(model, obj.class_logit(1), size=32, steps=2)
    assert result.images.dtype == torch.float32  # images stay float32; the model casts nothing of ours
    dream = deepdream(tiny_vgg, torch.rand(2, 3, 64, 64), obj.channel("features.3", 1), octaves=2,
                      steps_per_octave=2)
    assert dream.images.shape == (2, 3, 64, 64) and dream.objective == "channel('features.3', 1)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_model_gets_cuda_images(tiny_resnet):
    model = tiny_resnet.cuda()
    before = model_state(model)
    result = class_model(model, classes=[0, 1], steps=3, size=32)
    assert result.images.device.type == "cuda"
    dream = deepdream(model, torch.rand(3, 64, 64), "layer1", octaves=2, steps_per_octave=2)
    assert dream.images.device.type == "cpu"  # back on the photograph's device
    assert_same_state(before, model_state(model))


def test_sizes_steps_and_octaves_are_bounded_before_any_work(tiny_resnet):
    photo = torch.rand(3, 64, 64)
    cases = [
        (lambda: deepdream(tiny_resnet, photo, "layer1", octaves=50),
         r"^octaves=50: at octave_scale 1.4 the smallest octave .* use at most 3 octaves$"),
        (lambda: deepdream(tiny_resnet, photo, "layer1", size=100000), r"^size=100000; expected sides of at most 4096"),
        (lambda: deepdream(tiny_resnet, photo, "layer1", steps_per_octave=10**6), r"steps; expected at most 100000$"),
        (lambda: class_model(tiny_resnet, steps=10**9), r"^steps=1000000000; expected at most 100000$"),
        (lambda: class_model(tiny_resnet, size=(8, 5000), steps=1), r"^size=\(8, 5000\); expected sides of at most"),
        (lambda: optimize(tiny_resnet, obj.channel("layer1", 0), steps=100001), r"^steps=100001; expected at most"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


def test_long_optimizations_show_a_bar_on_a_terminal_by_default():
    from gaplens.visualize.optimize import _bar_disabled

    assert _bar_disabled(None, 10) is True  # short: no bar
    assert _bar_disabled(None, 5000) is None  # long: tqdm shows it when stderr is a terminal
    assert _bar_disabled(True, 10) is False and _bar_disabled(False, 5000) is True
