"""Keeps a shared index (Milvus) equal to the faces table, written once per change.

Every worker of every host searches the same collections, so the change log is applied
to them once, not once per worker:

- **One applier at a time.** Applying runs under the database write lock
  (``lock_for_write``, SQLite's write lock or PostgreSQL's ``index_state`` row lock) in a
  session of its own, or in the caller's when it already holds the lock. No face change
  commits meanwhile, so what the applier reads is the state at one generation; a second
  applier waits for the lock, then finds the work done.
- **Idempotent.** Faces are upserted by face id and deleted by id, and the centroids of
  every person the changes name are recomputed from the database: applying the same
  changes twice gives the same collections.
- **Resumable.** The generation applied is written to the meta collection *after* the
  data. A crash in between leaves the old generation there, and the next call applies
  the same changes again.
- **Readers wait.** ``catch_up`` before a search reads the database generation; when the
  meta row is behind it, the caller applies (or waits on the lock for whoever is
  applying), so a face enrolled through one worker is found by the next request on any.

A full reload (empty collections, another model, a meta row ahead of the database as
after a restore, or a ``rebuild`` in the log) replaces everything, still under the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from facerec.db.engine import holds_write_lock, lock_for_write
from facerec.faces.models import Face
from facerec.index.milvus_index import MilvusIndex
from facerec.index.models import FaceChange, current_generation
from facerec.index.saved import SavedIndexes
from facerec.index.sync import IN_BATCH, IndexStatus, IndexSync
from facerec.metrics.instruments import index_state

Row = tuple[int | None, int, bytes]


class SharedIndexSync(IndexSync):
    """``IndexSync`` for a :class:`MilvusIndex` that every worker shares.

    ``generation`` is the meta row's generation as this worker last saw it."""

    index: MilvusIndex

    def __init__(self, index: MilvusIndex, model: str) -> None:
        super().__init__(index, model)

    def start(self, session: Session, saved: SavedIndexes | None = None) -> int:
        """A worker's start: see :meth:`rebuild` (Milvus keeps its own copy; no saved index)."""
        return self.rebuild(session)

    def rebuild(self, session: Session) -> int:
        """At a worker's start: the shared collections are not reloaded per worker, only
        brought up to date (by whoever gets there first). Returns the faces they hold."""
        self.catch_up(session)
        return self.index.count()

    def catch_up(self, session: Session) -> None:
        if self.check_position(session) == self.generation:
            return
        with self._lock:  # one applier per process: one extra connection at most
            if holds_write_lock(session):
                self._apply(session)
                return
            generation = current_generation(session)
            if self._applied_generation() == generation:  # another worker applied it
                self.generation = generation
                return
            with Session(session.get_bind(), expire_on_commit=False) as own:
                lock_for_write(own)
                try:
                    self._apply(own)
                finally:
                    own.rollback()  # nothing was written here: releases the lock

    def status(self, session: Session) -> IndexStatus:
        self.generation = self._applied_generation()
        return super().status(session)

    def _applied_generation(self) -> int:
        """The generation the collections reflect for this model (-1: none, another model)."""
        applied = self.index.applied()
        return -1 if applied is None or applied.model != self.model else applied.generation

    def _apply(self, session: Session) -> None:
        """Bring the collections to the database's generation (the caller holds the lock)."""
        generation = current_generation(session)
        applied = self._applied_generation()
        if applied == generation:
            self.generation = generation
            return
        if applied < 0 or applied > generation:  # new, another model, a restored database
            self._reload(session)
        else:
            changes = session.exec(
                select(FaceChange)
                .where(FaceChange.generation > applied)
                .where(FaceChange.generation <= generation)
                .order_by(col(FaceChange.generation), col(FaceChange.id))
            ).all()
            if any(c.op == "rebuild" for c in changes):
                self._reload(session)
            else:
                self._apply_changes(session, changes)
        self.index.mark_applied(generation, self.model)  # after the data: see the docstring
        self.generation = generation
        index_state(self.index.count(), generation)

    def _apply_changes(self, session: Session, changes: Sequence[FaceChange]) -> None:
        last_op = {c.face_id: c.op for c in changes}  # the newest change of a face wins
        added = [f for f, op in last_op.items() if op == "add"]
        rows = self._rows_in(session, col(Face.id), added)
        present = {int(r[0] or 0) for r in rows}
        self.index.delete_faces([f for f in last_op if f not in present])
        self._upsert(rows)
        people = {c.person_id for c in changes} | {r[1] for r in rows}
        by_person: dict[int, list[NDArray[np.float32]]] = {p: [] for p in people}
        for _face_id, person_id, blob in self._rows_in(session, col(Face.person_id), people):
            by_person[person_id].append(_vector(blob))
        self.index.set_centroids({p: _stacked(v, self.index.dim) for p, v in by_person.items()})

    def _reload(self, session: Session) -> None:
        self.index.reset()
        rows = self._rows(session, True)
        self._upsert(rows)
        by_person: dict[int, list[NDArray[np.float32]]] = {}
        for _face_id, person_id, blob in rows:
            by_person.setdefault(person_id, []).append(_vector(blob))
        several = {p: _stacked(v, self.index.dim) for p, v in by_person.items() if len(v) >= 2}
        self.index.set_centroids(several)
        self.index.flush()

    def _rows(self, session: Session, where: Any) -> list[Row]:
        """Faces of this model matching ``where``, in face id order."""
        return list(
            session.exec(
                select(Face.id, Face.person_id, Face.embedding)
                .where(Face.model == self.model)
                .where(where)
                .order_by(col(Face.id))
            ).all()
        )

    def _rows_in(self, session: Session, column: Any, values: Iterable[int]) -> list[Row]:
        """Faces of this model whose ``column`` is one of ``values``, in face id order,
        queried ``IN_BATCH`` values at a time."""
        wanted = sorted(set(values))
        rows: list[Row] = []
        for start in range(0, len(wanted), IN_BATCH):
            rows.extend(self._rows(session, column.in_(wanted[start : start + IN_BATCH])))
        rows.sort(key=lambda r: int(r[0] or 0))
        return rows

    def _upsert(self, rows: list[Row]) -> None:
        if rows:
            vectors = np.stack([_vector(r[2]) for r in rows])
            self.index.upsert_faces([int(r[0] or 0) for r in rows], [r[1] for r in rows], vectors)


def _vector(blob: bytes) -> NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _stacked(vectors: list[NDArray[np.float32]], dim: int) -> NDArray[np.float32]:
    return np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
