"""A change log of tens of thousands of changes replays in one call, on every backend and
database: the faces it names are read in batches, never in one ``IN (...)`` of more
parameters than the database binds. SQLite is held here to a stock build's 32,766
whatever this machine's build allows (PostgreSQL binds at most 65,535)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.config import Settings
from facerec.index.base import InspectableIndex
from facerec.index.factory import index_sync
from tests.index_db import enrol_in_bulk, index_db
from tests.test_index_congruence import BACKENDS, Backend, brute_force, unit

DIM = 8
FACES = 40_000
STOCK_SQLITE_VARIABLES = 32_766


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    with index_db(tmp_path, database_url) as engine:
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def stock_limit(connection: Any, _record: Any) -> None:
                connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, STOCK_SQLITE_VARIABLES)

        yield engine


def test_forty_thousand_changes_replay_in_one_call(
    backend: Backend, db: Engine, tmp_path: Path
) -> None:
    rng = np.random.default_rng(40)
    sync = index_sync(Settings(data_dir=tmp_path), dim=DIM, model="m", index=backend(tmp_path, DIM))
    with Session(db) as session:
        sync.catch_up(session)  # an empty gallery at generation 0: what follows is a replay
    assert sync.generation == 0

    person_ids = [1 + i // 2 for i in range(FACES)]  # two faces each: centroids too
    vectors = unit(rng.normal(size=(FACES, DIM)))
    face_ids = enrol_in_bulk(db, person_ids, vectors)
    with Session(db) as session:
        sync.catch_up(session)

    assert sync.generation == 1
    index = sync.index
    assert isinstance(index, InspectableIndex)
    entries = index.entries()
    order = np.argsort(entries.face_ids)
    assert entries.face_ids[order].tolist() == face_ids
    assert entries.person_ids[order].tolist() == person_ids
    np.testing.assert_array_equal(entries.vectors[order], vectors)
    faces = {f: (p, v) for f, p, v in zip(face_ids, person_ids, vectors, strict=True)}
    probes = unit(vectors[[5, 20_001, 39_998]] + rng.normal(size=(3, DIM)) * 0.05)
    for probe, hits in zip(probes, sync.index.search_people(probes, 3), strict=True):
        expected = brute_force(faces, probe, 3)
        assert [(h.person_id, h.face_id) for h in hits] == [e[:2] for e in expected]
        assert [h.similarity for h in hits] == pytest.approx([e[2] for e in expected], abs=1e-5)
