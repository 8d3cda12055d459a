"""Repair after a crash: files that no committed row refers to.

A write stores its file (temporary name, then rename) before the row that refers to it
commits, both under the database write lock. A process killed in between leaves a file,
or a temporary file, that nothing refers to. ``remove_orphan_files`` takes the same write
lock, so no write is between its file and its commit while it looks, and deletes them.
The database, never the folder, says what exists.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.db.engine import lock_for_write
from facerec.faces.models import Image
from facerec.faces.storage import ImageStore


def referenced_files(session: Session) -> tuple[set[str], set[str]]:
    """The image files and the crop files committed rows refer to (relative paths).
    Call it under the write lock, or a write between its file and its row is missed."""
    kept_images = set(session.exec(select(Image.path)).all())
    event_crops = select(AttendanceEvent.crop_path).where(
        col(AttendanceEvent.crop_path).is_not(None)
    )
    kept_crops = {str(path) for path in session.exec(event_crops).all()}
    kept_crops |= set(session.exec(select(UnknownFace.crop_path)).all())
    return kept_images, kept_crops


def orphan_files(
    *, session: Session, images: ImageStore, crops: ImageStore
) -> list[tuple[ImageStore, str]]:
    """``(store, relative path)`` of every file no row refers to; the caller holds the
    write lock (``facerec doctor`` reports these, and removes them with ``--repair``)."""
    kept_images, kept_crops = referenced_files(session)
    return [
        (store, relative)
        for store, kept in ((images, kept_images), (crops, kept_crops))
        for relative in list(store.files())
        if relative not in kept
    ]


def remove_orphan_files(*, session: Session, images: ImageStore, crops: ImageStore) -> int:
    """Delete image and crop files no row refers to; returns how many were deleted."""
    lock_for_write(session)
    try:
        orphans = orphan_files(session=session, images=images, crops=crops)
        for store, relative in orphans:
            store.delete(relative)
        return len(orphans)
    finally:
        session.rollback()  # release the lock; nothing was written
