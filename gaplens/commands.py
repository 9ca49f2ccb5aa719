"""Commands that write files rather than run folders: distorted images, stylized copies, AdaIN weights.

Each is what one ``gaplens`` sub-command calls (``distort``, ``stylize``, ``stylize train-decoder``,
``stylize convert-weights``); the studies (run folders with a report) live in :mod:`gaplens.studies`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from gaplens.core.errors import InputError
from gaplens.data.spec import load_image_batch
from gaplens.report import figures
from gaplens.studies.runner import safe_name


def read_spectrum(path: str | Path) -> np.ndarray:
    """A target amplitude spectrum ``(H, W)`` from a ``.npy`` file (never unpickled)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--spectrum {str(path)!r}: no such file; expected a .npy array (H, W) of amplitudes")
    try:
        spectrum = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"--spectrum {str(path)!r}: not a plain .npy array ({exc})") from None
    spectrum = np.squeeze(spectrum)
    if spectrum.ndim != 2:
        raise InputError(f"--spectrum {str(path)!r}: array of shape {spectrum.shape}; expected (H, W), a centred "
                         "|fftshift(fft2(grey))| amplitude spectrum")
    return spectrum


def distort_command(images: str, out: str | Path, distortion: str | None = None, level: str | None = None,
                    sheet: bool = False, limit: int = 8, seed: int = 0, spectrum: str | Path | None = None,
                    size: int | None = None) -> Path:
    """``gaplens distort``: distorted copies of images as PNGs, or the stimulus sheet of one image.

    ``spectrum`` (a ``.npy`` file) is the target of power equalisation. Without it, 224 x 224
    images get the published ImageNet mean spectrum that gaplens ships (the paper's target), and
    other sizes the mean spectrum of the loaded images (which leaves a single image unchanged).
    """
    from gaplens.core.image_io import write_png
    from gaplens.robustness import DISTORTIONS, distort, stimulus_sheet_figure

    batch = load_image_batch(images, size=None if size is None else (size, size), limit=limit)
    folder = Path(out)
    options = {"power_equalisation": {"target_spectrum": read_spectrum(spectrum)}} if spectrum is not None else {}
    if spectrum is not None and options["power_equalisation"]["target_spectrum"].shape != batch.images.shape[-2:]:
        raise InputError(f"--spectrum {str(spectrum)!r} is {options['power_equalisation']['target_spectrum'].shape}"
                         f" but the images are {tuple(batch.images.shape[-2:])}; give --size to resize them")
    if sheet:
        fig = stimulus_sheet_figure(batch.images, seed=seed, options=options)
        return figures.save_figure(fig, folder / "stimulus_sheet.png")
    if distortion is None or level is None:
        raise InputError("give --distortion and --level (or --sheet)")
    spec = DISTORTIONS[distortion]
    value = next((lv for lv in spec.levels if str(lv) == level), None)
    if value is None:
        try:
            value = float(level)
        except ValueError:
            raise InputError(f"--level {level!r}: expected one of {list(spec.levels)} or a number") from None
    result = distort(batch.images, distortion, value, seed=seed, **options.get(distortion, {}))
    for image_id, image in zip(batch.ids, result, strict=True):
        write_png(folder / f"{safe_name(Path(image_id).stem)}_{distortion}_{safe_name(str(level))}.png", image)
    return folder


def _require_files(*options: tuple[str, str | Path]) -> None:
    """:class:`InputError` naming the first ``(option, path)`` whose path is not a file."""
    for option, path in options:
        if not Path(path).is_file():
            raise InputError(f"{option} {str(path)!r}: no such file")


def _require_image_folders(*options: tuple[str, str | Path]) -> None:
    """:class:`InputError` naming the first ``(option, path)`` whose path is not a folder."""
    for option, folder in options:
        if not Path(folder).is_dir():
            raise InputError(f"{option} {str(folder)!r}: expected a folder of images")


def _encoder_from_spec(spec: str):
    """``random`` / ``random:SEED`` (the offline random-weight encoder) or a weights file."""
    from gaplens.bias import load_encoder, random_encoder

    if spec == "random" or spec.startswith("random:"):
        seed_text = spec.partition(":")[2] or "0"
        try:
            return random_encoder(seed=int(seed_text))
        except ValueError:
            raise InputError(f"--encoder {spec!r}: expected 'random', 'random:SEED' (an int) "
                             "or a weights file") from None
    if not Path(spec).is_file():
        raise InputError(f"--encoder {spec!r}: no such file; expected vgg_normalized.pth, an encoder.safetensors "
                         "or 'random'")
    return load_encoder(spec)


def stylizer_from_files(weights: str | Path | None = None, encoder: str | Path | None = None,
                        decoder: str | Path | None = None):
    """The Stylizer of a weights folder (``encoder.safetensors`` + ``decoder.safetensors``) or of two files."""
    from gaplens.bias import load_adain_weights

    if weights is not None:
        if encoder is not None or decoder is not None:
            raise InputError("give either --weights DIR or --encoder FILE with --decoder FILE, not both")
        folder = Path(weights)
        missing = [n for n in ("encoder.safetensors", "decoder.safetensors") if not (folder / n).is_file()]
        if missing:
            raise InputError(f"--weights {str(weights)!r}: expected a folder with {' and '.join(missing)} "
                             "(written by 'gaplens stylize train-decoder' or 'convert-weights')")
        return load_adain_weights(folder / "encoder.safetensors", folder / "decoder.safetensors")
    if encoder is None or decoder is None:
        raise InputError("give --weights DIR, or --encoder FILE and --decoder FILE (e.g. the released "
                         "vgg_normalized.pth and decoder.pth)")
    _require_files(("--encoder", encoder), ("--decoder", decoder))
    return load_adain_weights(encoder, decoder)


def stylize_command(content: str | Path, style: str | Path, out: str | Path, *, weights=None, encoder=None,
                    decoder=None, alpha: float = 1.0, size: int | None = None, batch_size: int = 16,
                    seed: int = 0, device: str = "auto") -> dict:
    """``gaplens stylize``: a Stylized-ImageNet-style copy of ``content`` (resumable), with its manifest."""
    from gaplens.bias import stylize_folder
    from gaplens.core.device import resolve_device

    _require_image_folders(("--content", content), ("--style", style))
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha {alpha}: expected a number in [0, 1]")
    stylizer = stylizer_from_files(weights, encoder, decoder).to(resolve_device(device))
    result = stylize_folder(content, style, out, stylizer=stylizer, alpha=alpha, seed=seed,
                            batch_size=batch_size, size=size)
    return {"out": str(result.out_dir), "written": result.written, "skipped": result.skipped,
            "manifest": str(result.manifest)}


def train_decoder_command(content: str | Path, style: str | Path, out: str | Path, *, encoder: str = "random",
                          steps: int = 1000, batch_size: int = 8, lr: float = 1e-4, style_weight: float = 10.0,
                          size: int | None = 64, seed: int = 0, checkpoint_every: int = 100,
                          device: str = "auto") -> dict:
    """``gaplens stylize train-decoder``: train an AdaIN decoder into ``out`` (re-running resumes).

    Writes ``decoder_state.pt`` (the resumable state), ``encoder.safetensors`` and
    ``decoder.safetensors`` (for ``gaplens stylize --weights OUT``) and ``history.csv``.
    """
    import csv

    from gaplens.bias import train_decoder
    from gaplens.core.files import atomic_write

    _require_image_folders(("--content", content), ("--style", style))
    result = train_decoder(_encoder_from_spec(encoder), Path(content), Path(style), steps, batch_size=batch_size,
                           lr=lr, style_weight=style_weight, size=size, seed=seed, checkpoint_dir=out,
                           resume=True, checkpoint_every=checkpoint_every, device=device)
    text = io.StringIO()
    if result.history:
        writer = csv.DictWriter(text, fieldnames=list(result.history[0]))
        writer.writeheader()
        writer.writerows(result.history)
    atomic_write(Path(out) / "history.csv", text.getvalue().encode())
    last = result.history[-1] if result.history else {}
    return {"out": str(out), "steps": steps, "loss": last.get("loss"), "content_loss": last.get("content_loss"),
            "style_loss": last.get("style_loss")}


def convert_weights_command(encoder: str | Path, decoder: str | Path, out: str | Path) -> dict:
    """``gaplens stylize convert-weights``: check the released AdaIN weights, rewrite them as safetensors."""
    from gaplens.bias import convert_adain_weights

    _require_files(("--encoder", encoder), ("--decoder", decoder))
    enc_path, dec_path = convert_adain_weights(encoder, decoder, out)
    return {"encoder": str(enc_path), "decoder": str(dec_path)}
