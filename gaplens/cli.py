"""The ``gaplens`` command: one sub-command per capability, each calling one public function.

Exit codes: 0 success; 2 bad arguments (usage errors, bad specs, unknown names); 1 failures
(unreadable data, malformed checkpoints). User mistakes print one ``error: ...`` line, never a
traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from gaplens.core.errors import GaplensError, InputError, LayerNotFoundError, SpecError

app = typer.Typer(
    name="gaplens",
    help="Audit image classifiers: explanations, their sanity, units, and generalization gaps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Make and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
shift_app = typer.Typer(help="New test sets (Recht et al. 2019): accuracy drops, intervals, linear fits.",
                        no_args_is_help=True)
app.add_typer(shift_app, name="shift")
visualize_app = typer.Typer(help="Images that excite classes and units: class models, feature visualization, "
                            "DeepDream.", no_args_is_help=True)
app.add_typer(visualize_app, name="visualize")
robustness_app = typer.Typer(help="Generalization under the 12 image distortions of Geirhos et al. 2018.",
                             no_args_is_help=True)
app.add_typer(robustness_app, name="robustness")
stylize_app = typer.Typer(no_args_is_help=True)  # help: the docstring of stylize() below
app.add_typer(stylize_app, name="stylize")

BAD_ARGUMENT = (InputError, SpecError, LayerNotFoundError)


def _cli_errors(fn):
    """Turn GaplensErrors into one line on stderr and exit code 2 (bad argument) or 1 (failure)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GaplensError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if isinstance(exc, BAD_ARGUMENT) else 1) from None

    return wrapper


def _emit(rows: list[dict] | dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows if isinstance(rows, list) else [rows]:
        typer.echo("  ".join(f"{k}={_fmt(v)}" for k, v in row.items()))


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


Out = Annotated[Path, typer.Option("--out", "-o", help="Run folder (created; re-running resumes).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOpt = Annotated[str, typer.Option("--model", help="Model spec: checkpoint, TorchScript, torchvision:NAME, ...")]


@app.command()
@_cli_errors
def demo(
    out: Out = Path("runs/demo"),
    quick: Annotated[bool, typer.Option(help="A tiny, seconds-long version (smoke test).")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda[:i].")] = "auto",
) -> None:
    """Run every study on the embedded synthetic data; write RUN/report.html.

    Example: gaplens demo --out runs/demo
    """
    from gaplens.demo import QUICK, DemoConfig, run_demo

    report = run_demo(out, QUICK if quick else DemoConfig(), device=device)
    typer.echo(str(report))


@data_app.command("synth")
@_cli_errors
def data_synth(
    out: Out,
    n: Annotated[int, typer.Option(help="Number of images.")] = 1000,
    classes: Annotated[int, typer.Option(help="Number of classes (2-16).")] = 8,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    texture_agreement: Annotated[float, typer.Option(help="P(texture = the class's own texture).")] = 1.0,
    conflict: Annotated[bool, typer.Option(help="Cue-conflict set: texture class != shape class.")] = False,
    shift: Annotated[bool, typer.Option(help="Draw from the shifted ranges (domain gap).")] = False,
    seed: int = 0,
    split: Annotated[str, typer.Option(help="Split name written in file names and the manifest.")] = "train",
) -> None:
    """Write a synthetic cue-conflict set as an image folder with masks and manifest.csv.

    Example: gaplens data synth --out data/synth --n 2000 --texture-agreement 0.125 --seed 1
    """
    from gaplens.data.export import write_synthetic
    from gaplens.data.synthetic import generate

    data = generate(n, classes=classes, size=size, texture_agreement=texture_agreement,
                    conflict=conflict, shift=shift, seed=seed)
    typer.echo(str(write_synthetic(data, out, split=split)))


@app.command()
@_cli_errors
def train(
    data: Annotated[str, typer.Option(help="Image folder or 'synthetic:n=2000,texture_agreement=1,...'.")],
    out: Out,
    arch: Annotated[str, typer.Option(help="Zoo architecture: vgg or resnet.")] = "resnet",
    name: Annotated[str | None, typer.Option(help="Model name in the run (default: arch).")] = None,
    val: Annotated[str | None, typer.Option(help="Validation set spec.")] = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam, adamw or sgd.")] = "adam",
    seed: int = 0,
    random_labels: Annotated[bool, typer.Option(help="Train on permuted labels (data randomization test).")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted training in the same --out.")] = False,
    device: str = "auto",
) -> None:
    """Train a zoo architecture; the checkpoint lands in RUN/models/NAME.

    Example: gaplens train --data synthetic:n=3000,seed=0 --arch resnet --epochs 12 --out runs/r1
    """
    from gaplens.workflows import train_command

    folder = train_command(data, out, arch=arch, name=name, val=val, resume=resume, epochs=epochs,
                           batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                           random_labels=random_labels, device=device)
    typer.echo(str(folder))


@app.command()
@_cli_errors
def evaluate(
    model: Annotated[str, typer.Option(help="Model spec: checkpoint, TorchScript, torchvision:NAME, module:factory.")],
    data: Annotated[list[str], typer.Option(help="Dataset spec(s); repeat for several sets.")],
    out: Out,
    batch_size: int = 256,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Accuracy with a Clopper-Pearson 95% interval, per-class accuracy, confusion matrix figure.

    Example: gaplens evaluate --model runs/r1/models/resnet --data synthetic:n=1000,seed=9 --out runs/r1
    """
    from gaplens.workflows import evaluate_command

    _emit(evaluate_command(model, data, out, batch_size=batch_size, device=device), as_json)


@app.command()
@_cli_errors
def explain(
    model: Annotated[str, typer.Option(help="Model spec: checkpoint, TorchScript, torchvision:NAME, module:factory.")],
    images: Annotated[str, typer.Option(help="Image file, image folder, sample:NAME or synthetic:... spec.")],
    out: Out,
    methods: Annotated[str, typer.Option(help="'all' or a comma-separated list of method names.")] = "all",
    target: Annotated[str, typer.Option(help="pred (predicted class), label, or a class index.")] = "pred",
    limit: Annotated[int, typer.Option(help="At most this many images.")] = 8,
    batch_size: int = 64,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Attribution maps (gradient, IG, SmoothGrad, guided backprop, Grad-CAM, occlusion, ...) as .npy,
    a grid figure and records.

    Example: gaplens explain --model runs/demo/models/texture-world --images synthetic:n=6,seed=5 --out runs/x
    """
    from gaplens.workflows import explain_command

    if target not in ("pred", "label"):
        try:
            int(target)
        except ValueError:
            raise InputError(f"--target {target!r}; expected 'pred', 'label' or a class index") from None
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    _emit(explain_command(model, images, out, chosen, target, limit, batch_size, device), as_json)


@app.command()
@_cli_errors
def sanity(
    model: ModelOpt,
    images: Annotated[str, typer.Option(help="Image folder, image file, sample:NAME or synthetic:... spec.")],
    out: Out,
    methods: Annotated[str, typer.Option(help="'default' or a comma-separated list of method names.")] = "default",
    modes: Annotated[str, typer.Option(help="Model randomization modes: cascading, independent (comma list).")]
    = "cascading,independent",
    random_labels_model: Annotated[str | None, typer.Option(help="Same architecture trained on random labels.")]
    = None,
    train_random_labels: Annotated[str | None, typer.Option(
        help="Train the random-label model on this dataset spec (zoo models only).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many images.")] = 8,
    epochs: Annotated[int, typer.Option(help="Epochs for --train-random-labels.")] = 10,
    batch_size: int = 64,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Sanity checks for saliency maps (Adebayo et al. 2018): model and data randomization, edge comparison.

    Example: gaplens sanity --model runs/demo/models/shape-world --images synthetic:n=8,seed=9
    --train-random-labels synthetic:n=2000,seed=0 --out runs/sanity
    """
    from gaplens.workflows import sanity_command

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    chosen_modes = [m.strip() for m in modes.split(",") if m.strip()]
    _emit(sanity_command(model, images, out, chosen, chosen_modes, random_labels_model, train_random_labels,
                         limit, epochs, batch_size, device), as_json)


@app.command("shape-bias")
@_cli_errors
def shape_bias(
    models: Annotated[list[str], typer.Option("--models", help="Model specs; repeat the option for each model.")],
    stimuli: Annotated[str, typer.Option(help="Cue-conflict folder (dog10-bird2.png names), manifest CSV, "
                                              "or synthetic:...,conflict=1 spec.")],
    out: Out,
    reference: Annotated[bool, typer.Option(help="Draw published values (humans, ResNet-50, SIN).")] = False,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Shape bias on cue-conflict stimuli (Geirhos et al. 2019), per model and category, with the figure.

    Example: gaplens shape-bias --models runs/demo/models/texture-world --stimuli synthetic:n=800,conflict=1,seed=5
    --out runs/bias
    """
    from gaplens.workflows import shape_bias_command

    _emit(shape_bias_command(models, stimuli, out, reference, device), as_json)


@app.command()
@_cli_errors
def layers(
    model: Annotated[str, typer.Argument(help="Model spec.")],
    size: Annotated[int | None, typer.Option(help="Input side for tracing forward order.")] = None,
    as_json: AsJson = False,
) -> None:
    """List a model's layer names (dotted paths for hooks), in forward order.

    Example: gaplens layers runs/demo/models/texture-world
    """
    from gaplens.core.hooks import layer_names
    from gaplens.core.model import load_model

    classifier = load_model(model, device="cpu")
    names = layer_names(classifier, (size, size) if size else None)
    if as_json:
        typer.echo(json.dumps(names))
    else:
        typer.echo("\n".join(names))


@app.command()
@_cli_errors
def report(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Render RUN/report.html from RUN/run.db.

    Example: gaplens report runs/demo
    """
    from gaplens.report import render_report

    if not (run / "run.db").is_file():
        raise InputError(f"{run}: not a run folder (no run.db); expected a folder made by a gaplens command")
    typer.echo(str(render_report(run)))


def _index_list(text: str) -> str | list[int]:
    """'all', '3', '0-15' or '1,4,7' as the visualize functions take them."""
    text = text.strip()
    if text == "all":
        return text
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{text!r}: expected 'all', an index, a range like 0-15, or a list like 1,4,7") from None


@visualize_app.command("class")
@_cli_errors
def visualize_class(
    model: ModelOpt,
    out: Out,
    classes: Annotated[str, typer.Option(help="'all', an index, a range 0-7 or a list 1,3.")] = "all",
    score: Annotated[str, typer.Option(help="logit, log_softmax or softmax; comma-separate to compare.")] = "logit",
    steps: int = 256,
    l2: Annotated[float, typer.Option(help="Weight of the L2 penalty (lambda).")] = 30.0,
    device: str = "auto",
) -> None:
    """Class models: argmax_I S_c(I) - lambda ||I||^2, each shown with the model's top-3 classes for it.

    Example: gaplens visualize class --model runs/demo/models/texture-world --score logit,softmax --out runs/v
    """
    from gaplens.workflows import visualize_command

    scores = [s.strip() for s in score.split(",") if s.strip()]
    typer.echo(str(visualize_command("class", model, out, scores=scores, classes=_index_list(classes),
                                     steps=steps, l2=l2, device=device)))


@visualize_app.command("unit")
@_cli_errors
def visualize_unit(
    model: ModelOpt,
    layer: Annotated[str, typer.Option(help="Dotted layer name (see `gaplens layers MODEL`).")],
    out: Out,
    channels: Annotated[str, typer.Option(help="'all', an index, a range 0-15 or a list 1,3.")] = "0-15",
    steps: int = 256,
    device: str = "auto",
) -> None:
    """Feature visualization of channels of a layer (Fourier parameterization, Lucid's transforms).

    Example: gaplens visualize unit --model runs/demo/models/shape-world --layer layer3 --channels 0-15 --out runs/v
    """
    from gaplens.workflows import visualize_command

    typer.echo(str(visualize_command("unit", model, out, layer=layer, channels=_index_list(channels),
                                     steps=steps, param="fourier", device=device)))


@visualize_app.command("dream")
@_cli_errors
def visualize_dream(
    model: ModelOpt,
    layer: Annotated[str, typer.Option(help="Dotted layer name whose activations are amplified.")],
    out: Out,
    image: Annotated[str, typer.Option(help="An image file or sample:NAME (scikit-image's photographs).")]
    = "sample:astronaut",
    octaves: int = 4,
    steps_per_octave: int = 10,
    step_size: float = 1.5,
    size: Annotated[int | None, typer.Option(help="Resize the photograph to this side first.")] = None,
    device: str = "auto",
) -> None:
    """DeepDream: start from a photograph and amplify what a layer sees in it, octave by octave.

    Example: gaplens visualize dream --model runs/demo/models/texture-world --layer layer3 --out runs/v
    """
    from gaplens.workflows import visualize_command

    typer.echo(str(visualize_command("dream", model, out, image=image, layer=layer, octaves=octaves,
                                     steps_per_octave=steps_per_octave, step_size=step_size, size=size,
                                     device=device)))


@app.command()
@_cli_errors
def distort(
    images: Annotated[str, typer.Option(help="Image file, folder, sample:NAME or synthetic:... spec.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the distorted PNGs.")],
    distortion: Annotated[str | None, typer.Option(help="Distortion name (see gaplens.robustness.DISTORTIONS).")]
    = None,
    level: Annotated[str | None, typer.Option(help="A published level or a number.")] = None,
    sheet: Annotated[bool, typer.Option(help="Write the stimulus sheet (every distortion x level, one image).")]
    = False,
    limit: int = 8,
    seed: int = 0,
    spectrum: Annotated[Path | None, typer.Option(help="Target amplitude spectrum (.npy, H x W, centred) for "
                                                       "power equalisation, e.g. the published ImageNet one.")]
    = None,
    size: Annotated[int | None, typer.Option(help="Resize the images to SIZE x SIZE first.")] = None,
) -> None:
    """Write distorted images, or the stimulus sheet (like Figure 2 of Geirhos et al. 2018).

    Without --spectrum, power equalisation uses the mean spectrum of the loaded images, which
    leaves a single image unchanged.

    Example: gaplens distort --images sample:chelsea --sheet --size 224 --spectrum mean_power_spectrum_grey.npy
    --out runs/sheet
    """
    from gaplens.workflows import distort_command

    typer.echo(str(distort_command(images, out, distortion, level, sheet, limit, seed, spectrum, size)))


@robustness_app.command("sweep")
@_cli_errors
def robustness_sweep(
    models: Annotated[list[str], typer.Option("--models", help="Model specs; repeat the option for each model.")],
    data: Annotated[str, typer.Option(help="Test set: image folder or synthetic:... spec.")],
    out: Out,
    distortions: Annotated[str, typer.Option(help="'all' or a comma-separated list.")] = "all",
    batch_size: int = 128,
    device: str = "auto",
) -> None:
    """Accuracy against distortion level for every model (resumable), with 95% intervals and the figure.

    Example: gaplens robustness sweep --models runs/demo/models/shape-world --data synthetic:n=400,seed=9
    --out runs/robust
    """
    from gaplens.workflows import sweep_command

    typer.echo(str(sweep_command(models, data, out, distortions, batch_size, device)))


@robustness_app.command("train")
@_cli_errors
def robustness_train(
    data: Annotated[str, typer.Option(help="Training set: image folder or synthetic:... spec.")],
    test: Annotated[str, typer.Option(help="Test set swept after training.")],
    out: Out,
    distortions: Annotated[str, typer.Option(help="'all', 'all-but:NAME' or a comma-separated list.")]
    = "all-but:uniform_noise",
    arch: str = "resnet",
    name: str | None = None,
    epochs: int = 10,
    device: str = "auto",
) -> None:
    """Train with random distortions as augmentation, then sweep all of them (train on all but one).

    Example: gaplens robustness train --data synthetic:n=2000,seed=0 --test synthetic:n=400,seed=9
    --distortions all-but:uniform_noise --out runs/robust
    """
    from gaplens.workflows import robustness_train_command

    typer.echo(str(robustness_train_command(data, out, distortions, test, arch, name, epochs, device)))


@stylize_app.callback(invoke_without_command=True)
@_cli_errors
def stylize(
    ctx: typer.Context,
    content: Annotated[Path | None, typer.Option(help="Content images, one sub-folder per class.")] = None,
    style: Annotated[Path | None, typer.Option(help="Style images (any layout; class folders make a "
                                                    "cue-conflict manifest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (re-running skips done "
                                                                 "images).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Folder with encoder.safetensors and "
                                                      "decoder.safetensors.")] = None,
    encoder: Annotated[Path | None, typer.Option(help="Encoder file (vgg_normalized.pth or .safetensors).")] = None,
    decoder: Annotated[Path | None, typer.Option(help="Decoder file (decoder.pth or .safetensors).")] = None,
    alpha: Annotated[float, typer.Option(help="Content-style trade-off; 1 = full stylization.")] = 1.0,
    size: Annotated[int | None, typer.Option(help="Centre-crop and resize content images to SIZE x SIZE.")]
    = None,
    batch_size: int = 16,
    seed: Annotated[int, typer.Option(help="Selects which style image each content image gets.")] = 0,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """AdaIN stylization (Huang & Belongie 2017): stylize every content image once with a random style image.

    A Stylized-ImageNet-style copy of --content: class folders kept, resumable, with a manifest.

    Sub-commands: train-decoder (an AdaIN decoder for any encoder, offline), convert-weights
    (the released AdaIN .pth files to safetensors).

    Example: gaplens stylize --content data/train --style data/paintings --weights adain/ --out data/stylized
    """
    if ctx.invoked_subcommand is not None:
        given = [n for n, v in (("--content", content), ("--style", style), ("--out", out), ("--weights", weights),
                                ("--encoder", encoder), ("--decoder", decoder)) if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} belong after the sub-command: "
                             f"gaplens stylize {ctx.invoked_subcommand} {' '.join(given)} ...")
        return
    missing = [n for n, v in (("--content", content), ("--style", style), ("--out", out)) if v is None]
    if missing:
        raise InputError(f"gaplens stylize needs {', '.join(missing)} (or a sub-command: train-decoder, "
                         "convert-weights)")
    from gaplens.workflows import stylize_command

    _emit(stylize_command(content, style, out, weights=weights, encoder=encoder, decoder=decoder, alpha=alpha,
                          size=size, batch_size=batch_size, seed=seed, device=device), as_json)


@stylize_app.command("train-decoder")
@_cli_errors
def stylize_train_decoder(
    content: Annotated[Path, typer.Option(help="Content images (any layout).")],
    style: Annotated[Path, typer.Option(help="Style images (any layout).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder (re-running resumes).")],
    encoder: Annotated[str, typer.Option(help="'random', 'random:SEED' (offline random-weight encoder) or a "
                                              "weights file (vgg_normalized.pth, .safetensors).")] = "random",
    steps: Annotated[int, typer.Option(help="Total optimisation steps (raise it and re-run to train further).")]
    = 1000,
    batch_size: int = 8,
    lr: float = 1e-4,
    style_weight: Annotated[float, typer.Option(help="Weight of the style loss against the content loss.")] = 10.0,
    size: Annotated[int, typer.Option(help="Centre-crop and resize every image to SIZE x SIZE.")] = 64,
    seed: int = 0,
    checkpoint_every: int = 100,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Train an AdaIN decoder with the content + style loss of Huang & Belongie, resumably.

    Writes OUT/encoder.safetensors and OUT/decoder.safetensors (use with gaplens stylize --weights OUT),
    OUT/decoder_state.pt and OUT/history.csv.

    Example: gaplens stylize train-decoder --content data/train --style data/paintings --encoder random
    --steps 2000 --out runs/adain
    """
    from gaplens.workflows import train_decoder_command

    _emit(train_decoder_command(content, style, out, encoder=encoder, steps=steps, batch_size=batch_size, lr=lr,
                                style_weight=style_weight, size=size, seed=seed, checkpoint_every=checkpoint_every,
                                device=device), as_json)


@stylize_app.command("convert-weights")
@_cli_errors
def stylize_convert_weights(
    encoder: Annotated[Path, typer.Option(help="The released vgg_normalized.pth.")],
    decoder: Annotated[Path, typer.Option(help="The released decoder.pth.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the safetensors files.")],
    as_json: AsJson = False,
) -> None:
    """Check the released AdaIN weights (read without unpickling code) and rewrite them as safetensors.

    Example: gaplens stylize convert-weights --encoder vgg_normalized.pth --decoder decoder.pth --out adain/
    """
    from gaplens.workflows import convert_weights_command

    _emit(convert_weights_command(encoder, decoder, out), as_json)


Scale = Annotated[str, typer.Option(help="Axis scaling of the linear fit: probit, logit or linear.")]


@shift_app.command("evaluate")
@_cli_errors
def shift_evaluate(
    models: Annotated[list[str], typer.Option("--models", help="Model specs; repeat the option for each model.")],
    original: Annotated[str, typer.Option(help="The original test set (folder or synthetic:... spec).")],
    new: Annotated[str, typer.Option(help="The new test set, with the same classes.")],
    out: Out,
    scale: Scale = "probit",
    batch_size: int = 256,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Evaluate every model on both sets (resumable), then fit new vs. original accuracy.

    Example: gaplens shift evaluate --models runs/a/models/m1 --models runs/a/models/m2
    --original data/test --new data/test_v2 --out runs/shift
    """
    from gaplens.workflows import shift_evaluate_command

    _emit(shift_evaluate_command(models, original, new, out, scale, batch_size, device), as_json)


@shift_app.command("analyze")
@_cli_errors
def shift_analyze(
    csv: Annotated[Path, typer.Option(help="CSV: model, correct_original, n_original, correct_new, n_new.")],
    out: Out,
    scale: Scale = "probit",
    as_json: AsJson = False,
) -> None:
    """Analyze published or precomputed counts: drops with intervals, the fit and its figure.

    Example: gaplens shift analyze --csv published.csv --scale linear --out runs/recht
    """
    from gaplens.workflows import shift_analyze_command

    _emit(shift_analyze_command(csv, out, scale), as_json)


def main() -> None:
    """Console entry point."""
    app(prog_name="gaplens")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
