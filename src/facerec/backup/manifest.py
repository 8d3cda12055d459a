"""The manifest of a backup archive (``manifest.json``, the archive's last member).

It names every other member with its size and sha256; ``facerec restore`` refuses an
archive whose members differ from it in any way. ``format_version`` changes whenever the
layout changes; a restore refuses a version it does not know."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT: Literal["facerec-backup"] = "facerec-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database/facerec.db", "postgresql": "database/facerec.pgdump"}
"""The member holding the database: SQLite's own file, or ``pg_dump --format=custom``."""


class ArchivedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatabaseInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sqlite", "postgresql"]
    file: str
    alembic_revision: str | None
    """The schema revision of the snapshot; a restore migrates it to the newest."""


class Manifest(BaseModel):
    """What ``manifest.json`` says."""

    format: Literal["facerec-backup"] = FORMAT
    format_version: int
    facerec_version: str
    created_at: datetime
    database: DatabaseInfo
    files: list[ArchivedFile]
    """Every member but the manifest: the database, then ``images/...``, ``crops/...``."""
    missing: list[str] = []
    """Files the snapshot's rows name that were not on disk (or did not match their
    name's sha256) when the backup was made; the restored rows lack them too."""
    counts: dict[str, int] = {}
    """People, faces, images, crops in the snapshot (for the operator's eyes)."""
    settings: dict[str, object] = {}
    """The settings that differed from the defaults (``FACEREC_*``), without the data dir
    and the database URL: what a restored server should be started with."""
