"""Moving a gallery between two installations (issue #13 item 4): export from one data dir,
import into another, with fake engines (the model id decides between storing descriptors
as they are and re-embedding)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.audit.models import AuditEntry
from facerec.cli import app
from facerec.config import Settings, get_settings
from facerec.faces.models import Face, Image
from facerec.index.models import IndexState, current_generation
from facerec.inference.types import Landmarks, RGBImage
from facerec.people.models import Person
from facerec.state import AppState
from tests.fakes import FakeEngine, picture

API = "/api/v1"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
RED, GREEN, BLUE, GREY = (200, 30, 30), (30, 200, 30), (30, 30, 200), (120, 120, 120)


class OtherModel(FakeEngine):
    """Another embedder: same faces, other descriptors (seeded differently)."""

    model_id = "fake-colour-v2"

    def embed(self, image: RGBImage, landmarks: list[Landmarks]) -> Any:  # type: ignore[override]
        return -super().embed(image, landmarks)[:, ::-1].copy()


def _app(
    settings: Settings, data_dir: Path, engine: FakeEngine, database_url: str | None = None
) -> TestClient:
    """An installation in ``data_dir`` (and ``database_url``: the second installation's own
    database on PostgreSQL, see ``other_database_url``)."""
    copy = settings.model_copy(update={"data_dir": data_dir})
    if database_url is not None:
        copy.database_url = database_url
    return TestClient(create_app(copy, engine=engine, clock=lambda: NOW))


@pytest.fixture
def source(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    with _app(settings, tmp_path / "a", FakeEngine()) as client:
        yield client


@pytest.fixture
def target(
    settings: Settings, tmp_path: Path, other_database_url: str | None
) -> Iterator[TestClient]:
    with _app(settings, tmp_path / "b", FakeEngine(), other_database_url) as client:
        yield client


def _state(client: TestClient) -> AppState:
    state: AppState = client.app.state.facerec  # type: ignore[attr-defined]
    return state


def _person(client: TestClient, **fields: Any) -> int:
    response = client.post(f"{API}/people", json=fields)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _enrol(client: TestClient, pid: int, data: bytes, *, force: bool = False) -> None:
    response = client.post(
        f"{API}/people/{pid}/faces", params={"force": force}, files={"file": ("p.png", data)}
    )
    assert response.status_code == 201, response.text


def _fill(client: TestClient) -> dict[str, int]:
    """Three people (one without external id, one without faces) and a removed one."""
    ada = _person(
        client, name="Ada", external_id="E-1", note="line\nbreak", start_date="2026-01-05"
    )
    _enrol(client, ada, picture([(RED, 80)]))
    _enrol(client, ada, picture([(RED, 60)], fmt="JPEG"))
    bob = _person(client, name="Bob", end_date="2027-01-01")
    _enrol(client, bob, picture([(GREEN, 70)]))
    _enrol(client, bob, picture([(RED, 80)]), force=True)  # the same photo as Ada's
    cleo = _person(client, name="Cleo")
    gone = _person(client, name="Gone")
    _enrol(client, gone, picture([(GREY, 80)]))
    assert client.delete(f"{API}/people/{gone}").status_code == 204
    return {"Ada": ada, "Bob": bob, "Cleo": cleo}


def _export(client: TestClient) -> bytes:
    response = client.get(f"{API}/gallery/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return response.content


def _import(client: TestClient, data: bytes) -> Any:
    return client.post(f"{API}/gallery/import", files={"file": ("g.zip", data)})


def _people(client: TestClient) -> dict[str, tuple[Any, ...]]:
    with Session(_state(client).db) as session:
        rows = session.exec(select(Person).where(col(Person.deleted_at).is_(None))).all()
        return {
            p.name: (p.external_id, p.note, p.start_date, p.end_date, p.created_at) for p in rows
        }


def _faces(client: TestClient) -> set[tuple[Any, ...]]:
    """Every face with the file it came from (hashed here, from the stored file)."""
    state = _state(client)
    with Session(state.db) as session:
        rows = session.exec(
            select(Face, Image, Person)
            .join(Image, col(Image.id) == col(Face.image_id))
            .join(Person, col(Person.id) == col(Face.person_id))
        ).all()
        return {
            (
                person.name,
                hashlib.sha256((state.store.root / image.path).read_bytes()).hexdigest(),
                (image.width, image.height, image.format),
                tuple(face.box),
                json.dumps(face.landmarks),
                face.det_score,
                json.dumps(face.quality, sort_keys=True),
                face.model,
                face.embedding,
            )
            for face, image, person in rows
        }


def _counts(client: TestClient) -> tuple[int, int, int, int]:
    state = _state(client)
    with Session(state.db) as session:
        people = len(session.exec(select(Person.id)).all())
        faces = len(session.exec(select(Face.id)).all())
        images = len(session.exec(select(Image.id)).all())
    return people, faces, images, len(list(state.store.files()))


def _recognise(client: TestClient, colour: tuple[int, int, int]) -> list[tuple[str, float]]:
    query = picture([(colour, 70), (BLUE, 70)])
    result = client.post(f"{API}/recognize", files={"file": ("q.png", query)}).json()
    return [
        (f["match"]["name"] if f["match"] else "", round(f["candidates"][0]["similarity"], 6))
        if f["candidates"]
        else ("", 0.0)
        for f in result["faces"]
    ]


def _imports(client: TestClient) -> list[AuditEntry]:
    with Session(_state(client).db) as session:
        query = select(AuditEntry).where(AuditEntry.entity == "gallery")
        return list(session.exec(query.where(AuditEntry.action == "import")).all())


def test_round_trip_keeps_people_faces_descriptors_and_answers(
    source: TestClient, target: TestClient
) -> None:
    _fill(source)
    data = _export(source)
    response = _import(target, data)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["people_created"] == 3 and report["people_removed"] == []
    assert (report["faces_added"], report["faces_reembedded"], report["images_added"]) == (4, 0, 3)

    assert _people(target) == _people(source)
    assert "Gone" not in _people(target)
    assert _faces(target) == _faces(source)  # descriptors byte for byte
    for colour in (RED, GREEN, GREY):
        assert _recognise(target, colour) == _recognise(source, colour)
    assert _recognise(target, RED)[0][0] in {"Ada", "Bob"}  # the index has them

    (entry,) = _imports(target)
    assert entry.actor_kind == "local"  # auth is off in these tests: the local principal
    assert entry.details["faces_added"] == 4 and entry.details["people_created"] == 3


def test_importing_twice_stores_nothing_twice(source: TestClient, target: TestClient) -> None:
    _fill(source)
    data = _export(source)
    assert _import(target, data).status_code == 200
    before, generation = _counts(target), _generation(target)
    again = _import(target, data).json()
    assert (again["people_created"], again["people_matched"]) == (0, 3)
    assert (again["faces_added"], again["faces_existing"], again["images_added"]) == (0, 4, 0)
    assert _counts(target) == before
    assert _generation(target) == generation  # no change for the workers to replay
    assert len(_imports(target)) == 2


def _generation(client: TestClient) -> int:
    with Session(_state(client).db) as session:
        return current_generation(session)


def test_people_already_here_are_matched_not_copied(source: TestClient, target: TestClient) -> None:
    """external_id decides; without one, the same name and a shared photo (or no face)."""
    _fill(source)
    ada = _person(target, name="Ada Lovelace", external_id="E-1")
    bob = _person(target, name="Bob")
    _enrol(target, bob, picture([(GREEN, 70)]))
    other_bob = _person(target, name="Bob")  # same name, no shared photo, has a face
    _enrol(target, other_bob, picture([(BLUE, 50)]))
    gone = _person(target, name="Cleo")
    assert target.delete(f"{API}/people/{gone}").status_code == 204
    report = _import(target, _export(source)).json()
    assert (report["people_created"], report["people_matched"]) == (0, 2)
    assert report["people_removed"] == ["Cleo"]  # removed here: never brought back
    with Session(_state(target).db) as session:
        names = [p.name for p in session.exec(select(Person).order_by(col(Person.id))).all()]
        faces = session.exec(select(Face.person_id)).all()
    assert names == ["Ada Lovelace", "Bob", "Bob", "Cleo"]
    assert sorted(faces) == sorted([ada, ada, bob, bob, other_bob])


def test_another_model_id_is_re_embedded_from_the_photo(
    settings: Settings, source: TestClient, tmp_path: Path, other_database_url: str | None
) -> None:
    ids = _fill(source)
    with Session(_state(source).db) as session:  # Bob's green face: a box off its face
        face = session.exec(
            select(Face).where(Face.person_id == ids["Bob"]).order_by(col(Face.id))
        ).first()
        assert face is not None
        face.x1, face.y1, face.x2, face.y2 = 0, 0, 10, 10
        session.add(face)
        session.commit()
    engine = OtherModel()
    with _app(settings, tmp_path / "c", engine, other_database_url) as target:
        calls = engine.calls
        report = _import(target, _export(source)).json()
        assert engine.calls - calls == 4  # detection ran on each photo
        assert (report["faces_added"], report["faces_reembedded"]) == (3, 3)
        assert [f["reason"][:9] for f in report["failed"]] == ["[no_face]"]
        state = _state(target)
        with Session(state.db) as session:
            rows = session.exec(select(Face, Image).join(Image)).all()
            assert {face.model for face, _ in rows} == {"fake-colour-v2"}
            for face, image in rows:
                expected = state.runtime.analyze(state.store.read(image.path)).faces[0]
                assert face.embedding == expected.embedding.astype("<f4").tobytes()  # type: ignore[union-attr]
        assert _recognise(target, RED)[0][0] in {"Ada", "Bob"}  # in the index
        assert _recognise(target, GREEN)[0][0] == ""  # Bob's green face was not imported


def _tampered(data: bytes, change: Any) -> bytes:
    """The archive with ``change(name, bytes) -> bytes | None`` applied to each member."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            content = change(info.filename, old.read(info.filename))
            if content is not None:
                new.writestr(info.filename, content)
    return out.getvalue()


def _flip_photo(name: str, content: bytes) -> bytes:
    return content[:-1] + bytes([content[-1] ^ 1]) if name.startswith("images/") else content


def _version_2(name: str, content: bytes) -> bytes:
    if name != "manifest.json":
        return content
    return json.dumps({**json.loads(content), "version": 2}).encode()


def _bad_face_line(name: str, content: bytes) -> bytes:
    return content + b'{"person": 1, "box": "x"}\n' if name == "faces.jsonl" else content


def _short_descriptor(name: str, content: bytes) -> bytes:
    if name != "faces.jsonl":
        return content
    line = json.loads(content.splitlines()[0])
    line["embedding"] = line["embedding"][:8]
    return json.dumps(line).encode() + b"\n" + content


def _crc_damage(data: bytes) -> bytes:
    """One byte of a photo changed inside the ZIP itself (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("images/"))
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"not a zip at all",
        lambda data: data[: len(data) // 2],
        _crc_damage,
        lambda data: _tampered(data, lambda n, c: None if n == "manifest.json" else c),
        lambda data: _tampered(data, _flip_photo),
        lambda data: _tampered(data, _version_2),
        lambda data: _tampered(data, _bad_face_line),
        lambda data: _tampered(data, _short_descriptor),
        lambda data: _tampered(data, lambda n, c: None if n.startswith("images/") else c),
    ],
    ids=[
        "foreign",
        "truncated",
        "crc",
        "no-manifest",
        "photo-not-its-hash",
        "version",
        "bad-line",
        "descriptor-size",
        "photos-missing",
    ],
)
def test_a_damaged_or_foreign_file_is_refused_and_nothing_stored(
    source: TestClient, target: TestClient, damage: Any
) -> None:
    _fill(source)
    data = damage(_export(source))
    before = _counts(target)
    response = _import(target, data)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_archive"
    assert _counts(target) == before
    assert _imports(target) == []


def test_export_is_audited_and_counts_what_it_holds(source: TestClient) -> None:
    _fill(source)
    data = _export(source)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        people = [json.loads(x) for x in archive.read("people.jsonl").splitlines()]
        images = [n for n in archive.namelist() if n.startswith("images/")]
        for name in images:
            assert hashlib.sha256(archive.read(name)).hexdigest() == name.removeprefix("images/")
    assert manifest["format"] == "facerec-gallery" and manifest["version"] == 1
    assert manifest["counts"] == {"people": 3, "faces": 4, "images": 3}
    assert manifest["models"] == {"fake-colour-v1": 4}
    assert sorted(p["name"] for p in people) == ["Ada", "Bob", "Cleo"]
    with Session(_state(source).db) as session:
        (entry,) = session.exec(
            select(AuditEntry).where(AuditEntry.entity == "gallery", AuditEntry.action == "export")
        ).all()
    assert entry.details["faces"] == 4 and entry.time == NOW


def test_cli_export_and_import_between_data_dirs(
    source: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    other_database_url: str | None,
) -> None:
    _fill(source)
    file = tmp_path / "out" / "gallery.zip"
    file.parent.mkdir()
    runner, obj = CliRunner(), SimpleNamespace(clock=lambda: NOW, engine=FakeEngine())
    try:
        monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "a"))
        get_settings.cache_clear()
        exported = runner.invoke(app, ["export", str(file)], obj=obj)
        assert exported.exit_code == 0, exported.output
        assert "exported 3 people, 4 faces (fake-colour-v1: 4), 3 photos" in exported.output
        assert [p.name for p in file.parent.iterdir()] == ["gallery.zip"]  # no temporary left

        monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "cli"))
        if other_database_url is not None:
            monkeypatch.setenv("FACEREC_DATABASE_URL", other_database_url)
        get_settings.cache_clear()
        first = runner.invoke(app, ["import", str(file)], obj=obj)
        assert first.exit_code == 0, first.output
        assert "people: 3 created, 0 already here; faces: 4 added" in first.output
        again = runner.invoke(app, ["import", str(file)], obj=obj)
        assert "people: 0 created, 3 already here; faces: 0 added" in again.output
        assert "4 already here" in again.output

        (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
        refused = runner.invoke(app, ["import", str(tmp_path / "junk.zip")], obj=obj)
        assert refused.exit_code == 1
        assert "[invalid_archive]" in refused.output
    finally:
        get_settings.cache_clear()


def test_an_import_after_a_switch_of_models_stores_no_face_of_the_old_model(
    source: TestClient, target: TestClient
) -> None:
    """The import embeds with this worker's engine; if ``facerec models use`` made
    another model the active one meanwhile, its faces would never be searched: refused
    under the write lock, and a second import (after the switch) stores them."""
    _fill(source)
    data = _export(source)
    with Session(_state(target).db) as session:
        state = session.get(IndexState, 1)
        assert state is not None
        state.model = "switched-elsewhere@12345678"
        session.add(state)
        session.commit()
    _, faces, images, files = _counts(target)
    refused = _import(target, data)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "not_ready"
    assert "import the file again" in refused.json()["error"]["message"]
    assert _counts(target)[1:] == (faces, images, files)
    with Session(_state(target).db) as session:
        state = session.get(IndexState, 1)
        assert state is not None
        state.model = None
        session.add(state)
        session.commit()
    assert _import(target, data).json()["faces_added"] == 4
