"""The change log that lets every worker's index follow the database."""

from __future__ import annotations

from sqlmodel import Field, SQLModel, col, delete, func, select, text
from sqlmodel import Session as _Session


class IndexState(SQLModel, table=True):
    """One row: the generation of the newest committed face change."""

    __tablename__ = "index_state"

    id: int = Field(default=1, primary_key=True)
    generation: int = 0
    recogniser: str | None = Field(default=None, max_length=64)
    """The active recogniser and detector (``facerec models use``); None: the settings'."""
    detector: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    """The active recogniser's model id, the one new faces must carry (None: any)."""
    switches: int = 0
    """Counts switches: a worker whose engine was built at another count builds anew."""


class FaceChange(SQLModel, table=True):
    """A face added to or deleted from the gallery, at a generation."""

    __tablename__ = "face_changes"

    id: int | None = Field(default=None, primary_key=True)
    generation: int = Field(index=True)
    op: str = Field(max_length=8)
    """``add``, ``delete``, or ``rebuild`` (every worker reloads its whole index)."""
    face_id: int
    person_id: int


def record_changes(session: _Session, changes: list[tuple[str, int, int]]) -> int:
    """Append ``(op, face_id, person_id)`` rows under a new generation (same transaction)."""
    session.execute(text("UPDATE index_state SET generation = generation + 1 WHERE id = 1"))
    generation = current_generation(session)
    for op, face_id, person_id in changes:
        session.add(FaceChange(generation=generation, op=op, face_id=face_id, person_id=person_id))
    return generation


def current_generation(session: _Session) -> int:
    return int(session.exec(select(IndexState.generation).where(IndexState.id == 1)).one())


def active_model(session: _Session) -> str | None:
    """The model id new faces must carry (``facerec models use``); None: any."""
    return session.exec(select(IndexState.model).where(IndexState.id == 1)).one()


def current_position(session: _Session) -> tuple[int, int]:
    """The generation and the switch count, in the one read each search makes."""
    row = session.exec(
        select(IndexState.generation, IndexState.switches).where(IndexState.id == 1)
    ).one()
    return int(row[0]), int(row[1])


def request_rebuild(session: _Session) -> tuple[int, int]:
    """Ask every worker to reload its whole index, and drop the log that came before:
    a worker behind the new generation finds the ``rebuild`` row in what it replays, so
    older rows are never needed again. Returns (generation, rows dropped). The caller
    holds the write lock and commits."""
    generation = record_changes(session, [("rebuild", 0, 0)])
    dropped = session.exec(delete(FaceChange).where(col(FaceChange.generation) < generation))
    return generation, int(dropped.rowcount)


def replayable(session: _Session, *, since: int, until: int) -> bool:
    """Whether the log still holds every change after ``since`` up to ``until`` and none
    of them is a ``rebuild``: then an index at ``since`` replays to ``until``."""
    if since > until:
        return False  # an index from another database, or from before a restore
    window = (col(FaceChange.generation) > since, col(FaceChange.generation) <= until)
    rebuilds = session.exec(
        select(func.count()).select_from(FaceChange).where(*window, FaceChange.op == "rebuild")
    ).one()
    generations = session.exec(
        select(func.count(func.distinct(FaceChange.generation))).where(*window)
    ).one()
    return int(rebuilds) == 0 and int(generations) == until - since
