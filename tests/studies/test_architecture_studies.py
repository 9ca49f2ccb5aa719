"""Every study on the architecture patterns of real models (tests/explain/architectures.py).

The method-level checks (Captum in float64, refusals) are in tests/explain/test_architectures.py;
here each study runs end to end on each pattern (ViT tokens, channels-last Swin, ConvNeXt,
MobileNetV3, DenseNet concatenation, Inception branches), into a run folder whose report renders
in strict mode, and its records are checked against a recomputation outside the study: the saved
maps against a direct ``attribute`` call, the sweep against a loop over distortions and levels,
evaluation against ``argmax``; the sanity cascade covers every parameterized block, and no study
changes the user's model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain.architectures import ARCHITECTURES, NON_RELU, build
from helpers import assert_same_state, model_state

from gaplens.core.model import Classifier
from gaplens.data.synthetic import generate
from gaplens.explain import attribute
from gaplens.robustness import distort
from gaplens.sanity.randomization import parameterized_blocks
from gaplens.store import RunStore
from gaplens.studies import ClassModels, Evaluate, Explain, ModelRef, Sanity, ShapeBias, Sweep, run_study
from gaplens.studies.report import render_report

NAMES = list(ARCHITECTURES)
DISTORTIONS = ("contrast", "uniform_noise")
#: class models (an optimization through the whole model) on the token and channels-last patterns only:
#: the other patterns add nothing that the explain study's gradients do not already run through
CLASS_MODELS = ("vit", "swin")


@pytest.fixture(scope="module")
def data():
    return generate(8, classes=4, size=32, seed=11)


def _classifier(name: str, class_names) -> Classifier:
    return Classifier(build(name), class_names=list(class_names), input_size=(32, 32)).eval()


@pytest.mark.parametrize("name", NAMES)
def test_every_study_runs_on_the_pattern_and_agrees_with_a_recomputation(name, data, tmp_path):
    model = _classifier(name, data.class_names)
    before = model_state(model)
    ref = ModelRef(name, model=model, device="cpu")
    images = data.images[:2]
    methods = ["gradient", "grad_cam", "occlusion"] + ([] if name in NON_RELU else ["guided_backprop"])
    options = {"occlusion": {"window": 16, "stride": 8}}
    def run(study):
        return run_study(study, tmp_path, device="cpu", progress=False, report=False)

    run(Explain([ref], images, methods=methods, options=options))
    with RunStore(tmp_path) as store:
        saved = {a["unit"]: np.load(tmp_path / a["path"]) for a in store.artifacts("explain") if a["kind"] == "array"}
    with torch.no_grad():
        target = model(images).argmax(1)
    for method in methods:
        expected = attribute(model, images, target=target, method=method, **options.get(method, {}))
        torch.testing.assert_close(torch.from_numpy(saved[f"{name}/{method}"]), expected, rtol=1e-4, atol=1e-6)

    evaluated = run(Evaluate([ref], {"test": (data.images, data.labels)}, confusion=False)).records
    with torch.no_grad():
        correct = int((model(data.images).argmax(1) == data.labels).sum())
    (row,) = [r for r in evaluated if r.get("class") == "all"]
    assert row["accuracy"] == pytest.approx(correct / len(data))

    swept = run(Sweep([ref], (data.images, data.labels), list(DISTORTIONS), seed=2)).records
    from gaplens.robustness import DISTORTIONS as REGISTRY

    for distortion in DISTORTIONS:
        for index, level in enumerate(REGISTRY[distortion].levels[:3]):
            with torch.no_grad():
                hits = int((model(distort(data.images, distortion, level, seed=2)).argmax(1) == data.labels).sum())
            (rec,) = [r for r in swept if r.get("distortion") == distortion and r.get("level_index") == index]
            assert rec["correct"] == hits, (distortion, level)

    sanity = run(Sanity(ref, images[:1], modes=("cascading",), methods=["gradient"])).records
    layers = {r["layer"] for r in sanity if r.get("kind") == "similarity" and r.get("method") == "gradient"}
    assert {block.name for block in parameterized_blocks(model, (32, 32))} <= layers

    if name in CLASS_MODELS:
        run(ClassModels(ref, options={"steps": 4}))
    conflict = generate(8, classes=4, size=32, conflict=True, seed=12)
    biased = run(ShapeBias([ref], conflict)).records
    assert any(r.get("shape_bias") is not None or r.get("shape_decisions") is not None for r in biased)

    assert_same_state(before, model_state(model))
    render_report(tmp_path, strict=True)
