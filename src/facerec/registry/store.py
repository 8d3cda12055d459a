"""Installed models on disk: ``<data_dir>/models/registry/<name>/{model.onnx,manifest.json}``.

A model is installed by building its folder under a temporary name (``.tmp-*``) and
renaming it into place, and removed by renaming it away (``.trash-*``) before deleting:
a reader sees a whole model or none. Downloads wait in ``.downloads/`` (``*.part``,
kept between runs so a second ``pull`` resumes).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from facerec.config import MODEL_NAME_PATTERN
from facerec.errors import Conflict, NotFound, ValidationFailed
from facerec.registry.contract import InputContract, Kind

NAME_PATTERN = MODEL_NAME_PATTERN
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"


class ModelManifest(BaseModel):
    """What is known of one installed model (written once, at install)."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Kind
    format: str = "onnx"
    contract: InputContract
    input_shape: list[int]
    """The shape the probe ran (1, 3, side, side)."""
    sha256: str
    size: int
    source: str
    """The URL it was pulled from, or ``import:<file name>``."""
    pack: str | None = None
    """The known pack it came from (pulled, or imported and recognised by hash)."""
    licence: str
    licence_accepted: bool = False
    """True when the pack needed the operator's acceptance and got it."""
    default_threshold: float | None = None
    threshold_source: str = ""
    installed_at: datetime
    installed_by: str

    @property
    def embedding_size(self) -> int | None:
        return self.contract.embedding_size


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValidationFailed(
            f"a model name is 1-48 of a-z 0-9 . _ - (starting with a letter or digit): {name!r}",
            field="name",
        )
    return name


class ModelStore:
    """The installed models of one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def downloads(self) -> Path:
        path = self.root / ".downloads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path_of(self, name: str) -> Path:
        return self.root / check_name(name) / MODEL_FILE

    def list(self) -> list[ModelManifest]:
        if not self.root.is_dir():
            return []
        found = (self._read(d) for d in sorted(self.root.iterdir()) if not d.name.startswith("."))
        return [m for m in found if m is not None]

    def get(self, name: str) -> ModelManifest:
        manifest = self._read(self.root / check_name(name))
        if manifest is None:
            raise NotFound(f"no installed model named {name!r}", resource="model", name=name)
        return manifest

    def find(self, name: str) -> ModelManifest | None:
        return self._read(self.root / check_name(name))

    def install(self, source: Path, manifest: ModelManifest) -> ModelManifest:
        """Copy ``source`` in as ``manifest.name`` (atomic); Conflict if the name is taken."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / check_name(manifest.name)
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            shutil.copyfile(source, staging / MODEL_FILE)
            (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
            for path in (staging / MODEL_FILE, staging / MANIFEST):
                with path.open("rb") as f:
                    os.fsync(f.fileno())
            if target.exists():
                raise Conflict(
                    f"a model named {manifest.name!r} is installed already (remove it first)",
                    name=manifest.name,
                )
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def set_threshold(self, name: str, threshold: float, source: str) -> ModelManifest:
        """Record a measured ``default_threshold`` (``bench/lfw_threshold.py --store``);
        the manifest is replaced whole (written beside it, then renamed)."""
        manifest = self.get(name).model_copy(
            update={"default_threshold": round(float(threshold), 4), "threshold_source": source}
        )
        target = self.root / name / MANIFEST
        staging = target.with_name(f".{MANIFEST}.{uuid.uuid4().hex}")
        staging.write_text(manifest.model_dump_json(indent=2) + "\n")
        with staging.open("rb") as f:
            os.fsync(f.fileno())
        staging.replace(target)
        return manifest

    def remove(self, name: str) -> None:
        self.get(name)
        trash = self.root / f".trash-{uuid.uuid4().hex}"
        (self.root / name).rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _read(self, folder: Path) -> ModelManifest | None:
        try:
            manifest = ModelManifest.model_validate_json((folder / MANIFEST).read_bytes())
        except (OSError, ValidationError):
            return None
        if manifest.name != folder.name or not (folder / MODEL_FILE).is_file():
            return None
        return manifest
