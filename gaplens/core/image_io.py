"""Reading and writing images: files on disk <-> float tensors in ``[0, 1]``.

Every image gaplens reads becomes a ``float32`` tensor of shape ``(3, H, W)`` with values in
``[0, 1]`` (the image space every capability works in, see ``core.model``). The rules for
turning Pillow's many modes into that tensor are fixed and documented here, so two runs on the
same file always see the same pixels:

==========================  ==========================================================
Pillow mode                 becomes
==========================  ==========================================================
``RGB``                     ``value / 255``
``L`` (grey)                ``value / 255``, replicated to 3 channels
``1`` (1-bit)               0.0 or 1.0, replicated to 3 channels
``LA``, ``La``              the grey channel; **alpha is dropped**
``RGBA``, ``RGBX``          the colour channels; **alpha is dropped**
``RGBa`` (premultiplied)    un-premultiplied colour, alpha dropped
``P`` / ``PA`` (palette)    the palette colours (transparency ignored: alpha dropped)
``CMYK``, ``YCbCr``         Pillow's conversion to RGB, then ``/ 255``
``I;16``, ``I;16B`` (etc.)  ``value / 65535`` computed from the 16-bit integers (no 8-bit
                            round trip), replicated to 3 channels
``I`` (32-bit int)          treated as 16-bit data: ``value / 65535``, clipped to ``[0, 1]``
``F`` (32-bit float)        the values as stored, **clipped** to ``[0, 1]`` (NaN -> 0)
==========================  ==========================================================

Alpha is dropped rather than composited because that is what torchvision's ``ImageFolder``
loader (``PIL.Image.convert("RGB")``) does: a classifier trained through torchvision saw the
stored colour channels, so gaplens audits it on the same pixels. Composite the alpha yourself
before saving if your pipeline did something else.

Other documented limits:

- 16-bit-per-channel **RGB** PNGs: Pillow decodes them as 8-bit RGB (keeping the high byte of
  each sample); gaplens accepts that. 16-bit *greyscale* keeps its full precision.
- Multi-frame files (animated GIF, multi-page TIFF): the first frame is read.
- EXIF orientation tags are **not** applied (again as in torchvision): pixels are returned in
  stored order.
- Images above ``max_pixels`` (default :data:`MAX_PIXELS`, 40 megapixels: 480 MB as float32
  RGB) are refused from the header, before any pixel is decoded; pass ``max_pixels=`` to read
  larger ones. Only regular files are read: a device or a FIFO (``/dev/zero``) is refused
  before it is opened.
- Every read forces a full decode (``Image.load()``), so a truncated file raises
  :class:`~gaplens.core.errors.ImageReadError` instead of silently returning grey rows. gaplens
  never changes Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES``; if *your* code sets it to
  ``True``, Pillow itself will pad truncated files and no error can be raised.

Example:
>>> import torch, tempfile, os
>>> from gaplens.core.image_io import write_png, read_image
>>> path = os.path.join(tempfile.mkdtemp(), "red.png")
>>> image = torch.zeros(3, 4, 5); image[0] = 1.0
>>> _ = write_png(path, image)
>>> torch.equal(read_image(path), image)
True
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from gaplens.core.errors import ImageReadError, InputError
from gaplens.core.files import atomic_write

__all__ = [
    "Size",
    "probe_image",
    "read_image",
    "read_images",
    "resize_image",
    "to_uint8_hwc",
    "write_png",
]

PathLike = str | os.PathLike[str]
ArrayLike = torch.Tensor | np.ndarray

#: Exceptions Pillow (and its plugins) raise on corrupt, truncated or unsupported data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  Image.DecompressionBombError)

#: Largest image (width x height) read unless ``max_pixels=`` says otherwise: 40 megapixels
#: (a 12000 x 12000 PNG would take 1.7 GB as float32 RGB, and several times that to decode).
MAX_PIXELS = 40_000_000

_UINT16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_DROP_ALPHA_MODES = frozenset({"RGBA", "RGBX"})
_VIA_RGBA_MODES = frozenset({"P", "PA", "RGBa"})


class _UnsupportedModeError(Exception):
    """Internal: a decoded image whose mode has no defined conversion to RGB."""


def _read_error(path: PathLike, reason: str) -> ImageReadError:
    """Build the error for ``path``; the message is always ``"<path>: <reason>"``."""
    return ImageReadError(f"{os.fspath(path)}: {reason}")


def _check_file(path: PathLike) -> None:
    """Raise :class:`ImageReadError` if ``path`` is missing, not a regular file, or empty.

    A character device, FIFO or socket is refused without being opened: ``/dev/zero`` never ends.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path: expected a file path (str or os.PathLike), got {path!r}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _read_error(path, "file does not exist") from None
    except OSError as exc:
        raise _read_error(path, f"cannot access file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _read_error(path, "is a directory, expected an image file")
    if not stat.S_ISREG(st.st_mode):
        raise _read_error(path, f"is not a regular file ({_file_type(st.st_mode)}), expected an image file")
    if st.st_size == 0:
        raise _read_error(path, "file is empty (0 bytes)")


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def _check_max_pixels(max_pixels: object) -> int:
    if max_pixels is None:
        return MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise InputError(f"max_pixels: expected a positive int (width x height), got {max_pixels!r}")
    return int(max_pixels)


def _open(path: PathLike, max_pixels: int | None = None) -> Image.Image:
    """Open ``path`` with Pillow (lazy: header only), mapping failures to ImageReadError.

    Images larger than ``max_pixels`` (default :data:`MAX_PIXELS`) are refused from the header.
    """
    limit = _check_max_pixels(max_pixels)
    _check_file(path)
    try:
        with warnings.catch_warnings():  # the size is checked against max_pixels below, not warned about
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnidentifiedImageError:
        raise _read_error(
            path, "not a recognised image file (expected PNG, JPEG, BMP, TIFF, ...)"
        ) from None
    except PermissionError as exc:
        raise _read_error(path, f"cannot open file ({exc.strerror or exc})") from exc
    except Image.DecompressionBombError as exc:
        raise _read_error(path, f"image too large ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise _read_error(path, f"corrupt image header ({type(exc).__name__}: {exc})") from exc
    width, height = img.size
    if width * height > limit:
        img.close()
        raise _read_error(
            path, f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the "
            f"{limit / 1e6:g} allowed; pass max_pixels= to read it"
        )
    return img


def probe_image(path: PathLike, *, full: bool = False, max_pixels: int | None = None) -> tuple[int, int]:
    """Check that ``path`` is a readable image and return its ``(H, W)`` in pixels.

    Args:
        path: Image file.
        full: ``False`` (default): a fast check of the header and, where the format has them, the
            chunk checksums (Pillow's ``verify()``; for PNG this also detects truncation, for JPEG
            it is only a header check). ``True``: decode every pixel, exactly as
            :func:`read_image` would.
        max_pixels: Largest ``width * height`` accepted (default :data:`MAX_PIXELS`, 40 megapixels).

    Raises:
        ImageReadError: Naming ``path`` and the reason (missing, empty, not an image, truncated, ...).
    """
    if full:
        image = read_image(path, max_pixels=max_pixels)
        return int(image.shape[1]), int(image.shape[2])
    with _open(path, max_pixels) as img:
        width, height = img.size
        try:
            img.verify()
        except _DECODE_ERRORS as exc:
            raise _read_error(
                path, f"corrupt or truncated image data ({type(exc).__name__}: {exc})"
            ) from exc
    return int(height), int(width)


def _to_float_hwc(img: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image to ``float32`` ``(H, W, 1 or 3)`` in ``[0, 1]``."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img, dtype=np.float32)[..., None]
    if mode in ("L", "LA", "La"):
        grey = img if mode == "L" else img.getchannel(0)
        return (np.asarray(grey, dtype=np.float32) / 255.0)[..., None]
    if mode in _UINT16_MODES or mode == "I":
        # Straight from the integers: no 8-bit intermediate, so 40000 -> 40000 / 65535.
        values = np.asarray(img).astype(np.float64) / 65535.0
        return np.clip(values, 0.0, 1.0).astype(np.float32)[..., None]
    if mode == "F":
        values = np.asarray(img, dtype=np.float32)
        return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)[..., None]
    if mode == "RGB":
        return np.asarray(img, dtype=np.float32) / 255.0
    if mode in _DROP_ALPHA_MODES:
        return np.asarray(img, dtype=np.float32)[..., :3] / 255.0
    if mode in _VIA_RGBA_MODES:
        # Via RGBA: Pillow resolves palette transparency / premultiplication without warnings.
        return np.asarray(img.convert("RGBA"), dtype=np.float32)[..., :3] / 255.0
    try:
        rgb = img.convert("RGB")
    except ValueError as exc:  # Pillow: "conversion from X to RGB not supported"
        raise _UnsupportedModeError(
            f"unsupported image mode {mode!r} (no conversion to RGB)"
        ) from exc
    return np.asarray(rgb, dtype=np.float32) / 255.0


def read_image(path: PathLike, *, max_pixels: int | None = None) -> torch.Tensor:
    """Read one image file as a ``float32`` tensor of shape ``(3, H, W)`` in ``[0, 1]``.

    Any format Pillow reads (PNG, JPEG, BMP, TIFF, WebP, GIF, ...) and any common mode; see the
    module docstring for exactly how each mode maps to RGB (greyscale replicated, alpha dropped,
    16-bit divided by 65535, float clipped).

    ``max_pixels``: the largest ``width * height`` read (default :data:`MAX_PIXELS`, 40
    megapixels); a larger image is refused from its header, before decoding.

    Raises:
        ImageReadError: ``path`` is missing, a directory, a device or FIFO, empty, not an image, larger
            than ``max_pixels``, truncated or corrupt, or in a mode that has no RGB conversion. The
            message names ``path`` and the reason.
    """
    with _open(path, max_pixels) as img:
        try:
            img.load()  # full decode: truncation is detected here, not later
            array = _to_float_hwc(img)
        except _UnsupportedModeError as exc:
            raise _read_error(path, str(exc)) from exc
        except _DECODE_ERRORS as exc:
            raise _read_error(
                path, f"corrupt or truncated image data ({type(exc).__name__}: {exc})"
            ) from exc
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return tensor.contiguous()


Size = int | tuple[int, int]


def _check_size(size: object, argument: str = "size") -> Size:
    """Validate a size: a positive int, or an ``(H, W)`` pair of positive ints.

    Raises :class:`InputError` naming ``argument`` otherwise.
    """

    def positive_int(value: object) -> bool:
        return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and int(value) > 0)

    if positive_int(size):
        return int(size)  # type: ignore[arg-type]
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(map(positive_int, size)):
        return int(size[0]), int(size[1])
    raise InputError(
        f"{argument}: expected a positive int (square) or (H, W), two positive ints; "
        f"got {size!r}"
    )


def _centre_crop_square(image: torch.Tensor) -> torch.Tensor:
    """Crop ``(..., H, W)`` to ``(..., s, s)``, ``s = min(H, W)``, around the centre."""
    height, width = image.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[..., top:top + side, left:left + side]


def resize_image(image: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize ``(C, H, W)`` or ``(N, C, H, W)`` images; returns ``float32`` in ``[0, 1]``.

    Args:
        image: Images in ``[0, 1]``.
        size: ``(H, W)``: resize to exactly that (aspect ratio not kept). ``int`` ``s``: centre-crop
            to a square on the shorter side, then resize to ``(s, s)`` (the same pixels as the
            usual "resize shorter side to s, centre-crop s x s" evaluation transform).

    Interpolation is bilinear with antialiasing (downscaling does not alias); the result is
    clamped to ``[0, 1]``. An image that already has the target size is returned as is.
    """
    size = _check_size(size)
    if image.dim() not in (3, 4):
        raise InputError(f"image: expected (C, H, W) or (N, C, H, W); got {tuple(image.shape)}")
    if isinstance(size, int):
        image = _centre_crop_square(image)
        size = (size, size)
    if tuple(image.shape[-2:]) == size:
        return image.to(torch.float32).contiguous()
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    if batch.dtype != torch.float32:
        batch = batch.float()
    out = F.interpolate(batch, size=size, mode="bilinear", align_corners=False,
                        antialias=True).clamp_(0.0, 1.0)
    return out if image.dim() == 4 else out[0]


def _header_size(path: PathLike) -> tuple[int, int]:
    """``(H, W)`` from the file header only (no pixel decode, so no pixel cap)."""
    with _open(path, max_pixels=1 << 62) as img:
        width, height = img.size
    return int(height), int(width)


def _size_mismatch(paths: Sequence[PathLike]) -> str:
    """Describe which files have which size, grouped by size, a few examples per group."""
    groups: dict[tuple[int, int], list[str]] = {}
    for path in paths:
        groups.setdefault(_header_size(path), []).append(os.fspath(path))
    lines = []
    for (height, width), members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(members[:3]) + (f", ... ({len(members) - 3} more)"
                                          if len(members) > 3 else "")
        lines.append(f"  (H, W) = ({height}, {width}): {len(members)} file(s): {shown}")
    return "\n".join(lines)


def read_images(paths: Sequence[PathLike], size: Size | None = None, *,
                max_pixels: int | None = None) -> torch.Tensor:
    """Read several image files into one ``float32`` batch ``(N, 3, H, W)`` in ``[0, 1]``.

    Args:
        paths: Image files, read in order (see :func:`read_image` for the per-file rules).
        size: ``(H, W)`` or ``int``: every image is resized as :func:`resize_image` does (bilinear,
            antialiased; an int centre-crops to a square first). ``None``: all images must
            already share one size.
        max_pixels: as :func:`read_image`.

    Raises:
        InputError: ``paths`` is empty, ``size`` is malformed, or (``size=None``) the images differ in
            size; the message lists every size found and which files have it.
        ImageReadError: A file cannot be read (the first one met, named in the message).
    """
    if isinstance(paths, (str, os.PathLike)):
        raise InputError(f"paths: expected a sequence of image paths, got one path {paths!r}")
    paths = list(paths)
    if not paths:
        raise InputError("paths: expected at least one image path, got an empty sequence")
    target = None if size is None else _check_size(size)

    def load(path: PathLike) -> torch.Tensor:
        image = read_image(path, max_pixels=max_pixels)
        return image if target is None else resize_image(image, target)

    first = load(paths[0])
    out = torch.empty((len(paths), *first.shape), dtype=torch.float32)
    out[0] = first
    for i, path in enumerate(paths[1:], start=1):
        image = load(path)
        if image.shape != first.shape:
            raise InputError(
                f"paths: images differ in size (pass size=(H, W) to resize them); first "
                f"mismatch at {os.fspath(path)} (index {i}). Sizes found:\n"
                + _size_mismatch(paths)
            )
        out[i] = image
    return out


def to_uint8_hwc(image: ArrayLike) -> np.ndarray:
    """Convert an image to a ``uint8`` numpy array of shape ``(H, W, C)``, ``C`` in {1, 3}.

    Accepted inputs (torch tensor on any device, or numpy array):

    - shape ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)``;
    - floating point values in ``[0, 1]``: clipped to ``[0, 1]``, scaled by 255 and rounded
      to the nearest integer (NaN is rejected);
    - ``bool`` (masks): ``False -> 0``, ``True -> 255``;
    - ``uint8``: taken as already being bytes ``0..255`` (torchvision's convention).

    Other integer dtypes are rejected: whether they mean ``0..1`` or ``0..255`` is ambiguous.
    For matplotlib, drop the channel axis of a grey result: ``arr[..., 0]``.

    Raises:
        InputError: Wrong shape, unsupported dtype, or NaN values.
    """
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype != torch.float64:
            tensor = tensor.float()
        array = tensor.numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise InputError(
            f"image: expected a torch.Tensor or numpy.ndarray, got {type(image).__name__}"
        )
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise InputError(
            f"image: expected shape (3, H, W), (1, H, W) or (H, W); got {tuple(image.shape)}"
        )
    if array.dtype == np.bool_:
        out = array.astype(np.uint8) * 255
    elif array.dtype == np.uint8:
        out = array
    elif np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            raise InputError("image: contains NaN values; expected floats in [0, 1]")
        out = np.rint(np.clip(array.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise InputError(
            f"image: unsupported dtype {array.dtype}; expected floats in [0, 1], bool masks "
            "or uint8 in [0, 255]"
        )
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))


def write_png(path: PathLike, image: ArrayLike) -> Path:
    """Write an image or mask to ``path`` as an 8-bit PNG, atomically; return the path.

    ``image`` is anything :func:`to_uint8_hwc` accepts: ``(3, H, W)`` -> RGB PNG,
    ``(1, H, W)`` or ``(H, W)`` -> greyscale PNG; floats in ``[0, 1]`` (clipped, rounded),
    bool masks (0 / 255) or uint8. Missing parent directories are created. The PNG is written
    to a hidden temporary file in the same directory and moved into place with
    ``os.replace``, so readers never see a half-written file.

    Raises:
        InputError: ``image`` has a wrong shape or dtype (nothing is written).
    """
    array = to_uint8_hwc(image)
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return atomic_write(path, buffer.getvalue())
