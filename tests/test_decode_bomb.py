"""A decompression bomb over Pillow's own limit (2 x ``Image.MAX_IMAGE_PIXELS``, where
``Image.open`` raises ``DecompressionBombError``) is answered like any image over our
``upload.max_pixels``: the same code, message and detail, never Pillow's sentence.

The bombs are headers only (a few dozen bytes): nothing in these tests decodes pixels.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facerec.config import Settings
from facerec.errors import ImageTooLarge
from facerec.inference.decode import decode_image

SIDE = 20_000  # 400 M pixels: over twice Pillow's default 89,478,485


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A 1-bit grayscale PNG whose header claims ``width`` x ``height`` (no pixel data)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")


def bmp_claiming(width: int, height: int) -> bytes:
    """A 1-bit BMP whose header claims ``width`` x ``height`` (no pixel data)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, 0, 2835, 2835, 2, 0)
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00"
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset, 0, 0, offset) + info + palette


def test_the_bombs_are_over_pillows_own_limit() -> None:
    """Precondition: Pillow itself refuses these at open (else this file tests nothing)."""
    assert 2 * (Image.MAX_IMAGE_PIXELS or 0) < SIDE * SIDE
    for bomb in (png_claiming(SIDE, SIDE), bmp_claiming(SIDE, SIDE)):
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(bomb))


@pytest.mark.parametrize("make", [png_claiming, bmp_claiming])
def test_a_bomb_gets_our_message_like_an_image_just_over_our_limit(make: object) -> None:
    assert callable(make)
    limit = 50_000_000
    with pytest.raises(ImageTooLarge) as bomb:
        decode_image(make(SIDE, SIDE), max_bytes=10**7, max_pixels=limit)
    assert bomb.value.code == "image_too_large"
    assert bomb.value.message == f"the image has 20000x20000 pixels; the limit is {limit} pixels"
    assert bomb.value.details == {"limit_pixels": limit}
    # ...the same sentence and detail as an image just over our limit (Pillow lets it open)
    just_over = 7072  # 7072**2 = 50,013,184 > 50,000,000
    with pytest.raises(ImageTooLarge) as over:
        decode_image(make(just_over, just_over), max_bytes=10**7, max_pixels=limit)
    assert over.value.message == f"the image has 7072x7072 pixels; the limit is {limit} pixels"
    assert over.value.details == bomb.value.details


def test_the_api_answers_a_bomb_with_the_configured_limit(
    settings: Settings, client: TestClient
) -> None:
    answer = client.post(
        "/api/v1/recognize",
        files={"file": ("bomb.png", png_claiming(SIDE, SIDE), "image/png")},
    )
    assert answer.status_code == 413
    error = answer.json()["error"]
    limit = settings.upload.max_pixels
    assert error["code"] == "image_too_large"
    assert error["message"] == f"the image has 20000x20000 pixels; the limit is {limit} pixels"
    assert error["limit_pixels"] == limit
    assert "decompression bomb" not in answer.text
