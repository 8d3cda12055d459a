"""Rows against files: every referenced file exists with the content its name or row
promises, and no file lies there that no row refers to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlmodel import Session, col, select

from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.doctor.report import Finding
from facerec.faces.models import Face, Image
from facerec.faces.storage import ImageStore
from facerec.maintenance import orphan_files

TEMP_PREFIX = ".tmp-"
"""What ``ImageStore.put`` names a file until it is renamed into place."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file a row refers to, and the SHA-256 its content must have."""

    kind: str
    """``missing_image_file`` or ``missing_crop_file``: the finding when it is absent."""
    store: ImageStore
    relative: str
    sha256: str
    subject: str

    def exists(self) -> bool:
        return (self.store.root / self.relative).is_file()


def referenced(session: Session, *, images: ImageStore, crops: ImageStore) -> list[StoredFile]:
    """Every file a row refers to. Images carry their hash in the row; crops are named
    by the hash of their content."""
    files = [
        StoredFile("missing_image_file", images, path, sha, f"images {image_id}")
        for image_id, path, sha in session.exec(select(Image.id, Image.path, Image.sha256))
    ]
    events = select(AttendanceEvent.id, AttendanceEvent.crop_path).where(
        col(AttendanceEvent.crop_path).is_not(None)
    )
    unknown = select(UnknownFace.id, UnknownFace.crop_path)
    for table, query in (("attendance_events", events), ("unknown_faces", unknown)):
        for row_id, path in session.exec(query):
            name, subject = PurePosixPath(str(path)).stem, f"{table} {row_id}"
            files.append(StoredFile("missing_crop_file", crops, str(path), name, subject))
    return files


def missing_files(files: list[StoredFile]) -> list[Finding]:
    return [Finding(f.kind, f.subject, f.relative) for f in files if not f.exists()]


def orphans(
    session: Session, *, images: ImageStore, crops: ImageStore, repair: bool
) -> list[Finding]:
    """Files no row refers to (temporary ones apart), removed with ``repair``. The caller
    holds the write lock, so no write is between its file and its row."""
    found = []
    for store, relative in orphan_files(session=session, images=images, crops=crops):
        temporary = PurePosixPath(relative).name.startswith(TEMP_PREFIX)
        if repair:
            store.delete(relative)
        where = f"{store.root.name}/{relative}"
        found.append(Finding("temp_file" if temporary else "orphan_file", where, "", repair))
    return found


def faces_without_image(session: Session) -> list[Finding]:
    query = (
        select(Face.id, Face.image_id)
        .outerjoin(Image, col(Image.id) == col(Face.image_id))
        .where(col(Image.id).is_(None))
    )
    return [
        Finding("face_without_image", f"faces {face_id}", f"image {image_id} does not exist")
        for face_id, image_id in session.exec(query)
    ]


def checksum_mismatches(files: list[StoredFile]) -> list[Finding]:
    """Files whose content does not hash to what the row or name says. Stored files are
    never rewritten, so this runs without the lock; a file deleted meanwhile is skipped."""
    found = []
    for stored in files:
        actual = _sha256(stored)
        if actual is not None and actual != stored.sha256:
            detail = f"{stored.relative}: content hashes to {actual[:12]}..."
            found.append(Finding("checksum_mismatch", stored.subject, detail))
    return found


def _sha256(stored: StoredFile) -> str | None:
    digest = hashlib.sha256()
    try:
        with (stored.store.root / stored.relative).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()
