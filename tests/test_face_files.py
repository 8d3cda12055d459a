"""Image files of deleted faces: removed after the commit, unless the same bytes were
enrolled again in between (the re-check in ``remove_unreferenced_files``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.auth.principal import SYSTEM
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face
from facerec.faces.service import add_face, delete_faces, remove_unreferenced_files, thumbnail
from facerec.faces.storage import ImageStore
from facerec.inference.types import AnalyzedFace, AnalyzedImage, Detection
from tests.factories import two_people_db
from tests.fakes import picture

DATA = picture([((200, 60, 60), 80)])


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    yield from two_people_db(settings)


@pytest.fixture
def store(settings: Settings) -> ImageStore:
    return ImageStore(settings.images_dir)


def _analyzed() -> tuple[AnalyzedImage, AnalyzedFace]:
    embedding = np.zeros(16, dtype=np.float32)
    embedding[0] = 1.0
    face = AnalyzedFace(
        detection=Detection(10.0, 10.0, 90.0, 90.0, 1.0),
        landmarks=np.full((5, 2), 50.0, dtype=np.float32),
        quality={},
        embedding=embedding,
    )
    return AnalyzedImage(width=100, height=100, faces=[face], model="m", format="PNG"), face


def _enrol(engine: Engine, store: ImageStore, person_id: int) -> Face:
    image, face = _analyzed()
    with Session(engine, expire_on_commit=False) as session:
        row, duplicate = add_face(
            session=session,
            store=store,
            person_id=person_id,
            data=DATA,
            image=image,
            face=face,
            actor=SYSTEM,
        )
    assert not duplicate
    return row


def _delete(engine: Engine, face_id: int) -> list[str]:
    """Delete the face and commit; the orphaned paths come back, their files not yet gone."""
    with Session(engine) as session:
        lock_for_write(session)
        face = session.get(Face, face_id)
        assert face is not None
        orphaned = delete_faces(session=session, faces=[face])
        session.commit()
    return orphaned


def _file(store: ImageStore, relative: str) -> Path:
    return store.root / relative


def test_the_file_of_a_deleted_face_is_removed(db: Engine, store: ImageStore) -> None:
    face = _enrol(db, store, 1)
    orphaned = _delete(db, face.id or 0)
    assert len(orphaned) == 1
    assert _file(store, orphaned[0]).read_bytes() == DATA  # still there until removed
    with Session(db) as session:
        remove_unreferenced_files(session=session, store=store, paths=orphaned)
    assert not _file(store, orphaned[0]).exists()


@pytest.mark.parametrize("again_for", [1, 2], ids=["same person", "another person"])
def test_bytes_enrolled_again_before_the_removal_keep_their_file(
    db: Engine, store: ImageStore, again_for: int
) -> None:
    face = _enrol(db, store, 1)
    orphaned = _delete(db, face.id or 0)
    again = _enrol(db, store, again_for)  # between the delete's commit and the removal
    with Session(db) as session:
        remove_unreferenced_files(session=session, store=store, paths=orphaned)
    (path,) = orphaned
    assert _file(store, path).read_bytes() == DATA
    with Session(db) as session:
        crop = thumbnail(session=session, store=store, face_id=again.id or 0)
    assert crop.startswith(b"\xff\xd8")  # a JPEG, decoded from the file that stayed
