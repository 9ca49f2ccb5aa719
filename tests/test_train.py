"""Training: learns, resumes to the same weights after a kill, random labels, augmentation."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.core.model import load_model
from gaplens.data.synthetic import generate
from gaplens.train import STATE_FILE, fit, random_label_permutation
from gaplens.zoo import build

SMALL = {"widths": (8, 16, 32), "blocks": (1, 1, 1)}


def _tiny_sets():
    train = generate(480, classes=4, size=32, texture_agreement=1.0, seed=0)
    test = generate(200, classes=4, size=32, texture_agreement=1.0, seed=50)
    return train, test


def test_reaches_accuracy_on_small_synthetic_set(tmp_path):
    train, test = _tiny_sets()
    torch.manual_seed(0)
    result = fit(build("resnet", 4, **SMALL), train, test, epochs=6, lr=3e-3, batch_size=32,
                 progress=False, checkpoint_dir=tmp_path)
    assert result.history[-1]["val_accuracy"] >= 0.85
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert not result.model.training
    reloaded = load_model(tmp_path, device="cpu")
    assert reloaded.class_names == train.class_names and reloaded.input_size == (32, 32)
    x = test.images[:8]
    torch.testing.assert_close(reloaded(x), result.model(x))


class _Killer:
    """An augment hook that raises (a simulated kill) at a given call."""

    def __init__(self, at: int | None) -> None:
        self.at, self.calls = at, 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.at is not None and self.calls == self.at:
            raise KeyboardInterrupt
        return images + 0.01 * torch.randn_like(images)  # uses the global RNG: must be reseeded


def test_resume_after_interrupted_epoch_gives_same_weights(tmp_path):
    train = generate(96, classes=3, size=16, seed=1)
    kwargs = dict(epochs=3, batch_size=32, progress=False, seed=5)

    torch.manual_seed(0)
    clean = fit(build("vgg", 3, widths=(4, 8), convs_per_stage=(1, 1)), train,
                augment=_Killer(None), checkpoint_dir=tmp_path / "clean", **kwargs)

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):  # killed in the middle of epoch 2 (3 batches per epoch)
        fit(build("vgg", 3, widths=(4, 8), convs_per_stage=(1, 1)), train, augment=_Killer(5),
            checkpoint_dir=tmp_path / "killed", **kwargs)
    assert torch.load(tmp_path / "killed" / STATE_FILE, weights_only=True)["epoch"] == 1
    torch.manual_seed(123)  # a different initialisation: resume must overwrite it
    resumed = fit(build("vgg", 3, widths=(4, 8), convs_per_stage=(1, 1)), train, augment=_Killer(None),
                  checkpoint_dir=tmp_path / "killed", resume=True, **kwargs)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for (name, a), b in zip(clean.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_resume_refuses_other_settings(tmp_path):
    train = generate(32, classes=2, size=16, seed=1)
    net = build("vgg", 2, widths=(4,), convs_per_stage=(1,))
    fit(net, train, epochs=1, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(InputError, match="different settings"):
        fit(build("vgg", 2, widths=(4,), convs_per_stage=(1,)), train, epochs=1, lr=0.5,
            progress=False, checkpoint_dir=tmp_path, resume=True)


def test_random_labels_are_a_fixed_permutation():
    labels = torch.arange(10).repeat(20)
    a = random_label_permutation(labels, seed=3)
    assert torch.equal(torch.bincount(a), torch.bincount(labels))
    assert torch.equal(a, random_label_permutation(labels, seed=3))
    assert (a != labels).float().mean() > 0.8


def test_random_labels_model_does_not_generalize():
    train, test = _tiny_sets()
    torch.manual_seed(0)
    result = fit(build("resnet", 4, **SMALL), train, test, epochs=4, lr=3e-3, batch_size=32,
                 random_labels=True, progress=False)
    assert result.history[-1]["val_accuracy"] < 0.45  # chance is 0.25


def test_augment_is_applied():
    seen = []
    train = generate(20, classes=2, size=16, seed=1)

    def augment(images):
        seen.append(images.shape[0])
        return images.flip(-1)

    fit(build("vgg", 2, widths=(4,), convs_per_stage=(1,)), train, epochs=2, batch_size=8,
        augment=augment, progress=False)
    assert seen == [8, 8, 4, 8, 8, 4]


def test_bad_arguments():
    train = generate(8, classes=2, size=16, seed=1)
    net = build("vgg", 2, widths=(4,), convs_per_stage=(1,))
    with pytest.raises(InputError, match="epochs"):
        fit(net, train, epochs=0, progress=False)
    with pytest.raises(InputError, match="optimizer"):
        fit(net, train, epochs=1, optimizer="lbfgs", progress=False)
    with pytest.raises(InputError, match="checkpoint_dir"):
        fit(net, train, epochs=1, resume=True, progress=False)
    with pytest.raises(InputError, match="shape"):
        fit(net, (torch.rand(4, 1, 8, 8), torch.zeros(4)), epochs=1, progress=False)


@pytest.mark.parametrize(("option", "value"), [
    ("lr", -1), ("lr", float("nan")), ("lr", float("inf")), ("lr", 0),
    ("weight_decay", float("nan")), ("momentum", 1.5),
])
def test_non_finite_or_out_of_range_rates_are_refused(option, value):
    net = build("vgg", 2, widths=(4,), convs_per_stage=(1,))
    with pytest.raises(InputError, match=rf"^{option}={value!r}; expected"):
        fit(net, generate(8, classes=2, size=16, seed=1), epochs=1, progress=False, **{option: value})
