"""Tests of gaplens.core.image_io: reading every format/mode, errors, resizing, atomic PNGs."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from gaplens.core.errors import ImageReadError, InputError
from gaplens.core.image_io import (
    probe_image,
    read_image,
    read_images,
    resize_image,
    to_uint8_hwc,
    write_png,
)

H, W = 5, 7


def _rgb_uint8(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _expected(array_hwc: np.ndarray, scale: float = 255.0) -> torch.Tensor:
    """(H, W, 3) or (H, W) integers -> the (3, H, W) float tensor read_image must return."""
    values = torch.from_numpy(array_hwc.astype(np.float64) / scale).float()
    if values.dim() == 2:
        values = values.unsqueeze(-1).expand(-1, -1, 3)
    return values.permute(2, 0, 1)


def _check_contract(image: torch.Tensor, h: int = H, w: int = W) -> None:
    assert image.dtype == torch.float32
    assert image.shape == (3, h, w)
    assert image.is_contiguous()
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff"])
def test_lossless_rgb_formats_read_exactly(tmp_path: Path, ext: str) -> None:
    array = _rgb_uint8()
    path = tmp_path / f"img{ext}"
    Image.fromarray(array).save(path)
    image = read_image(path)
    _check_contract(image)
    torch.testing.assert_close(image, _expected(array), rtol=0, atol=0)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg"])
def test_jpeg_reads_within_compression_error(tmp_path: Path, ext: str) -> None:
    # a smooth gradient: JPEG at quality 95 stays within a few grey levels of it
    yy, xx = np.mgrid[0:32, 0:48]
    array = np.stack([yy * 7, xx * 5, (yy + xx) * 3], axis=-1).astype(np.uint8)
    path = tmp_path / f"img{ext}"
    Image.fromarray(array).save(path, quality=95)
    image = read_image(path)
    _check_contract(image, 32, 48)
    error = (image - _expected(array)).abs()
    assert float(error.mean()) < 2 / 255
    assert float(error.max()) < 12 / 255


# --------------------------------------------------------------------------- modes


def test_greyscale_L_is_replicated_to_three_channels(tmp_path: Path) -> None:
    grey = _rgb_uint8()[..., 0]
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    _check_contract(image)
    torch.testing.assert_close(image, _expected(grey), rtol=0, atol=0)


def test_LA_drops_alpha(tmp_path: Path) -> None:
    grey = _rgb_uint8(1)[..., 0]
    alpha = _rgb_uint8(2)[..., 0]
    Image.fromarray(np.stack([grey, alpha], -1), mode="LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    _check_contract(image)
    torch.testing.assert_close(image, _expected(grey), rtol=0, atol=0)


def test_RGBA_drops_alpha(tmp_path: Path) -> None:
    rgb = _rgb_uint8(3)
    alpha = np.zeros((H, W, 1), np.uint8)  # fully transparent: colours must survive anyway
    alpha[0, 0] = 128
    Image.fromarray(np.concatenate([rgb, alpha], -1), mode="RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    _check_contract(image)
    torch.testing.assert_close(image, _expected(rgb), rtol=0, atol=0)


def _palette_image(transparency: int | bytes | None) -> tuple[Image.Image, np.ndarray]:
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    index = np.random.default_rng(4).integers(0, 4, (H, W), dtype=np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette(palette.flatten().tolist() + [0] * (768 - palette.size))
    if transparency is not None:
        img.info["transparency"] = transparency
    return img, palette[index]


@pytest.mark.parametrize("transparency", [None, 1, bytes([255, 0, 128, 255])],
                         ids=["plain", "one-index", "tRNS-bytes"])
def test_palette_P_gives_palette_colours(tmp_path: Path, transparency) -> None:
    img, expected = _palette_image(transparency)
    img.save(tmp_path / "p.png")
    reread = Image.open(tmp_path / "p.png")
    assert reread.mode == "P"
    assert ("transparency" in reread.info) == (transparency is not None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's "convert to RGBA" warning must not appear
        image = read_image(tmp_path / "p.png")
    _check_contract(image)
    torch.testing.assert_close(image, _expected(expected), rtol=0, atol=0)


def test_palette_gif(tmp_path: Path) -> None:
    img, expected = _palette_image(2)
    img.save(tmp_path / "p.gif")
    torch.testing.assert_close(read_image(tmp_path / "p.gif"), _expected(expected),
                               rtol=0, atol=0)


def test_one_bit_mode(tmp_path: Path) -> None:
    bits = np.random.default_rng(5).random((H, W)) > 0.5
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    image = read_image(tmp_path / "b.png")
    _check_contract(image)
    torch.testing.assert_close(image, _expected(bits.astype(np.uint8), scale=1.0),
                               rtol=0, atol=0)


@pytest.mark.parametrize("ext", [".tif", ".jpg"])
def test_cmyk_is_converted_to_rgb(tmp_path: Path, ext: str) -> None:
    # pure magenta in CMYK is (C, M, Y, K) = (0, 255, 0, 0) -> RGB (255, 0, 255)
    Image.new("CMYK", (W, H), (0, 255, 0, 0)).save(tmp_path / f"c{ext}")
    assert Image.open(tmp_path / f"c{ext}").mode == "CMYK"
    image = read_image(tmp_path / f"c{ext}")
    _check_contract(image)
    expected = torch.tensor([1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, H, W)
    torch.testing.assert_close(image, expected, rtol=0, atol=0 if ext == ".tif" else 3 / 255)


GREY16 = np.array([[0, 1, 40000, 65535], [255, 256, 32768, 65534]], dtype=np.uint16)


@pytest.mark.parametrize(("ext", "mode"), [(".png", "I;16"), (".tif", "I;16"),
                                           (".tif", "I;16B")])
def test_16_bit_grey_keeps_full_precision(tmp_path: Path, ext: str, mode: str) -> None:
    if mode == "I;16B":
        img = Image.frombytes("I;16B", GREY16.shape[::-1], GREY16.astype(">u2").tobytes())
    else:
        img = Image.fromarray(GREY16)
    img.save(tmp_path / f"g16{ext}")
    assert Image.open(tmp_path / f"g16{ext}").mode == mode
    image = read_image(tmp_path / f"g16{ext}")
    _check_contract(image, *GREY16.shape)
    assert abs(float(image[0, 0, 2]) - 40000 / 65535) < 1e-6
    # 1 and 0 differ, 255 and 256 differ: an 8-bit round trip would merge them
    assert float(image[0, 0, 1]) > 0 and float(image[1, 1, 0]) < float(image[1, 1, 1])
    torch.testing.assert_close(image, _expected(GREY16, 65535.0), rtol=0, atol=1e-7)


def test_32_bit_int_mode_is_16_bit_scaled_and_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 40000, -5, 70000]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    image = read_image(tmp_path / "i.tif")
    torch.testing.assert_close(image[0, 0], torch.tensor([0.0, 40000 / 65535, 0.0, 1.0]),
                               rtol=0, atol=1e-7)


def test_float_tiff_is_clipped(tmp_path: Path) -> None:
    values = np.array([[-0.5, 0.0, 0.25, 0.999, 1.0, 1.5, np.nan]], dtype=np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    image = read_image(tmp_path / "f.tif")
    _check_contract(image, 1, 7)
    expected = torch.tensor([0.0, 0.0, 0.25, 0.999, 1.0, 1.0, 0.0])
    for channel in range(3):
        torch.testing.assert_close(image[channel, 0], expected, rtol=0, atol=0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_16_bit_rgb_png_is_read_as_8_bit(tmp_path: Path) -> None:
    """Documented limit: Pillow keeps the high byte of each 16-bit RGB sample."""
    samples = np.array([[[1000, 40000, 65535], [0, 256, 512]]], dtype=">u2")  # (1, 2, 3)
    raw = b"\x00" + samples.tobytes()  # one scanline, filter type 0
    header = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)  # 2x1, 16-bit, truecolour
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
           + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))
    (tmp_path / "rgb16.png").write_bytes(png)
    image = read_image(tmp_path / "rgb16.png")
    _check_contract(image, 1, 2)
    torch.testing.assert_close(image, _expected((samples[0] >> 8).astype(np.uint8)[None]),
                               rtol=0, atol=0)


def test_accepts_str_and_pathlike(tmp_path: Path) -> None:
    Image.fromarray(_rgb_uint8()).save(tmp_path / "x.png")
    assert torch.equal(read_image(str(tmp_path / "x.png")), read_image(tmp_path / "x.png"))


# --------------------------------------------------------------------------- errors


def test_truncated_png_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(_rgb_uint8(h=64, w=64)).save(path)
    _truncate(path)
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, OSError)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is before  # never changed globally


def test_truncated_jpeg_raises(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    Image.fromarray(_rgb_uint8(h=64, w=64)).save(path)
    _truncate(path)
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_text_file_named_png_raises(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageReadError, match="not a recognised image") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_empty_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageReadError, match="empty") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "missing.png"
    with pytest.raises(ImageReadError, match="does not exist") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_non_path_argument_is_an_input_error() -> None:
    with pytest.raises(InputError, match="path"):
        read_image(None)  # type: ignore[arg-type]


def test_probe_image_returns_size_and_detects_truncated_png(tmp_path: Path) -> None:
    Image.fromarray(_rgb_uint8(h=64, w=40)).save(tmp_path / "ok.png")
    assert probe_image(tmp_path / "ok.png") == (64, 40)
    assert probe_image(tmp_path / "ok.png", full=True) == (64, 40)
    _truncate(tmp_path / "ok.png")
    with pytest.raises(ImageReadError, match="ok.png"):
        probe_image(tmp_path / "ok.png")


def test_probe_full_catches_truncated_jpeg_the_header_check_misses(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    Image.fromarray(_rgb_uint8(h=64, w=64)).save(path)
    _truncate(path)
    assert probe_image(path) == (64, 64)  # documented: JPEG verify() is header-only
    with pytest.raises(ImageReadError, match="truncated"):
        probe_image(path, full=True)


# --------------------------------------------------------------------------- read_images


def test_read_images_stacks_in_order(tmp_path: Path) -> None:
    arrays = [_rgb_uint8(seed) for seed in range(3)]
    paths = []
    for i, array in enumerate(arrays):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(array).save(paths[-1])
    batch = read_images(paths)
    assert batch.shape == (3, 3, H, W) and batch.dtype == torch.float32
    for i, array in enumerate(arrays):
        torch.testing.assert_close(batch[i], _expected(array), rtol=0, atol=0)


def test_read_images_size_mismatch_lists_sizes_and_files(tmp_path: Path) -> None:
    Image.fromarray(_rgb_uint8(h=8, w=8)).save(tmp_path / "a.png")
    Image.fromarray(_rgb_uint8(h=8, w=8)).save(tmp_path / "b.png")
    Image.fromarray(_rgb_uint8(h=6, w=9)).save(tmp_path / "odd.png")
    paths = [tmp_path / "a.png", tmp_path / "odd.png", tmp_path / "b.png"]
    with pytest.raises(InputError, match="size=") as info:
        read_images(paths)
    message = str(info.value)
    assert "(8, 8): 2 file(s)" in message and "(6, 9): 1 file(s)" in message
    assert str(tmp_path / "odd.png") in message and str(tmp_path / "b.png") in message


def test_read_images_resizes_to_size(tmp_path: Path) -> None:
    Image.fromarray(_rgb_uint8(h=8, w=8)).save(tmp_path / "a.png")
    Image.fromarray(_rgb_uint8(h=6, w=9)).save(tmp_path / "b.png")
    batch = read_images([tmp_path / "a.png", tmp_path / "b.png"], size=(4, 5))
    assert batch.shape == (2, 3, 4, 5)
    assert read_images([tmp_path / "b.png"], size=3).shape == (1, 3, 3, 3)


@pytest.mark.parametrize("paths", [[], "a.png"])
def test_read_images_rejects_empty_or_single_string(paths) -> None:
    with pytest.raises(InputError, match="paths"):
        read_images(paths)


@pytest.mark.parametrize("size", [0, -3, (4,), (4, 0), (4.0, 4), True, "64"])
def test_bad_size_is_an_input_error(tmp_path: Path, size) -> None:
    Image.fromarray(_rgb_uint8()).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="size"):
        read_images([tmp_path / "a.png"], size=size)


# --------------------------------------------------------------------------- resize_image


def test_resize_int_is_a_centre_square_crop() -> None:
    image = torch.rand(3, 4, 10)
    torch.testing.assert_close(resize_image(image, 4), image[:, :, 3:7], rtol=0, atol=0)
    tall = torch.rand(2, 3, 9, 5)
    torch.testing.assert_close(resize_image(tall, 5), tall[:, :, 2:7, :], rtol=0, atol=0)


def test_resize_antialiases_and_keeps_constants() -> None:
    # a 1-pixel checkerboard shrunk 3x: plain bilinear sampling hits pixel centres and returns
    # a full-contrast 0/1 pattern (aliasing); the antialiased resize averages it to ~0.5
    checker = ((torch.arange(48)[:, None] + torch.arange(48)[None, :]) % 2).float()
    small = resize_image(checker.expand(3, -1, -1), (16, 16))
    torch.testing.assert_close(small, torch.full((3, 16, 16), 0.5), rtol=0, atol=0.01)
    constant = torch.full((3, 10, 13), 0.3)
    torch.testing.assert_close(resize_image(constant, (7, 21)), torch.full((3, 7, 21), 0.3))


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("shape", [(3, H, W), (1, H, W), (H, W)])
def test_write_png_round_trip_is_exact(tmp_path: Path, shape: tuple[int, ...]) -> None:
    levels = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0))
    image = levels.float() / 255
    path = write_png(tmp_path / "out.png", image)
    assert path == tmp_path / "out.png"
    back = read_image(path)
    expected = image if image.shape[0] == 3 and image.dim() == 3 else image.reshape(1, H, W)
    torch.testing.assert_close(back, expected.expand(3, H, W), rtol=0, atol=0)
    assert Image.open(path).mode == ("RGB" if len(shape) == 3 and shape[0] == 3 else "L")


def test_write_png_accepts_numpy_float64_and_uint8(tmp_path: Path) -> None:
    array = _rgb_uint8()
    write_png(tmp_path / "f.png", np.moveaxis(array, -1, 0) / 255.0)
    write_png(tmp_path / "u.png", torch.from_numpy(np.moveaxis(array, -1, 0).copy()))
    for name in ("f.png", "u.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)), array)


def test_write_png_clips_and_rounds(tmp_path: Path) -> None:
    image = torch.tensor([[-0.2, 1.3, 0.3 / 255, 0.7 / 255, 127.6 / 255, float("inf")]])
    write_png(tmp_path / "c.png", image)
    assert np.asarray(Image.open(tmp_path / "c.png")).tolist() == [[0, 255, 0, 1, 128, 255]]


def test_write_png_bool_mask(tmp_path: Path) -> None:
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[1:3, 2:5] = True
    write_png(tmp_path / "m.png", mask)
    stored = np.asarray(Image.open(tmp_path / "m.png"))
    assert stored.dtype == np.uint8 and set(np.unique(stored)) == {0, 255}
    assert torch.equal(read_image(tmp_path / "m.png")[0] == 1.0, mask)


def test_write_png_creates_parents_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.png"
    write_png(target, torch.zeros(3, 2, 2))
    write_png(target, torch.ones(3, 2, 2))  # overwrite in place
    assert os.listdir(target.parent) == ["x.png"]
    assert float(read_image(target).min()) == 1.0


def test_write_png_failure_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "x.png"
    write_png(target, torch.zeros(3, 2, 2))
    before = target.read_bytes()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_png(target, torch.ones(3, 2, 2))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.png"]


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (torch.zeros(4, H, W), "shape"),
        (torch.zeros(1, 3, H, W), "shape"),
        (torch.zeros(W), "shape"),
        (torch.zeros(3, H, W, dtype=torch.int64), "dtype"),
        (torch.full((3, H, W), float("nan")), "NaN"),
        ([[0.0, 1.0]], "Tensor"),
    ],
    ids=["4-channels", "batched", "1-d", "int64", "nan", "list"],
)
def test_write_png_rejects_bad_images(tmp_path: Path, image, match: str) -> None:
    with pytest.raises(InputError, match=match):
        write_png(tmp_path / "bad.png", image)
    assert not (tmp_path / "bad.png").exists()


def test_to_uint8_hwc_layout() -> None:
    image = torch.rand(3, H, W, requires_grad=True)
    out = to_uint8_hwc(image)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out[..., 1], np.rint(image[1].detach().numpy() * 255))
    assert to_uint8_hwc(np.zeros((H, W))).shape == (H, W, 1)
    assert to_uint8_hwc(torch.zeros(1, H, W, dtype=torch.float16)).shape == (H, W, 1)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` (no pixel data: the cap must refuse it first)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def test_images_above_max_pixels_are_refused_from_the_header(tmp_path: Path) -> None:
    big = _png_header_only(tmp_path / "big.png", 12000, 12000)  # under Pillow's own limit
    for read in (read_image, probe_image):
        with pytest.raises(ImageReadError, match=r"big\.png: image is 12000x12000 = 144\.0 megapixels.*max_pixels="):
            read(big)
    small = tmp_path / "small.png"
    write_png(small, torch.rand(3, 10, 10))
    with pytest.raises(ImageReadError, match="max_pixels="):
        read_image(small, max_pixels=99)
    assert read_image(small, max_pixels=100).shape == (3, 10, 10)
    with pytest.raises(InputError, match="max_pixels"):
        read_image(small, max_pixels=0)


def test_devices_and_fifos_are_refused_without_reading(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"^/dev/zero: is not a regular file \(a character device\)"):
        read_image("/dev/zero")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    with pytest.raises(ImageReadError, match=r"pipe\.png: is not a regular file \(a FIFO\)"):
        probe_image(fifo)
