"""Model and data randomization tests (Adebayo et al. 2018): blocks, re-initialization, records, verdicts."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import assert_same_state, model_state
from matplotlib.figure import Figure
from torch import nn

from gaplens.core.errors import InputError
from gaplens.core.hooks import resolve_layer
from gaplens.core.model import Classifier
from gaplens.report.figures import save_figure
from gaplens.sanity import (
    RECORD_KEYS,
    data_randomization,
    edge_similarity,
    model_randomization,
    parameterized_blocks,
    randomization_grid_figure,
    randomization_steps,
    randomize_blocks,
    similarity_figure,
)
from gaplens.sanity import randomization as randomization_module
from gaplens.zoo import build

RESNET_BLOCKS = ["fc", "layer2.0.conv2", "layer2.0.conv1", "layer2.0.downsample.0", "layer1.0.conv2",
                 "layer1.0.conv1", "conv1"]
QUICK = {"integrated_gradients": {"n_steps": 3}, "smoothgrad": {"n_samples": 2}, "vargrad": {"n_samples": 2}}


def _as_if_trained(model: Classifier) -> Classifier:
    """Move every BatchNorm parameter and statistic off its default, as training would."""
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=gen))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) + 0.5)
                module.num_batches_tracked.fill_(100)
    return model


@pytest.fixture
def trained_resnet(tiny_resnet) -> Classifier:
    return _as_if_trained(tiny_resnet)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _linear_model(classes: int = 5) -> Classifier:
    """Logits are a fixed random projection of the input: no conv layer, a single block."""
    torch.manual_seed(1)
    return Classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, classes))).eval()


def _changed_modules(model: nn.Module, reference: nn.Module) -> dict[str, tuple[bool, bool]]:
    """module name -> (all of its own parameters differ, any of its own buffers differ)."""
    out = {}
    ref = dict(reference.network.named_modules())
    for name, module in model.network.named_modules():
        params = list(zip(module.parameters(recurse=False), ref[name].parameters(recurse=False), strict=True))
        buffers = list(zip(module.buffers(recurse=False), ref[name].buffers(recurse=False), strict=True))
        if not params:
            continue
        all_params = all(not torch.equal(a, b) for a, b in params)
        any_param = any(not torch.equal(a, b) for a, b in params)
        assert all_params == any_param, f"{name}: only some parameters changed"
        out[name] = (all_params, any(not torch.equal(a, b) for a, b in buffers))
    return out


def test_blocks_top_down_with_their_normalization(tiny_resnet, tiny_vgg):
    blocks = parameterized_blocks(tiny_resnet)
    assert [b.name for b in blocks] == RESNET_BLOCKS
    assert blocks[0].modules == ("fc",) and blocks[1].modules == ("layer2.0.conv2", "layer2.0.bn2")
    assert blocks[3].modules == ("layer2.0.downsample.0", "layer2.0.downsample.1")
    # the two unpack as (name, modules) and resolve relative to the network
    name, modules = blocks[-1]
    assert name == "conv1" and resolve_layer(tiny_resnet, modules[1]) is tiny_resnet.network.bn1
    assert [b.name for b in parameterized_blocks(tiny_vgg)] == ["classifier", "features.5", "features.3",
                                                               "features.0"]
    assert [b.name for b in parameterized_blocks(_linear_model())] == ["1"]


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_exactly_the_intended_blocks_change(trained_resnet, mode):
    before = model_state(trained_resnet)
    blocks = parameterized_blocks(trained_resnet)
    seen = []
    for k, name, randomized in randomization_steps(trained_resnet, mode, blocks, seed=0):
        seen.append(name)
        changed = _changed_modules(randomized, trained_resnet)
        intended = blocks[:k] if mode == "cascading" else [blocks[k - 1]]
        expected = {m for b in intended for m in b.modules}
        assert {m for m, (params, _) in changed.items() if params} == expected, (k, name)
        assert not any(buffers for _, buffers in changed.values()), "BatchNorm statistics must be kept"
    assert seen == RESNET_BLOCKS
    assert_same_state(before, model_state(trained_resnet))


def test_reset_bn_stats_and_normal_init(trained_resnet):
    work = randomize_blocks(copy.deepcopy(trained_resnet), ["layer2.0.conv2"], reset_bn_stats=True)
    bn = work.network.layer2[0].bn2
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean)) and bn.num_batches_tracked == 0
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))  # the default init of a normalization layer
    work = randomize_blocks(copy.deepcopy(trained_resnet), ["layer2.0.conv2", "fc"], init="normal", std=0.05)
    weights = torch.cat([work.network.layer2[0].conv2.weight.flatten(), work.network.fc.weight.flatten()])
    assert weights.std().item() == pytest.approx(0.05, rel=0.1) and abs(weights.mean().item()) < 0.01
    assert torch.equal(work.network.layer2[0].bn2.running_var, trained_resnet.network.layer2[0].bn2.running_var)
    with pytest.raises(InputError, match="unknown block"):
        randomize_blocks(copy.deepcopy(trained_resnet), ["layer9"])
    with pytest.raises(InputError, match="init="):
        randomize_blocks(copy.deepcopy(trained_resnet), ["fc"], init="xavier")


def test_reproducible_and_the_same_in_both_modes(trained_resnet):
    rng = torch.random.get_rng_state()
    runs = [{name: copy.deepcopy(model.state_dict()) for _, name, model in randomization_steps(trained_resnet, mode)}
            for mode in ("cascading", "independent", "cascading")]
    assert torch.equal(rng, torch.random.get_rng_state()), "the global random state must be restored"
    for name in RESNET_BLOCKS:
        assert runs[0][name].keys() == runs[2][name].keys()
        assert all(torch.equal(v, runs[2][name][k]) for k, v in runs[0][name].items())
    # block k's random weights do not depend on the mode (or on which other blocks are random)
    assert torch.equal(runs[0]["layer1.0.conv1"]["network.layer1.0.conv1.weight"],
                       runs[1]["layer1.0.conv1"]["network.layer1.0.conv1.weight"])
    other = {n: copy.deepcopy(m.state_dict()) for _, n, m in randomization_steps(trained_resnet, seed=1)}
    assert not torch.equal(other["fc"]["network.fc.weight"], runs[0]["fc"]["network.fc.weight"])


def test_records_verdicts_and_untouched_model(trained_resnet, images):
    trained_resnet.train()
    trained_resnet.network.fc.bias.requires_grad_(False)
    handle = trained_resnet.network.layer1.register_forward_hook(lambda *args: None)
    before = model_state(trained_resnet)
    methods = ("gradient", "grad_cam", "smoothgrad", "edge")
    result = model_randomization(trained_resnet, images, methods=methods, method_options=QUICK, progress=False,
                                 keep_images=2)
    assert_same_state(before, model_state(trained_resnet))
    handle.remove()

    steps, metrics = len(RESNET_BLOCKS) + 1, result.metrics
    assert result.layers == RESNET_BLOCKS and result.step_names == ["original"] + RESNET_BLOCKS
    assert len(result.records) == steps * len(methods) * len(metrics) * 4
    assert all(tuple(r) == RECORD_KEYS for r in result.records)
    assert {(r["layer_index"], r["layer"]) for r in result.records} == {(0, "")} | set(enumerate(RESNET_BLOCKS, 1))
    assert all(r["value"] == pytest.approx(1.0) for r in result.records if r["layer_index"] == 0)
    assert result.maps["gradient"].shape == (steps, 2, 3, 32, 32)
    assert result.maps["grad_cam"].shape == (steps, 2, 1, 32, 32)
    assert result.targets.shape == (steps, 4) and result.images.shape == (2, 3, 32, 32)
    # the edge control: similarity 1 at every step, and it fails the check
    assert all(r["value"] == pytest.approx(1.0, abs=1e-9) for r in result.records if r["method"] == "edge")
    verdict = result.verdicts["edge"]
    assert verdict["passed"] is False and verdict["value"] == pytest.approx(1.0) and verdict["threshold"] == 0.5
    # the default verdict: signed Spearman, median over the cascade steps of the mean over images
    step_means = [sum(v) / len(v) for v in ([r["value"] for r in result.records if r["method"] == "grad_cam"
                                             and r["metric"] == "spearman" and r["layer_index"] == k]
                                            for k in range(1, steps))]
    assert result.verdicts["grad_cam"]["metric"] == "spearman"
    assert result.verdicts["grad_cam"]["value"] == pytest.approx(sorted(step_means)[len(step_means) // 2])
    assert "median over the 7 cascade steps" in result.verdicts["grad_cam"]["check"]
    # edge comparison: the edge map is the Sobel map; the other maps are compared with it too
    assert all(r["value"] == pytest.approx(1.0, abs=1e-9) for r in result.edge_records if r["method"] == "edge")
    assert {r["metric"] for r in result.edge_records} == {"spearman_abs", "ssim", "hog"}


def test_reproducible_records_and_mean_verdict(trained_resnet, images):
    kwargs = dict(methods=("gradient", "smoothgrad"), metrics=("spearman_abs",), method_options=QUICK, progress=False)
    first = model_randomization(trained_resnet, images, seed=3, verdict_step="mean", **kwargs)
    cascade = [r["value"] for r in first.records if r["method"] == "gradient" and r["layer_index"] > 0]
    assert len(cascade) == len(RESNET_BLOCKS) * 4
    assert first.verdicts["gradient"]["value"] == pytest.approx(sum(cascade) / len(cascade))
    assert "mean over the 7 cascade steps" in first.verdicts["gradient"]["check"]
    again = model_randomization(trained_resnet, images, seed=3, **kwargs)
    other = model_randomization(trained_resnet, images, seed=4, **kwargs)
    assert first.records == again.records
    assert [r["value"] for r in first.records] != [r["value"] for r in other.records]


def test_one_batched_call_per_method_and_step(trained_resnet, images, monkeypatch):
    calls = []
    real = randomization_module.attribute

    def counting(model, inputs, **kwargs):
        calls.append((inputs.shape[0], kwargs["method"], kwargs["target"].shape[0]))
        return real(model, inputs, **kwargs)

    monkeypatch.setattr(randomization_module, "attribute", counting)
    model_randomization(trained_resnet, images, methods=("gradient", "guided_backprop"), mode="independent",
                        metrics=("spearman_abs",), max_blocks=3, progress=False)
    assert calls == [(4, m, 4) for _ in range(4) for m in ("gradient", "guided_backprop")]


def test_random_projection_drops_to_zero():
    model = _linear_model()
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for target_mode in ("randomized_pred", "original"):
        result = model_randomization(model, images, methods=("gradient",), metrics=("spearman_abs", "spearman"),
                                     target_mode=target_mode, progress=False, edge=False)
        assert result.layers == ["1"]
        for row in result.records:
            if row["layer_index"] == 0:
                assert row["value"] == pytest.approx(1.0)
            else:  # the gradient is the target's weight row: a fresh random row is unrelated to it
                assert abs(row["value"]) < 0.15
        assert result.verdicts["gradient"]["passed"] and result.verdicts["gradient"]["metric"] == "spearman"
        if target_mode == "original":
            assert torch.equal(result.targets[0], result.targets[1])


def test_targets_follow_the_randomized_model(trained_resnet, images):
    result = model_randomization(trained_resnet, images, methods=("gradient",), metrics=("spearman_abs",),
                                 target=[0, 1, 2, 3], max_blocks=2, progress=False)
    assert result.targets[0].tolist() == [0, 1, 2, 3]
    for k, _, randomized in randomization_steps(trained_resnet, "cascading", parameterized_blocks(trained_resnet)[:2]):
        assert torch.equal(result.targets[k], randomized(images).argmax(1))


def test_data_randomization(trained_resnet, images, tiny_vgg):
    before = model_state(trained_resnet)
    # the same weights as "random-label" model: every map is identical, every method fails
    same = data_randomization(trained_resnet, copy.deepcopy(trained_resnet), images,
                              methods=("gradient", "smoothgrad"), method_options=QUICK, progress=False)
    assert same.mode == "data" and same.layers == [] and same.step_names == ["trained", "random labels"]
    assert all(r["value"] == pytest.approx(1.0) for r in same.records)
    assert {(r["layer_index"], r["layer"]) for r in same.records} == {(1, "random_labels")}
    assert not same.verdicts["gradient"]["passed"] and "data randomization" in same.verdicts["gradient"]["check"]
    other = _as_if_trained(Classifier(build("resnet", num_classes=4, widths=(8, 16), blocks=(1, 1))).eval())
    result = data_randomization(trained_resnet, other, images, methods=("gradient",), metrics=("spearman_abs", "ssim"),
                                verdict_metric="ssim", progress=False)
    ssim_values = [r["value"] for r in result.records if r["metric"] == "ssim"]
    assert result.verdicts["gradient"]["metric"] == "ssim"
    assert result.verdicts["gradient"]["value"] == pytest.approx(sum(ssim_values) / len(ssim_values))
    assert result.verdicts["gradient"]["value"] < 0.99
    assert result.maps["gradient"].shape == (2, 2, 3, 32, 32)
    assert_same_state(before, model_state(trained_resnet))
    with pytest.raises(InputError, match="another architecture"):
        data_randomization(trained_resnet, tiny_vgg, images, methods=("gradient",), progress=False)
    wider = Classifier(build("resnet", num_classes=4, widths=(8, 32), blocks=(1, 1)))
    with pytest.raises(InputError, match="another architecture"):
        data_randomization(trained_resnet, wider, images, methods=("gradient",), progress=False)


def test_bad_input(trained_resnet, images):
    linear = _linear_model()
    with pytest.raises(InputError, match="'grad_cam' needs a convolutional layer"):
        model_randomization(linear, images, methods=("gradient", "grad_cam"), progress=False)
    with pytest.raises(InputError, match="empty"):
        model_randomization(trained_resnet, images[:0], methods=("gradient",), progress=False)
    with pytest.raises(InputError, match="mode="):
        model_randomization(trained_resnet, images, methods=("gradient",), mode="random", progress=False)
    with pytest.raises(InputError, match="target_mode="):
        model_randomization(trained_resnet, images, methods=("gradient",), target_mode="label", progress=False)
    with pytest.raises(InputError, match="unknown attribution method"):
        model_randomization(trained_resnet, images, methods=("gradients",), progress=False)
    with pytest.raises(InputError, match="not an attribution method"):
        model_randomization(trained_resnet, images, methods=("gradient",), method_options={"smoothgrads": {}},
                            progress=False)
    with pytest.raises(InputError, match="unknown option"):
        model_randomization(trained_resnet, images, methods=("smoothgrad",), method_options={"smoothgrad": {"n": 2}},
                            progress=False)
    with pytest.raises(InputError, match="16 x 16"):
        model_randomization(trained_resnet, torch.rand(2, 3, 12, 12), methods=("gradient",), progress=False)
    with pytest.raises(InputError, match="verdict_metric="):
        model_randomization(trained_resnet, images, methods=("gradient",), metrics=("spearman",), verdict_metric="hog",
                            progress=False)
    with pytest.raises(InputError, match="out of range"):
        model_randomization(trained_resnet, images, target=7, methods=("gradient",), progress=False)
    with pytest.raises(InputError, match="no parameterized blocks"):
        model_randomization(Classifier(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())), images,
                            methods=("gradient",), progress=False)


def test_edge_similarity(images):
    from gaplens.explain.edge import sobel_magnitude

    records = edge_similarity(images, {"sobel": sobel_magnitude(images), "noise": torch.randn(4, 3, 32, 32)})
    assert all(tuple(r) == RECORD_KEYS for r in records)
    assert all(r["value"] == pytest.approx(1.0) for r in records if r["method"] == "sobel")
    assert all(abs(r["value"]) < 0.2 for r in records if r["method"] == "noise" and r["metric"] == "spearman_abs")
    with pytest.raises(InputError, match="'cam'"):
        edge_similarity(images, {"cam": torch.rand(4, 1, 8, 8)})


def test_figures(trained_resnet, images, tmp_path):
    result = model_randomization(trained_resnet, images, methods=("gradient", "grad_cam", "edge"), max_blocks=3,
                                 progress=False)
    fig = similarity_figure(result)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    grid = randomization_grid_figure(result, images=[0, 1])
    assert len(grid.axes) == 2 * 3 * (1 + 3 + 1) + 1  # image + original + 3 steps, and the colour bar
    save_figure(fig, tmp_path / "curves.png")
    save_figure(grid, tmp_path / "grid.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    data = data_randomization(trained_resnet, copy.deepcopy(trained_resnet), images, methods=("gradient", "edge"),
                              metrics=("spearman_abs", "ssim"), progress=False)
    assert len(similarity_figure(data).axes) == 2
    assert len(randomization_grid_figure(data, steps=[0, 1]).axes) == 2 * 3 + 1
    with pytest.raises(InputError, match="images="):
        randomization_grid_figure(result, images=[0, 5])
    with pytest.raises(InputError, match="metrics="):
        similarity_figure(result, metrics=["pearson"])
