"""pix2pix: the paper's losses, resume, the ablation switches, translation that leaves the model as it was."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import CheckpointError, InputError
from gaplens.gan import Pix2Pix, train_pix2pix
from gaplens.gan.pairs import silhouette_pairs

SMALL = dict(size=32, width=4, d_width=4)


def _weights(model) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def pairs():
    return silhouette_pairs(12, classes=4, size=32, seed=0)


def test_one_step_matches_the_paper_losses_by_hand(pairs):
    """G's first loss is BCE(D(a, G(a)), real) + 100 |G(a) - b|_1 on [-1, 1] images (batch of all 12)."""
    torch.manual_seed(0)
    model = Pix2Pix(1, 3, **SMALL)
    torch.manual_seed(0)
    ref = Pix2Pix(1, 3, **SMALL)
    run = train_pix2pix(model, pairs, epochs=1, batch_size=12, log_every=1, progress=False, device="cpu", seed=3)
    a, b = pairs.a * 2 - 1, pairs.b * 2 - 1
    order = torch.randperm(12, generator=torch.Generator().manual_seed((3 * 1_000_003 + 0) % 2 ** 63 + 1))
    a, b = a[order], b[order]
    torch.manual_seed((3 * 1_000_003) % 2 ** 63)
    ref.train()
    fake = ref.generator(a)
    real_logits = ref.discriminator(torch.cat([a, b], 1))
    fake_logits = ref.discriminator(torch.cat([a, fake.detach()], 1))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits)))
    assert run.history[0]["d_loss"] == pytest.approx(float(d_loss.detach()), rel=1e-5)
    assert run.history[0]["g_l1"] == pytest.approx(float((fake - b).abs().mean().detach()), rel=1e-5)


def test_resume_after_a_kill_ends_with_the_same_weights(pairs, tmp_path, monkeypatch):
    options = dict(epochs=3, batch_size=4, seed=1, progress=False, device="cpu", n_samples=2)
    torch.manual_seed(0)
    whole_model = Pix2Pix(1, 3, **SMALL)
    whole = train_pix2pix(whole_model, pairs, **options)
    torch.manual_seed(0)
    killed = Pix2Pix(1, 3, **SMALL)
    calls = {"n": 0}
    original = killed.generator.forward

    def dying(x):
        calls["n"] += 1
        if calls["n"] == 5:  # step 5 of 9: the first epoch (3 steps) was saved
            raise KeyboardInterrupt
        return original(x)

    monkeypatch.setattr(killed.generator, "forward", dying)
    with pytest.raises(KeyboardInterrupt):
        train_pix2pix(killed, pairs, out=tmp_path, **options)
    torch.manual_seed(42)
    fresh = Pix2Pix(1, 3, **SMALL)
    resumed = train_pix2pix(fresh, pairs, out=tmp_path, resume=True, **options)
    assert _same(_weights(whole_model), _weights(fresh))
    assert [r["g_loss"] for r in resumed.history] == [r["g_loss"] for r in whole.history]
    assert all(torch.equal(whole.samples[e], resumed.samples[e]) for e in (1, 2, 3))
    loaded = Pix2Pix.load(tmp_path)
    assert loaded.l1 == 100.0 and loaded.discriminator_name == "patch70"
    assert torch.equal(loaded.translate(pairs.a[:2], dropout=False), fresh.translate(pairs.a[:2], dropout=False))


def test_l1_alone_never_trains_the_discriminator_and_cgan_alone_ignores_l1(pairs):
    torch.manual_seed(0)
    l1_only = Pix2Pix(1, 3, gan=0.0, **SMALL)
    before = _weights(l1_only.discriminator)
    run = train_pix2pix(l1_only, pairs, epochs=1, batch_size=6, progress=False, device="cpu")
    assert _same(before, _weights(l1_only.discriminator)) and run.history[-1]["d_loss"] == 0.0
    cgan = Pix2Pix(1, 3, l1=0.0, **SMALL)
    run = train_pix2pix(cgan, pairs, epochs=1, batch_size=6, log_every=1, progress=False, device="cpu")
    assert all(r["g_loss"] == pytest.approx(r["g_gan"]) for r in run.history)
    with pytest.raises(InputError, match="no loss"):
        Pix2Pix(1, 3, l1=0.0, gan=0.0)


def test_translate_keeps_dropout_as_noise_and_leaves_the_model_as_it_was(pairs):
    torch.manual_seed(0)
    model = Pix2Pix(1, 3, **SMALL).train()
    buffers = [b.clone() for b in model.buffers()]
    torch.manual_seed(1)
    first = model.translate(pairs.a[:2])
    second = model.translate(pairs.a[:2])
    assert not torch.equal(first, second)  # dropout on: two draws differ
    assert torch.equal(model.translate(pairs.a[:2], dropout=False), model.translate(pairs.a[:2], dropout=False))
    assert first.shape == (2, 3, 32, 32) and 0 <= float(first.min()) and float(first.max()) <= 1
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def test_mismatched_channels_and_bad_checkpoints_are_clear_errors(pairs, tmp_path):
    with pytest.raises(InputError, match="1 -> 3 channels; the model translates 3 -> 3"):
        train_pix2pix(Pix2Pix(3, 3, **SMALL), pairs, epochs=1, progress=False)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Pix2Pix.load(tmp_path)
