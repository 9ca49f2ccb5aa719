"""Pair sets (synthetic and folders, with their errors) and the classifier-based evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from gaplens.core.errors import DataError
from gaplens.gan.evaluate import classifier_score, two_sample_test
from gaplens.gan.pairs import folder_pairs, silhouette_pairs, world_pairs


def test_world_pairs_share_the_silhouette_and_differ_in_texture():
    from gaplens.data.synthetic import generate

    pairs = world_pairs(16, classes=4, size=32, seed=7)
    masks = generate(16, classes=4, size=32, seed=7).masks
    outside = ~masks.expand(-1, 3, -1, -1)
    # the background (outside the shared silhouette) is the same picture in both worlds
    assert torch.allclose(pairs.a[outside], pairs.b[outside])
    assert (pairs.a - pairs.b).abs().amax(dim=(1, 2, 3)).gt(0.05).sum() >= 8  # textures differ for most pairs
    sil = silhouette_pairs(4, size=32, seed=7)
    assert sil.a.shape == (4, 1, 32, 32) and set(sil.a.unique().tolist()) <= {0.0, 1.0}


def _write(folder, names, size=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((*size, 3), 20 * i, np.uint8)).save(folder / name)


def test_folder_pairs_match_by_name(tmp_path):
    _write(tmp_path / "A", ["x.png", "y.png"])
    _write(tmp_path / "B", ["y.jpg", "x.png"])
    pairs = folder_pairs(tmp_path)
    assert pairs.ids == ["x", "y"] and pairs.a.shape == pairs.b.shape == (2, 3, 8, 8)
    assert float(pairs.a[0].mean()) == 0.0 and float(pairs.b[0].mean()) == pytest.approx(20 / 255)


def test_folder_pair_mistakes_are_named(tmp_path):
    with pytest.raises(DataError, match="A: no such folder"):
        folder_pairs(tmp_path)
    _write(tmp_path / "A", ["x.png", "only_a.png"])
    _write(tmp_path / "B", ["x.png", "only_b.png"])
    with pytest.raises(DataError, match=r"only in .*A: only_a; only in .*B: only_b"):
        folder_pairs(tmp_path)
    _write(tmp_path / "A", ["only_b.png", "x.jpg"])
    with pytest.raises(DataError, match="two files named 'x'"):
        folder_pairs(tmp_path)


class Fixed(torch.nn.Module):
    """A linear classifier on the mean of each channel: probabilities known in closed form."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]]))
            self.lin.bias.zero_()

    def forward(self, x):
        return self.lin(x.mean(dim=(2, 3)))


def test_classifier_score_against_numpy():
    torch.manual_seed(0)
    images = torch.rand(10, 3, 4, 4)
    labels = torch.randint(0, 3, (10,))
    out = classifier_score(Fixed(), images, labels)
    logits = 4 * images.mean(dim=(2, 3)).double().numpy()
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    marginal = p.mean(0)
    score = math.exp(np.mean([stats.entropy(row, marginal) for row in p]))
    assert out["score"] == pytest.approx(score, rel=1e-5)
    assert out["accuracy"] == pytest.approx(float((p.argmax(1) == labels.numpy()).mean()))
    hist = np.bincount(p.argmax(1), minlength=3) / 10
    assert [out[f"histogram_{k}"] for k in range(3)] == pytest.approx(hist.tolist())
    assert out["class_entropy"] == pytest.approx(stats.entropy(hist[hist > 0]))


def test_two_sample_test_tells_different_sets_apart_and_not_equal_ones():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(80, 1, 16, 16, generator=g) * 0.5
    other = torch.rand(80, 1, 16, 16, generator=g) * 0.5 + 0.5
    same = torch.rand(80, 1, 16, 16, generator=g) * 0.5
    apart = two_sample_test(real, other, epochs=8, device="cpu")
    alike = two_sample_test(real, same, epochs=8, device="cpu")
    assert apart.accuracy > 0.9 and apart.p_value < 1e-6
    assert alike.p_value > 0.001 and alike.n_test == 80


def test_digits_load_from_scikit_learn_or_say_how_to_get_them():
    from gaplens.core.errors import InputError
    from gaplens.gan.digits import load_digits

    try:
        import sklearn.datasets as sk
    except ImportError:
        with pytest.raises(InputError, match="scikit-learn"):
            load_digits()
        return
    images, labels = load_digits(16)
    bunch = sk.load_digits()
    assert images.shape == (1797, 1, 16, 16) and torch.equal(labels, torch.as_tensor(bunch.target))
    np.testing.assert_allclose(load_digits(8)[0][:, 0].numpy(), bunch.images / 16.0, rtol=1e-6)
