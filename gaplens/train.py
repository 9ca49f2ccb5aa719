"""One training loop for every classifier gaplens fits.

Seeded and resumable: each epoch's shuffle and the global RNG are derived from ``(seed, epoch)``,
and after every epoch the full training state (weights, optimizer, schedule, history) is written
atomically, so a run killed mid-epoch and restarted with ``resume=True`` finishes with the same
weights as a run that was never interrupted. ``random_labels=True`` trains on a fixed
permutation of the labels (the data randomization test of Adebayo et al. 2018);
``augment=`` is applied to each training batch (the distortion-training protocol).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.datasets import class_names_of, dataset_length, iterate_batches, tensor_pair
from gaplens.core.device import model_device, resolve_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen
from gaplens.core.model import Classifier, save_checkpoint
from gaplens.core.training_state import load_training_state, save_training_state

STATE_FILE = "train_state.pt"


@dataclass
class FitResult:
    """The trained model (eval mode) and one record per epoch."""

    model: Classifier
    history: list[dict] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def records(self) -> list[dict]:
        return self.history


def _optimizer(name: str, params, lr: float, weight_decay: float, momentum: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    raise InputError(f"optimizer={name!r}; expected 'adam', 'adamw' or 'sgd'")


def random_label_permutation(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """The training labels under a fixed permutation: class frequencies kept, image-label link broken."""
    gen = torch.Generator().manual_seed(seed + 7919)
    return labels[torch.randperm(labels.shape[0], generator=gen)]


def fit(
    model: nn.Module,
    train_set: object,
    val_set: object | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    schedule: str = "cosine",
    seed: int = 0,
    random_labels: bool = False,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    progress: bool = True,
    class_names: Sequence[str] | None = None,
    input_size: Sequence[int] | None = None,
) -> FitResult:
    """Train ``model`` with cross-entropy on ``train_set``; returns the model in eval mode.

    Args:
        model: a network or a :class:`Classifier`; a bare network is wrapped (identity
            normalization) with the dataset's class names and image size.
        train_set, val_set: ``(images, labels)`` tensors, an object with ``.images``/``.labels``
            (``data.synthetic.generate``'s sets), or a torch Dataset of ``(image, label)``.
            Images are ``(N, 3, H, W)`` in ``[0, 1]``.
        epochs, batch_size, lr, weight_decay, momentum: the usual; ``optimizer`` is
            ``"adam"``, ``"adamw"`` or ``"sgd"``; ``schedule`` ``"cosine"`` (per step) or ``"constant"``.
        seed: seeds initialisation-independent randomness: shuffles, augmentation, random labels.
        random_labels: train on a fixed random permutation of the labels.
        augment: ``augment(images) -> images`` applied to each training batch on the device.
        checkpoint_dir: write ``train_state.pt`` after every epoch and the final gaplens
            checkpoint (``model.safetensors`` + ``model.json``) there.
        resume: continue from ``checkpoint_dir``'s state if present (the settings must match).
        device: where to train (``"auto"``: CUDA when present).
        progress: show a tqdm bar over epochs.

    >>> import torch
    >>> from gaplens.zoo import build
    >>> x, y = torch.rand(32, 3, 16, 16), torch.randint(0, 2, (32,))
    >>> result = fit(build("vgg", 2, widths=(8,), convs_per_stage=(1,)), (x, y), epochs=1, progress=False)
    >>> len(result.history)
    1
    """
    if epochs < 1:
        raise InputError(f"epochs={epochs}; expected >= 1")
    # NaN compares False with everything, so each test is written to fail on it.
    for name, value, ok, expected in (
        ("lr", lr, lambda v: 0 < v < math.inf, "a finite number > 0"),
        ("weight_decay", weight_decay, lambda v: 0 <= v < math.inf, "a finite number >= 0"),
        ("momentum", momentum, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise InputError(f"{name}={value!r}; expected {expected}")
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}; expected >= 1")
    if schedule not in ("cosine", "constant"):
        raise InputError(f"schedule={schedule!r}; expected 'cosine' or 'constant'")
    if resume and checkpoint_dir is None:
        raise InputError("resume=True needs checkpoint_dir= (where the interrupted run saved its state)")
    dev = resolve_device(device)
    n = dataset_length(train_set)
    if n == 0:
        raise InputError("train_set is empty")
    pair = tensor_pair(train_set)
    if not isinstance(model, Classifier):
        size = input_size
        if size is None and pair is not None:
            size = tuple(pair[0].shape[-2:])
        model = Classifier(model, class_names=class_names or class_names_of(train_set), input_size=size)
    elif class_names is not None:
        model.class_names = list(class_names)
    model.to(dev)

    if pair is not None:
        labels = pair[1]
        if random_labels:
            labels = random_label_permutation(labels, seed)
        train_data: object = (pair[0], labels)
    else:
        if random_labels:
            raise InputError("random_labels=True needs a tensor dataset (images, labels)")
        train_data = train_set

    opt = _optimizer(optimizer, model.parameters(), lr, weight_decay, momentum)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total_steps = epochs * steps_per_epoch
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
        if schedule == "cosine"
        else torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    )
    parts = {"model": model, "optimizer": opt, "scheduler": sched}  # what the resumable state holds
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
                "schedule": schedule, "seed": seed, "random_labels": random_labels, "n": n}
    history: list[dict] = []
    first_epoch = 0
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume and folder is not None and (folder / STATE_FILE).is_file():
        first_epoch, history = load_training_state(folder / STATE_FILE, "epoch", parts, settings)

    from tqdm.auto import tqdm

    bar = tqdm(range(first_epoch, epochs), desc="training", disable=not progress, initial=first_epoch,
               total=epochs, unit="epoch")
    for epoch in bar:
        start = time.perf_counter()
        torch.manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        model.train()
        loss_sum, correct = 0.0, 0
        for _, images, targets in iterate_batches(train_data, batch_size, order):
            images, targets = images.to(dev, non_blocking=True), targets.to(dev, non_blocking=True)
            if augment is not None:
                images = augment(images)
            logits = model(images)
            loss = F.cross_entropy(logits, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * targets.shape[0]
            correct += int((logits.argmax(1) == targets).sum())
        record = {"epoch": epoch + 1, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                  "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
        if val_set is not None:
            record["val_accuracy"] = accuracy(model, val_set, batch_size=max(batch_size, 256))
        history.append(record)
        bar.set_postfix({k: round(v, 3) for k, v in record.items() if k in ("train_loss", "val_accuracy")})
        if folder is not None:
            save_training_state(folder / STATE_FILE, "epoch", epoch + 1, parts, settings, history)
    model.eval()
    saved = save_checkpoint(model, folder) if folder is not None and _savable(model) else None
    return FitResult(model=model, history=history, checkpoint=saved)


def _savable(model: Classifier) -> bool:
    return getattr(model.network, "gaplens_arch", None) is not None


def accuracy(model: nn.Module, dataset: object, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (eval mode; the model's mode is restored)."""
    dev = model_device(model)
    correct = total = 0
    with frozen(model):
        for _, images, labels in iterate_batches(dataset, batch_size):
            pred = model(images.to(dev)).argmax(1).cpu()
            correct += int((pred == labels).sum())
            total += labels.shape[0]
    return correct / max(total, 1)
