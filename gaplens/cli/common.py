"""What every ``gaplens`` sub-command shares: the error wrapper, the output helpers and the common options.

Sub-command groups that live in their own module (``gaplens/cli/NAME.py``: a ``typer.Typer`` called
``app``) import from here, never from :mod:`gaplens.cli`, which imports them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer

from gaplens.core.errors import GaplensError, InputError, LayerNotFoundError, SpecError

BAD_ARGUMENT = (InputError, SpecError, LayerNotFoundError)


def cli_errors(fn):
    """Turn GaplensErrors into one line on stderr and exit code 2 (bad argument) or 1 (failure)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GaplensError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if isinstance(exc, BAD_ARGUMENT) else 1) from None

    return wrapper


def emit(rows: list[dict] | dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows if isinstance(rows, list) else [rows]:
        typer.echo("  ".join(f"{k}={fmt(v)}" for k, v in row.items()))


def fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


Out = Annotated[Path, typer.Option("--out", "-o", help="Run folder (created; re-running resumes).")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda[:i].")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOpt = Annotated[str, typer.Option("--model", help="Model spec: checkpoint, torchvision:NAME, TorchScript or "
                                                       "module:factory (with --trust-code), ...")]
Fresh = Annotated[bool, typer.Option("--fresh", help="Recompute every unit, even those whose inputs are unchanged.")]
TrustCode = Annotated[bool, typer.Option(
    "--trust-code", help="Allow TorchScript and module:factory models: they are code and loading runs it. Only for "
                         "files you trust; gaplens checkpoints (safetensors) are data and need no trust.")]
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where the units run: local (this process, default) or ray (a Ray cluster: "
                       "pip install 'gaplens[ray]'). Results are the same either way.")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", help="With --executor ray: the cluster to join, 'auto' (the one `ray start` made on this "
                      "machine) or HOST:PORT; default: start a local Ray instance for this run. Workers on other "
                      "machines must see the run folder at the same path (shared file system).")]
GpusPerTaskOpt = Annotated[float, typer.Option(
    "--gpus-per-task", help="With --executor ray: GPUs each worker reserves (0: CPU only; 0.5: two workers per "
                            "GPU).")]


def executor_of(executor: str, address: str | None, gpus_per_task: float):
    """The executor the ``--executor/--address/--gpus-per-task`` options ask for (InputError if ray is missing)."""
    from gaplens.studies.executors import make_executor

    return make_executor(executor, address=address, gpus_per_task=gpus_per_task)
