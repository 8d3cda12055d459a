"""Saving the approximate index, by one worker at a time, and serving from the newest.

Every worker runs an :class:`IndexSaveJob` (app lifespan). Each tick, a worker first
moves to a saved index newer than the one it serves from (``IndexSync.load_saved``:
its overlay of later changes shrinks to what the log has after it), then tries the
``index_save_lease`` (``retention/lease.py``); the holder saves when its index is
approximate and either was built here (a full build: no saved index matches it) or has
``faiss.save_after_changes`` faces added or removed since its base.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from facerec.config import FaissSettings
from facerec.index.frozen import Frozen, freeze
from facerec.index.saved import SavedIndexes
from facerec.index.scaled import ScaledFaissIndex
from facerec.index.sync import IndexSync
from facerec.periodic import LeasedJob
from facerec.retention.lease import take_lease
from facerec.state import AppState

LEASE_KEY = "index_save_lease"
LEASE_TTL = timedelta(minutes=15)
"""Held across a save (a million faces: tens of seconds), so two never overlap."""


def save_index(session: Session, sync: IndexSync, saved: SavedIndexes) -> str | None:
    """Save what ``sync``'s index holds now and serve from it; the saved name, or None
    when the index is not approximate."""
    captured = sync.capture()
    if captured is None:
        return None
    generation, held = captured
    base = (
        held if isinstance(held, Frozen) else freeze(held.face_ids, held.person_ids, held.vectors)
    )
    name = saved.save(base, generation=generation, model=sync.model)
    sync.load_saved(session, saved)
    return name


class IndexSaveJob(LeasedJob):
    name = "index-save"
    lease_key = LEASE_KEY
    failure = "saving the index failed"

    def __init__(self, state: AppState, *, saved: SavedIndexes, holder: str | None = None) -> None:
        super().__init__(state, holder=holder)
        self.saved = saved

    @property
    def enabled(self) -> bool:
        return self.settings.save and isinstance(self.state.index.index, ScaledFaissIndex)

    def tick(self) -> str | None:
        """Serve from a newer saved index; with the lease, save one if due. Its name."""
        sync = self.state.index
        index = sync.index
        assert isinstance(index, ScaledFaissIndex)
        with Session(self.state.db) as session:
            newest = self.saved.current_name()
            if index.approximate is not None and newest not in (None, sync.saved_name):
                sync.load_saved(session, self.saved)
            if not take_lease(
                session=session,
                holder=self.holder,
                now=self.state.clock(),
                ttl=LEASE_TTL,
                key=self.lease_key,
            ):
                return None
            approx = index.approximate
            if approx is None:
                return None
            due = sync.saved_name is None or approx.changes >= self.settings.save_after_changes
            return save_index(session, sync, self.saved) if due else None

    @property
    def settings(self) -> FaissSettings:
        return self.state.settings.faiss

    def wait_s(self) -> float:
        return self.settings.save_check_s
