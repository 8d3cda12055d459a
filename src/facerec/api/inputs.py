"""Reading images from a request: multipart parts, base64 JSON, or a raw image body.

One endpoint accepts all three, so clients pick what suits them:

- ``multipart/form-data`` with file parts (``file``, or ``file1``/``file2``) and
  optional plain fields (``top_k``, ``threshold``, ``person_id``...);
- ``application/json`` with ``image_base64`` (or ``image1_base64``/``image2_base64``;
  a ``data:image/...;base64,`` prefix is accepted) and the same plain fields;
- a raw body with an ``image/*`` content type (one image).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from facerec.errors import ImageTooLarge, ValidationFailed

MAX_FILES = 50


@dataclass(slots=True)
class ImageInput:
    data: bytes
    filename: str | None = None


@dataclass(slots=True)
class ParsedBody:
    images: dict[str, list[ImageInput]] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)

    def one(self, name: str) -> ImageInput | None:
        found = self.images.get(name) or []
        if len(found) > 1:
            raise ValidationFailed(f"send one image as {name!r}, not {len(found)}", field=name)
        return found[0] if found else None

    def number(self, name: str, fallback: Any, cast: type[Any]) -> Any:
        raw = self.fields.get(name)
        if raw is None or raw == "":
            return fallback
        try:
            return cast(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"{name} must be a {cast.__name__}", field=name) from exc


def json_key(name: str) -> str:
    """The JSON field carrying the image of multipart field ``name`` (file1 -> image1_base64)."""
    return f"image{name.removeprefix('file')}_base64"


async def parse_images(request: Request, *, names: tuple[str, ...], max_bytes: int) -> ParsedBody:
    """Images under the multipart ``names`` or JSON ``<name-without-'file'>image_base64``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = int(request.headers.get("content-length") or 0)
    if declared > (max_bytes * 4 // 3 + 65536) * max(len(names), 1) * MAX_FILES:
        raise ImageTooLarge(f"the request has {declared} bytes", limit_bytes=max_bytes)
    if content_type in {"multipart/form-data", "application/x-www-form-urlencoded"}:
        return await _from_form(request, names, max_bytes)
    if content_type == "application/json" or content_type.endswith("+json"):
        return await _from_json(request, names, max_bytes)
    if content_type.startswith("image/") or content_type == "application/octet-stream":
        data = await _read_capped(request, max_bytes)
        return ParsedBody(images={names[0]: [ImageInput(data=data)]})
    raise ValidationFailed(
        "send the image as multipart/form-data (field 'file') or JSON ('image_base64')"
    )


async def _from_form(request: Request, names: tuple[str, ...], max_bytes: int) -> ParsedBody:
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=100)
    except HTTPException as exc:  # malformed multipart, too many parts
        raise ValidationFailed(f"the multipart body was refused: {exc.detail}") from exc
    parsed = ParsedBody()
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                image = await _read_upload(key, value, names, max_bytes)
                parsed.images.setdefault(key, []).append(image)
            else:
                parsed.fields[key] = value
    finally:
        await form.close()
    return parsed


async def _read_upload(
    key: str, upload: UploadFile, names: tuple[str, ...], max_bytes: int
) -> ImageInput:
    if key not in names:
        raise ValidationFailed(f"unexpected file field {key!r}; use {names}", field=key)
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"{upload.filename or key} is over {max_bytes} bytes", limit_bytes=max_bytes
        )
    return ImageInput(data=data, filename=upload.filename)


async def _from_json(request: Request, names: tuple[str, ...], max_bytes: int) -> ParsedBody:
    raw = await _read_capped(request, (max_bytes * 4 // 3 + 65536) * len(names))
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ValidationFailed("the JSON body must be an object")
    parsed = ParsedBody()
    for name in names:
        key = json_key(name)
        value = body.pop(key, None)
        if value is None:
            continue
        parsed.images[name] = [ImageInput(data=_b64decode(key, value, max_bytes))]
    parsed.fields = body
    return parsed


def _b64decode(key: str, value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a base64 string", field=key)
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) * 3 // 4 > max_bytes + 3:
        raise ImageTooLarge(f"{key} decodes to over {max_bytes} bytes", limit_bytes=max_bytes)
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"{key} is not valid base64", field=key) from exc


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageTooLarge(f"the request body is over {limit} bytes", limit_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def openapi_image_body(
    names: tuple[str, ...], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` documenting both the multipart and the JSON form of a body."""
    extra = extra or {}
    multipart = {n: {"type": "string", "format": "binary"} for n in names}
    as_json = {json_key(n): {"type": "string", "format": "byte"} for n in names}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {**multipart, **extra}}
                },
                "application/json": {
                    "schema": {"type": "object", "properties": {**as_json, **extra}}
                },
            },
        }
    }
