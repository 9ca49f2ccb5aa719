"""Objectives: values on known activations, the algebra, batch-awareness, and their error messages."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError, LayerNotFoundError
from gaplens.visualize import OBJECTIVES, optimize
from gaplens.visualize import objectives as obj
from gaplens.visualize.objectives import Context


def _context(batch: int = 3, seed: int = 0) -> Context:
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, 8, 8, generator=gen)
    acts = {"conv": torch.randn(batch, 5, 4, 6, generator=gen), "fc": torch.randn(batch, 7, generator=gen)}
    return Context(images, images, torch.randn(batch, 4, generator=gen), acts)


def test_registry_has_the_issue_objectives():
    assert {"class_logit", "channel", "neuron", "layer_l2", "direction", "diversity"} <= set(OBJECTIVES.names())
    with pytest.raises(InputError, match="closest"):
        OBJECTIVES["chanel"]


def test_values_on_known_activations():
    ctx = _context()
    conv, logits = ctx.activations["conv"], ctx.logits
    assert torch.allclose(obj.class_logit(2)(ctx), logits[:, 2])
    assert torch.allclose(obj.class_logit(1, score="log_softmax")(ctx), logits.log_softmax(1)[:, 1])
    assert torch.allclose(obj.channel("conv", 3)(ctx), conv[:, 3].mean((1, 2)))
    assert torch.allclose(obj.neuron("conv", 4)(ctx), conv[:, 4, 2, 3])  # centre of 4x6: row 2, column 3
    assert torch.allclose(obj.neuron("conv", 4, x=5, y=1)(ctx), conv[:, 4, 1, 5])
    assert torch.allclose(obj.layer_l2("fc")(ctx), ctx.activations["fc"].pow(2).mean(1))
    # a direction equal to the activation vector at every position has cosine similarity 1
    aligned = torch.ones(3, 5, 4, 6) * torch.arange(1.0, 6.0).view(1, 5, 1, 1)
    same = Context(ctx.images, ctx.images, logits, {"conv": aligned})
    assert torch.allclose(obj.direction("conv", torch.arange(1.0, 6.0))(same), torch.ones(3))
    assert torch.allclose(obj.direction("fc", ctx.activations["fc"])(ctx), torch.ones(3))


def test_diversity_is_minus_the_mean_similarity_to_the_others():
    ctx = _context()
    twins = Context(ctx.images, ctx.images, ctx.logits, {"conv": ctx.activations["conv"][:1].expand(3, -1, -1, -1)})
    assert torch.allclose(obj.diversity("conv")(twins), torch.full((3,), -2 / 3))  # two identical others, / batch
    assert torch.all(obj.diversity("conv")(ctx) > -2 / 3)
    single = Context(ctx.images[:1], ctx.images[:1], ctx.logits[:1], {"conv": ctx.activations["conv"][:1]})
    assert obj.diversity("conv")(single).item() == 0.0


def test_algebra_values_and_descriptions():
    ctx = _context()
    a, b, c = obj.channel("conv", 1), obj.layer_l2("fc"), obj.class_logit(0)
    goal = a - 0.5 * (b + c) + 2 * c / 4
    expected = a(ctx) - 0.5 * (b(ctx) + c(ctx)) + 0.5 * c(ctx)
    assert torch.allclose(goal(ctx), expected)
    assert str(goal) == "channel('conv', 1) - 0.5 * (layer_l2('fc') + class_logit(0)) + 0.5 * class_logit(0)"
    assert str(a - (b - c)) == "channel('conv', 1) - (layer_l2('fc') - class_logit(0))"
    assert str(-a) == "-channel('conv', 1)"
    assert torch.allclose(sum([a, b, c])(ctx), a(ctx) + b(ctx) + c(ctx))
    assert set(goal.layers) == {"conv", "fc"}


def test_batch_aware_targets_and_batch_keyword():
    ctx = _context()
    logits, conv = ctx.logits, ctx.activations["conv"]
    assert torch.allclose(obj.class_logit([3, 0, 2])(ctx), logits[[0, 1, 2], [3, 0, 2]])
    assert obj.class_logit([3, 0, 2]).batch_hint == 3
    assert torch.allclose(obj.channel("conv", [4, 1, 0])(ctx), conv[[0, 1, 2], [4, 1, 0]].mean((1, 2)))
    mixed = obj.channel("conv", 2, batch=0) + obj.class_logit(1, batch=2)
    assert torch.allclose(mixed(ctx), torch.stack([conv[0, 2].mean(), torch.tensor(0.0), logits[2, 1]]))
    assert str(mixed) == "channel('conv', 2, batch=0) + class_logit(1, batch=2)"
    assert mixed.batch_hint == 3
    with pytest.raises(InputError, match="2 targets for a batch of 3"):
        obj.class_logit([0, 1])(ctx)
    with pytest.raises(InputError, match="restricted to image 5"):
        obj.layer_l2("fc", batch=5)(ctx)


def test_in_range_checks_on_known_activations():
    ctx = _context()
    with pytest.raises(InputError, match=r"channel 5 is out of range; 'conv' has 5 channels \(0..4\)"):
        obj.channel("conv", [0, 5, 1])(ctx)
    with pytest.raises(InputError, match="class 4 is out of range; the model has 4 classes"):
        obj.class_logit(4)(ctx)
    with pytest.raises(InputError, match="outside the 4x6 feature map"):
        obj.neuron("conv", 0, x=6, y=0)(ctx)
    with pytest.raises(InputError, match="needs a 4-D"):
        obj.channel("fc", 0)(ctx)
    with pytest.raises(InputError, match="expected an int"):
        obj.channel("conv", 1.5)
    with pytest.raises(InputError, match="score="):
        obj.class_logit(0, score="probability")


def test_bad_layers_on_a_real_model(tiny_resnet):
    with pytest.raises(LayerNotFoundError, match=r"layer 'layer_2' not found.*nearest names.*'layer2'"):
        optimize(tiny_resnet, obj.channel("layer_2", 0), steps=1, size=32)
    with pytest.raises(InputError, match=r"channel 16 is out of range; 'layer2' has 16 channels \(0..15\)"):
        optimize(tiny_resnet, obj.channel("layer2", 16), steps=1, size=32)
    with pytest.raises(InputError, match=r"output of 'fc' has shape \(1, 4\).*4-D"):
        optimize(tiny_resnet, obj.neuron("fc", 0), steps=1, size=32)
