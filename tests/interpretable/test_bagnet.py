"""BagNet: the receptive field is exactly the patch, the logit is the mean of patch logits, and
evidence maps are the decision (issue 17)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaplens.core.errors import InputError
from gaplens.core.model import Classifier, load_model, save_checkpoint
from gaplens.explain import METHODS, attribute
from gaplens.interpretable import BagNet, evidence
from gaplens.interpretable.bagnet import top_patches
from gaplens.zoo import build


def _net(p: int, k: int = 3, width: int = 4, seed: int = 0) -> BagNet:
    torch.manual_seed(seed)
    net = BagNet(k, patch_size=p, width=width).double().eval()
    for m in net.modules():  # non-trivial BN statistics, so eval mode is not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.mark.parametrize("p", [9, 17, 33])
def test_receptive_field_is_exactly_the_patch(p: int) -> None:
    net = _net(p, width=16)  # at width 4 a few ReLU paths happen to be dead for every input
    size, (i, j) = p + 6, (2, 5)
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    logits = net.patch_logits(x)
    assert logits.shape == (1, 3, size - p + 1, size - p + 1)
    logits[0, 1, i, j].backward()
    g = x.grad[0].abs().sum(0)  # (H, W)
    inside = torch.zeros_like(g, dtype=torch.bool)
    inside[i:i + p, j:j + p] = True
    assert (g[~inside] == 0).all()
    window = g[i:i + p, j:j + p]
    for line in (window[0], window[-1], window[:, 0], window[:, -1]):  # border rows and columns
        assert (line > 0).all()


def test_forward_is_the_mean_of_patch_logits() -> None:
    net = _net(17)
    x = torch.rand(2, 3, 30, 26, dtype=torch.float64)
    torch.testing.assert_close(net(x), net.patch_logits(x).mean((2, 3)))


def test_the_fused_inference_path_equals_the_module_path(monkeypatch) -> None:
    """Without autograd in eval mode the net folds BatchNorm, composes the stem and pools before the
    classifier; module by module (autograd on) is the plain definition. Small chunks: several per batch."""
    import gaplens.zoo.bagnet as bagnet

    monkeypatch.setattr(bagnet, "CHUNK_BYTES", 1)  # one image per chunk
    for p in (9, 33):
        net = _net(p, k=4, seed=7)
        for m in net.modules():  # affine BatchNorm parameters away from their (1, 0) start
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.3, 0.3)
        x = torch.rand(3, 3, p + 5, p + 3, dtype=torch.float64)
        patch_logits, logits = net.patch_logits(x), net(x)  # autograd on: every module is called
        assert patch_logits.requires_grad
        with torch.no_grad():
            torch.testing.assert_close(net.patch_logits(x), patch_logits.detach())
            torch.testing.assert_close(net(x), logits.detach())
            torch.testing.assert_close(net(x), patch_logits.detach().mean((2, 3)))


def test_hooks_and_training_mode_take_the_module_path() -> None:
    net = _net(9, seed=8)
    x = torch.rand(2, 3, 15, 15, dtype=torch.float64)
    seen = []
    handle = net.layers[0][0].bn2.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        with torch.no_grad():
            hooked = net(x)
    finally:
        handle.remove()
    assert seen == [(2, 4, 11, 11)]  # the hook saw its BatchNorm although no gradient was asked for
    with torch.no_grad():
        torch.testing.assert_close(net(x), hooked)
        net.train()
        net(x)  # training mode normalises with the batch statistics and updates the running ones
    assert not torch.equal(net.layers[0][0].bn2.running_mean, _net(9, seed=8).layers[0][0].bn2.running_mean)


@pytest.mark.parametrize("p", [9, 33])
def test_an_interior_patch_is_classified_alone(p: int) -> None:
    """The bag-of-features property: a patch logit depends on its crop only."""
    net = _net(p, seed=1)
    x = torch.rand(1, 3, p + 9, p + 7, dtype=torch.float64)
    logits = net.patch_logits(x)
    for i, j in [(4, 3), (0, 0), (9, 7)]:
        crop = x[:, :, i:i + p, j:j + p]
        torch.testing.assert_close(logits[:, :, i, j], net(crop))


def test_evidence_sums_to_the_logits_through_a_classifier() -> None:
    torch.manual_seed(2)
    model = Classifier(BagNet(4, patch_size=9, width=4), mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25)).eval()
    x = torch.rand(3, 3, 24, 20)
    logits = model(x)
    c = 4
    for target in (2, [0, 3, 1]):
        maps = evidence(model, x, target=target)
        assert maps.shape == (3, 24, 20)
        t = torch.as_tensor(target).expand(3)
        torch.testing.assert_close(maps.sum((1, 2)) / ((24 - 2 * c) * (20 - 2 * c)), logits[torch.arange(3), t])
        assert (maps[:, :c] == 0).all() and (maps[:, :, -c:] == 0).all()
    predicted = evidence(model, x)
    torch.testing.assert_close(predicted.sum((1, 2)) / (16 * 12), logits.max(1).values)


def test_zero_border_evidence_equals_the_loop_over_padded_crops() -> None:
    """border="zeros" is the authors' generate_heatmap_pytorch: every pixel a patch centre."""
    net = _net(9, seed=3)
    x = torch.rand(1, 3, 14, 12, dtype=torch.float64)
    maps = evidence(net, x, target=2, border="zeros")
    padded = F.pad(x, (4, 4, 4, 4))
    crops = padded.unfold(2, 9, 1).unfold(3, 9, 1)  # (1, 3, 14, 12, 9, 9)
    crops = crops.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 9, 9)
    torch.testing.assert_close(maps[0], net(crops)[:, 2].reshape(14, 12))


def test_evidence_leaves_the_model_as_found_and_refuses_other_models() -> None:
    net = _net(9).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    evidence(net, torch.rand(2, 3, 12, 12, dtype=torch.float64), target=0)
    assert net.training and all(m.training for m in net.modules())
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
    with pytest.raises(InputError, match="BagNet"):
        evidence(build("vgg", 3), torch.rand(1, 3, 16, 16))
    with pytest.raises(InputError, match="target"):
        evidence(net, torch.rand(2, 3, 12, 12, dtype=torch.float64), target=[0, 1, 2])
    with pytest.raises(InputError, match="border"):
        evidence(net, torch.rand(1, 3, 12, 12, dtype=torch.float64), border="reflect")


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(InputError, match="patch_size"):
        BagNet(3, patch_size=11)
    with pytest.raises(InputError, match="patch_size=17"):
        BagNet(3, patch_size=17, width=2)(torch.rand(1, 3, 16, 16))


def test_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(4)
    model = Classifier(build("bagnet", 3, patch_size=17, width=4, blocks=[1, 2, 1, 1]),
                       class_names=["a", "b", "c"]).eval()
    x = torch.rand(2, 3, 20, 20)
    save_checkpoint(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded.network, BagNet) and loaded.network.patch_size == 17
    torch.testing.assert_close(loaded(x), model(x))
    torch.testing.assert_close(evidence(loaded, x, target=1), evidence(model, x, target=1))


@pytest.mark.parametrize("method", METHODS.names())
def test_every_explain_method_runs_on_a_bagnet(method: str) -> None:
    torch.manual_seed(5)
    model = Classifier(BagNet(3, patch_size=9, width=4)).eval()
    x = torch.rand(2, 3, 16, 16)
    options = {"window": 4, "stride": 4} if method == "occlusion" else {}
    if method in ("integrated_gradients",):
        options = {"n_steps": 4}
    if method.startswith("smoothgrad") or method == "vargrad":
        options = {"n_samples": 3}
    out = attribute(model, x, target=1, method=method, **options)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape[0] == 2 and out.shape[-2:] == (16, 16)
    assert torch.isfinite(out).all()


def test_top_patches_are_the_most_discriminative_crops() -> None:
    net = _net(9, k=3, seed=6).float()
    images = torch.rand(5, 3, 13, 13)
    top = top_patches(net, images, k=2)
    assert top.patches.shape == (3, 2, 3, 9, 9)
    assert (top.scores[:, 0] >= top.scores[:, 1]).all()
    for j in range(3):
        logits = net(top.patches[j])  # each crop alone: the bag-of-features property again
        contrast = logits[:, j] - (logits.sum(1) - logits[:, j]) / 2
        torch.testing.assert_close(contrast, top.scores[j], atol=1e-5, rtol=1e-5)
