"""Ids are never handed out twice (#11 item 3), on a new database and on one built at
revision 0003 and upgraded by 0004 (rows and ids kept); 0004 cannot be undone.

SQLite without AUTOINCREMENT gives a new row max(id) + 1: deleting the newest row and
adding one gave the deleted id again (person 31 came back as someone else)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient

from facerec.db.migrate import alembic_config, upgrade
from tests.fakes import picture

Insert = Callable[[sqlite3.Connection, int], int]
NOW = "2026-11-23 04:00:00.000000"


def _insert(conn: sqlite3.Connection, sql: str, values: tuple[object, ...]) -> int:
    cursor = conn.execute(sql, values)
    return int(cursor.lastrowid or 0)


def _person(conn: sqlite3.Connection, n: int) -> int:
    return _insert(
        conn,
        "INSERT INTO people (name, created_at, updated_at) VALUES (?, ?, ?)",
        (f"p{n}", NOW, NOW),
    )


def _image(conn: sqlite3.Connection, n: int) -> int:
    return _insert(
        conn,
        "INSERT INTO images (sha256, size, width, height, format, path, created_at) "
        "VALUES (?, 1, 1, 1, 'PNG', ?, ?)",
        (f"{n:064d}", f"{n}.png", NOW),
    )


def _face(conn: sqlite3.Connection, n: int) -> int:
    person, image = _person(conn, 1000 + n), _image(conn, 1000 + n)
    return _insert(
        conn,
        "INSERT INTO faces (person_id, image_id, x1, y1, x2, y2, landmarks, det_score, "
        "quality, embedding, model, created_at) VALUES (?, ?, 0, 0, 1, 1, '[]', 1, '{}', ?, "
        "'m', ?)",
        (person, image, b"\0\0\0\0", NOW),
    )


def _event(conn: sqlite3.Connection, n: int) -> int:
    return _insert(
        conn,
        "INSERT INTO attendance_events (person_id, time, source) VALUES (?, ?, 'manual')",
        (_person(conn, 2000 + n), NOW),
    )


def _unknown(conn: sqlite3.Connection, n: int) -> int:
    return _insert(
        conn,
        "INSERT INTO unknown_faces (group_id, time, crop_path, box, landmarks, det_score, "
        "quality, embedding, model, status) VALUES (0, ?, ?, '[]', '[]', 1, '{}', ?, 'm', "
        "'pending')",
        (NOW, f"u{n}.jpg", b"\0\0\0\0"),
    )


def _schedule(conn: sqlite3.Connection, n: int) -> int:
    return _insert(
        conn,
        "INSERT INTO attendance_schedules (name, start_time, end_time, weekdays, "
        "grace_minutes, is_default) VALUES (?, '09:00:00', '17:00:00', '[1]', 0, 0)",
        (f"s{n}",),
    )


def _audit(conn: sqlite3.Connection, n: int) -> int:
    table = "audit_log" if _has_table(conn, "audit_log") else "attendance_audit"  # 0005 renames
    return _insert(
        conn,
        f"INSERT INTO {table} (time, actor, action, entity, reason, details) "
        "VALUES (?, 'a', 'x', 'y', '', '{}')",
        (NOW,),
    )


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


TABLES: dict[str, Insert] = {
    "people": _person,
    "images": _image,
    "faces": _face,
    "attendance_events": _event,
    "unknown_faces": _unknown,
    "attendance_schedules": _schedule,
    "audit_log": _audit,
}
BEFORE_0005 = {"audit_log": "attendance_audit"}
"""Tables whose name at 0003 was another."""


@contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection with foreign keys on, committed and closed at the end of the block."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA foreign_keys=ON")
        yield conn


def _create_delete_create(db: Path, table: str, insert: Insert) -> tuple[int, int]:
    with _connect(db) as conn:
        newest = insert(conn, 1)
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (newest,))
        conn.commit()
        again = insert(conn, 2)
    return newest, again


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_new_database_never_reuses_an_id(tmp_path: Path, table: str) -> None:
    db = tmp_path / "new.db"
    upgrade(f"sqlite:///{db}")
    deleted, new = _create_delete_create(db, table, TABLES[table])
    assert new != deleted
    assert new == deleted + 1


@pytest.fixture
def old_db(tmp_path: Path) -> tuple[Path, dict[str, list[int]]]:
    """A database at 0003 with rows in every id table, one of them deleted (a gap the
    upgrade must keep). Returns it and the ids present per table."""
    db = tmp_path / "old.db"
    command.upgrade(alembic_config(f"sqlite:///{db}"), "0003")
    kept: dict[str, list[int]] = {}
    with _connect(db) as conn:
        for table, insert in TABLES.items():
            ids = [insert(conn, 10 + i) for i in range(3)]
            conn.execute(f"DELETE FROM {BEFORE_0005.get(table, table)} WHERE id = ?", (ids[1],))
        for table in TABLES:
            rows = conn.execute(f"SELECT id FROM {BEFORE_0005.get(table, table)}").fetchall()
            kept[table] = sorted(row[0] for row in rows)
        conn.execute(
            "INSERT INTO attendance_person_schedules (person_id, schedule_id) VALUES (?, ?)",
            (kept["people"][-1], kept["attendance_schedules"][-1]),
        )
    return db, kept


@pytest.mark.parametrize("table", sorted(TABLES))
def test_an_upgraded_database_keeps_its_rows_and_never_reuses_an_id(
    old_db: tuple[Path, dict[str, list[int]]], table: str
) -> None:
    db, kept = old_db
    upgrade(f"sqlite:///{db}")
    with _connect(db) as conn:
        ids = sorted(row[0] for row in conn.execute(f"SELECT id FROM {table}").fetchall())
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM attendance_person_schedules").fetchone() == (1,)
    assert ids == kept[table]
    deleted, new = _create_delete_create(db, table, TABLES[table])
    assert new != deleted
    assert new > max(kept[table])


def test_upgrade_adds_the_person_dates_and_keeps_history_of_people(
    old_db: tuple[Path, dict[str, list[int]]],
) -> None:
    db, _ = old_db
    with _connect(db) as conn:
        conn.execute("UPDATE people SET created_at = '2026-11-22 23:30:00.000000' WHERE id = 1")
    upgrade(f"sqlite:///{db}")
    with _connect(db) as conn:
        first = conn.execute("SELECT start_date, end_date, deleted_at FROM people WHERE id = 1")
        assert first.fetchone() == ("2026-11-22", None, None)  # the UTC day of created_at
        person = conn.execute("SELECT person_id FROM attendance_events LIMIT 1").fetchone()[0]
        with pytest.raises(sqlite3.IntegrityError):  # no longer ON DELETE CASCADE
            conn.execute("DELETE FROM people WHERE id = ?", (person,))


def test_downgrade_below_0004_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    with pytest.raises(NotImplementedError, match="cannot be undone"):
        command.downgrade(alembic_config(url), "0003")
    with _connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0004",)


def test_a_deleted_person_id_is_not_given_to_the_next_person(client: TestClient) -> None:
    people = "/api/v1/people"
    first = client.post(people, json={"name": "A"}).json()["id"]
    gone = client.post(people, json={"name": "B"}).json()["id"]
    assert client.delete(f"{people}/{gone}").status_code == 204
    new = client.post(people, json={"name": "C"}).json()["id"]
    assert new not in (first, gone)
    late = client.post(
        f"{people}/{gone}/faces", files={"file": ("a.png", picture([((9, 9, 200), 80)]))}
    )
    assert late.status_code == 404  # meant for B: it does not land on C
    assert client.get(f"{people}/{new}/faces").json()["total"] == 0


def test_a_deleted_face_id_is_not_given_to_the_next_face(client: TestClient) -> None:
    """Thumbnails are cached by face id for an hour: a cached one always shows that face."""
    pid = client.post("/api/v1/people", json={"name": "A"}).json()["id"]
    faces = f"/api/v1/people/{pid}/faces"
    old = client.post(faces, files={"file": ("a.png", picture([((200, 9, 9), 80)]))}).json()
    gone = old["faces"][0]["id"]
    cached = client.get(f"/api/v1/faces/{gone}/thumbnail")
    assert cached.headers["cache-control"] == "private, max-age=3600"
    assert client.delete(f"/api/v1/faces/{gone}").status_code == 204
    new = client.post(faces, files={"file": ("b.png", picture([((9, 200, 9), 80)]))}).json()
    assert new["faces"][0]["id"] != gone
    assert client.get(f"/api/v1/faces/{gone}/thumbnail").status_code == 404
