"""Edges of the face service: the dominance boundary, error codes and details, the
stored row (box, landmarks, score, embedding bytes), the change log, file removal
and the thumbnail crop. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import Session, text

from facerec.auth.principal import SYSTEM
from facerec.config import EnrolSettings, Settings
from facerec.errors import LowQuality, MultipleFaces, NoFace, NotFound
from facerec.faces.models import Face
from facerec.faces.service import (
    add_face,
    choose_dominant,
    delete_face,
    delete_faces,
    enrol_face,
    get_face,
    list_faces,
    remove_unreferenced_files,
    thumbnail,
)
from facerec.faces.storage import ImageStore
from facerec.inference.types import AnalyzedFace, AnalyzedImage, Detection
from tests.factories import two_people_db

GOOD_QUALITY = {
    "size": 200.0,
    "sharpness": 500.0,
    "brightness": 120.0,
    "frontal": 1.0,
    "inside": 1.0,
}


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    yield from two_people_db(settings)


@pytest.fixture
def store(settings: Settings) -> ImageStore:
    return ImageStore(settings.images_dir)


def _png(width: int, height: int, tint: int = 0) -> bytes:
    """A gradient picture; ``tint`` makes different bytes of the same size."""
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs % 256, ys % 256, np.full_like(xs, tint)], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _face(
    box: tuple[float, float, float, float],
    *,
    score: float = 1.0,
    quality: dict[str, float] | None = None,
    embedding: np.ndarray[Any, Any] | None = None,
    landmarks: np.ndarray[Any, Any] | None = None,
) -> AnalyzedFace:
    if embedding is None:
        embedding = np.zeros(16, dtype=np.float32)
        embedding[0] = 1.0
    return AnalyzedFace(
        detection=Detection(*box, score=score),
        landmarks=landmarks if landmarks is not None else np.full((5, 2), 5.0, dtype=np.float32),
        quality=dict(GOOD_QUALITY if quality is None else quality),
        embedding=embedding,
    )


def _add(
    engine: Engine,
    store: ImageStore,
    person_id: int,
    data: bytes,
    face: AnalyzedFace,
    *,
    size: tuple[int, int] = (100, 100),
) -> tuple[Face, bool]:
    image = AnalyzedImage(width=size[0], height=size[1], faces=[face], model="fake-m", format="PNG")
    with Session(engine, expire_on_commit=False) as session:
        row, duplicate = add_face(
            session=session,
            store=store,
            person_id=person_id,
            data=data,
            image=image,
            face=face,
            actor=SYSTEM,
        )
        session.refresh(row)  # a duplicate comes back expired by the rollback
    return row, duplicate


def _files(store: ImageStore) -> list[str]:
    return sorted(
        p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file()
    )


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


# --- choosing the face to enrol ---------------------------------------------------------


def test_no_face_is_refused_with_its_code_and_message() -> None:
    with pytest.raises(NoFace) as caught:
        choose_dominant([], ratio=2.25)
    assert caught.value.code == "no_face"
    assert caught.value.message == "no face was found in the image"
    assert caught.value.details == {}


def test_similar_faces_are_refused_with_their_count() -> None:
    # areas 2500, 1600, 900: 2500 < 2.25 * 1600 = 3600
    faces = [_face((0, 0, 40, 40)), _face((0, 0, 50, 50)), _face((0, 0, 30, 30))]
    with pytest.raises(MultipleFaces) as caught:
        choose_dominant(faces, ratio=2.25)
    assert caught.value.code == "multiple_faces"
    assert caught.value.details == {"faces": 3}
    assert caught.value.message == (
        "3 faces of similar size were found; send a photo of one person"
    )


def test_a_face_exactly_ratio_times_the_next_is_dominant() -> None:
    small, big = _face((0, 0, 40, 40)), _face((10, 10, 70, 70))
    # 60 * 60 = 3600 = 2.25 * (40 * 40): exactly at the boundary, accepted
    assert choose_dominant([small, big], ratio=2.25) is big
    # 59 * 61 = 3599, just under
    with pytest.raises(MultipleFaces) as caught:
        choose_dominant([small, _face((0, 0, 59, 61))], ratio=2.25)
    assert caught.value.details == {"faces": 2}


# --- enrolment ------------------------------------------------------------------------


def test_enrol_face_applies_the_gates_unless_forced(db: Engine, store: ImageStore) -> None:
    data = _png(100, 100)
    small = _face((10, 10, 30, 30), quality={**GOOD_QUALITY, "size": 20.0})
    analyzed = AnalyzedImage(width=100, height=100, faces=[small], model="m", format="PNG")
    with Session(db) as session, pytest.raises(LowQuality) as caught:
        enrol_face(
            session=session,
            store=store,
            person_id=1,
            data=data,
            analyzed=analyzed,
            gates=EnrolSettings(),  # min_face_px 64
            actor=SYSTEM,
        )
    assert caught.value.details["reasons"] == ["too_small"]
    assert _rows(db, "SELECT id FROM faces") == []
    assert _files(store) == []
    with Session(db, expire_on_commit=False) as session:
        row, duplicate = enrol_face(
            session=session,
            store=store,
            person_id=1,
            data=data,
            analyzed=analyzed,
            gates=EnrolSettings(),
            force=True,
            actor=SYSTEM,
        )
    assert not duplicate
    assert _rows(db, "SELECT id, person_id FROM faces") == [(row.id, 1)]


def _assert_not_found(exc: NotFound, resource: str, id_: int) -> None:
    assert exc.code == "not_found"
    assert exc.message == f"no {resource} with id {id_}"
    assert exc.details == {"resource": resource, "id": id_}


def test_enrolling_for_an_unknown_person_is_not_found(db: Engine, store: ImageStore) -> None:
    with pytest.raises(NotFound) as caught:
        _add(db, store, 999, _png(100, 100), _face((10, 10, 90, 90)))
    _assert_not_found(caught.value, "person", 999)
    assert _rows(db, "SELECT id FROM images") == []
    assert _files(store) == []


def test_unknown_face_and_person_are_not_found(db: Engine) -> None:
    with Session(db) as session:
        with pytest.raises(NotFound) as face_missing:
            get_face(session=session, face_id=4242)
        with pytest.raises(NotFound) as person_missing:
            list_faces(session=session, person_id=77)
    _assert_not_found(face_missing.value, "face", 4242)
    _assert_not_found(person_missing.value, "person", 77)


def test_an_image_stored_for_another_person_is_a_new_face_for_this_one(
    db: Engine, store: ImageStore
) -> None:
    own, shared = _png(100, 100, tint=1), _png(100, 100, tint=2)
    first, _ = _add(db, store, 1, own, _face((10, 10, 90, 90)))
    other, _ = _add(db, store, 2, shared, _face((10, 10, 90, 90)))
    # person 1 already has a face (on another image): not a duplicate of that one
    again, duplicate = _add(db, store, 1, shared, _face((10, 10, 90, 90)))
    assert not duplicate
    assert again.id not in (first.id, other.id)
    assert again.image_id == other.image_id
    assert _rows(db, "SELECT person_id, image_id FROM faces ORDER BY id") == [
        (1, first.image_id),
        (2, other.image_id),
        (1, other.image_id),
    ]
    # and the very same image again for person 1 is the duplicate
    same, duplicate = _add(db, store, 1, shared, _face((10, 10, 90, 90)))
    assert duplicate
    assert same.id == again.id


def test_the_stored_rows_hold_what_was_found(db: Engine, store: ImageStore) -> None:
    data = _png(120, 110)
    sha = hashlib.sha256(data).hexdigest()
    values = [k / 8 for k in range(16)]
    landmarks = np.asarray(
        [[12.25, 30.5], [40.0, 30.5], [60.75, 31.0], [80.5, 29.25], [50.0, 70.125]],
        dtype=np.float32,
    )
    face = _face(
        (10.4, 20.6, 90.49, 101.51),
        score=0.123456,
        embedding=np.asarray(values, dtype=">f4"),  # big-endian in, little-endian stored
        landmarks=landmarks,
    )
    row, duplicate = _add(db, store, 1, data, face, size=(120, 110))
    assert not duplicate

    ((path, size, width, height, fmt),) = _rows(
        db, "SELECT path, size, width, height, format FROM images"
    )
    assert path == f"{sha[:2]}/{sha}.png"
    assert (size, width, height, fmt) == (len(data), 120, 110, "PNG")
    assert _files(store) == [path]
    assert (store.root / path).read_bytes() == data

    ((x1, y1, x2, y2, marks, score, blob, model, image_id),) = _rows(
        db,
        "SELECT x1, y1, x2, y2, landmarks, det_score, embedding, model, image_id"
        " FROM faces WHERE id = :id",
        id=row.id,
    )
    assert (x1, y1, x2, y2) == (10, 21, 90, 102)
    stored_marks = json.loads(marks) if isinstance(marks, str) else marks  # PostgreSQL: JSON
    assert stored_marks == [
        [12.25, 30.5],
        [40.0, 30.5],
        [60.75, 31.0],
        [80.5, 29.25],
        [50.0, 70.125],
    ]
    assert all(type(v) is float for point in stored_marks for v in point)
    assert type(score) is float
    assert score == 0.1235
    assert bytes(blob) == struct.pack("<16f", *values)
    assert np.frombuffer(bytes(blob), dtype="<f4").tolist() == values
    assert model == "fake-m"
    assert image_id == _rows(db, "SELECT id FROM images")[0][0]


@pytest.mark.parametrize(("score", "stored"), [(0.87654, 0.8765), (0.99996, 1.0), (0.5, 0.5)])
def test_det_score_is_kept_to_four_places(
    db: Engine, store: ImageStore, score: float, stored: float
) -> None:
    row, _ = _add(db, store, 1, _png(100, 100), _face((10, 10, 90, 90), score=score))
    assert _rows(db, "SELECT det_score FROM faces WHERE id = :id", id=row.id) == [(stored,)]


# --- the change log -------------------------------------------------------------------


def test_adds_and_deletes_are_logged_with_their_generations(db: Engine, store: ImageStore) -> None:
    a, _ = _add(db, store, 1, _png(100, 100, tint=1), _face((10, 10, 90, 90)))
    b, _ = _add(db, store, 2, _png(100, 100, tint=2), _face((10, 10, 90, 90)))
    c, _ = _add(db, store, 2, _png(100, 100, tint=3), _face((10, 10, 90, 90)))
    duplicate = _add(db, store, 2, _png(100, 100, tint=3), _face((10, 10, 90, 90)))
    assert duplicate[1]  # nothing logged for it
    with Session(db) as session:
        delete_face(session=session, store=store, face_id=a.id or -1, actor=SYSTEM)
    with Session(db) as session:
        faces = [get_face(session=session, face_id=f.id or -1) for f in (b, c)]
        delete_faces(session=session, faces=faces)
        session.commit()
    assert _rows(db, "SELECT op, face_id, person_id, generation FROM face_changes ORDER BY id") == [
        ("add", a.id, 1, 1),
        ("add", b.id, 2, 2),
        ("add", c.id, 2, 3),
        ("delete", a.id, 1, 4),
        ("delete", b.id, 2, 5),  # one generation for both faces of one call
        ("delete", c.id, 2, 5),
    ]
    assert _rows(db, "SELECT generation FROM index_state") == [(5,)]
    assert _rows(db, "SELECT id FROM faces") == []


# --- listing --------------------------------------------------------------------------


@pytest.mark.sqlite_only("SQLite's reverse_unordered_selects changes the scan order")
def test_faces_are_listed_by_id_whatever_order_the_database_scans_in(
    db: Engine, store: ImageStore
) -> None:
    ids = [
        _add(db, store, 1, _png(100, 100, tint=t), _face((10, 10, 90, 90)))[0].id or -1
        for t in (1, 2, 3)
    ]
    _add(db, store, 2, _png(100, 100, tint=4), _face((10, 10, 90, 90)))
    with Session(db) as session:
        # SQLite returns rows of a query without ORDER BY backwards with this on
        session.execute(text("PRAGMA reverse_unordered_selects = ON"))
        listed = [f.id for f in list_faces(session=session, person_id=1)]
    assert listed == sorted(ids)
    assert len(set(listed)) == 3


# --- deleting faces and their files ---------------------------------------------------


def test_a_shared_image_keeps_its_file_until_its_last_face_goes(
    db: Engine, store: ImageStore
) -> None:
    data = _png(100, 100)
    first, _ = _add(db, store, 1, data, _face((10, 10, 90, 90)))
    second, _ = _add(db, store, 2, data, _face((10, 10, 90, 90)))
    (path,) = _files(store)
    with Session(db) as session:
        delete_face(session=session, store=store, face_id=first.id or -1, actor=SYSTEM)
    assert _files(store) == [path]
    assert _rows(db, "SELECT path FROM images") == [(path,)]
    with Session(db) as session:
        delete_face(session=session, store=store, face_id=second.id or -1, actor=SYSTEM)
    assert _files(store) == []
    assert _rows(db, "SELECT path FROM images") == []


def test_removal_keeps_only_the_files_stored_again_in_between(
    db: Engine, store: ImageStore
) -> None:
    kept_data, gone_data = _png(100, 100, tint=1), _png(100, 100, tint=2)
    kept, _ = _add(db, store, 1, kept_data, _face((10, 10, 90, 90)))
    gone, _ = _add(db, store, 1, gone_data, _face((10, 10, 90, 90)))
    with Session(db) as session:
        faces = [get_face(session=session, face_id=f.id or -1) for f in (kept, gone)]
        orphaned = delete_faces(session=session, faces=faces)
        session.commit()
    assert len(orphaned) == 2
    kept_sha = hashlib.sha256(kept_data).hexdigest()
    kept_path = f"{kept_sha[:2]}/{kept_sha}.png"
    assert kept_path in orphaned
    _add(db, store, 2, kept_data, _face((10, 10, 90, 90)))  # the same bytes, stored again
    with Session(db) as session:
        remove_unreferenced_files(session=session, store=store, paths=orphaned)
    assert _files(store) == [kept_path]
    assert (store.root / kept_path).read_bytes() == kept_data


# --- thumbnails -----------------------------------------------------------------------


def _thumb(
    db: Engine,
    store: ImageStore,
    picture: tuple[int, int],
    box: tuple[float, float, float, float],
    size: int | None = None,
) -> PILImage.Image:
    face, _ = _add(db, store, 1, _png(*picture), _face(box), size=picture)
    with Session(db) as session:
        if size is None:
            data = thumbnail(session=session, store=store, face_id=face.id or -1)
        else:
            data = thumbnail(session=session, store=store, face_id=face.id or -1, size=size)
    crop = PILImage.open(io.BytesIO(data))
    assert crop.format == "JPEG"
    return crop


@pytest.mark.parametrize(
    ("picture", "box", "expected"),
    [
        # 80 x 120 face: margin 30 -> x 70..210, y 20..200
        ((400, 300), (100, 50, 180, 170), (140, 180)),
        # 75 x 50 face: margin 18.75 -> x int(81.25)..int(193.75) = 81..193, y 81..168
        ((400, 300), (100, 100, 175, 150), (112, 87)),
        # near the top left: margin 20 -> x -10 -> 0..110, y -15 -> 0..105
        ((200, 200), (10, 5, 90, 85), (110, 105)),
        # near the bottom right: 40 x 35, margin 10 -> x 140..200 (not 200), y 150..200 (not 205)
        ((200, 200), (150, 160, 190, 195), (60, 50)),
    ],
    ids=["inside", "fractional margin", "clipped top left", "clipped bottom right"],
)
def test_the_thumbnail_is_the_face_with_a_quarter_margin(
    db: Engine,
    store: ImageStore,
    picture: tuple[int, int],
    box: tuple[float, float, float, float],
    expected: tuple[int, int],
) -> None:
    assert _thumb(db, store, picture, box, size=1000).size == expected


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        # 200 x 200 face: margin 50 -> 300 x 300 crop -> 160 x 160
        ((100, 100, 300, 300), (160, 160)),
        # 200 x 240 face: margin 60 -> 320 x 360 crop -> 160 * 320 / 360 = 142.2 -> 142 x 160
        ((100, 100, 300, 340), (142, 160)),
    ],
)
def test_the_thumbnail_fits_in_160_pixels_by_default(
    db: Engine,
    store: ImageStore,
    box: tuple[float, float, float, float],
    expected: tuple[int, int],
) -> None:
    assert _thumb(db, store, (500, 500), box).size == expected


# The JPEG standard's luminance table (ITU T.81 Annex K.1), in natural order.
BASE_LUMINANCE = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip


def test_the_thumbnail_is_encoded_at_quality_88(db: Engine, store: ImageStore) -> None:
    # libjpeg's scaling: quality 88 -> 200 - 2 * 88 = 24 %, each entry (q * 24 + 50) // 100
    expected = [min(255, max(1, (q * 24 + 50) // 100)) for q in BASE_LUMINANCE]
    assert expected[:8] == [4, 3, 2, 4, 6, 10, 12, 15]
    crop = _thumb(db, store, (200, 200), (50, 50, 150, 150))
    assert list(crop.quantization[0]) == expected  # type: ignore[attr-defined]
