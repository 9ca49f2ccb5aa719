"""GAN and pix2pix training steps: gaplens's loops vs the same networks in a bare PyTorch loop; the pix2pix ablation.

Issue 19's target: images per second of ``train_gan`` (DCGAN) and ``train_pix2pix`` (U-Net +
PatchGAN-70) within 1.05x of a bare loop that does the same arithmetic (same networks, optimizers,
batch draws and losses, no history, no seeding per chunk, no progress bar). The two take turns,
``--rounds`` times; each side's best round counts (the machine is shared).

The ablation (the paper's Table 1 on our data): pix2pix on silhouette -> textured synthetic pairs
with L1 alone, cGAN alone and L1 + cGAN, scored on held-out pairs by per-pixel L1 (images in
[0, 1]) and by a zoo ResNet trained on real textured images (accuracy on the translations, and
the classifier-based score of gaplens.gan.evaluate), with each variant's wall time.

    .venv/bin/python benchmarks/gan.py --threads 1
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from gaplens.gan import Pix2Pix, build_network, train_gan, train_pix2pix
from gaplens.gan.losses import discriminator_loss, generator_loss
from gaplens.gan.pairs import silhouette_pairs


def bare_gan(g, d, data, steps: int, batch: int, z_dim: int) -> None:
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g.train()
    d.train()
    for _ in range(steps):
        real = data[torch.randint(data.shape[0], (batch,))]
        fake = g(torch.randn(batch, z_dim))
        loss_d = discriminator_loss("nonsaturating", d(real), d(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        loss_g = generator_loss("nonsaturating", d(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)


def bare_pix2pix(model: Pix2Pix, a_all, b_all, steps: int, batch: int) -> None:
    g, d = model.generator, model.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    a_all, b_all = a_all * 2 - 1, b_all * 2 - 1
    order = torch.randperm(len(a_all))
    g.train()
    d.train()
    per_epoch = -(-len(a_all) // batch)
    for step in range(steps):
        within = step % per_epoch
        idx = order[within * batch:(within + 1) * batch]
        a, b = a_all[idx], b_all[idx]
        fake = g(a)
        loss_d = 0.5 * discriminator_loss("nonsaturating", d(torch.cat([a, b], 1)), d(torch.cat([a, fake.detach()], 1)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        loss_g = generator_loss("nonsaturating", d(torch.cat([a, fake], 1))) + 100.0 * (fake - b).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(rounds: int, steps: int) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    g0 = build_network("dcgan_generator", z_dim=64, channels=3, size=32, width=32)
    d0 = build_network("dcgan_discriminator", channels=3, size=32, width=32)
    data = torch.rand(4096, 3, 32, 32) * 2 - 1  # an epoch is 64 steps: one snapshot of 64 samples, at the end
    batch = 64
    train_gan(copy.deepcopy(g0), copy.deepcopy(d0), data, steps=2, batch_size=batch, progress=False, device="cpu")
    bare_gan(copy.deepcopy(g0), copy.deepcopy(d0), data, 2, batch, 64)  # warm-up: lazy imports, allocator
    ours, bare = [], []
    for _ in range(rounds):
        g, d = copy.deepcopy(g0), copy.deepcopy(d0)
        ours.append(timed(lambda g=g, d=d: train_gan(g, d, data, steps=steps, batch_size=batch, z_dim=64,
                                                     progress=False, device="cpu", log_every=10)))
        g, d = copy.deepcopy(g0), copy.deepcopy(d0)
        bare.append(timed(lambda g=g, d=d: bare_gan(g, d, data, steps, batch, 64)))
    rows.append({"loop": "DCGAN 32 px, width 32, batch 64", "ours": steps * batch / min(ours),
                 "bare": steps * batch / min(bare)})
    pairs = silhouette_pairs(64, size=64, seed=0)
    torch.manual_seed(0)
    m0 = Pix2Pix(1, 3, size=64, width=32, d_width=32)
    batch = 4
    ours, bare = [], []
    for _ in range(rounds):
        m = copy.deepcopy(m0)
        ours.append(timed(lambda m=m: train_pix2pix(m, pairs, epochs=1, batch_size=batch, progress=False,
                                                    device="cpu", log_every=10)))
        m = copy.deepcopy(m0)
        bare.append(timed(lambda m=m: bare_pix2pix(m, pairs.a, pairs.b, len(pairs) // batch, batch)))
    rows.append({"loop": "pix2pix 64 px (U-Net depth 6 + PatchGAN-70), width 32, batch 4",
                 "ours": len(pairs) / min(ours), "bare": len(pairs) / min(bare)})
    for r in rows:
        r["ratio"] = r["bare"] / r["ours"]
    return rows


def ablation(epochs: int, size: int, n_train: int, n_test: int) -> list[dict]:
    from gaplens.gan.evaluate import classifier_score
    from gaplens.train import fit
    from gaplens.zoo import build

    train = silhouette_pairs(n_train, classes=4, size=size, seed=0)
    test = silhouette_pairs(n_test, classes=4, size=size, seed=1)
    torch.manual_seed(0)
    judge = fit(build("resnet", 4, widths=(8, 16, 32), blocks=(1, 1, 1)), (train.b, train.labels),
                epochs=20, batch_size=32, lr=3e-3, device="cpu", progress=False).model
    real = classifier_score(judge, test.b, test.labels)
    rows = [{"variant": "real images (reference)", "l1": 0.0, "accuracy": real["accuracy"], "score": real["score"],
             "seconds": 0.0}]
    for name, weights in (("L1 alone", {"gan": 0.0}), ("cGAN alone", {"l1": 0.0}), ("L1 + cGAN", {})):
        torch.manual_seed(0)
        model = Pix2Pix(1, 3, size=size, width=16, d_width=16, **weights)
        start = time.perf_counter()
        train_pix2pix(model, train, epochs=epochs, batch_size=4, progress=False, device="cpu")
        seconds = time.perf_counter() - start
        torch.manual_seed(0)
        fake = model.translate(test.a)
        s = classifier_score(judge, fake, test.labels)
        rows.append({"variant": name, "l1": float((fake - test.b).abs().mean()), "accuracy": s["accuracy"],
                     "score": s["score"], "seconds": seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--skip-ablation", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    print("| loop | gaplens images/s | bare loop images/s | bare / gaplens |\n|---|---|---|---|")
    for r in speed(args.rounds, args.steps):
        print(f"| {r['loop']} | {r['ours']:.1f} | {r['bare']:.1f} | {r['ratio']:.3f} |")
    if args.skip_ablation:
        return
    print("\n| variant | per-pixel L1 | classifier accuracy | classifier score | train s |\n|---|---|---|---|---|")
    for r in ablation(args.epochs, args.size, args.n_train, args.n_test):
        print(f"| {r['variant']} | {r['l1']:.4f} | {r['accuracy']:.3f} | {r['score']:.2f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
