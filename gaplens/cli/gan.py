"""``gaplens gan train|sample|theory`` and ``gaplens pix2pix train|translate`` (issue 19).

Two command groups: :data:`gan_app` and :data:`pix2pix_app`. ``train`` writes a checkpoint folder
(``generator``/``discriminator`` safetensors + JSON, the resumable ``train_state.safetensors``)
and sample grids under ``OUT/samples/``; ``--resume`` continues a killed run to the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaplens.cli.common import (
    AddressOpt,
    AsJson,
    ExecutorOpt,
    Fresh,
    GpusPerTaskOpt,
    Out,
    cli_errors,
    emit,
    executor_of,
)
from gaplens.core.errors import InputError

gan_app = typer.Typer(help="GANs: train on toy densities, digits or synthetic shapes; sample; the theory study.",
                      no_args_is_help=True)
pix2pix_app = typer.Typer(help="pix2pix: train an image-to-image translator on aligned pairs; translate images.",
                          no_args_is_help=True)

DATASETS = ("shapes", "digits", "ring", "mixture")
PAIRS = ("silhouette", "worlds")


def _gan_data(data: str, n: int, size: int, classes: int, seed: int):
    """(real samples, is_image): images in [-1, 1] for DCGAN, points for the MLPs."""
    from gaplens.gan import Mixture, ring_of_gaussians

    if data == "shapes":
        from gaplens.data.synthetic import generate

        return generate(n, classes=classes, size=size, seed=seed).images * 2 - 1, True
    if data == "digits":
        import torch

        from gaplens.gan.digits import load_digits

        images, _ = load_digits(size)
        return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]] * 2 - 1, True
    if data == "ring":
        return ring_of_gaussians(8, 2.0, 0.05), False
    if data == "mixture":
        return Mixture([0.3, 0.7], [[-1.0], [1.5]], [0.3, 0.5]), False
    raise InputError(f"data={data!r}; expected one of {list(DATASETS)}")


def _write_samples(folder: Path, samples: dict, is_image: bool, prefix: str = "step") -> list[Path]:
    from gaplens.core.image_io import write_png
    from gaplens.gan.figures import points_figure, tile

    written = []
    for key, s in samples.items():
        path = folder / "samples" / f"{prefix}-{key:06d}.png"
        if is_image:
            write_png(path, tile(((s + 1) / 2).clamp(0, 1) if s.min() < 0 else s, nrow=8))
        else:
            import matplotlib.pyplot as plt

            fig = points_figure(s, title=f"Generated samples, {prefix} {key}")
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=80)
            plt.close(fig)
        written.append(path)
    return written


@gan_app.command("train")
@cli_errors
def gan_train(
    out: Out,
    data: Annotated[str, typer.Option(help=f"Training data: one of {', '.join(DATASETS)}.")] = "shapes",
    steps: Annotated[int, typer.Option(help="Generator steps.")] = 2000,
    k: Annotated[int, typer.Option(help="Discriminator steps per generator step.")] = 1,
    loss: Annotated[str, typer.Option(help="minimax, nonsaturating, lsgan or wgan-gp.")] = "nonsaturating",
    n: Annotated[int, typer.Option(help="Training images (shapes, digits).")] = 2000,
    size: Annotated[int, typer.Option(help="Image side in pixels (a power of two >= 8).")] = 32,
    classes: Annotated[int, typer.Option(help="Synthetic classes (shapes).")] = 4,
    z_dim: Annotated[int, typer.Option(help="Noise size.")] = 64,
    width: Annotated[int, typer.Option(help="Base channels of DCGAN (hidden units of the MLPs).")] = 32,
    batch_size: int = 64,
    lr: float = 2e-4,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue a killed run from OUT's state (same settings).")] = False,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Train a GAN (DCGAN on images, MLPs on the toy densities); checkpoints and sample grids into OUT.

    Example: gaplens gan train --data shapes --size 32 --steps 2000 --out runs/dcgan
    """
    import torch

    from gaplens.gan import build_network, train_gan

    real, is_image = _gan_data(data, n, size, classes, seed)
    torch.manual_seed(seed)
    if is_image:
        g = build_network("dcgan_generator", z_dim=z_dim, channels=int(real.shape[1]), size=size, width=width)
        d = build_network("dcgan_discriminator", channels=int(real.shape[1]), size=size, width=width,
                          batch_norm=loss != "wgan-gp")
    else:
        z_dim = 2
        g = build_network("mlp_generator", z_dim=2, dim=real.dim, hidden=width)
        d = build_network("mlp_discriminator", dim=real.dim, hidden=width)
    run = train_gan(g, d, real, steps=steps, k=k, loss=loss, z_dim=z_dim, batch_size=batch_size, lr=lr, seed=seed,
                    out=out, resume=resume, device=device)
    _write_samples(Path(out), run.samples, is_image)
    last = run.history[-1] if run.history else {}
    emit({"out": str(out), "steps": steps, **{k_: last[k_] for k_ in ("d_loss", "g_loss") if k_ in last}}, as_json)


@gan_app.command("sample")
@cli_errors
def gan_sample(
    model: Annotated[Path, typer.Option("--model", help="A folder written by 'gaplens gan train'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG grid (images) or CSV (points) to write.")],
    n: Annotated[int, typer.Option(help="Samples.")] = 64,
    seed: int = 0,
    as_json: AsJson = False,
) -> None:
    """Draw samples from a trained generator: a PNG grid of images, or a CSV of points.

    Example: gaplens gan sample --model runs/dcgan --n 64 -o samples.png
    """
    import torch

    from gaplens.core.files import atomic_write
    from gaplens.core.image_io import write_png
    from gaplens.gan import load_network
    from gaplens.gan.checkpoint import read_record
    from gaplens.gan.figures import tile

    if n < 1:
        raise InputError(f"n={n}; expected >= 1")
    z_dim = read_record(model, "generator").get("z_dim")
    g = load_network(model, "generator")
    if not isinstance(z_dim, int):
        raise InputError(f"{model}/generator.json has no z_dim; was it written by 'gaplens gan train'?")
    with torch.no_grad():
        s = g(torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)))
    if s.dim() == 4:
        if output.suffix.lower() != ".png":
            raise InputError(f"output={str(output)!r}; image samples are written as a .png grid")
        write_png(output, tile(((s + 1) / 2).clamp(0, 1)))
    else:
        if output.suffix.lower() != ".csv":
            raise InputError(f"output={str(output)!r}; point samples are written as a .csv file")
        lines = [",".join(f"x{i + 1}" for i in range(s.shape[1]))] + [",".join(f"{v:.6g}" for v in row)
                                                                       for row in s.tolist()]
        atomic_write(output, ("\n".join(lines) + "\n").encode())
    emit({"output": str(output), "samples": n, "shape": list(s.shape[1:])}, as_json)


@gan_app.command("theory")
@cli_errors
def gan_theory(
    out: Out,
    quick: Annotated[bool, typer.Option(help="The demo's size (about 15 s on one CPU core).")] = False,
    seed: int = 0,
    as_json: AsJson = False,
    fresh: Fresh = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    gpus_per_task: GpusPerTaskOpt = 0.0,
) -> None:
    """D* vs the closed form, the value at p_g = p_data, the game with JS over training, mode collapse.

    Example: gaplens gan theory --quick --out runs/gan
    """
    from gaplens.studies import run_study
    from gaplens.studies.gan import GanTheory

    study = GanTheory.quick(seed=seed) if quick else GanTheory(seed=seed)
    result = run_study(study, out, fresh=fresh, device="cpu", executor=executor_of(executor, address, gpus_per_task))
    rows = [r for r in result.records if r.get("kind") in ("optimal", "early")]
    emit([{k: v for k, v in r.items() if k in ("kind", "mae", "value_equal", "ratio", "d_fake")} for r in rows],
         as_json)


def _pairs(pairs: str, n: int, size: int, classes: int, seed: int):
    from gaplens.gan.pairs import folder_pairs, silhouette_pairs, world_pairs

    if pairs == "silhouette":
        return silhouette_pairs(n, classes=classes, size=size, seed=seed)
    if pairs == "worlds":
        return world_pairs(n, classes=classes, size=size, seed=seed)
    folder = Path(pairs)
    if not folder.is_dir():
        raise InputError(f"pairs={pairs!r}; expected {' or '.join(PAIRS)}, or a folder holding A/ and B/")
    return folder_pairs(folder, size=size)


@pix2pix_app.command("train")
@cli_errors
def pix2pix_train(
    out: Out,
    pairs: Annotated[str, typer.Option(help="silhouette, worlds, or a folder with A/ and B/ (matching names).")] =
    "silhouette",
    epochs: int = 10,
    n: Annotated[int, typer.Option(help="Synthetic pairs.")] = 400,
    size: Annotated[int, typer.Option(help="Image side (a power of two; folder images are resized).")] = 64,
    classes: int = 4,
    discriminator: Annotated[str, typer.Option(help="patch70, patch16, pixel, ...")] = "patch70",
    l1: Annotated[float, typer.Option(help="Weight of the L1 term (0: cGAN alone).")] = 100.0,
    gan: Annotated[float, typer.Option(help="Weight of the cGAN term (0: L1 alone).")] = 1.0,
    width: Annotated[int, typer.Option(help="Base channels of U-Net and PatchGAN.")] = 64,
    batch_size: int = 1,
    lr: float = 2e-4,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue a killed run from OUT's state (same settings).")] = False,
    device: str = "auto",
    as_json: AsJson = False,
) -> None:
    """Train pix2pix (U-Net + PatchGAN, L1 weight 100, Adam 2e-4 / 0.5); translation grids per epoch in OUT/samples.

    Example: gaplens pix2pix train --pairs worlds --size 64 --epochs 10 --out runs/p2p
    """
    import torch

    from gaplens.gan import Pix2Pix, train_pix2pix

    data = _pairs(pairs, n, size, classes, seed)
    torch.manual_seed(seed)
    model = Pix2Pix(int(data.a.shape[1]), int(data.b.shape[1]), discriminator=discriminator, l1=l1, gan=gan,
                    size=int(data.a.shape[-1]), width=width, d_width=width)
    run = train_pix2pix(model, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, out=out,
                        resume=resume, device=device)
    from gaplens.core.image_io import write_png
    from gaplens.gan.figures import tile

    shown = data.a[: next(iter(run.samples.values())).shape[0]] if run.samples else data.a[:0]
    for epoch, fake in run.samples.items():
        a = shown.expand(-1, fake.shape[1], -1, -1) if shown.shape[1] == 1 else shown
        write_png(Path(out) / "samples" / f"epoch-{epoch:04d}.png",
                  tile(torch.cat([a, fake, data.b[: len(fake)]]), nrow=len(fake)))
    last = run.history[-1] if run.history else {}
    emit({"out": str(out), "epochs": epochs, **{k: last[k] for k in ("g_l1", "d_loss") if k in last}}, as_json)


@pix2pix_app.command("translate")
@cli_errors
def pix2pix_translate(
    model: Annotated[Path, typer.Option("--model", help="A folder written by 'gaplens pix2pix train'.")],
    images: Annotated[Path, typer.Option(help="An image file or a folder of images (inputs a).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the translated PNGs (same names).")],
    size: Annotated[int | None, typer.Option(help="Resize inputs to this side first.")] = None,
    dropout: Annotated[bool, typer.Option(help="Keep dropout on (the paper's test-time noise).")] = True,
    seed: int = 0,
    as_json: AsJson = False,
) -> None:
    """Translate images with a trained pix2pix generator; one PNG per input, same file name.

    Example: gaplens pix2pix translate --model runs/p2p --images photos/ -o translated/
    """
    import torch

    from gaplens.core.image_io import read_images, write_png
    from gaplens.data.folder import IMG_EXTENSIONS
    from gaplens.gan import Pix2Pix

    if images.is_dir():
        files = sorted(p for p in images.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
    elif images.is_file():
        files = [images]
    else:
        raise InputError(f"images={str(images)!r}: no such file or folder")
    if not files:
        raise InputError(f"images={str(images)!r}: no images (extensions {', '.join(IMG_EXTENSIONS)})")
    net = Pix2Pix.load(model)
    a = read_images(files, size)
    if net.in_channels == 1:
        a = a.mean(1, keepdim=True)
    torch.manual_seed(seed)
    b = net.translate(a, dropout=dropout)
    written = [str(write_png(output / f"{f.stem}.png", img)) for f, img in zip(files, b, strict=True)]
    emit({"output": str(output), "images": len(written)}, as_json)
