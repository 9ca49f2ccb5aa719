"""``gaplens restore denoise|inpaint|jpeg|sr``: Deep Image Prior on one image, into a run folder.

Each command runs :class:`gaplens.studies.restore.Restore` for one task: the image (a file or
``sample:NAME``) is cropped, corrupted (unless ``--observed``: it is corrupted already),
restored by an untrained network, compared with scikit-image's baselines, and the prior
experiment runs on the same crop (``--no-prior`` to skip it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaplens.cli.common import (
    AddressOpt,
    AsJson,
    DeviceOpt,
    ExecutorOpt,
    Fresh,
    GpusPerTaskOpt,
    Out,
    cli_errors,
    emit,
    executor_of,
)

app = typer.Typer(help="Deep Image Prior: restore one image with an untrained network (denoise, inpaint, JPEG, "
                       "super-resolution).", no_args_is_help=True)

ImageOpt = Annotated[str, typer.Option("--image", help="An image file or sample:NAME (scikit-image's photographs).")]
ResizeOpt = Annotated[int | None, typer.Option(help="Resize the image first so its longer side has this many "
                                                    "pixels.")]
CropOpt = Annotated[int | None, typer.Option(help="Side of the centre crop in pixels (0: the whole image).")]
StepsOpt = Annotated[int | None, typer.Option(help="Adam steps (default: the task's, see gaplens.restore.settings).")]
StopOpt = Annotated[str, typer.Option(help="Stopping rule without a clean image: variance, discrepancy (denoise), "
                                           "none.")]
ObservedOpt = Annotated[bool, typer.Option(help="The image is corrupted already: restore it as given (no clean "
                                                "image: no PSNR, no baselines, no prior experiment).")]
PriorOpt = Annotated[bool, typer.Option(help="Also run the prior experiment (natural image vs noise) on the crop.")]
PriorStepsOpt = Annotated[int, typer.Option(help="Steps of each fit of the prior experiment.")]
WidthOpt = Annotated[int | None, typer.Option(help="Channels at every scale of the network (default: the task's).")]
ScalesOpt = Annotated[int | None, typer.Option(help="Scales of the network (default 5; each side of the image must "
                                                    "be at least 2^(scales+1) pixels).")]

SUMMARY_KEYS = ("task", "image", "size", "steps_run", "stopped_at", "best_step", "stopped_psnr", "best_psnr",
                "input_psnr", "baseline", "baseline_psnr", "seconds")


def _run(task: str, image: str, out: Path, *, resize: int | None, crop: int | None, steps: int | None, seed: int,
         stop: str, observed: bool, prior: bool, prior_steps: int, width: int | None, scales: int | None, device: str,
         fresh: bool, as_json: bool, executor: str, address: str | None, gpus_per_task: float, **options) -> None:
    """Every restore command: its parameters as given (the task's own one, e.g. ``noise``, in ``options``)."""
    from gaplens.studies import run_study
    from gaplens.studies.restore import Restore

    settings = None
    if width is not None or scales is not None:
        from gaplens.restore import settings_for

        base = settings_for(task)
        n = scales or len(base.down)

        def fit(channels: tuple[int, ...]) -> list[int]:
            return [width or channels[min(k, len(channels) - 1)] for k in range(n)]

        settings = {"down": fit(base.down), "up": fit(base.up),
                    "skip": [base.skip[min(k, len(base.skip) - 1)] for k in range(n)]}
    study = Restore(image=image, tasks=(task,), resize=resize, crop=crop or None, steps=steps, seed=seed, stop=stop,
                    observed=observed, prior=prior and not observed, prior_steps=prior_steps, settings=settings,
                    prior_settings=settings, **options)
    result = run_study(study, out, fresh=fresh, device=device, command=f"restore {task}",
                       executor=executor_of(executor, address, gpus_per_task))
    summary = next(r for r in result.records if r.get("kind") == "summary")
    row = {k: summary[k] for k in SUMMARY_KEYS if summary.get(k) is not None}
    for r in result.records:
        if r.get("kind") == "prior" and r.get("target") in ("natural", "white noise"):
            row[f"prior_steps_{r['target'].replace(' ', '_')}"] = r["steps_to_level"]
    row["report"] = str(Path(out) / "report.html")
    emit(row, as_json)


@app.command("denoise")
@cli_errors
def denoise(
    image: ImageOpt,
    out: Out,
    noise: Annotated[float, typer.Option(help="Gaussian noise std on the 0-255 scale (added to the clean image).")]
    = 25.0,
    resize: ResizeOpt = None,
    crop: CropOpt = 128,
    steps: StepsOpt = None,
    seed: int = 0,
    stop: StopOpt = "variance",
    observed: ObservedOpt = False,
    prior: PriorOpt = True,
    prior_steps: PriorStepsOpt = 600,
    width: WidthOpt = None,
    scales: ScalesOpt = None,
    device: DeviceOpt = "auto",
    fresh: Fresh = False,
    as_json: AsJson = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Remove Gaussian noise.

    Example: gaplens restore denoise --image sample:astronaut --noise 25 --out runs/dip
    """
    _run("denoise", **locals())  # the parameters, as given


@app.command("inpaint")
@cli_errors
def inpaint(
    image: ImageOpt,
    out: Out,
    mask: Annotated[str, typer.Option(help="random:F (a fraction F of pixels missing), text, or a mask image of the "
                                           "crop's size (white = known pixel).")] = "random:0.5",
    resize: ResizeOpt = None,
    crop: CropOpt = 128,
    steps: StepsOpt = None,
    seed: int = 0,
    stop: StopOpt = "variance",
    observed: ObservedOpt = False,
    prior: PriorOpt = True,
    prior_steps: PriorStepsOpt = 600,
    width: WidthOpt = None,
    scales: ScalesOpt = None,
    device: DeviceOpt = "auto",
    fresh: Fresh = False,
    as_json: AsJson = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Fill in missing pixels.

    Example: gaplens restore inpaint --image sample:astronaut --mask text --out runs/dip-inpaint
    """
    _run("inpaint", **locals())


@app.command("jpeg")
@cli_errors
def jpeg(
    image: ImageOpt,
    out: Out,
    quality: Annotated[int, typer.Option(help="JPEG quality of the compression to undo (1-95).")] = 10,
    resize: ResizeOpt = None,
    crop: CropOpt = 128,
    steps: StepsOpt = None,
    seed: int = 0,
    stop: StopOpt = "variance",
    observed: ObservedOpt = False,
    prior: PriorOpt = True,
    prior_steps: PriorStepsOpt = 600,
    width: WidthOpt = None,
    scales: ScalesOpt = None,
    device: DeviceOpt = "auto",
    fresh: Fresh = False,
    as_json: AsJson = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Remove JPEG compression artifacts.

    Example: gaplens restore jpeg --image sample:chelsea --quality 10 --out runs/dip-jpeg
    """
    _run("jpeg", **locals())


@app.command("sr")
@cli_errors
def super_resolution(
    image: ImageOpt,
    out: Out,
    factor: Annotated[int, typer.Option(help="Upscaling factor (the clean crop is downsampled by it first).")] = 4,
    resize: ResizeOpt = None,
    crop: CropOpt = 128,
    steps: StepsOpt = None,
    seed: int = 0,
    stop: StopOpt = "variance",
    observed: ObservedOpt = False,
    prior: PriorOpt = True,
    prior_steps: PriorStepsOpt = 600,
    width: WidthOpt = None,
    scales: ScalesOpt = None,
    device: DeviceOpt = "auto",
    fresh: Fresh = False,
    as_json: AsJson = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Super-resolution: enlarge by FACTOR with a Lanczos downsampler in the loss.

    Example: gaplens restore sr --image sample:astronaut --factor 4 --out runs/dip-sr
    """
    _run("super_resolution", **locals())
