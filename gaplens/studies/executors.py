"""Where a study's units run: in this process (``local``) or on a Ray cluster (``ray``).

An executor takes the units the :class:`~gaplens.studies.runner.Runner` decided to run (in plan
order) and yields ``(unit, fingerprint, output)`` back **in the same order**; the runner commits
each one in one transaction as it arrives. Only the driver (the process that holds the runner)
ever writes ``run.db``, so resume, fingerprints and pruning are the same whatever the executor.

:class:`LocalExecutor` runs each unit in turn, as the runner always did.

:class:`RayExecutor` runs units on a pool of Ray actors (one CPU each, ``gpus_per_task`` GPUs
each). Each actor receives the study once (through Ray's object store) and keeps the models it
loads for the units it is given (units of a model go preferably to an actor that already holds
it), so a model is loaded at most once per actor. A worker process that dies mid-unit is
restarted by Ray and its units retried (``max_restarts`` / ``max_task_retries``); nothing of the
lost attempt reached the store. What goes where:

- units without ``depends`` run on the actors. They get a :class:`~.runner.Context` whose
  ``run_dir`` is the run folder's absolute path (units that write files there, e.g. training
  checkpoints, need the workers to see that folder at the same path: the same machine, or a
  shared file system) and whose ``store`` refuses to be read (a unit that reads earlier results
  must name them in ``depends``);
- units with ``depends`` (summary figures that read earlier units' records) run on the driver,
  once everything before them in the plan is committed;
- results come back in plan order, at most ``lookahead`` units ahead of the oldest unfinished
  one, so the store holds the records in the same order as a local run (tables and figures
  that follow record order come out the same) and a killed driver loses at most the finished
  units waiting behind a slower one: they simply run again on resume;
- figures are rendered to PNG on the worker (:func:`gaplens.report.figures.save_figure`, the
  bytes the local executor writes) and written by the driver.

Models: a :class:`~.models.ModelRef` made from a spec travels without its weights and is loaded
on the worker's own device (``device="auto"`` picks the GPU Ray assigned to the actor); a model
given in memory or built by a factory is built once on the driver and its weights travel with the
study. Ray moves Python objects with (cloud)pickle between the driver and its own workers: this
is Ray's transport inside one trusted cluster, not a file gaplens reads.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaplens.core.errors import InputError, StoreError
from gaplens.studies.base import Study, Unit, UnitOutput
from gaplens.studies.models import ModelRef

if TYPE_CHECKING:
    from gaplens.studies.runner import Context

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

#: The executor names ``--executor`` accepts.
EXECUTORS = ("local", "ray")

Planned = tuple[Unit, str]


class Executor(ABC):
    """Runs a study's units and yields their outputs in plan order; never writes the store."""

    #: The name ``--executor`` uses.
    name: str = ""

    @abstractmethod
    def run(self, study: Study, todo: Sequence[Planned], ctx: Context) -> Iterator[tuple[Unit, str, UnitOutput]]:
        """Yield ``(unit, fingerprint, output)`` for each of ``todo``, in its order.

        The caller commits each output before it asks for the next one: a unit with ``depends``
        may read the store for everything before it.
        """

    def close(self) -> None:
        """Release what the executor started (workers, a Ray instance); it may be used again after."""
        return None

    def describe(self) -> dict[str, Any]:
        """How the run was executed, for the run table (does not change any result)."""
        return {"executor": self.name}


class LocalExecutor(Executor):
    """Each unit in this process, one after the other (the default)."""

    name = "local"

    def run(self, study: Study, todo: Sequence[Planned], ctx: Context) -> Iterator[tuple[Unit, str, UnitOutput]]:
        for unit, fingerprint in todo:
            yield unit, fingerprint, study.run_unit(unit, ctx)


def make_executor(name: str | Executor | None = "local", *, address: str | None = None,
                  gpus_per_task: float = 0.0, workers: int | None = None) -> Executor:
    """The executor called ``name`` (``"local"`` or ``"ray"``); an :class:`Executor` is returned as is.

    ``address``, ``gpus_per_task`` and ``workers`` are :class:`RayExecutor`'s; giving them with the
    local executor is an :class:`InputError` (they would silently do nothing).
    """
    if isinstance(name, Executor):
        return name
    if name is None or name == "local":
        ignored = [f"{k}={v!r}" for k, v in (("address", address), ("workers", workers)) if v is not None]
        ignored += [f"gpus_per_task={gpus_per_task!r}"] if gpus_per_task else []
        if ignored:
            raise InputError(f"executor='local' runs in this process; {', '.join(ignored)} only apply to "
                             "executor='ray'")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address, gpus_per_task=gpus_per_task, workers=workers)
    raise InputError(f"executor={name!r}: expected one of {list(EXECUTORS)}")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("executor='ray' needs the ray package, which is not installed: "
                         "pip install 'gaplens[ray]'") from None
    return ray


class _NoStore:
    """The ``store`` of a worker's context: reading it is an error that says what to do instead."""

    def __init__(self, study: str, unit: str) -> None:
        self._where = f"{study}/{unit}"

    def __getattr__(self, name: str) -> Any:
        raise StoreError(f"unit {self._where} ran on a Ray worker, which has no run database (it asked for "
                         f"store.{name}); a unit that reads earlier units' results must list them in Unit.depends, "
                         "and then runs on the driver")


@dataclass(frozen=True)
class _RefSlot:
    """Stands for the study's ``index``-th :class:`ModelRef` in a unit's payload on its way to a worker."""

    index: int


@dataclass
class _Shipped:
    """A :class:`UnitOutput` as it comes back from a worker: figures already rendered to PNG bytes."""

    records: list[dict]
    figures: list[tuple[str, bytes, str]]
    arrays: list[tuple[str, Any, str]]
    files: list[tuple[str, Path, str]]


def study_refs(study: Study) -> list[ModelRef]:
    """The :class:`ModelRef` s a study holds in its attributes (lists, tuples and dicts included), once each."""
    found: dict[int, ModelRef] = {}

    def visit(value: Any, depth: int) -> None:
        if isinstance(value, ModelRef):
            found.setdefault(id(value), value)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for item in value:
                visit(item, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)

    for value in vars(study).values():
        visit(value, 0)
    return list(found.values())


def _swap_refs(value: Any, swap, depth: int = 0) -> Any:
    """``value`` with each :class:`ModelRef` (or :class:`_RefSlot`) replaced by ``swap(it)``, through containers."""
    if isinstance(value, (ModelRef, _RefSlot)):
        return swap(value)
    if depth >= 4:
        return value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_swap_refs(v, swap, depth + 1) for v in value)
    if isinstance(value, list):
        return [_swap_refs(v, swap, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _swap_refs(v, swap, depth + 1) for k, v in value.items()}
    return value


def ship_output(output: UnitOutput, folder: Path) -> _Shipped:
    """Render ``output``'s figures to PNG bytes (as the runner would save them) so they can travel."""
    from gaplens.report.figures import save_figure

    if not isinstance(output, UnitOutput):
        raise TypeError(f"run_unit returned {type(output).__name__}, not UnitOutput")
    figures = []
    for i, (name, figure, title) in enumerate(output.figures):
        path = save_figure(figure, folder / f"figure{i}.png")
        figures.append((name, path.read_bytes(), title))
        path.unlink()
    return _Shipped(list(output.records), figures, list(output.arrays), list(output.files))


class _UnitWorker:
    """The body of a Ray actor: one copy of the study, its models loaded on first use and kept."""

    def __init__(self, study: Study, run_dir: str, device: str) -> None:
        import torch

        self.study = study
        self.refs = study_refs(self.study)
        self.run_dir = Path(run_dir)
        self.device = device
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))

    def run(self, unit: Unit) -> _Shipped:
        from gaplens.studies.runner import Context

        unit = replace(unit, payload=_swap_refs(unit.payload, lambda slot: self.refs[slot.index]
                                                if isinstance(slot, _RefSlot) else slot))
        ctx = Context(_NoStore(self.study.name, unit.key), self.run_dir, self.device,  # type: ignore[arg-type]
                      progress=False)
        output = self.study.run_unit(unit, ctx)
        with tempfile.TemporaryDirectory(prefix="gaplens-unit-") as tmp:
            return ship_output(output, Path(tmp))

    def pid(self) -> int:
        return os.getpid()


class RayExecutor(Executor):
    """Units on a pool of Ray actors; results back in plan order (see the module docstring).

    Args:
        address: the cluster to join: ``None`` starts a local Ray instance for this run (stopped on
            :meth:`close`), ``"auto"`` joins the one ``ray start`` made on this machine,
            ``"HOST:PORT"`` a remote head node. When Ray is already initialized in this process
            (e.g. by the caller) that instance is used and left running.
        gpus_per_task: GPUs each actor reserves (``0``: CPU only; fractions share a GPU). Ray shows
            each actor only its own GPU(s), so the run's device should be ``"auto"`` or ``"cuda"``
            (not ``"cuda:1"``).
        workers: number of actors (``None``: as many as the cluster's CPUs, or GPUs divided by
            ``gpus_per_task``, allow; never more than the units to run).
        lookahead: units submitted ahead of the oldest unfinished one (``None``: 4 per actor).
        max_retries: restarts of a dead actor and retries of each of its units.
    """

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float = 0.0, workers: int | None = None,
                 lookahead: int | None = None, max_retries: int = 3) -> None:
        self.ray = _import_ray()
        if gpus_per_task < 0:
            raise InputError(f"gpus_per_task={gpus_per_task!r}: expected a number >= 0")
        if workers is not None and workers < 1:
            raise InputError(f"workers={workers!r}: expected at least 1")
        if lookahead is not None and lookahead < 1:
            raise InputError(f"lookahead={lookahead!r}: expected at least 1")
        self.address = address
        self.gpus_per_task = float(gpus_per_task)
        self.workers = workers
        self.lookahead = lookahead
        self.max_retries = int(max_retries)
        self._started = False
        #: pids of the worker processes of the last :meth:`run` (what a test kills).
        self.worker_pids: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "address": self.address, "gpus_per_task": self.gpus_per_task}

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=True,
                     logging_level="warning", configure_logging=True)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = "a local Ray instance" if self.address is None else f"the Ray cluster at {self.address!r}"
            raise InputError(f"executor='ray': cannot start or join {where}: {exc}") from None
        self._started = True

    def _pool_size(self, n_units: int) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, n_units))
        resources = self.ray.cluster_resources()
        if self.gpus_per_task > 0:
            gpus = float(resources.get("GPU", 0))
            if gpus < self.gpus_per_task:
                raise InputError(f"gpus_per_task={self.gpus_per_task}: the Ray cluster has {gpus:g} GPU(s)")
            slots = int(gpus // self.gpus_per_task)
        else:
            slots = int(resources.get("CPU", 1))
        return max(1, min(slots, n_units))

    def run(self, study: Study, todo: Sequence[Planned], ctx: Context) -> Iterator[tuple[Unit, str, UnitOutput]]:
        remote_units = [i for i, (unit, _) in enumerate(todo) if not unit.depends]
        if not remote_units:
            yield from LocalExecutor().run(study, todo, ctx)
            return
        self._connect()
        ray = self.ray
        refs = study_refs(study)
        for ref in refs:
            if ref.spec is None:
                ref.load()  # a factory trains or builds once, here, not on every worker
        slots = {id(ref): i for i, ref in enumerate(refs)}

        def to_slot(ref):
            return _RefSlot(slots[id(ref)]) if isinstance(ref, ModelRef) and id(ref) in slots else ref

        n_actors = self._pool_size(len(remote_units))
        actor_class = ray.remote(num_cpus=1, num_gpus=self.gpus_per_task, max_restarts=self.max_retries,
                                 max_task_retries=self.max_retries)(_UnitWorker)
        try:
            study_ref = ray.put(study)
        except Exception as exc:  # cloudpickle's errors have no common base class
            raise InputError(f"study {study.name!r} cannot be sent to Ray workers ({type(exc).__name__}: {exc}); "
                             "run it with executor='local'") from exc
        # Ray warns (once per actor) that a restarted actor needs its constructor's arguments still in
        # the object store: study_ref is held here until every unit of the run is back, so it is
        actors = [actor_class.remote(study_ref, str(ctx.run_dir.absolute()), ctx.device) for _ in range(n_actors)]
        pids = [a.pid.remote() for a in actors]
        in_flight = [0] * n_actors
        scopes: list[set] = [set() for _ in range(n_actors)]
        futures: dict[int, tuple[Any, int]] = {}
        lookahead = self.lookahead or 4 * n_actors
        submitted = 0  # index into remote_units of the next one to submit

        def submit_until(limit: int) -> None:
            nonlocal submitted
            while submitted < len(remote_units) and remote_units[submitted] < limit:
                i = remote_units[submitted]
                unit = todo[i][0]
                # the least busy actor; among those, one that already holds this unit's model
                best = min(range(n_actors), key=lambda a: (in_flight[a], unit.scope not in scopes[a], a))
                shipped = replace(unit, payload=_swap_refs(unit.payload, to_slot))
                futures[i] = (actors[best].run.remote(shipped), best)
                in_flight[best] += 1
                scopes[best].add(unit.scope)
                submitted += 1

        try:
            for i, (unit, fingerprint) in enumerate(todo):
                submit_until(i + lookahead)
                if pids:
                    self.worker_pids, pids = ray.get(pids), []
                if unit.depends:
                    yield unit, fingerprint, study.run_unit(unit, ctx)
                    continue
                future, actor = futures.pop(i)
                try:
                    shipped = ray.get(future)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, BaseException):
                        raise cause from None
                    raise
                in_flight[actor] -= 1
                yield unit, fingerprint, _unship(shipped)
        finally:  # a failure, Ctrl-C or the end: the pool goes (with any units still queued on it)
            for actor in actors:
                ray.kill(actor, no_restart=True)

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False


def _unship(shipped: _Shipped) -> UnitOutput:
    """The driver's side of :func:`ship_output`: figures stay PNG bytes, which the runner writes as they are."""
    output = UnitOutput(records=shipped.records, arrays=shipped.arrays, files=shipped.files)
    output.figures = list(shipped.figures)  # type: ignore[arg-type]  (bytes: see Runner._commit)
    return output
