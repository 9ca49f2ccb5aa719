"""Shape bias: synthetic decision makers, exclusion, file-name parsing, stimuli sources, the figure."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_same_state, model_state
from matplotlib.figure import Figure
from scipy import stats

from gaplens.bias import (
    REFERENCE_SHAPE_BIAS,
    load_stimuli,
    parse_cue_conflict_name,
    shape_bias,
    shape_bias_figure,
    shape_bias_from_decisions,
)
from gaplens.core.errors import DataError, InputError
from gaplens.core.image_io import write_png
from gaplens.data.export import write_synthetic
from gaplens.data.synthetic import generate

K = 8


def _conflict_labels(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape and texture categories with texture != shape everywhere."""
    gen = torch.Generator().manual_seed(seed)
    shape = torch.randint(K, (n,), generator=gen)
    texture = (shape + torch.randint(1, K, (n,), generator=gen)) % K
    return shape, texture


# ------------------------------------------------------------------ synthetic decision makers


def test_always_shape_and_always_texture():
    shape, texture = _conflict_labels(500)
    result = shape_bias_from_decisions(shape, shape, texture)
    assert result.shape_bias == 1.0 and result.n_shape == 500 and result.n_texture == 0
    assert result.cue_correct_fraction == 1.0 and result.interval[1] == 1.0
    assert result.interval[0] == pytest.approx(0.025 ** (1 / 500))  # exact CP bound at k = n
    result = shape_bias_from_decisions(texture, shape, texture)
    assert result.shape_bias == 0.0 and result.n_texture == 500 and result.interval[0] == 0.0
    assert result.texture_bias == 1.0


def test_uniformly_random_cue_choice_is_about_one_half_within_its_interval():
    shape, texture = _conflict_labels(4000, seed=1)
    coin = torch.rand(4000, generator=torch.Generator().manual_seed(2)) < 0.5
    result = shape_bias_from_decisions(torch.where(coin, shape, texture), shape, texture)
    low, high = result.interval
    assert low < 0.5 < high
    assert high - low < 0.04  # 4000 trials: the 95% interval is about +-0.016
    assert abs(result.shape_bias - 0.5) < 0.03


@pytest.mark.parametrize("p", [0.1, 0.3, 0.75, 0.9])
def test_fixed_mix_gives_p_within_binomial_tolerance(p):
    n = 2000
    shape, texture = _conflict_labels(n, seed=3)
    gen = torch.Generator().manual_seed(int(p * 1000))
    u = torch.rand(n, generator=gen)
    # decisions: shape with probability p * 0.8, texture (1 - p) * 0.8, another category 0.2
    other = (texture + 1) % K
    other = torch.where(other == shape, (other + 1) % K, other)
    pred = torch.where(u < 0.8 * p, shape, torch.where(u < 0.8, texture, other))
    result = shape_bias_from_decisions(pred, shape, texture)
    decided = result.n_shape + result.n_texture
    sd = math.sqrt(p * (1 - p) / decided)
    assert abs(result.shape_bias - p) < 4.5 * sd
    assert result.n_shape + result.n_texture + result.records[0]["n_other"] == n
    lo, hi = stats.binom.interval(0.9999, n, 0.8)
    assert lo <= decided <= hi
    assert result.cue_correct_fraction == pytest.approx(decided / n)


def test_trials_with_shape_equal_to_texture_are_excluded():
    shape, texture = _conflict_labels(300, seed=4)
    pred = torch.where(torch.arange(300) % 3 == 0, shape, texture)
    base = shape_bias_from_decisions(pred, shape, texture)
    # add 200 trials whose shape and texture agree, all decided "correctly" (would count as shape)
    same = torch.randint(K, (200,), generator=torch.Generator().manual_seed(5))
    result = shape_bias_from_decisions(torch.cat([pred, same]), torch.cat([shape, same]), torch.cat([texture, same]))
    assert result.n_trials == 300 and result.n_excluded == 200
    assert (result.n_shape, result.n_texture, result.shape_bias) == (base.n_shape, base.n_texture, base.shape_bias)
    assert result.interval == base.interval
    assert int(result.included.sum()) == 300 and not result.included[300:].any()
    with pytest.raises(InputError, match="no cue-conflict trial"):
        shape_bias_from_decisions(same, same, same)


def test_per_category_counts_and_records():
    shape = torch.tensor([0, 0, 0, 1, 1, 2])
    texture = torch.tensor([1, 2, 1, 0, 2, 2])  # the last trial is excluded
    pred = torch.tensor([0, 2, 3, 0, 1, 0])
    result = shape_bias_from_decisions(pred, shape, texture, ["a", "b", "c", "d"], model="m", stimuli="s")
    assert result.per_category["a"] == pytest.approx(
        {"n_trials": 3, "n_shape": 1, "n_texture": 1, "n_other": 1, "shape_bias": 0.5,
         "ci_low": result.per_category["a"]["ci_low"], "ci_high": result.per_category["a"]["ci_high"],
         "cue_correct_fraction": 2 / 3})
    assert result.per_category["b"]["n_texture"] == 1 and result.per_category["b"]["n_shape"] == 1
    assert "c" not in result.per_category  # its only trial had shape == texture
    assert [r["category"] for r in result.records] == ["all", "a", "b"]
    assert result.records[0] | {"model": "m", "stimuli": "s"} == result.records[0]
    assert result.n_shape == 2 and result.n_texture == 2 and result.n_trials == 5


def test_no_cue_decision_gives_nan_and_the_whole_interval():
    shape, texture = torch.tensor([0, 1]), torch.tensor([1, 0])
    result = shape_bias_from_decisions(torch.tensor([2, -1]), shape, texture)
    assert math.isnan(result.shape_bias) and result.interval == (0.0, 1.0) and result.cue_correct_fraction == 0.0


def test_bad_decision_inputs():
    with pytest.raises(InputError, match="same length"):
        shape_bias_from_decisions(torch.tensor([0]), torch.tensor([0, 1]), torch.tensor([1, 0]))
    with pytest.raises(InputError, match="integer"):
        shape_bias_from_decisions(torch.tensor([0.5, 1.0]), torch.tensor([0, 1]), torch.tensor([1, 0]))


# ------------------------------------------------------------------ file names


@pytest.mark.parametrize(("name", "expected"), [
    ("dog10-bird2.png", ("dog", "bird")),
    ("stimuli/airplane/airplane1-bicycle2.png", ("airplane", "bicycle")),
    ("l_shape3-half_disk12.jpg", ("l_shape", "half_disk")),
])
def test_parse_cue_conflict_names(name, expected):
    assert parse_cue_conflict_name(name) == expected


@pytest.mark.parametrize("name", [
    "dog-bird.png", "dog10bird2.png", "dog10-bird.png", "10-2.png", "dog10-bird2-cat3.png", "dog10_bird2.png",
    "dog 10-bird2.png", "dog10-bird2x.png",
])
def test_bad_names_raise_data_error_naming_the_file(name):
    with pytest.raises(DataError, match=name.replace(".", r"\.")) as info:
        parse_cue_conflict_name(f"some/folder/{name}")
    assert "<shape><number>-<texture><number>" in str(info.value)


def _write(root, names, images):
    for name, image in zip(names, images, strict=True):
        write_png(root / name, image)


def test_folder_with_a_bad_name_lists_it(tmp_path):
    images = generate(3, classes=4, size=16, conflict=True, seed=0).images
    _write(tmp_path, ["circle1-square2.png", "circle2-square.png", "square3-circle1.png"], images)
    (tmp_path / "README.txt").write_text("not an image: ignored")
    with pytest.raises(DataError, match=r"circle2-square\.png") as info:
        load_stimuli(tmp_path)
    assert "1 of 3" in str(info.value)


def test_folder_shape_must_match_its_class_folder(tmp_path):
    images = generate(2, classes=4, size=16, conflict=True, seed=0).images
    _write(tmp_path, ["circle/circle1-square2.png", "circle/square3-circle1.png"], images)
    with pytest.raises(DataError, match=r"square3-circle1\.png.*'square'.*'circle'"):
        load_stimuli(tmp_path)


# ------------------------------------------------------------------ models on stimuli


class _Oracle(torch.nn.Module):
    """Answers the shape (or texture) label of the stored image nearest to each input."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: int) -> None:
        super().__init__()
        self.register_buffer("images", images.flatten(1))
        self.register_buffer("labels", labels)
        self.classes = classes
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(x.flatten(1), self.images).argmin(1)
        return torch.nn.functional.one_hot(self.labels[nearest], self.classes).float() * self.scale


def test_shape_bias_of_models_on_a_synthetic_conflict_set():
    data = generate(64, classes=4, size=32, conflict=True, seed=7)
    shape_model = _Oracle(data.images, data.shape_labels, 4)
    before = model_state(shape_model)
    result = shape_bias(shape_model, data, batch_size=16)
    assert_same_state(before, model_state(shape_model))
    assert result.shape_bias == 1.0 and result.n_trials == 64 and result.class_names == data.class_names
    assert result.ids[0] == "synthetic:0"
    texture_model = _Oracle(data.images, data.texture_labels, 4)
    assert shape_bias(texture_model, data).shape_bias == 0.0


def test_argmax_uses_the_model_class_names_and_checks_the_output_count():
    from gaplens.core.model import Classifier

    data = generate(40, classes=4, size=32, conflict=True, seed=8)
    order = [3, 1, 0, 2]  # the model's outputs name the classes in another order
    names = [data.class_names[i] for i in order]
    relabel = torch.tensor([order.index(c) for c in range(4)])
    model = Classifier(_Oracle(data.images, relabel[data.shape_labels], 4), class_names=names)
    result = shape_bias(model, data)
    assert result.shape_bias == 1.0 and result.class_names == names
    with pytest.raises(InputError, match="4 outputs but there are 5 categories"):
        shape_bias(_Oracle(data.images, data.shape_labels, 4), data, class_names=[*data.class_names, "extra"])


def test_a_decision_callable_with_its_own_categories():
    """Like ImageNet -> 16 categories: the model has 2 outputs per category, the callable merges them."""
    data = generate(48, classes=4, size=32, conflict=True, seed=9)
    fine = _Oracle(data.images, 2 * data.texture_labels + 1, 8)

    class Coarse:
        class_names = list(reversed(data.class_names))

        def __call__(self, logits):
            coarse = logits.view(-1, 4, 2).sum(-1).argmax(1)
            return 3 - coarse  # reversed category order

    result = shape_bias(fine, data, decision=Coarse())
    assert result.shape_bias == 0.0 and result.n_texture == 48 and result.class_names == Coarse.class_names
    with pytest.raises(InputError, match="decision returned"):
        shape_bias(fine, data, decision=lambda logits: logits.argmax(1)[:3])
    with pytest.raises(InputError, match="decision="):
        shape_bias(fine, data, decision="imagenet16")


def test_folder_and_manifest_stimuli_give_the_same_result(tmp_path):
    data = generate(24, classes=4, size=32, conflict=True, seed=10)
    names = [f"{data.class_names[s]}/{data.class_names[s]}{i}-{data.class_names[t]}{i % 3}.png"
             for i, (s, t) in enumerate(zip(data.shape_labels.tolist(), data.texture_labels.tolist(), strict=True))]
    _write(tmp_path / "folder", names, data.images)
    manifest = write_synthetic(data, tmp_path / "export", split="cue", progress=False)
    model = _Oracle(data.images, torch.where(torch.arange(24) % 4 == 0, data.shape_labels, data.texture_labels), 4)

    from_folder = shape_bias(model, tmp_path / "folder", class_names=data.class_names)
    from_manifest = shape_bias(model, manifest, class_names=data.class_names)
    direct = shape_bias(model, data)
    assert direct.n_shape == 6 and direct.n_texture == 18
    for result in (from_folder, from_manifest):
        assert (result.n_shape, result.n_texture, result.n_trials) == (6, 18, 24)
    stimuli = load_stimuli(manifest)  # texture names (stripes45, ...) map to their classes
    assert sorted(stimuli.class_names) == sorted(data.class_names)
    with pytest.raises(DataError, match="not among class_names"):
        load_stimuli(tmp_path / "folder", class_names=data.class_names[:2])


# ------------------------------------------------------------------ figure


def test_figure_draws_every_model_and_reference_lines_only_when_asked():
    shape, texture = _conflict_labels(400, seed=11)
    names = [f"class {i}" for i in range(K)]
    a = shape_bias_from_decisions(shape, shape, texture, names, model="shape model")
    b = shape_bias_from_decisions(texture, shape, texture, names, model="texture model")
    fig = shape_bias_figure([a, b])
    assert isinstance(fig, Figure)
    ax, side = fig.axes[0], fig.axes[1]
    assert len(ax.collections) == 2 and len(ax.lines) == 2  # one marker set and one mean line per model
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [0.0, 1.0]  # x = texture fraction
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert "texture" in ax.get_xlabel() and len(side.patches) == 2
    with_refs = shape_bias_figure({"a": a}, reference=True)
    assert len(with_refs.axes[0].lines) == 1 + len(REFERENCE_SHAPE_BIAS)
    positions = sorted(1 - line.get_xdata()[0] for line in with_refs.axes[0].lines[1:])
    assert positions == pytest.approx(sorted(REFERENCE_SHAPE_BIAS.values()))
    with pytest.raises(InputError):
        shape_bias_figure([])
