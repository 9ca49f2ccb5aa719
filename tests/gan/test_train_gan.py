"""train_gan: k discriminator steps per generator step, every loss, seeded, resumable to the same weights."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.gan import LOSSES, build_network, gaussian, load_network, train_gan

TARGET = gaussian(2.0, 0.5)


def _nets(seed: int = 0, hidden: int = 32):
    torch.manual_seed(seed)
    return (build_network("mlp_generator", z_dim=2, dim=1, hidden=hidden),
            build_network("mlp_discriminator", dim=1, hidden=hidden))


def _weights(*nets) -> list[torch.Tensor]:
    return [t.detach().clone() for n in nets for t in n.state_dict().values()]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class Counting:
    """A sampler that counts its calls and can raise KeyboardInterrupt on one of them (a kill)."""

    def __init__(self, kill_at: int | None = None):
        self.calls, self.kill_at = 0, kill_at

    def __call__(self, n: int) -> torch.Tensor:
        self.calls += 1
        if self.kill_at is not None and self.calls == self.kill_at:
            raise KeyboardInterrupt
        return TARGET.sample(n)


def test_k_discriminator_steps_per_generator_step():
    data = Counting()
    g, d = _nets()
    run = train_gan(g, d, data, steps=6, k=3, batch_size=8, progress=False, device="cpu", log_every=3)
    assert data.calls == 18 and [r["step"] for r in run.history] == [3, 6]


def test_same_seed_same_weights_other_seed_other_weights():
    ends = []
    for seed in (0, 0, 1):
        g, d = _nets()
        train_gan(g, d, TARGET, steps=12, batch_size=16, seed=seed, progress=False, device="cpu")
        ends.append(_weights(g, d))
    assert _same(ends[0], ends[1]) and not _same(ends[0], ends[2])


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    options = dict(steps=20, k=2, batch_size=16, seed=5, save_every=5, log_every=3, sample_every=4, n_samples=8,
                   progress=False, device="cpu")
    g, d = _nets()
    whole = train_gan(g, d, Counting(), **options)
    g1, d1 = _nets()
    with pytest.raises(KeyboardInterrupt):  # killed in step 14 (its second D update = call 28)
        train_gan(g1, d1, Counting(kill_at=28), out=tmp_path / "run", **options)
    assert (tmp_path / "run" / "train_state.safetensors").is_file()
    assert not (tmp_path / "run" / "generator.safetensors").exists()
    g2, d2 = _nets(seed=99)  # other initial weights: the state file must replace them
    resumed = train_gan(g2, d2, Counting(), out=tmp_path / "run", resume=True, **options)
    assert _same(_weights(g, d), _weights(g2, d2))
    assert resumed.history == [{**r, "seconds": s["seconds"]} for r, s in zip(whole.history, resumed.history,
                                                                                strict=True)]
    assert list(resumed.samples) == [4, 8, 12, 16, 20]
    assert all(torch.equal(whole.samples[k], resumed.samples[k]) for k in whole.samples)
    # every file in the folder is safetensors or JSON; the generator loads back
    assert {p.suffix for p in (tmp_path / "run").iterdir()} == {".safetensors", ".json"}
    z = torch.randn(4, 2)
    assert torch.equal(load_network(tmp_path / "run", "generator")(z), g2(z))


def test_resume_with_other_settings_is_refused(tmp_path):
    g, d = _nets()
    train_gan(g, d, TARGET, steps=4, batch_size=8, out=tmp_path, progress=False, device="cpu")
    with pytest.raises(InputError, match="different settings.*'k': \\(1, 2\\)"):
        train_gan(g, d, TARGET, steps=4, k=2, batch_size=8, out=tmp_path, resume=True, progress=False,
                  device="cpu")
    with pytest.raises(InputError, match="resume=True needs out="):
        train_gan(g, d, TARGET, steps=4, resume=True, progress=False, device="cpu")


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_moves_p_g_towards_p_data(loss):
    """2-D data: in 1-D a WGAN-GP critic whose slope starts with the wrong sign can stay trapped, since the
    two-sided penalty puts a barrier at |grad| = 0 that a 1-D slope must cross to flip (a 2-D one rotates)."""
    target = gaussian([2.0, 2.0], 0.5)
    torch.manual_seed(1)
    g = build_network("mlp_generator", z_dim=2, dim=2, hidden=32)
    d = build_network("mlp_discriminator", dim=2, hidden=32)

    def gap() -> float:  # distance of the means + |std - 0.5|: 0 when p_g = p_data (for a Gaussian p_g)
        with torch.no_grad():
            s = g(torch.randn(20000, 2, generator=torch.Generator().manual_seed(0)))
        return float((s.mean(0) - 2.0).norm() + (s.std(0) - 0.5).abs().mean())

    before = gap()
    # WGAN-GP with its paper's k = 5 and betas (0, 0.9); the others with DCGAN-like settings
    wgan = loss == "wgan-gp"
    run = train_gan(g, d, target, steps=200 if wgan else 300, batch_size=128, lr=2e-3,
                    betas=(0.0, 0.9) if wgan else (0.5, 0.9), loss=loss, k=5 if wgan else 1, progress=False,
                    device="cpu", log_every=40 if wgan else 50)
    after = gap()
    assert after < 0.3 * before, (before, after)
    assert len(run.history) == (5 if wgan else 6)
    assert all(torch.isfinite(torch.tensor(r["d_loss"])) for r in run.history)


def test_bad_arguments_name_themselves():
    g, d = _nets()
    with pytest.raises(InputError, match="steps=0"):
        train_gan(g, d, TARGET, steps=0, progress=False)
    with pytest.raises(InputError, match="z_dim"):
        train_gan(torch.nn.Linear(2, 1), d, TARGET, steps=1, progress=False)
    with pytest.raises(InputError, match="data: a str"):
        train_gan(g, d, "data.csv", steps=1, progress=False)


def test_snapshots_are_thinned_to_a_bound():
    g, d = _nets()
    run = train_gan(g, d, TARGET, steps=20, batch_size=8, sample_every=1, max_snapshots=5, n_samples=4,
                    progress=False, device="cpu")
    assert len(run.samples) <= 5 and min(run.samples) == 1 and max(run.samples) == 20
