"""Keeps a worker's vector index equal to the faces table.

The index is a cache. At start it is built from the database and stamped with
the change-log generation it reflects. Before every search, ``catch_up`` reads
the current generation and, if other workers (or this one) committed face
changes since, replays them from ``face_changes``. Writers bump the generation
under the database write lock, so generations commit in order and a reader that
sees generation G has every change up to G.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session, col, func, select

from facerec.errors import EngineSwitched
from facerec.faces.models import Face
from facerec.index.base import IndexEntries, VectorIndex
from facerec.index.frozen import Frozen
from facerec.index.models import FaceChange, current_generation, current_position, replayable
from facerec.index.saved import SavedIndexes
from facerec.index.scaled import ScaledFaissIndex
from facerec.metrics.instruments import index_state

IN_BATCH = 10_000
"""Values per ``IN (...)`` query: a database binds a bounded number of parameters per
statement (32,766 in a stock SQLite, 65,535 in PostgreSQL)."""
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    in_step: bool
    index_count: int
    db_count: int
    index_generation: int
    db_generation: int


class IndexSync:
    def __init__(self, index: VectorIndex, model: str) -> None:
        self.index = index
        self.model = model
        self.generation = -1
        self.saved_name: str | None = None
        """The saved index the index was loaded from (None: built from the faces table)."""
        self.switches: int | None = None
        """The model switch count this index serves (``switch/serving.py``); None: any."""
        self._lock = threading.Lock()

    def start(self, session: Session, saved: SavedIndexes | None = None) -> int:
        """Fill the index at start: from the saved index and the newer changes of the log
        when they serve, else from the faces table. Returns the number indexed."""
        with self._lock:
            if saved is not None and self._load_saved(session, saved):
                return self.index.count()
            return self._rebuild(session)

    def load_saved(self, session: Session, saved: SavedIndexes) -> bool:
        """Serve from the saved index (and the newer log) if it can; False: unchanged."""
        with self._lock:
            return self._load_saved(session, saved)

    def _load_saved(self, session: Session, saved: SavedIndexes) -> bool:
        index = self.index
        if not isinstance(index, ScaledFaissIndex):
            return False
        found = saved.load(model=self.model, dim=index.dim)
        if found is None:
            return False
        generation = current_generation(session)
        if not replayable(session, since=found.generation, until=generation):
            return False  # a rebuild since, or the log no longer has every change
        index.use(found.base, generation=found.generation)
        self.generation, self.saved_name = found.generation, found.name
        self._replay(session, generation)
        log.info(
            "index loaded from the saved %s (generation %d, replayed to %d)",
            found.name,
            found.generation,
            generation,
        )
        index_state(index.count(), generation)
        return True

    def capture(self) -> tuple[int, Frozen | IndexEntries] | None:
        """What a saved index would hold now, and its generation: the base itself when
        nothing changed since it was made. None: the index is not approximate."""
        with self._lock:
            index = self.index
            approx = index.approximate if isinstance(index, ScaledFaissIndex) else None
            if approx is None:
                return None
            if approx.changes == 0:
                return self.generation, approx.base
            return self.generation, approx.entries()

    def rebuild(self, session: Session) -> int:
        """Reload every face of this model; returns the number indexed."""
        with self._lock:
            return self._rebuild(session)

    def catch_up(self, session: Session) -> None:
        """Apply every change committed since the index was last brought up to date.
        ``EngineSwitched`` when the database's models are no longer this index's."""
        if self.check_position(session) == self.generation:
            return
        with self._lock:
            generation = current_generation(session)
            if self.generation < 0:
                self._rebuild(session)
            elif generation != self.generation:
                self._replay(session, generation)

    def check_position(self, session: Session) -> int:
        """The database's generation; ``EngineSwitched`` after a switch of models."""
        generation, switches = current_position(session)
        if self.switches is not None and switches != self.switches:
            raise EngineSwitched("the face models were switched; this worker follows")
        return generation

    def _rebuild(self, session: Session) -> int:
        generation = current_generation(session)
        rows = session.exec(
            select(Face.id, Face.person_id, Face.embedding).where(Face.model == self.model)
        ).all()
        self.index.reset()
        self._add_rows(list(rows))
        self.generation, self.saved_name = generation, None
        index_state(len(rows), generation)
        return len(rows)

    def _replay(self, session: Session, generation: int) -> None:
        changes = session.exec(
            select(FaceChange)
            .where(FaceChange.generation > self.generation)
            .where(FaceChange.generation <= generation)
            .order_by(col(FaceChange.generation), col(FaceChange.id))
        ).all()
        if any(c.op == "rebuild" for c in changes):  # asked for by `facerec index rebuild`
            self._rebuild(session)
            return
        last_op = {c.face_id: c.op for c in changes}  # the newest change of a face wins
        self.index.remove(list(last_op))
        added = [face_id for face_id, op in last_op.items() if op == "add"]
        for start in range(0, len(added), IN_BATCH):  # a bounded number of parameters
            rows = session.exec(
                select(Face.id, Face.person_id, Face.embedding)
                .where(col(Face.id).in_(added[start : start + IN_BATCH]))
                .where(Face.model == self.model)
            ).all()
            self._add_rows(list(rows))
        self.generation = generation
        index_state(self.index.count(), generation)

    def status(self, session: Session) -> IndexStatus:
        db_generation = current_generation(session)
        db_count = session.exec(
            select(func.count()).select_from(Face).where(Face.model == self.model)
        ).one()
        count = self.index.count()
        return IndexStatus(
            in_step=count == db_count and self.generation == db_generation,
            index_count=count,
            db_count=int(db_count),
            index_generation=self.generation,
            db_generation=db_generation,
        )

    def malformed_vectors(self, session: Session, *, dim: int) -> int:
        """Stored embeddings of this model that have the wrong size or are not unit length."""
        bad = 0
        blobs = session.exec(select(Face.embedding).where(Face.model == self.model)).all()
        for blob in blobs:
            vector = np.frombuffer(blob, dtype="<f4")
            bad += int(vector.shape[0] != dim or abs(float(np.linalg.norm(vector)) - 1.0) > 1e-3)
        return bad

    def _add_rows(self, rows: list[tuple[int | None, int, bytes]]) -> None:
        if not rows:
            return
        vectors = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows]).astype(np.float32)
        self.index.add([int(r[0] or 0) for r in rows], [r[1] for r in rows], vectors)
