"""Judging generated images without Inception weights: a gaplens classifier's view, and a two-sample test.

- :func:`classifier_score`: a classifier trained by gaplens on the real classes labels the
  generated images: its class histogram (does every class appear?), its mean confidence, the
  "Inception score" ``exp(E_x KL(p(y|x) || p(y)))`` computed with it (1 = one class or no
  confidence, K = confident and balanced over K classes), and its accuracy when the intended
  labels are known (pix2pix: the synthetic class of the held-out pair).
- :func:`two_sample_test`: a classifier two-sample test (Lopez-Paz & Oquab 2017): train a small
  CNN to tell real from generated images on one half, measure its accuracy on the other half.
  0.5 means indistinguishable; the one-sided binomial p-value tests "better than chance".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen


def _three_channels(images: torch.Tensor, what: str) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"{what}: images {tuple(images.shape)}; expected (N, 1 or 3, H, W) in [0, 1]")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def classifier_score(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                     batch_size: int = 256) -> dict:
    """How a trained classifier sees ``images (N, 1|3, H, W)`` in ``[0, 1]`` (1-channel images are repeated to 3).

    Returns a flat dict: ``score`` (the Inception score computed with ``classifier``),
    ``confidence`` (mean top probability), ``class_entropy`` (entropy of the class histogram,
    nats; ``log K`` = balanced), ``histogram_k`` (fraction predicted as class ``k``), and, with
    ``labels (N,)``, ``accuracy``. The classifier's mode and flags are left as they were.
    """
    x = _three_channels(images, "classifier_score")
    if x.shape[0] == 0:
        raise InputError("classifier_score: no images")
    dev = next(classifier.parameters()).device
    with frozen(classifier):
        probs = torch.cat([F.softmax(classifier(b.to(dev)).float(), 1).cpu() for b in x.split(batch_size)])
    marginal = probs.mean(0)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    pred = probs.argmax(1)
    hist = torch.bincount(pred, minlength=probs.shape[1]).double() / len(pred)
    nz = hist[hist > 0]
    out = {"score": float(kl.exp()), "confidence": float(probs.max(1).values.mean()),
           "class_entropy": float(-(nz * nz.log()).sum()), "classes": int(probs.shape[1])}
    out.update({f"histogram_{k}": float(h) for k, h in enumerate(hist)})
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (x.shape[0],):
            raise InputError(f"classifier_score: labels {tuple(labels.shape)}; expected ({x.shape[0]},)")
        out["accuracy"] = float((pred == labels.cpu()).double().mean())
    return out


@dataclass
class TwoSampleTest:
    """Held-out ``accuracy`` of the real-vs-generated classifier on ``n_test`` images, its one-sided binomial
    ``p_value`` against 0.5, and the number of training images ``n_train``."""

    accuracy: float
    p_value: float
    n_test: int
    n_train: int

    def record(self) -> dict:
        return {"c2st_accuracy": self.accuracy, "c2st_p_value": self.p_value, "c2st_n_test": self.n_test}


def two_sample_test(real: torch.Tensor, fake: torch.Tensor, *, epochs: int = 10, seed: int = 0,
                    widths: tuple[int, ...] = (8, 16), device: str | torch.device = "auto") -> TwoSampleTest:
    """Classifier two-sample test of ``real`` vs ``fake`` images, both ``(N, 1|3, H, W)`` in ``[0, 1]``.

    Equal numbers of each are used (the smaller N); a random half of each trains a zoo VGG (via
    :func:`gaplens.train.fit`), the other half measures its accuracy.
    """
    from scipy.stats import binomtest

    from gaplens.train import fit
    from gaplens.zoo import build

    real, fake = _three_channels(real, "real"), _three_channels(fake, "fake")
    if real.shape[1:] != fake.shape[1:]:
        raise InputError(f"two_sample_test: real {tuple(real.shape)} and fake {tuple(fake.shape)} images differ")
    n = min(len(real), len(fake))
    if n < 8:
        raise InputError(f"two_sample_test: {n} images of each kind; expected at least 8")
    gen = torch.Generator().manual_seed(seed)
    real, fake = real[torch.randperm(len(real), generator=gen)[:n]], fake[torch.randperm(len(fake), generator=gen)[:n]]
    half = n // 2
    x_train = torch.cat([real[:half], fake[:half]]).float()
    y_train = torch.cat([torch.ones(half), torch.zeros(half)]).long()
    x_test = torch.cat([real[half:], fake[half:]]).float()
    y_test = torch.cat([torch.ones(n - half), torch.zeros(n - half)]).long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build("vgg", 2, widths=tuple(widths), convs_per_stage=(1,) * len(widths))
    result = fit(net, (x_train, y_train), epochs=epochs, lr=3e-3, batch_size=32, seed=seed, device=device,
                 progress=False, class_names=["fake", "real"])
    dev = next(result.model.parameters()).device
    with torch.no_grad():
        pred = torch.cat([result.model(b.to(dev)).argmax(1).cpu() for b in x_test.split(256)])
    correct = int((pred == y_test).sum())
    p = binomtest(correct, len(y_test), 0.5, alternative="greater").pvalue
    return TwoSampleTest(correct / len(y_test), float(p) if math.isfinite(p) else 1.0, len(y_test), 2 * half)
