"""One runner for every study: the store, run status, honest resume, progress, files.

::

    from gaplens.studies import Runner, Explain
    with Runner("runs/x", command="explain") as runner:
        result = runner.run(Explain(model, images="synthetic:n=6,seed=5"))

or ``run_study(Explain(...), "runs/x")`` for one study. For each study the runner

1. asks it for its units and computes each unit's *fingerprint*: a digest of the study's name,
   the unit's key, its ``inputs`` (model weight digests, data digests, options, seeds) and the
   fingerprints of the units it depends on;
2. deletes the units of the same scopes that this plan no longer contains (a run asked for
   other methods, models or distortions: the old ones would otherwise mix into the report);
3. skips each unit already committed with the same fingerprint whose files are all still there,
   runs the others (``fresh=True``: all of them) and commits each one's records, arrays and
   figures in one transaction, the old records of a changed unit replaced in that same
   transaction;
4. marks the run ``ok`` when every study finished and ``failed`` when anything raised (also on
   Ctrl-C), so ``gaplens report`` shows what happened.

Where the units run is the *executor*'s business (:mod:`gaplens.studies.executors`): ``"local"``
(default, in this process, in order) or ``"ray"`` (a pool of Ray actors). Either way the outputs
come back in plan order and only this process writes ``run.db``, one transaction per unit.

A killed run resumes to the same records as an uninterrupted one: finished units are kept,
the unit that was running left nothing behind.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaplens.core.errors import StoreError
from gaplens.store import RunStore
from gaplens.studies.base import Study, Unit, UnitOutput
from gaplens.studies.executors import Executor, make_executor
from gaplens.studies.fingerprint import digest

__all__ = ["Context", "Runner", "StudyResult", "run_study", "safe_name"]

logger = logging.getLogger(__name__)


def _interactive() -> bool:
    import sys

    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def safe_name(text: str) -> str:
    """``text`` as a file-name fragment: letters, digits, ``-_.``; everything else ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or "_"


@dataclass
class Context:
    """What a unit may use besides its own parameters.

    Attributes:
        store: the run's database (read it for earlier units' records; write only through outputs).
        run_dir: the run folder.
        device: the device string the run was asked for.
        progress: whether progress bars are wanted.
    """

    store: RunStore
    run_dir: Path
    device: str = "auto"
    progress: bool = True

    def load_array(self, study: str, unit: str, name: str | None = None) -> np.ndarray:
        """An array a committed unit saved (its ``maps/*.npy`` artifact), read without unpickling."""
        for art in self.store.artifacts(study):
            if art["unit"] == unit and art["kind"] == "array" and (
                    name is None or art["path"].endswith(f"_{safe_name(name)}.npy")):
                path = self.run_dir / art["path"]
                try:
                    return np.load(path, allow_pickle=False)
                except (OSError, ValueError, EOFError) as exc:
                    raise StoreError(f"{path}: saved array of {study}/{unit} is unreadable ({exc}); "
                                     "re-run with fresh=True (--fresh)") from None
        raise StoreError(f"{self.run_dir}: no saved array for {study}/{unit}; re-run with fresh=True (--fresh)")


@dataclass
class StudyResult:
    """What a study's run did: its records (of the planned units), and which units ran or were skipped."""

    study: str
    records: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


class Runner:
    """Runs studies into one run folder as one entry of its run table (see the module docstring).

    Args:
        out: the run folder (created).
        command: what the run table calls this run (e.g. ``"explain"``).
        params: parameters recorded with the run (JSON-able).
        fresh: recompute every unit even when its fingerprint is unchanged.
        device: passed to studies through the :class:`Context`.
        progress: show one progress bar per study over its units (and let studies show theirs);
            only on an interactive terminal, as tqdm does by default.
        report: render ``report.html`` when the runner closes (also after a failure).
        executor: where units run: ``"local"`` (default), ``"ray"`` or an
            :class:`~gaplens.studies.executors.Executor` (e.g. ``RayExecutor(address="auto")``);
            closed when the runner closes. Results do not depend on it.
    """

    def __init__(self, out: str | os.PathLike, command: str = "run", params: dict | None = None, *,
                 fresh: bool = False, device: str = "auto", progress: bool = True, report: bool = True,
                 executor: str | Executor | None = None) -> None:
        self.out = Path(out)
        self.command = command
        self.params = dict(params or {})
        self.fresh = fresh
        self.device = device
        self.progress = progress and _interactive()
        self.report = report
        self.executor = make_executor(executor)
        self.store: RunStore | None = None
        self._run_id: int | None = None
        self.report_path: Path | None = None

    def __enter__(self) -> Runner:
        self.store = RunStore(self.out)
        try:
            params = {**self.params, "fresh": self.fresh}
            if self.executor.name != "local":
                params.update(self.executor.describe())
            self._run_id = self.store.start_run(self.command, params)
        except BaseException:
            self.store.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.store is not None
        try:
            self.store.finish_run(self._run_id, "ok" if exc_type is None else "failed")
        finally:
            try:
                self.executor.close()
            finally:
                self.store.close()
        if self.report:
            from gaplens.studies.report import render_report

            try:
                self.report_path = render_report(self.out)
            except Exception:
                if exc_type is None:
                    raise
                logger.exception("could not render the report of the failed run %s", self.out)

    @property
    def context(self) -> Context:
        if self.store is None:
            raise StoreError("Runner is not open: use `with Runner(...) as runner:`")
        return Context(self.store, self.store.run_dir, self.device, self.progress)

    def plan(self, study: Study) -> list[tuple[Unit, str]]:
        """The study's units with their fingerprints, in order."""
        ctx = self.context
        units = study.units(ctx)
        keys = [u.key for u in units]
        if len(set(keys)) != len(keys):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            raise StoreError(f"study {study.name!r} planned the unit(s) {dup} twice")
        fingerprints: dict[str, str] = {}
        planned = []
        for unit in units:
            missing = [d for d in unit.depends if d not in fingerprints]
            if missing:
                raise StoreError(f"unit {study.name}/{unit.key} depends on {missing}, not planned before it")
            fp = digest({"study": study.name, "key": unit.key, "inputs": unit.inputs,
                         "depends": [fingerprints[d] for d in unit.depends]})
            fingerprints[unit.key] = fp
            planned.append((unit, fp))
        return planned

    def run(self, study: Study) -> StudyResult:
        """Run one study's units that are not done with the same fingerprint; return its records."""
        from tqdm.auto import tqdm

        ctx = self.context
        store = ctx.store
        planned = self.plan(study)
        result = StudyResult(study.name)
        keys = {u.key for u, _ in planned}
        stale = [k for scope in dict.fromkeys(u.scope for u, _ in planned if u.scope is not None)
                 for k in store.units(study.name, scope) if k not in keys]
        if stale:
            store.delete_units(study.name, stale)
            result.pruned = stale
        missing = {a["unit"] for a in store.artifacts(study.name) if not (ctx.run_dir / a["path"]).is_file()}
        todo = []
        for unit, fp in planned:
            if not self.fresh and unit.key not in missing and store.is_done(study.name, unit.key, fp):
                result.skipped.append(unit.key)
            else:
                todo.append((unit, fp))
        with tqdm(total=len(todo), desc=study.name, unit="unit", disable=not self.progress or not todo,
                  leave=False) as bar:
            for unit, fp, output in self.executor.run(study, todo, ctx):
                self._commit(study, unit, fp, output)
                result.ran.append(unit.key)
                bar.set_postfix_str(unit.key[-40:], refresh=False)
                bar.update()
        wanted = {u.key for u, _ in planned}
        result.records = [r for r in store.records(study.name) if r["unit"] in wanted]
        return result

    def _commit(self, study: Study, unit: Unit, fingerprint: str, output: UnitOutput) -> None:
        from gaplens.report.figures import save_figure

        store = self.context.store
        if not isinstance(output, UnitOutput):
            raise TypeError(f"{type(study).__name__}.run_unit returned {type(output).__name__}, not UnitOutput")
        stem = safe_name(f"{study.name}_{unit.key}")
        with store.unit(study.name, unit.key, fingerprint=fingerprint, scope=unit.scope) as writer:
            writer.add_many(output.records)
            for name, array, title in output.arrays:
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(array), allow_pickle=False)
                path = store.atomic_write_bytes(f"maps/{stem}_{safe_name(name)}.npy", buffer.getvalue())
                writer.artifact(kind="array", path=path, title=title or name)
            for name, figure, title in output.figures:
                target = store.figures_dir / f"{stem}_{safe_name(name)}.png"
                if isinstance(figure, bytes):  # rendered by a worker (see executors.ship_output)
                    path = store.atomic_write_bytes(target.relative_to(store.run_dir), figure)
                else:
                    path = save_figure(figure, target)
                writer.artifact(kind="figure", path=path, title=title)
            for kind, path, title in output.files:
                writer.artifact(kind=kind, path=path, title=title)


def run_study(study: Study, out: str | os.PathLike, *, fresh: bool = False, device: str = "auto",
              progress: bool = True, command: str | None = None, report: bool = True,
              executor: str | Executor | None = None) -> StudyResult:
    """Run one study into ``out`` as one run (see :class:`Runner`); returns its :class:`StudyResult`."""
    with Runner(out, command or study.name, study.describe(), fresh=fresh, device=device, progress=progress,
                report=report, executor=executor) as runner:
        return runner.run(study)
