"""Hooks: captured values equal a manual forward, and the model is left exactly as found."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_state, model_state

from gaplens.core.device import model_device
from gaplens.core.errors import LayerNotFoundError
from gaplens.core.hooks import capture, frozen, layer_names, preserved_state, resolve_layer


def test_activations_match_manual_forward(tiny_vgg):
    x = torch.rand(2, 3, 32, 32)
    net = tiny_vgg.network
    with capture(tiny_vgg, ["features.0", "features.1", "classifier"]) as cap:
        logits = tiny_vgg(x)
    z = (x - tiny_vgg.mean) / tiny_vgg.std
    conv = net.features[0](z)
    # features.0 is followed by an in-place ReLU: the stored conv output must not be rectified
    assert (cap["features.0"] < 0).any()
    torch.testing.assert_close(cap["features.0"], conv)
    torch.testing.assert_close(cap["features.1"], conv.clamp(min=0))
    torch.testing.assert_close(cap["classifier"], logits)


def test_gradients_at_layer_match_autograd(tiny_resnet):
    x = torch.rand(3, 3, 32, 32)
    with capture(tiny_resnet, "layer2", gradients=True) as cap:
        out = tiny_resnet(x)
        out[:, 1].sum().backward()
        grad = cap.gradients["layer2"]
    # oracle: gradient w.r.t. layer2's output through an explicit forward
    net = tiny_resnet.network
    z = (x - tiny_resnet.mean) / tiny_resnet.std
    h = net.relu(net.bn1(net.conv1(z)))
    a = net.layer2(net.layer1(h)).detach().requires_grad_(True)
    logits = net.fc(torch.flatten(net.avgpool(a), 1))
    (expected,) = torch.autograd.grad(logits[:, 1].sum(), a)
    torch.testing.assert_close(grad, expected)


def test_reused_relu_records_every_call(tiny_resnet):
    x = torch.rand(2, 3, 32, 32)
    with capture(tiny_resnet, "layer1.0.relu", gradients=True) as cap:
        tiny_resnet(x).sum().backward()
    assert len(cap.calls["layer1.0.relu"]) == 2
    assert set(cap.call_gradients["layer1.0.relu"]) == {0, 1}
    assert cap["layer1.0.relu"] is cap.calls["layer1.0.relu"][-1]


def test_keep_graph_allows_grad_wrt_activation(tiny_vgg):
    with capture(tiny_vgg, "features.3", keep_graph=True) as cap:
        out = tiny_vgg(torch.rand(1, 3, 32, 32))
        (g,) = torch.autograd.grad(out[0, 0], cap["features.3"])
    assert g.shape == cap["features.3"].shape


def test_state_restored_when_body_raises(tiny_resnet):
    tiny_resnet.train()
    tiny_resnet.network.fc.weight.requires_grad_(False)
    before = model_state(tiny_resnet)
    with pytest.raises(RuntimeError, match="boom"):
        with capture(tiny_resnet, ["layer1", "layer2.0.relu"], gradients=True):
            tiny_resnet.eval()
            for p in tiny_resnet.parameters():
                p.requires_grad_(True)
            tiny_resnet(torch.rand(2, 3, 32, 32)).sum().backward()
            raise RuntimeError("boom")
    # BatchNorm ran in eval mode inside, so running stats are unchanged
    assert_same_state(before, model_state(tiny_resnet))


def test_preserved_state_restores_grads(tiny_vgg):
    before = model_state(tiny_vgg)
    with preserved_state(tiny_vgg):
        tiny_vgg(torch.rand(1, 3, 32, 32)).sum().backward()
    assert_same_state(before, model_state(tiny_vgg))


@pytest.mark.parametrize("no_grad", [True, False])
def test_frozen_is_eval_without_parameter_grads_and_restores_everything(tiny_resnet, no_grad):
    tiny_resnet.train()
    tiny_resnet.network.fc.weight.requires_grad_(False)
    tiny_resnet(torch.rand(2, 3, 32, 32)).sum().backward()  # some .grad to keep
    before = model_state(tiny_resnet)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(tiny_resnet, no_grad=no_grad) as model:
            assert model is tiny_resnet
            assert not any(m.training for m in tiny_resnet.modules())
            assert not any(p.requires_grad for p in tiny_resnet.parameters())
            out = tiny_resnet(x)
            assert torch.is_grad_enabled() is not no_grad
            if not no_grad:  # gradients w.r.t. the inputs only
                (grad,) = torch.autograd.grad(out.sum(), x)
                assert grad.shape == x.shape
            raise RuntimeError("boom")
    assert torch.is_grad_enabled()
    # BatchNorm ran in eval mode inside, so running stats are unchanged
    assert_same_state(before, model_state(tiny_resnet))


def test_frozen_keeps_the_callers_no_grad():
    net = torch.nn.Linear(2, 2)
    with torch.no_grad(), frozen(net, no_grad=False):
        assert not torch.is_grad_enabled()


def test_model_device_follows_parameters_then_buffers_then_default():
    assert model_device(torch.nn.Linear(2, 2).to("meta")) == torch.device("meta")
    assert model_device(torch.nn.BatchNorm2d(2, affine=False).to("meta")) == torch.device("meta")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")
    assert model_device(torch.nn.ReLU(), default=torch.device("meta")) == torch.device("meta")


def test_layer_names_forward_order(tiny_resnet):
    names = layer_names(tiny_resnet)
    assert names[:3] == ["conv1", "bn1", "relu"]
    assert names.index("layer1.0.conv1") < names.index("layer1.0.conv2") < names.index("layer2")
    assert names[-1] == "fc"
    assert "network" not in names and "mean" not in names
    # without a size: definition order, same set of names
    tiny_resnet.input_size = None
    assert sorted(layer_names(tiny_resnet)) == sorted(names)


def test_unknown_layer_lists_nearest(tiny_resnet):
    with pytest.raises(LayerNotFoundError, match="layer2.0.conv1"):
        resolve_layer(tiny_resnet, "layer2.0.cnv1")
    assert resolve_layer(tiny_resnet, "network.fc") is tiny_resnet.network.fc
    with pytest.raises(LayerNotFoundError):
        with capture(tiny_resnet, "nope"):
            pass
    assert all(not m._forward_hooks for m in tiny_resnet.modules())
