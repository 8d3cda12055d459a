"""Turn uploaded bytes into an upright RGB array, or a typed error.

The format is sniffed from the content (a file's name or declared type may lie).
EXIF orientation is applied, transparency is flattened onto white, the first frame
of an animation is used, and grayscale / 1-bit / CMYK / 16-bit inputs become 8-bit RGB.
Size limits are checked before pixels are decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerec.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from facerec.inference.types import RGBImage

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})


@dataclass(frozen=True, slots=True)
class DecodedImage:
    pixels: RGBImage
    format: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode ``data``; raise InvalidImage, UnsupportedFormat or ImageTooLarge."""
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"the file has {len(data)} bytes; the limit is {max_bytes}",
            limit_bytes=max_bytes,
        )
    image = _open(data, max_pixels=max_pixels)
    fmt = (image.format or "").upper()
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedFormat(
            f"{fmt or 'this'} images are not accepted; send JPEG, PNG, WebP, BMP or GIF",
            format=fmt,
        )
    _check_pixels(image.size, max_pixels)
    try:
        image.seek(0)
        image.load()
        image = _upright(image)
        pixels = _to_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"the image is corrupt or truncated: {exc}") from exc
    return DecodedImage(pixels=pixels, format=fmt)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image has {width}x{height} pixels; the limit is {max_pixels} pixels",
            limit_pixels=max_pixels,
        )


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Over Pillow's own limit (2 x MAX_IMAGE_PIXELS): answer as any image over ours.
        size = _claimed_size(data)
        if size is not None:
            _check_pixels(size, max_pixels)
        raise ImageTooLarge(
            f"the image has over {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels; "
            f"the limit is {max_pixels} pixels",
            limit_pixels=max_pixels,
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("the file is not an image FaceRec can read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"the file is not a readable image: {exc}") from exc


def _claimed_size(data: bytes) -> tuple[int, int] | None:
    """The size an accepted format's header claims, read without Pillow's bomb check
    (which ``Image.open`` applies after this same step); no pixel is decoded."""
    prefix = data[:16]
    for fmt in sorted(ACCEPTED_FORMATS):
        factory, accept = Image.OPEN.get(fmt, (None, None))
        claims = accept(prefix) if accept is not None else True
        if factory is None or not claims or isinstance(claims, str):
            continue
        try:
            return factory(io.BytesIO(data), "").size
        except (OSError, ValueError, SyntaxError, IndexError, TypeError, struct.error):
            continue
    return None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image) or image
    except (TypeError, ValueError, KeyError, SyntaxError, OSError):
        return image


def _to_rgb(image: Image.Image) -> RGBImage:
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        array = np.asarray(image, dtype=np.float64)
        top = float(array.max()) if array.size else 0.0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        gray = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if mode in {"P", "PA"}:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
