"""The ``gaplens`` command: one sub-command per capability, each calling one public function.

Exit codes: 0 success; 2 bad arguments (usage errors, bad specs, unknown names, a TorchScript or
``module:factory`` model without ``--trust-code``); 1 failures (unreadable data, malformed
checkpoints, refused pickles: the file is bad). User mistakes print one ``error: ...`` line, never
a traceback.

Every command that takes a model spec has ``--trust-code``: TorchScript archives and
``module:factory`` specs are code (loading them runs it), refused unless the user says they trust
them; gaplens checkpoints (safetensors + a registered architecture) are data and need no flag.
"""

from __future__ import annotations

import json
import sys
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
    ModelOpt,
    Out,
    TrustCode,
    cli_errors,
    emit,
    executor_of,
)
from gaplens.cli.gan import gan_app, pix2pix_app
from gaplens.cli.restore import app as restore_app
from gaplens.core.errors import InputError

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
rules_app = typer.Typer(help="Certifiably optimal rule lists (CORELS) for tabular decisions.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
visualize_app = typer.Typer(help="Images that excite classes and units: class models, feature visualization, "
                            "DeepDream.", no_args_is_help=True)
app.add_typer(visualize_app, name="visualize")
robustness_app = typer.Typer(help="Generalization under the 12 image distortions of Geirhos et al. 2018.",
                             no_args_is_help=True)
app.add_typer(robustness_app, name="robustness")
stylize_app = typer.Typer(no_args_is_help=True)  # help: the docstring of stylize() below
app.add_typer(stylize_app, name="stylize")
bagnet_app = typer.Typer(help="Bag-of-local-features networks (BagNet): train, class-evidence maps, the patch-size "
                         "study.", no_args_is_help=True)
app.add_typer(bagnet_app, name="bagnet")
# Sub-command groups in their own modules (gaplens/cli/NAME.py):
app.add_typer(restore_app, name="restore")
app.add_typer(gan_app, name="gan")
app.add_typer(pix2pix_app, name="pix2pix")


@app.command()
@cli_errors
def demo(
    out: Out = Path("runs/demo"),
    quick: Annotated[bool, typer.Option(help="A tiny, seconds-long version (smoke test).")] = False,
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Run every study on the embedded synthetic data; write RUN/report.html.

    Example: gaplens demo --out runs/demo
    """
    from gaplens.demo import QUICK, DemoConfig, run_demo

    report = run_demo(out, QUICK if quick else DemoConfig(), device=device,
                      executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(report))


@app.command()
@cli_errors
def audit(
    model: ModelOpt,
    images: Annotated[str, typer.Option(help="Folder with one sub-folder per class (or a folder of unlabeled "
                                             "images), an image file, sample:NAME or synthetic:...")],
    out: Out,
    train: Annotated[str | None, typer.Option(help="Labelled training set: adds the data randomization test "
                                                   "(gaplens zoo models).")] = None,
    stimuli: Annotated[str | None, typer.Option(help="Cue-conflict stimuli: adds shape bias.")] = None,
    new: Annotated[str | None, typer.Option(help="A new test set with the same classes: adds the new-test-set "
                                                 "study.")] = None,
    studies: Annotated[str | None, typer.Option(help="Comma list among evaluate, explain, sanity, visualize, "
                                                     "robustness, shape_bias, shift (default: all that apply).")]
    = None,
    quick: Annotated[bool, typer.Option(help="Small samples and settings: a first look in a minute or two.")] = False,
    device: str = "auto",
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Every study that applies to your model and images, in one report that opens with its findings.

    Example: gaplens audit --model runs/r1/models/resnet --images data/test --out runs/audit --quick
    """
    from gaplens.studies.audit import audit as run_audit

    chosen = _names("--studies", studies) if studies is not None else None
    typer.echo(str(run_audit(model, images, out, train=train, stimuli=stimuli, new=new, studies=chosen,
                             quick=quick, fresh=fresh, device=device, trust_code=trust_code,
                             executor=executor_of(executor, address, gpus_per_task))))


@data_app.command("synth")
@cli_errors
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
@cli_errors
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
    device: str = "auto",
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Train a zoo architecture; the checkpoint lands in RUN/models/NAME.

    Re-running the same command reuses the model, or resumes its training after a kill at the
    last finished epoch; changing the data or any setting trains it again.

    Example: gaplens train --data synthetic:n=3000,seed=0 --arch resnet --epochs 12 --out runs/r1
    """
    from gaplens.studies import Train, run_study

    study = Train(name or arch, data, arch=arch, val=val,
                  fit={"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "seed": seed,
                       "random_labels": random_labels})
    run_study(study, out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(study.folder(out.absolute())))


@app.command()
@cli_errors
def evaluate(
    model: ModelOpt,
    data: Annotated[list[str], typer.Option(help="Dataset spec(s); repeat for several sets.")],
    out: Out,
    batch_size: int = 256,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Accuracy with a Clopper-Pearson 95% interval, per-class accuracy, confusion matrix figure.

    Example: gaplens evaluate --model runs/r1/models/resnet --data synthetic:n=1000,seed=9 --out runs/r1
    """
    from gaplens.studies import Evaluate, model_refs, run_study

    refs = model_refs([model], device=device, trust_code=trust_code)
    result = run_study(Evaluate(refs, list(data), batch_size=batch_size), out, fresh=fresh, device=device,
                       executor=executor_of(executor, address, gpus_per_task))
    keys = ("model", "set", "n", "correct", "accuracy", "ci_low", "ci_high")
    emit([{k: r[k] for k in keys} for r in result.records if r.get("class") == "all"], as_json)


@app.command()
@cli_errors
def explain(
    model: ModelOpt,
    images: Annotated[str, typer.Option(help="Image file, image folder, sample:NAME or synthetic:... spec.")],
    out: Out,
    methods: Annotated[str, typer.Option(help="'all' or a comma-separated list of method names.")] = "all",
    target: Annotated[str, typer.Option(help="pred (predicted class), label, or a class index.")] = "pred",
    limit: Annotated[int, typer.Option(help="At most this many images.")] = 8,
    batch_size: int = 64,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="A method option as METHOD.KEY=VALUE (repeatable), e.g. "
        "integrated_gradients.n_steps=32 or occlusion.window=32; VALUE is read as JSON when it parses "
        "(numbers, true/false, null, lists), else as text.")] = None,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Attribution maps (gradient, IG, SmoothGrad, guided backprop, Grad-CAM, occlusion, ...) as .npy,
    a grid figure and records.

    Example: gaplens explain --model runs/demo/models/texture-world --images synthetic:n=6,seed=5 --out runs/x
    """
    from gaplens.studies import Explain, model_refs, run_study

    if target not in ("pred", "label"):
        try:
            int(target)
        except ValueError:
            raise InputError(f"--target {target!r}; expected 'pred', 'label' or a class index") from None
    chosen = _names("--methods", methods)
    refs = model_refs([model], device=device, trust_code=trust_code)
    study = Explain(refs, images, chosen, target, limit, batch_size, options=_method_options(option or []))
    result = run_study(study, out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    summary: dict[str, dict] = {}
    for row in result.records:
        if "method" in row:
            entry = summary.setdefault(row["method"], {"method": row["method"], "images": 0, "seconds": 0.0})
            entry["images"] += 1
            entry["seconds"] += row["seconds"]
    emit(list(summary.values()), as_json)


def _method_options(items: list[str]) -> dict[str, dict]:
    """``--option METHOD.KEY=VALUE`` flags as ``{method: {key: value}}``, checked against the registry."""
    from gaplens.explain import METHODS

    options: dict[str, dict] = {}
    for item in items:
        name, sep, text = item.partition("=")
        method, dot, key = name.strip().partition(".")
        if not sep or not dot or not method or not key:
            raise InputError(f"--option {item!r}; expected METHOD.KEY=VALUE, e.g. integrated_gradients.n_steps=32")
        defaults = METHODS[method].defaults  # an unknown method names the closest ones
        if key not in defaults:
            raise InputError(f"--option {item!r}: method {method!r} has no option {key!r}; its options are "
                             f"{sorted(defaults)}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options.setdefault(method, {})[key] = tuple(value) if isinstance(value, list) else value
    return options


def _names(option: str, text: str) -> list[str]:
    """A comma-separated list of names; an empty one is a mistake, not 'all'."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"{option} {text!r}: give at least one name")
    return names


@app.command()
@cli_errors
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
    verdict_metric: Annotated[str, typer.Option(help="Metric the verdict reads: spearman (signed, default), "
                                                     "spearman_abs, ssim or hog.")] = "spearman",
    verdict_step: Annotated[str, typer.Option(help="How the verdict reads the cascade: median (default), mean "
                                                   "or final.")] = "median",
    threshold: Annotated[float, typer.Option(help="A method is insensitive when the verdict value exceeds "
                                                  "this.")] = 0.5,
    batch_size: int = 64,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Sanity checks for saliency maps (Adebayo et al. 2018): model and data randomization, edge comparison.

    Example: gaplens sanity --model runs/demo/models/shape-world --images synthetic:n=8,seed=9
    --train-random-labels synthetic:n=2000,seed=0 --out runs/sanity
    """
    from gaplens.studies import Runner, Sanity, Train, model_refs
    from gaplens.studies.runner import safe_name

    chosen = _names("--methods", methods)
    chosen = None if chosen in (["default"], ["all"]) else chosen
    chosen_modes = _names("--modes", modes)
    if random_labels_model and train_random_labels:
        raise InputError("give --random-labels-model or --train-random-labels, not both")
    (ref,) = model_refs([model], device=device, trust_code=trust_code)
    with Runner(out, "sanity", {"model": model, "images": images, "methods": methods, "modes": modes,
                                "random_labels_model": random_labels_model,
                                "train_random_labels": train_random_labels, "limit": limit,
                                "verdict": [verdict_metric, verdict_step, threshold]},
                fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task)) as run:
        random_model = None
        if random_labels_model is not None:
            (random_model,) = model_refs({f"{ref.label}-random-labels": random_labels_model}, device=device,
                                         trust_code=trust_code)
        if train_random_labels:
            arch = getattr(ref.load().network, "gaplens_arch", None)
            if arch is None:
                raise InputError("--train-random-labels needs a gaplens zoo model (its architecture is rebuilt); "
                                 "pass --random-labels-model instead")
            twin = Train(f"{safe_name(ref.label)}-random-labels", train_random_labels, arch=arch["name"],
                         arch_kwargs=arch["kwargs"], fit={"epochs": epochs, "random_labels": True})
            run.run(twin)
            random_model = twin.model(run.out, device)
        result = run.run(Sanity(ref, images, chosen_modes, chosen, random_model, limit=limit, batch_size=batch_size,
                                verdict_metric=verdict_metric, verdict_step=verdict_step, threshold=threshold))
    emit([{"test": r["mode"], "method": r["method"], "passed": bool(r["passed"]), "value": float(r["value"]),
            "threshold": float(r["threshold"])} for r in result.records if r.get("kind") == "verdict"], as_json)


@app.command("shape-bias")
@cli_errors
def shape_bias(
    out: Out,
    models: Annotated[list[str] | None, typer.Option("--models", help="Model specs; repeat the option for each "
                                                                      "model.")] = None,
    stimuli: Annotated[str | None, typer.Option(help="Cue-conflict folder (dog10-bird2.png names), manifest CSV, "
                                                     "or synthetic:...,conflict=1 spec.")] = None,
    decisions: Annotated[list[Path] | None, typer.Option(
        "--decisions", help="Recorded decisions instead of models: a raw-data CSV in the published format (subj, "
                            "session, object_response, category, imagename; 'na' = no decision); repeat the "
                            "option for several files. Subjects are pooled and shown one by one.")] = None,
    reference: Annotated[bool, typer.Option(help="Draw published values (humans, ResNet-50, SIN).")] = False,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Shape bias on cue-conflict stimuli (Geirhos et al. 2019), per model and category, with the figure.

    Example: gaplens shape-bias --models runs/demo/models/texture-world --stimuli synthetic:n=800,conflict=1,seed=5
    --out runs/bias

    From the published human data: gaplens shape-bias --decisions cue-conflict_subject-01_session_1.csv
    --decisions cue-conflict_subject-02_session_1.csv --out runs/humans
    """
    from gaplens.studies import ShapeBias, model_refs, run_study
    from gaplens.studies.shape_bias import ShapeBiasFromDecisions, decision_rows

    if decisions and (models or stimuli):
        raise InputError("give --decisions (recorded decisions) or --models with --stimuli, not both")
    if decisions:
        result = run_study(ShapeBiasFromDecisions(decisions, reference=reference), out, fresh=fresh, device=device,
                           executor=executor_of(executor, address, gpus_per_task))
    else:
        if not models or stimuli is None:
            raise InputError("give --models and --stimuli (or --decisions FILE.csv for recorded decisions)")
        refs = model_refs(models, device=device, trust_code=trust_code)
        result = run_study(ShapeBias(refs, stimuli, reference), out, fresh=fresh, device=device,
                           executor=executor_of(executor, address, gpus_per_task))
    rows = decision_rows(result.records)
    if as_json:
        emit(rows, as_json)
    else:
        emit([{"model": r["model"], "shape_bias": r["shape_bias"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "n_shape": r["n_shape"], "n_texture": r["n_texture"]} for r in rows], as_json)


@app.command()
@cli_errors
def layers(
    model: Annotated[str, typer.Argument(help="Model spec.")],
    size: Annotated[int | None, typer.Option(help="Input side for tracing forward order.")] = None,
    as_json: AsJson = False,
    trust_code: TrustCode = False,
) -> None:
    """List a model's layer names (dotted paths for hooks), in forward order.

    Example: gaplens layers runs/demo/models/texture-world
    """
    from gaplens.core.hooks import layer_names
    from gaplens.core.model import MAX_INPUT_SIDE, load_model

    if size is not None and not 1 <= size <= MAX_INPUT_SIDE:
        raise InputError(f"--size {size}; expected a side in 1..{MAX_INPUT_SIDE} pixels")
    classifier = load_model(model, device="cpu", trust_code=trust_code)
    names = layer_names(classifier, (size, size) if size else None)
    if as_json:
        typer.echo(json.dumps(names))
    else:
        typer.echo("\n".join(names))


@app.command()
@cli_errors
def report(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Render RUN/report.html from RUN/run.db.

    Example: gaplens report runs/demo
    """
    from gaplens.studies.report import render_report

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
@cli_errors
def visualize_class(
    model: ModelOpt,
    out: Out,
    classes: Annotated[str, typer.Option(help="'all', an index, a range 0-7 or a list 1,3.")] = "all",
    score: Annotated[str, typer.Option(help="logit, log_softmax or softmax; comma-separate to compare.")] = "logit",
    steps: int = 256,
    l2: Annotated[float, typer.Option(help="Weight of the L2 penalty (lambda).")] = 30.0,
    device: str = "auto",
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Class models: argmax_I S_c(I) - lambda ||I||^2, each shown with the model's top-3 classes for it.

    Example: gaplens visualize class --model runs/demo/models/texture-world --score logit,softmax --out runs/v
    """
    from gaplens.studies import ClassModels, model_refs, run_study

    (ref,) = model_refs([model], device=device, trust_code=trust_code)
    study = ClassModels(ref, _names("--score", score), {"classes": _index_list(classes), "steps": steps, "l2": l2})
    run_study(study, out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(out))


@visualize_app.command("unit")
@cli_errors
def visualize_unit(
    model: ModelOpt,
    layer: Annotated[str, typer.Option(help="Dotted layer name (see `gaplens layers MODEL`).")],
    out: Out,
    channels: Annotated[str, typer.Option(help="'all', an index, a range 0-15 or a list 1,3.")] = "0-15",
    steps: int = 256,
    device: str = "auto",
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Feature visualization of channels of a layer (Fourier parameterization, Lucid's transforms).

    Example: gaplens visualize unit --model runs/demo/models/shape-world --layer layer3 --channels 0-15 --out runs/v
    """
    from gaplens.studies import Channels, model_refs, run_study

    (ref,) = model_refs([model], device=device, trust_code=trust_code)
    run_study(Channels(ref, layer, _index_list(channels), {"steps": steps, "param": "fourier"}), out, fresh=fresh,
              device=device, executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(out))


@visualize_app.command("dream")
@cli_errors
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
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """DeepDream: start from a photograph and amplify what a layer sees in it, octave by octave.

    Example: gaplens visualize dream --model runs/demo/models/texture-world --layer layer3 --out runs/v
    """
    from gaplens.studies import DeepDream, model_refs, run_study

    (ref,) = model_refs([model], device=device, trust_code=trust_code)
    options = {"octaves": octaves, "steps_per_octave": steps_per_octave, "step_size": step_size, "size": size}
    run_study(DeepDream(ref, image, layer, options), out, fresh=fresh, device=device,
              executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(out))


@app.command()
@cli_errors
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

    Without --spectrum, power equalisation of 224 x 224 images uses the published ImageNet mean
    spectrum (shipped with gaplens), and of other sizes the mean spectrum of the loaded images.

    Example: gaplens distort --images sample:chelsea --sheet --size 224 --out runs/sheet
    """
    from gaplens.commands import distort_command

    typer.echo(str(distort_command(images, out, distortion, level, sheet, limit, seed, spectrum, size)))


@robustness_app.command("sweep")
@cli_errors
def robustness_sweep(
    models: Annotated[list[str], typer.Option("--models", help="Model specs; repeat the option for each model.")],
    data: Annotated[str, typer.Option(help="Test set: image folder or synthetic:... spec.")],
    out: Out,
    distortions: Annotated[str, typer.Option(help="'all' or a comma-separated list.")] = "all",
    batch_size: int = 128,
    device: str = "auto",
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Accuracy against distortion level for every model (resumable), with 95% intervals and the figure.

    Example: gaplens robustness sweep --models runs/demo/models/shape-world --data synthetic:n=400,seed=9
    --out runs/robust
    """
    from gaplens.studies import Runner, Sweep, model_refs

    with Runner(out, "robustness sweep", {"models": list(models), "data": data, "distortions": distortions},
                fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task)) as run:
        run.run(Sweep(model_refs(models, device=device, trust_code=trust_code), data, distortions, batch_size))
    typer.echo(str(run.report_path))


@robustness_app.command("train")
@cli_errors
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
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Train with random distortions as augmentation, then sweep all of them (train on all but one).

    Example: gaplens robustness train --data synthetic:n=2000,seed=0 --test synthetic:n=400,seed=9
    --distortions all-but:uniform_noise --out runs/robust
    """
    from gaplens.studies import Runner, Sweep, Train
    from gaplens.studies.runner import safe_name

    name = name or f"{arch}-{safe_name(distortions)}"
    with Runner(out, "robustness train", {"data": data, "distortions": distortions, "test": test, "arch": arch},
                fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task)) as run:
        train = Train(name, data, arch=arch, fit={"epochs": epochs}, augment=distortions)
        run.run(train)
        run.run(Sweep([train.model(run.out, device)], test, figure=f"robustness_{name}"))
    typer.echo(str(train.folder(run.out.absolute())))


@stylize_app.callback(invoke_without_command=True)
@cli_errors
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
    from gaplens.commands import stylize_command

    emit(stylize_command(content, style, out, weights=weights, encoder=encoder, decoder=decoder, alpha=alpha,
                          size=size, batch_size=batch_size, seed=seed, device=device), as_json)


@stylize_app.command("train-decoder")
@cli_errors
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
    from gaplens.commands import train_decoder_command

    emit(train_decoder_command(content, style, out, encoder=encoder, steps=steps, batch_size=batch_size, lr=lr,
                                style_weight=style_weight, size=size, seed=seed, checkpoint_every=checkpoint_every,
                                device=device), as_json)


@stylize_app.command("convert-weights")
@cli_errors
def stylize_convert_weights(
    encoder: Annotated[Path, typer.Option(help="The released vgg_normalized.pth.")],
    decoder: Annotated[Path, typer.Option(help="The released decoder.pth.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the safetensors files.")],
    as_json: AsJson = False,
) -> None:
    """Check the released AdaIN weights (read without unpickling code) and rewrite them as safetensors.

    Example: gaplens stylize convert-weights --encoder vgg_normalized.pth --decoder decoder.pth --out adain/
    """
    from gaplens.commands import convert_weights_command

    emit(convert_weights_command(encoder, decoder, out), as_json)


Scale = Annotated[str, typer.Option(help="Axis scaling of the primary fit: probit, logit or linear (the linear "
                                          "and probit fits are both reported).")]
NBoot = Annotated[int, typer.Option(help="Bootstrap resamples of the models for the fits' intervals "
                                         "(Recht et al. used 100000).")]
BootSeed = Annotated[int, typer.Option(help="Seed of the bootstrap.")]
Alpha = Annotated[float, typer.Option(help="1 - alpha is the level of every interval.")]


@shift_app.command("evaluate")
@cli_errors
def shift_evaluate(
    models: Annotated[list[str], typer.Option("--models", help="Model specs; repeat the option for each model.")],
    original: Annotated[str, typer.Option(help="The original test set (folder or synthetic:... spec).")],
    new: Annotated[str, typer.Option(help="The new test set, with the same classes.")],
    out: Out,
    scale: Scale = "probit",
    batch_size: int = 256,
    n_boot: NBoot = 2000,
    seed: BootSeed = 0,
    alpha: Alpha = 0.05,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Evaluate every model on both sets (resumable), then fit new vs. original accuracy.

    Example: gaplens shift evaluate --models runs/a/models/m1 --models runs/a/models/m2
    --original data/test --new data/test_v2 --out runs/shift
    """
    from gaplens.studies import ShiftEvaluate, model_refs, run_study

    result = run_study(ShiftEvaluate(model_refs(models, device=device, trust_code=trust_code), original, new, scale,
                                     batch_size=batch_size, n_boot=n_boot, seed=seed, alpha=alpha),
                       out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    emit(_shift_summary(result.records), as_json)


def _shift_summary(rows: list[dict]) -> dict:
    summary = next(r for r in rows if r.get("kind") == "summary")
    out = {k: v for k, v in summary.items() if k not in ("study", "unit", "kind", "comparison")}
    out["fits"] = {r["scale"]: {k: r[k] for k in ("slope", "slope_ci_low", "slope_ci_high", "intercept",
                                                  "intercept_ci_low", "intercept_ci_high", "r2", "n_outliers")}
                   for r in rows if r.get("kind") == "fit"}
    out["outliers"] = [r["model"] for r in rows if r.get("kind") == "model" and r.get("outlier")]
    return out


@shift_app.command("analyze")
@cli_errors
def shift_analyze(
    csv: Annotated[Path, typer.Option(help="CSV: model, correct_original, n_original, correct_new, n_new.")],
    out: Out,
    scale: Scale = "probit",
    n_boot: NBoot = 2000,
    seed: BootSeed = 0,
    alpha: Alpha = 0.05,
    percent: Annotated[bool, typer.Option("--percent", help="Accuracy columns are in percent (0-100).")] = False,
    as_json: AsJson = False,
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Analyze published or precomputed counts: drops with intervals, linear and probit fits, outliers.

    Example: gaplens shift analyze --csv published.csv --scale linear --n-boot 100000 --percent --out runs/recht
    """
    from gaplens.studies import ShiftAnalyze, run_study

    if not csv.is_file():
        raise InputError(f"--csv {str(csv)!r}: no such file")
    study = ShiftAnalyze(csv, scale, n_boot=n_boot, seed=seed, alpha=alpha, percent=percent)
    result = run_study(study, out, fresh=fresh, executor=executor_of(executor, address, gpus_per_task))
    emit(_shift_summary(result.records), as_json)


@rules_app.command("fit")
@cli_errors
def rules_fit(
    csv: Annotated[Path, typer.Option(help="Training table (CSV): categorical, numeric or 0-1 columns.")],
    label: Annotated[str, typer.Option(help="The binary label column.")],
    out: Out,
    test: Annotated[Path | None, typer.Option(help="Held-out table with the same columns.")] = None,
    regularization: Annotated[float, typer.Option(help="Cost of one rule, as a fraction of training errors.")] = 0.01,
    max_card: Annotated[int, typer.Option(help="Most conditions in one rule.")] = 2,
    min_support: Annotated[float, typer.Option(help="Each condition holds on this fraction of rows or more.")] = 0.01,
    policy: Annotated[str, typer.Option(help="Search order: curious, lower_bound, objective, bfs, dfs.")] = "curious",
    max_nodes: Annotated[int | None, typer.Option(help="Stop after this many prefixes (uncertified).")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Stop after this many seconds (uncertified).")] = None,
    as_json: AsJson = False,
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Fit the rule list with the smallest training error + regularization x rules, and certify it.

    Example: gaplens rules fit --csv train.csv --label recidivate-within-two-years --test test.csv --out runs/compas
    """
    from gaplens.studies import RuleList, run_study

    for name, path in (("--csv", csv), ("--test", test)):
        if path is not None and not path.is_file():
            raise InputError(f"{name} {str(path)!r}: no such file")
    study = RuleList(str(csv), label, test=None if test is None else str(test), regularization=regularization,
                     max_card=max_card, min_support=min_support, policy=policy, max_nodes=max_nodes,
                     time_limit=time_limit)
    records = run_study(study, out, fresh=fresh, executor=executor_of(executor, address, gpus_per_task)).records
    summary = next(r for r in records if r.get("kind") == "summary")
    if not as_json:
        typer.echo(summary["text"])
    keys = ("n_rules", "objective", "certified", "lower_bound", "train_accuracy", "test_accuracy", "nodes", "seconds")
    emit({k: summary.get(k) for k in keys}, as_json)


@bagnet_app.command("train")
@cli_errors
def bagnet_train(
    data: Annotated[str, typer.Option(help="Image folder or 'synthetic:n=2000,texture_agreement=1,...'.")],
    out: Out,
    patch_size: Annotated[int, typer.Option(help="Receptive field in px: 9, 17 or 33 (also 3 or 5).")] = 17,
    width: Annotated[int, typer.Option(help="Channels inside the blocks.")] = 32,
    name: Annotated[str | None, typer.Option(help="Model name in the run (default: bagnet-PATCH).")] = None,
    val: Annotated[str | None, typer.Option(help="Validation set spec.")] = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Train a BagNet (patch logits averaged over positions); the checkpoint lands in RUN/models/NAME.

    Example: gaplens bagnet train --data synthetic:n=2000,seed=0 --patch-size 17 --epochs 5 --out runs/bag
    """
    from gaplens.studies import Train, run_study

    study = Train(name or f"bagnet-{patch_size}", data, arch="bagnet", val=val,
                  arch_kwargs={"patch_size": patch_size, "width": width},
                  fit={"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed})
    run_study(study, out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    typer.echo(str(study.folder(out.absolute())))


@bagnet_app.command("evidence")
@cli_errors
def bagnet_evidence(
    model: ModelOpt,
    images: Annotated[str, typer.Option(help="Image file, image folder, sample:NAME or synthetic:... spec.")],
    out: Out,
    limit: Annotated[int, typer.Option(help="At most this many images.")] = 8,
    border: Annotated[str, typer.Option(help="zeros (a value per pixel, zero-padded) or valid (whole patches "
                                              "only; the map's mean is the logit).")] = "zeros",
    top_k: Annotated[int, typer.Option(help="Patches per class in the top-patch grid.")] = 6,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    trust_code: TrustCode = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """Class-evidence maps of a BagNet (its patch logits, one pass), as .npy, figures and records.

    Example: gaplens bagnet evidence --model runs/bag/models/bagnet-17 --images synthetic:n=6,seed=5 --out runs/bag
    """
    from gaplens.studies import model_refs, run_study
    from gaplens.studies.bagnet import BagNetEvidence

    refs = model_refs([model], device=device, trust_code=trust_code)
    result = run_study(BagNetEvidence(refs, images, limit=limit, border=border, top_k=top_k), out, fresh=fresh,
                       device=device, executor=executor_of(executor, address, gpus_per_task))
    keys = ("model", "image", "predicted", "logit", "positive_fraction")
    emit([{k: r[k] for k in keys} for r in result.records], as_json)


@bagnet_app.command("study")
@cli_errors
def bagnet_study(
    out: Out,
    quick: Annotated[bool, typer.Option(help="A reduced size (about a minute on 2 CPU cores).")] = False,
    device: str = "auto",
    as_json: AsJson = False,
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """BagNet-9/17/33 and a ResNet on texture- and shape-world synthetic data: accuracy, shape bias,
    logit correlation, evidence figures.

    Example: gaplens bagnet study --quick --out runs/bagnet
    """
    from gaplens.studies import run_study
    from gaplens.studies.bagnet import BagNetStudy

    study = BagNetStudy.quick() if quick else BagNetStudy()
    result = run_study(study, out, fresh=fresh, device=device, executor=executor_of(executor, address, gpus_per_task))
    keys = ("world", "model", "accuracy", "shape_bias")
    emit([{k: r[k] for k in keys} for r in result.records if r.get("accuracy") is not None], as_json)


def main() -> None:
    """Console entry point: usage errors are one ``error: ...`` line (exit 2), as every other mistake."""
    # Typer's click (vendored in recent Typer) is reached through a public class, not a private module.
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = app(prog_name="gaplens", standalone_mode=False)
    except click_error as exc:
        context = getattr(exc, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        if exc.format_message():  # empty for a bare group, whose help has been shown
            typer.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
