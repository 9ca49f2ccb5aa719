"""The models a study works on: a label unique in the run, loaded once, digested by its weights.

A :class:`ModelRef` is made from a model spec (a checkpoint folder, ``torchvision:NAME``, ...),
from a model already in memory, or from a factory that trains one on demand (the demo's testbed);
it loads the model the first time a unit needs it and keeps it for the others.

Labels come from the specs: a checkpoint folder ``runs/r1/models/resnet`` is ``resnet``. Two
specs that would get one label are told apart by as many parent folders as it takes
(``r1/resnet``, ``r2/resnet``); the same model given twice is refused. No model is ever dropped
because its label collides with another's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from gaplens.core.errors import InputError

__all__ = ["ModelRef", "model_refs", "unique_labels"]


class ModelRef:
    """One model of a study: ``label``, the model (loaded lazily) and its weights digest.

    Args:
        label: the model's name in records, figures and unit keys.
        spec: a model spec for :func:`gaplens.load_model`, or ``None``.
        model: a model already in memory (wrapped as a :class:`~gaplens.core.model.Classifier`).
        factory: ``() -> model``, called on first use (e.g. to train it).
        identity: for a factory, a JSON-able description that determines the model (its
            architecture, data digest, settings): the digest is taken from it, so deciding that a
            unit is finished does not build the model.
        device: where a spec is loaded.
        trust_code: let a spec that is code (a TorchScript archive, ``module:factory``) be
            loaded, which runs it; see :func:`gaplens.load_model`. Only for code you trust.
    """

    def __init__(self, label: str, spec: str | None = None, model: nn.Module | None = None,
                 factory: Callable[[], nn.Module] | None = None, identity: Mapping[str, Any] | None = None,
                 device: str = "auto", trust_code: bool = False) -> None:
        if sum(x is not None for x in (spec, model, factory)) != 1:
            raise InputError(f"model {label!r}: give exactly one of a spec, a model or a factory")
        if factory is not None and identity is None:
            raise InputError(f"model {label!r}: a factory needs an identity (what determines the model)")
        self.label = label
        self.spec = spec
        self.identity = dict(identity) if identity is not None else None
        self._model = model
        self._factory = factory
        self._device = device
        self.trust_code = trust_code
        self._digest: str | None = None

    def load(self):
        """The model as an eval-mode :class:`~gaplens.core.model.Classifier` (loaded once)."""
        if self._model is None:
            from gaplens.core.model import load_model

            made = self._factory() if self._factory is not None else self.spec
            self._model = load_model(made, device=self._device, trust_code=self.trust_code)
        elif not _is_classifier(self._model):
            from gaplens.core.model import load_model

            self._model = load_model(self._model, device="cpu" if self._device == "auto" else self._device)
        return self._model

    @property
    def digest(self) -> str:
        """Digest of the weights (or of the identity, for a factory): see :mod:`.fingerprint`."""
        if self._digest is None:
            from gaplens.studies.fingerprint import digest, model_digest

            if self.identity is not None and self._factory is not None:
                self._digest = digest({"identity": self.identity})
            else:
                self._digest = model_digest(self.load())
        return self._digest

    def __getstate__(self) -> dict[str, Any]:
        """What travels to another process (a Ray worker): a ref made from a spec goes without its
        loaded model and with its path made absolute, so the worker loads it on its own device; a
        model given in memory goes with its weights; a factory is called first (it may train)."""
        state = dict(self.__dict__)
        state["_digest"] = self.digest  # as the driver computed it (a factory's comes from its identity)
        if self.spec is not None:
            state["_model"] = None
            if Path(self.spec).exists():
                state["spec"] = str(Path(self.spec).absolute())
        elif self._factory is not None:
            state["_model"] = self.load()
            state["_factory"] = None
        return state

    def __repr__(self) -> str:
        return f"ModelRef({self.label!r})"


def _is_classifier(model: object) -> bool:
    from gaplens.core.model import Classifier

    return isinstance(model, Classifier)


def _spec_parts(spec: str) -> list[str]:
    """The label candidates of a spec, shortest first: folder name, then with parents."""
    path = Path(spec)
    if path.exists():
        parts = [p for p in path.resolve().parts if p not in ("/", "")]
        parts[-1] = path.stem if path.is_file() else parts[-1]
        # a folder "models" says nothing: runs/r1/models/resnet -> r1/resnet
        meaningful = [p for p in parts[:-1] if p != "models"] + [parts[-1]]
        return ["/".join(meaningful[-k:]) for k in range(1, len(meaningful) + 1)]
    return [spec]


def unique_labels(specs: Sequence[str]) -> list[str]:
    """One label per spec, unique: the shortest distinguishing tail of each spec's path.

    Raises :class:`InputError` when one model is given twice (same file, or same spec).
    """
    keys = [str(Path(s).resolve()) if Path(s).exists() else s for s in specs]
    seen: dict[str, str] = {}
    for spec, key in zip(specs, keys, strict=True):
        if key in seen:
            raise InputError(f"models: {spec!r} and {seen[key]!r} are the same model; give each model once")
        seen[key] = spec
    candidates = [_spec_parts(s) for s in specs]
    depth = [0] * len(specs)
    while True:
        labels = [c[min(d, len(c) - 1)] for c, d in zip(candidates, depth, strict=True)]
        clashes = {lab for lab in labels if labels.count(lab) > 1}
        if not clashes:
            return labels
        grew = False
        for i, lab in enumerate(labels):
            if lab in clashes and depth[i] < len(candidates[i]) - 1:
                depth[i] += 1
                grew = True
        if not grew:  # cannot happen for distinct resolved paths, but never loop forever
            return [f"{lab}#{i + 1}" if lab in clashes else lab for i, lab in enumerate(labels)]


def model_refs(models: Sequence[str | nn.Module | ModelRef] | Mapping[str, str | nn.Module | ModelRef],
               device: str = "auto", trust_code: bool = False) -> list[ModelRef]:
    """:class:`ModelRef` s for specs, models or refs; a mapping gives the labels explicitly.

    Labels of specs are made unique with :func:`unique_labels`; explicit labels must be unique.
    ``trust_code`` is passed to the refs made from specs (refs given as refs keep theirs): it
    lets TorchScript archives and ``module:factory`` specs load, which runs their code.
    """
    if isinstance(models, Mapping):
        items = list(models.items())
    else:
        specs = [m for m in models if isinstance(m, (str, Path))]
        labels = iter(unique_labels([str(s) for s in specs]))
        items = []
        for i, m in enumerate(models):
            if isinstance(m, ModelRef):
                items.append((m.label, m))
            elif isinstance(m, (str, Path)):
                items.append((next(labels), m))
            else:
                items.append((f"model{i + 1}", m))
    if not items:
        raise InputError("models: give at least one model")
    refs = []
    for label, m in items:
        if isinstance(m, ModelRef):
            refs.append(m)
        elif isinstance(m, (str, Path)):
            refs.append(ModelRef(str(label), spec=str(m), device=device, trust_code=trust_code))
        elif isinstance(m, nn.Module):
            refs.append(ModelRef(str(label), model=m, device=device))
        else:
            raise InputError(f"model {label!r}: expected a spec, an nn.Module or a ModelRef, got {type(m).__name__}")
    labels = [r.label for r in refs]
    duplicates = sorted({lab for lab in labels if labels.count(lab) > 1})
    if duplicates:
        raise InputError(f"models: the label(s) {duplicates} are given to more than one model; labels must be unique")
    return refs
