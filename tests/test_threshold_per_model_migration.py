"""0007 makes the calibrated threshold each recogniser's own (``match_threshold:<name>``):
the one stored before goes to the recogniser that embedded most of the gallery's faces
(dlib's when there are none), and a downgrade gives it back its old key."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command

from facerec.db.migrate import alembic_config

NOW = "2026-11-30 04:00:00.000000"


def _at_0006(db: Path, models: list[str]) -> str:
    url = f"sqlite:///{db}"
    command.upgrade(alembic_config(url), "0006")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO app_settings (key, value) VALUES ('match_threshold', ?)",
            (json.dumps(0.91),),
        )
        for n, model in enumerate(models):
            person = conn.execute(
                "INSERT INTO people (name, created_at, updated_at) VALUES (?, ?, ?)",
                (f"p{n}", NOW, NOW),
            ).lastrowid
            image = conn.execute(
                "INSERT INTO images (sha256, size, width, height, format, path, created_at) "
                "VALUES (?, 1, 1, 1, 'PNG', ?, ?)",
                (f"{n:064d}", f"{n}.png", NOW),
            ).lastrowid
            conn.execute(
                "INSERT INTO faces (person_id, image_id, x1, y1, x2, y2, landmarks, det_score, "
                "quality, embedding, model, created_at) VALUES (?, ?, 0, 0, 1, 1, '[]', 1, '{}', "
                "?, ?, ?)",
                (person, image, b"\0\0\0\0", model, NOW),
            )
    return url


def _thresholds(db: Path) -> dict[str, float]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT key, value FROM app_settings WHERE key LIKE 'match_threshold%'"
        ).fetchall()
    # the JSON column has NUMERIC affinity in SQLite: a number comes back as one
    return {key: json.loads(v) if isinstance(v, str) else v for key, v in rows}


@pytest.mark.parametrize(
    ("models", "owner"),
    [
        ([], "dlib-resnet"),
        (["dlib-resnet-v1+mirror", "dlib-resnet-v1"], "dlib-resnet"),
        (
            ["mobilefacenet@85cdeb73+mirror"] * 2 + ["dlib-resnet-v1+mirror"],
            "mobilefacenet",
        ),
    ],
)
def test_the_stored_threshold_goes_to_the_galleries_recogniser(
    tmp_path: Path, models: list[str], owner: str
) -> None:
    db = tmp_path / "facerec.db"
    url = _at_0006(db, models)
    command.upgrade(alembic_config(url), "0007_model_switch")
    assert _thresholds(db) == {f"match_threshold:{owner}": 0.91}
    command.downgrade(alembic_config(url), "0006")
    assert _thresholds(db) == {"match_threshold": 0.91}
