"""The default verdict reproduces Adebayo et al.'s split on a small trained model, and its statistic by brute force.

Gradient, Integrated Gradients and SmoothGrad must be sensitive to model randomization; guided
backprop and guided Grad-CAM insensitive; the model-free edge detector is the reference for
"insensitive". The model is a three-stage ResNet trained for a few seconds on shape-only synthetic
images (texture random), like the demo's shape-world model but smaller.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import stats

from gaplens.core.errors import InputError
from gaplens.data.synthetic import generate
from gaplens.explain import attribute
from gaplens.sanity import (
    DEFAULT_THRESHOLD,
    DEFAULT_VERDICT_METRIC,
    DEFAULT_VERDICT_STEP,
    model_randomization,
    noise_floor,
    parameterized_blocks,
    randomize_blocks,
)
from gaplens.sanity.randomization import _verdicts
from gaplens.sanity.similarity import normalize_signed
from gaplens.train import fit
from gaplens.zoo import build

SENSITIVE = ("gradient", "integrated_gradients", "smoothgrad")
INSENSITIVE = ("guided_backprop", "guided_grad_cam", "edge")
FAST = {"integrated_gradients": {"n_steps": 8}, "smoothgrad": {"n_samples": 8}}


@pytest.fixture(scope="module")
def one_thread():
    # small tensors on a shared machine: a second thread costs more in synchronisation than it saves
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def shape_model(one_thread):
    train = generate(800, classes=4, size=32, texture_agreement=0.25, seed=1)
    return fit(build("resnet", 4, widths=(8, 16, 32), blocks=(1, 1, 1)), train, epochs=6, batch_size=32, lr=3e-3,
               seed=0, progress=False, device="cpu").model


@pytest.fixture(scope="module")
def cascade(shape_model):
    images = generate(6, classes=4, size=32, texture_agreement=0.25, seed=9).images
    return model_randomization(shape_model, images, methods=SENSITIVE + INSENSITIVE,
                               metrics=("spearman", "spearman_abs"), method_options=FAST, progress=False,
                               keep_images=6)


def test_the_defaults_are_signed_spearman_median_one_half():
    assert (DEFAULT_VERDICT_METRIC, DEFAULT_VERDICT_STEP, DEFAULT_THRESHOLD) == ("spearman", "median", 0.5)


def test_default_verdict_reproduces_the_papers_split(cascade):
    verdicts = cascade.verdicts
    assert all(v["metric"] == "spearman" and "median over the 10 cascade steps" in v["check"]
               for v in verdicts.values())
    for method in SENSITIVE:
        assert verdicts[method]["passed"], (method, verdicts[method]["value"])
        assert verdicts[method]["value"] < 0.3  # near the noise floor of signed maps (0), far from the threshold
    for method in INSENSITIVE:
        assert not verdicts[method]["passed"], (method, verdicts[method]["value"])
    assert verdicts["edge"]["value"] == pytest.approx(1.0)
    # the reason: on absolute maps the two groups overlap after the full cascade (the input's structure
    # dominates the ranks), on signed maps the sensitive ones fall to the floor at once
    final = {m: np.mean([r["value"] for r in cascade.records if r["method"] == m and r["metric"] == "spearman"
                         and r["layer_index"] == 1]) for m in SENSITIVE + INSENSITIVE}
    assert max(final[m] for m in SENSITIVE) < min(final[m] for m in INSENSITIVE)


def test_verdict_value_by_brute_force(cascade):
    """The median over the steps of the mean over images of scipy's Spearman on the signed, clipped maps."""
    for method in ("gradient", "guided_backprop"):
        maps = cascade.maps[method]  # (L + 1, N, C, H, W): every image kept
        reference = normalize_signed(maps[0]).flatten(1).numpy()
        step_means = []
        for step in range(1, maps.shape[0]):
            current = normalize_signed(maps[step]).flatten(1).numpy()
            step_means.append(np.mean([stats.spearmanr(a, b).statistic
                                       for a, b in zip(reference, current, strict=True)]))
        assert cascade.verdicts[method]["value"] == pytest.approx(float(np.median(step_means)), abs=1e-9)


def test_median_mean_and_final_readings():
    records = [{"method": "m", "metric": "spearman", "layer_index": k, "value": v}
               for k, values in {1: (0.9, 0.7), 2: (0.6, 0.6), 3: (0.1, 0.3), 4: (0.0, 0.2)}.items() for v in values]
    # step means 0.8, 0.6, 0.2, 0.1
    median = _verdicts(records, ["m"], "spearman", 0.5, [1, 2, 3, 4], "c", "median")["m"]
    mean = _verdicts(records, ["m"], "spearman", 0.5, [1, 2, 3, 4], "c", "mean")["m"]
    final = _verdicts(records, ["m"], "spearman", 0.5, [4], "c", "mean")["m"]
    assert median["value"] == pytest.approx(0.4) and median["passed"]
    assert mean["value"] == pytest.approx(0.425) and final["value"] == pytest.approx(0.1)
    odd = _verdicts(records, ["m"], "spearman", 0.5, [1, 2, 3], "c", "median")["m"]
    assert odd["value"] == pytest.approx(0.6) and not odd["passed"]


def test_other_readings_remain_options(shape_model):
    images = generate(2, classes=4, size=32, texture_agreement=0.25, seed=9).images
    result = model_randomization(shape_model, images, methods=("gradient",), metrics=("spearman", "spearman_abs"),
                                 verdict_metric="spearman_abs", verdict_step="final", threshold=0.3, progress=False)
    verdict = result.verdicts["gradient"]
    final = [r["value"] for r in result.records if r["metric"] == "spearman_abs" and r["layer_index"] == 10]
    assert verdict["metric"] == "spearman_abs" and verdict["value"] == pytest.approx(np.mean(final))
    assert verdict["threshold"] == 0.3 and "all 10 blocks" in verdict["check"]


def test_noise_floor_of_two_untrained_models(shape_model):
    """Signed maps of two unrelated models share ~nothing; absolute maps share the input's structure."""
    images = generate(6, classes=4, size=32, texture_agreement=0.25, seed=9).images
    records = noise_floor(shape_model, images, methods=("gradient", "edge"), metrics=("spearman", "spearman_abs"),
                          seeds=(1, 2))
    assert {r["mode"] for r in records} == {"floor"} and {r["layer"] for r in records} == {"seed 1 vs seed 2"}
    floor = {(m, k): np.mean([r["value"] for r in records if r["method"] == m and r["metric"] == k])
             for m in ("gradient", "edge") for k in ("spearman", "spearman_abs")}
    assert floor["edge", "spearman"] == pytest.approx(1.0) and floor["edge", "spearman_abs"] == pytest.approx(1.0)
    assert abs(floor["gradient", "spearman"]) < 0.2 < floor["gradient", "spearman_abs"]
    # brute force: two copies re-initialized by hand, their own top classes, scipy's Spearman
    names = [b.name for b in parameterized_blocks(shape_model, (32, 32))]
    maps = []
    for seed in (1, 2):
        twin = randomize_blocks(copy.deepcopy(shape_model), names, seed=seed).eval()
        maps.append(attribute(twin, images, target=twin(images).argmax(1), method="gradient"))
    a, b = (normalize_signed(m).flatten(1).numpy() for m in maps)
    expected = [stats.spearmanr(u, v).statistic for u, v in zip(a, b, strict=True)]
    got = [r["value"] for r in records if r["method"] == "gradient" and r["metric"] == "spearman"]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    with pytest.raises(InputError, match="two different seeds"):
        noise_floor(shape_model, images, methods=("gradient",), seeds=(3, 3))
