"""Shape bias from recorded decisions: the published raw-data files of the cue-conflict experiment.

The raw data of Geirhos et al. (ICLR 2019), as model-vs-human distributes it, is one CSV file per
observer and session with one row per trial. The columns used here (names are matched without
regard to case) are:

- ``subj`` (or ``subject``): who decided: a human observer (``subject-01``) or a model;
- ``session`` (optional);
- ``object_response`` (or ``response``): the category chosen; ``na`` (or empty) = no decision;
- ``category``: the *shape* category of the stimulus;
- ``imagename`` (or ``image_name``): the stimulus file; its part after the last underscore is
  the cue-conflict name ``<shape><n>-<texture><m>.<ext>``, e.g.
  ``0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png`` -> texture ``bicycle``.

The analysis is model-vs-human's ``ShapeBias``: trials whose shape category equals the texture
category carry no cue conflict and are excluded; among the others a response naming the shape
is a shape decision, one naming the texture a texture decision, anything else (``na`` included)
neither; shape bias = shape / (shape + texture) decisions (the per-category values select the
trials by their shape category, ``category``). :func:`shape_bias_of_recorded` computes it for the
subjects pooled (every trial of every file given: pass the files of one group, e.g. the human
observers) and for each subject, with exact 95% intervals.

>>> import io, tempfile, pathlib
>>> rows = "subj,session,object_response,category,imagename\\n" + "\\n".join([
...     "subject-01,1,cat,cat,0001_x_cat1-dog2.png", "subject-01,1,dog,cat,0002_x_cat2-dog1.png",
...     "subject-02,1,na,dog,0003_x_dog1-cat1.png", "subject-02,1,dog,dog,0004_x_dog1-dog2.png"])
>>> path = pathlib.Path(tempfile.mkdtemp()) / "raw.csv"
>>> _ = path.write_text(rows)
>>> results = shape_bias_of_recorded(read_decisions([path]))
>>> [(name, r.n_trials, r.n_shape, r.n_texture) for name, r in results.items()]
[('all subjects', 3, 1, 1), ('subject-01', 2, 1, 1), ('subject-02', 1, 0, 0)]
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from gaplens.bias.shape_bias import ShapeBiasResult, parse_cue_conflict_name, shape_bias_from_decisions
from gaplens.core.errors import DataError, InputError

__all__ = ["POOLED", "RecordedDecisions", "read_decisions", "shape_bias_of_recorded", "texture_of_image_name"]

#: Name of the pooled decision maker (all subjects of the files together).
POOLED = "all subjects"
#: Responses that are no decision.
NO_DECISION = frozenset({"na", ""})
# column -> accepted header names (lower case), first match wins
_COLUMNS = {
    "subject": ("subj", "subject"),
    "session": ("session",),
    "response": ("object_response", "response"),
    "category": ("category",),
    "image": ("imagename", "image_name", "image"),
}
_REQUIRED = ("subject", "response", "category", "image")


def texture_of_image_name(image_name: str) -> tuple[str, str]:
    """``(shape, texture)`` of a published image name: the part after its last underscore is ``dog10-bird2.png``.

    >>> texture_of_image_name("0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png")
    ('airplane', 'bicycle')

    Raises:
        DataError: the name's last part is not a cue-conflict name.
    """
    tail = Path(str(image_name)).name.rsplit("_", 1)[-1]
    return parse_cue_conflict_name(tail)


@dataclass
class RecordedDecisions:
    """Trials read from raw-data files, one entry per trial.

    Attributes:
        class_names: every category named by a shape, texture or response, sorted.
        decisions: ``(N,)`` int64 index into ``class_names`` of the response, ``-1`` for ``na``.
        shape_labels, texture_labels: ``(N,)`` int64: the stimulus' shape (``category``) and texture.
        subjects, sessions, image_names, sources: per trial (``sources``: the file it came from).
    """

    class_names: list[str]
    decisions: torch.Tensor
    shape_labels: torch.Tensor
    texture_labels: torch.Tensor
    subjects: list[str]
    sessions: list[str]
    image_names: list[str]
    sources: list[str]

    def subject_names(self) -> list[str]:
        """The subjects in order of first appearance."""
        return list(dict.fromkeys(self.subjects))


def _header(path: Path, fields: Sequence[str] | None) -> dict[str, str]:
    lower = {f.strip().lower(): f for f in fields or ()}
    found = {}
    for column, names in _COLUMNS.items():
        match = next((lower[n] for n in names if n in lower), None)
        if match is not None:
            found[column] = match
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        expected = ", ".join("/".join(_COLUMNS[c]) for c in missing)
        raise DataError(f"{path}: no column {expected} (columns: {list(lower)}); expected the published raw-data "
                        "format: subj, session, object_response, category, imagename")
    return found


def read_decisions(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> RecordedDecisions:
    """Read one or more raw-data CSV files (see the module docstring) into :class:`RecordedDecisions`.

    Raises:
        InputError: no file given. DataError: a missing file or column, an empty file, or an image
            name that is not a cue-conflict name (the message names the file and line).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("decisions: give at least one raw-data CSV file")
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such decision file")
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            cols = _header(path, reader.fieldnames)
            count = 0
            for line, row in enumerate(reader, start=2):
                value = {c: (row.get(name) or "").strip() for c, name in cols.items()}
                if not any(value.values()):
                    continue
                try:
                    _, texture = texture_of_image_name(value["image"])
                except DataError:
                    raise DataError(f"{path}, line {line}: image name {value['image']!r} does not end in a "
                                    "cue-conflict name like 'airplane1-bicycle2.png'") from None
                shape = value["category"]
                if not shape or shape.lower() in NO_DECISION:
                    raise DataError(f"{path}, line {line}: empty category (the stimulus' shape category)")
                rows.append((value["subject"], value.get("session", ""), value["response"], shape, texture,
                             value["image"], str(path)))
                count += 1
        if count == 0:
            raise DataError(f"{path}: no trials")
    names = sorted({r[3] for r in rows} | {r[4] for r in rows}
                   | {r[2] for r in rows if r[2].lower() not in NO_DECISION})
    index = {n: i for i, n in enumerate(names)}
    return RecordedDecisions(
        class_names=names,
        decisions=torch.tensor([index[r[2]] if r[2].lower() not in NO_DECISION else -1 for r in rows],
                               dtype=torch.int64),
        shape_labels=torch.tensor([index[r[3]] for r in rows], dtype=torch.int64),
        texture_labels=torch.tensor([index[r[4]] for r in rows], dtype=torch.int64),
        subjects=[r[0] for r in rows], sessions=[r[1] for r in rows], image_names=[r[5] for r in rows],
        sources=[r[6] for r in rows],
    )


def shape_bias_of_recorded(decisions: RecordedDecisions, stimuli: str = "recorded decisions",
                           per_subject: bool = True) -> dict[str, ShapeBiasResult]:
    """Shape bias of the subjects pooled (key :data:`POOLED`) and, with ``per_subject``, of each subject.

    Each value is a :class:`~gaplens.bias.ShapeBiasResult` (counts, shape bias, Clopper-Pearson
    95% interval, per shape category); its records name the decision maker in ``model``. A subject
    without any cue-conflict trial is left out of the per-subject results.
    """
    if POOLED in decisions.subjects:
        raise DataError(f"a subject is called {POOLED!r}, the name of the pooled result; rename it")
    out = {POOLED: shape_bias_from_decisions(decisions.decisions, decisions.shape_labels, decisions.texture_labels,
                                             decisions.class_names, model=POOLED, stimuli=stimuli,
                                             ids=decisions.image_names)}
    if per_subject:
        subjects = decisions.subjects
        for name in decisions.subject_names():
            rows = torch.tensor([s == name for s in subjects])
            if not bool((decisions.shape_labels[rows] != decisions.texture_labels[rows]).any()):
                continue
            out[name] = shape_bias_from_decisions(
                decisions.decisions[rows], decisions.shape_labels[rows], decisions.texture_labels[rows],
                decisions.class_names, model=name, stimuli=stimuli,
                ids=[n for n, keep in zip(decisions.image_names, rows.tolist(), strict=True) if keep])
    return out
