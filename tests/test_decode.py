"""Decoding: formats, orientation, transparency, limits and corrupt files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facerec.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from facerec.inference.decode import decode_image

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 10_000_000}


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _gradient(width: int = 40, height: int = 30) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "JPEG"),
        ("RGB", "PNG"),
        ("RGB", "WEBP"),
        ("RGB", "BMP"),
        ("RGB", "GIF"),
        ("L", "JPEG"),
        ("1", "PNG"),
        ("CMYK", "JPEG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("I;16", "PNG"),
        ("LA", "PNG"),
        ("RGBA", "WEBP"),
    ],
)
def test_accepted_formats_become_rgb(mode: str, fmt: str) -> None:
    decoded = decode_image(_encode(_gradient().convert(mode), fmt), **LIMITS)
    assert decoded.pixels.shape == (30, 40, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.flags["C_CONTIGUOUS"]


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None, :].repeat(8, 0)
    decoded = decode_image(_encode(Image.fromarray(ramp), "PNG"), **LIMITS)
    row = decoded.pixels[0, :, 0]
    assert row[0] == 0
    assert row[-1] == 255
    assert 100 < row[32] < 160


def test_alpha_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.putpixel((5, 5), (255, 0, 0, 255))
    pixels = decode_image(_encode(rgba, "PNG"), **LIMITS).pixels
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[5, 5]) == (255, 0, 0)


def _corner_marker(width: int = 40, height: int = 30) -> Image.Image:
    """Black, with a red 10x10 square in the stored top-left corner."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:10, :10] = (255, 0, 0)
    return Image.fromarray(pixels)


def _red_corners(pixels: np.ndarray) -> set[str]:
    """Which corners of the decoded image hold the red marker (sampled 3 px inside)."""
    h, w = pixels.shape[:2]
    points = {
        "top-left": (3, 3),
        "top-right": (3, w - 4),
        "bottom-left": (h - 4, 3),
        "bottom-right": (h - 4, w - 4),
    }
    return {
        name
        for name, (y, x) in points.items()
        if pixels[y, x, 0] > 200 and pixels[y, x, 1] < 60 and pixels[y, x, 2] < 60
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    ("orientation", "shape", "corner"),
    [
        (1, (30, 40, 3), "top-left"),  # as stored
        (3, (30, 40, 3), "bottom-right"),  # rotate 180 degrees to display
        (6, (40, 30, 3), "top-right"),  # rotate 90 degrees clockwise to display
        (8, (40, 30, 3), "bottom-left"),  # rotate 90 degrees counter-clockwise
    ],
)
def test_exif_orientation_is_applied(
    fmt: str, orientation: int, shape: tuple[int, int, int], corner: str
) -> None:
    """A 40x30 image with a marker in its stored top-left corner (EXIF spec, tag 0x0112)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(_encode(_corner_marker(), fmt, exif=exif), **LIMITS)
    assert decoded.pixels.shape == shape
    assert _red_corners(decoded.pixels) == {corner}


def test_first_frame_of_an_animation() -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    pixels = decode_image(data, **LIMITS).pixels
    assert pixels[8, 8, 0] > 200
    assert pixels[8, 8, 2] < 50


@pytest.mark.parametrize("data", [b"", b"plain text", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        decode_image(data, **LIMITS)


def test_truncated_jpeg() -> None:
    data = _encode(_gradient(200, 200), "JPEG")
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 3], **LIMITS)


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM"])
def test_unsupported_formats(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat):
        decode_image(_encode(_gradient(), fmt), **LIMITS)


def test_byte_and_pixel_limits() -> None:
    data = _encode(_gradient(), "PNG")
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_bytes=len(data) - 1, max_pixels=10**9)
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_bytes=10**9, max_pixels=40 * 30 - 1)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = _encode(Image.new("1", (30_000, 30_000)), "PNG")  # ~100 KB, 900 Mpx
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, max_bytes=10**7, max_pixels=50_000_000)
