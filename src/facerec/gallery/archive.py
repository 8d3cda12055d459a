"""The gallery file: a ZIP with a manifest, two JSON Lines members and the photos. No HTTP.

::

    manifest.json   {"format": "facerec-gallery", "version": 1, "exported_at",
                     "models": {model id: faces}, "counts": {"people", "faces", "images"}}
    people.jsonl    one live person a line: key (their id at the source), name,
                    external_id, note, start_date, end_date, created_at, updated_at,
                    images (the SHA-256 of every photo they are enrolled with)
    faces.jsonl     one face a line, in person order: person (the key), image (SHA-256,
                    width, height, format), box, landmarks, det_score, quality, model,
                    embedding (base64 of little-endian float32), created_at
    images/<sha256> each photo once, the original bytes (stored, not compressed again)

:func:`open_gallery` checks the whole file before anything is stored: every member's
CRC, every photo's SHA-256 against its name, every line against its shape, every face's
person and photo present. Anything else is :class:`InvalidArchive` (``invalid_archive``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facerec.errors import InvalidArchive

FORMAT = "facerec-gallery"
VERSION = 1
MANIFEST = "manifest.json"
PEOPLE = "people.jsonl"
FACES = "faces.jsonl"
IMAGES = "images/"
CHUNK = 1 << 20
T = TypeVar("T", bound=BaseModel)


class Line(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Manifest(Line):
    format: Literal["facerec-gallery"]
    version: int
    exported_at: datetime
    models: dict[str, int]
    counts: dict[str, int]


class PersonLine(Line):
    key: int
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    start_date: date | None = None
    end_date: date | None = None
    created_at: datetime
    updated_at: datetime
    images: list[str] = []


class ImageLine(Line):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: str = Field(min_length=1, max_length=16)


class FaceLine(Line):
    person: int
    image: ImageLine
    box: tuple[int, int, int, int]
    landmarks: list[tuple[float, float]]
    det_score: float
    quality: dict[str, float]
    model: str = Field(min_length=1, max_length=64)
    embedding: bytes
    created_at: datetime

    @field_validator("embedding", mode="before")
    @classmethod
    def _base64(cls, value: object) -> bytes:
        if not isinstance(value, str):
            raise ValueError("must be base64 text")
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("must be base64") from exc
        if not raw or len(raw) % 4:
            raise ValueError("must hold float32 values")
        return raw


def encode_embedding(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


@dataclass(slots=True)
class Gallery:
    """An opened, checked gallery file. ``people`` is small (one entry a person); faces
    are read again line by line when imported (:meth:`faces`)."""

    archive: zipfile.ZipFile
    manifest: Manifest
    people: list[PersonLine]
    images: set[str] = field(default_factory=set)

    def faces(self) -> Iterator[FaceLine]:
        for _, line in _lines(self.archive, FACES):
            yield FaceLine.model_validate_json(line)

    def image_bytes(self, sha256: str) -> bytes:
        return self.archive.read(IMAGES + sha256)


def open_gallery(source: IO[bytes], *, dims: dict[str, int] | None = None) -> Gallery:
    """Open and check the whole file (see the module's docstring); the caller closes
    ``source``. ``dims``: the descriptor size of each model id known here (a descriptor
    of another size under that id is damage). Memory: the people, the photos' names."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidArchive(f"not a gallery file: {exc}") from exc
    try:
        return _check(archive, dims or {})
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise InvalidArchive(f"the gallery file is damaged: {exc}") from exc


def _check(archive: zipfile.ZipFile, dims: dict[str, int]) -> Gallery:
    names = set(archive.namelist())
    for member in (MANIFEST, PEOPLE, FACES):
        if member not in names:
            raise InvalidArchive(f"not a gallery file: {member} is missing", member=member)
    manifest = _manifest(archive)
    people = [_parse(PersonLine, PEOPLE, n, line) for n, line in _lines(archive, PEOPLE)]
    keys = {p.key for p in people}
    if len(keys) != len(people):
        raise InvalidArchive("people.jsonl repeats a person's key", member=PEOPLE)
    external = [p.external_id for p in people if p.external_id is not None]
    if len(set(external)) != len(external):
        raise InvalidArchive("people.jsonl repeats an external_id", member=PEOPLE)
    images = _check_images(archive, names)
    faces = 0
    for number, line in _lines(archive, FACES):
        face = _parse(FaceLine, FACES, number, line)
        if face.person not in keys:
            raise InvalidArchive(f"faces.jsonl line {number}: unknown person", member=FACES)
        if face.image.sha256 not in images:
            raise InvalidArchive(f"faces.jsonl line {number}: photo missing", member=FACES)
        if face.model in dims and len(face.embedding) != 4 * dims[face.model]:
            raise InvalidArchive(f"faces.jsonl line {number}: descriptor size", member=FACES)
        faces += 1
    counted = {"people": len(people), "faces": faces, "images": len(images)}
    if any(manifest.counts.get(k) != v for k, v in counted.items()):
        raise InvalidArchive("the manifest's counts do not match the file", member=MANIFEST)
    return Gallery(archive=archive, manifest=manifest, people=people, images=images)


def _manifest(archive: zipfile.ZipFile) -> Manifest:
    try:
        data = json.loads(archive.read(MANIFEST))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArchive("manifest.json is not JSON", member=MANIFEST) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidArchive("not a FaceRec gallery file", member=MANIFEST)
    if data.get("version") != VERSION:
        raise InvalidArchive(
            f"gallery format version {data.get('version')!r} is not supported "
            f"(this FaceRec reads version {VERSION})",
            version=data.get("version"),
        )
    return _parse(Manifest, MANIFEST, 1, archive.read(MANIFEST))


def _check_images(archive: zipfile.ZipFile, names: set[str]) -> set[str]:
    """Every photo read once: its CRC (zipfile checks it at the end) and its SHA-256."""
    images = set()
    for name in sorted(n for n in names if n.startswith(IMAGES) and not n.endswith("/")):
        sha = name[len(IMAGES) :]
        digest = hashlib.sha256()
        with archive.open(name) as member:
            while chunk := member.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha:
            raise InvalidArchive(f"{name} does not hold the photo it names", member=name)
        images.add(sha)
    return images


def _lines(archive: zipfile.ZipFile, member: str) -> Iterator[tuple[int, bytes]]:
    with archive.open(member) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _parse(shape: type[T], member: str, number: int, line: bytes) -> T:
    try:
        return shape.model_validate_json(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidArchive(
            f"{member} line {number}: {where} {first['msg']}", member=member, line=number
        ) from exc


def manifest_document(
    *, exported_at: datetime, models: dict[str, int], counts: dict[str, int]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at.isoformat(),
        "models": models,
        "counts": counts,
    }
