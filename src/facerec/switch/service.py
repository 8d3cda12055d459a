"""Start, run and finish a switch of the face models. No HTTP here.

1. ``begin``: under the write lock, record the target (``model_switches``: running,
   with a heartbeat) and audit it. A pass of another target still beating refuses.
2. ``run``: fill the target's vectors (``reembed.fill_vectors``), a batch at a time,
   outside the lock; the old models serve meanwhile and nothing else changes. An error
   marks the switch failed and leaves the old models serving; running it again resumes
   (the vectors written stay).
3. ``finish``: one transaction under the write lock: embed the few faces still lacking
   a vector (enrolled during the pass), swap each face's vector and model with the
   target's (the old vector stays as the old model's row), store the choice in
   ``index_state`` with a new switch count, ask every worker to rebuild its index,
   commit. Each worker sees the new count at its next search and swaps its engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, col, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.errors import Conflict, NotFound
from facerec.faces.models import Face, Image
from facerec.faces.reembed import embed_rows
from facerec.faces.storage import ImageStore
from facerec.index.models import IndexState, request_rebuild
from facerec.inference.parts import DLIB_DETECTORS, DLIB_RECOGNISER
from facerec.inference.runtime import FaceRuntime
from facerec.registry.store import ModelStore
from facerec.switch.choice import Choice, read_choice
from facerec.switch.models import ModelSwitch
from facerec.switch.reembed import count_lacking, fill_vectors, lacking, write_vectors

STALE_AFTER = timedelta(seconds=30)
"""A running pass beats at each batch; one silent this long was interrupted."""


def target_of(settings: Settings, choice: Choice, name: str) -> tuple[str, str]:
    """(recogniser, detector) once ``name`` is in use: it replaces the one of its kind."""
    if name in DLIB_DETECTORS:
        return choice.recogniser, name
    if name == DLIB_RECOGNISER:
        return name, choice.detector
    manifest = ModelStore(settings.models_dir).find(name)
    if manifest is None:
        raise NotFound(
            f"no model {name!r}: {DLIB_RECOGNISER}, {' | '.join(DLIB_DETECTORS)} or an "
            "installed one (facerec models list)",
            resource="model",
        )
    if manifest.kind == "detector":
        return choice.recogniser, name
    return name, choice.detector


def is_running(row: ModelSwitch | None, now: datetime) -> bool:
    return row is not None and row.status == "running" and now - row.updated_at < STALE_AFTER


def begin(
    *,
    session: Session,
    recogniser: str,
    detector: str,
    model: str,
    actor: Principal,
    now: datetime,
) -> ModelSwitch:
    """Record a switch to these models (``model``: the recogniser's model id) as running."""
    lock_for_write(session)
    row = session.get(ModelSwitch, 1)
    if is_running(row, now):
        assert row is not None
        raise Conflict(
            f"a switch to {row.recogniser} + {row.detector} is running "
            f"({row.done}/{row.total} faces): wait for it (facerec models status)"
        )
    target = (recogniser, detector, model)
    resumed = row is not None and row.status != "done"
    resumed = resumed and row is not None and (row.recogniser, row.detector, row.model) == target
    row = row or ModelSwitch(
        recogniser=recogniser,
        detector=detector,
        model=model,
        status="",
        started_at=now,
        updated_at=now,
    )
    lacking_now = count_lacking(session, model)
    if not resumed:
        row.started_at, row.failed = now, 0
    row.recogniser, row.detector, row.model = recogniser, detector, model
    row.status, row.error, row.actor, row.updated_at = "running", "", actor.label, now
    row.total = lacking_now + (row.done if resumed else 0)
    row.done = row.done if resumed else 0
    session.add(row)
    record(
        session,
        actor=actor,
        action="switch",
        entity="model",
        details={
            "recogniser": recogniser,
            "detector": detector,
            "model": model,
            "faces": lacking_now,
            "resumed": resumed,
        },
        time=now,
    )
    session.commit()
    return row


def run(
    *,
    session: Session,
    store: ImageStore,
    runtime: FaceRuntime,
    actor: Principal,
    clock: Callable[[], datetime],
    batch: int = 32,
    progress: Callable[[ModelSwitch], None] = lambda row: None,
) -> ModelSwitch:
    """Fill the target's vectors, then finish; a failure is recorded and raised again
    (nothing switched). ``runtime``: the target models, loaded. ``progress`` sees the
    row after each batch."""

    beats: list[ModelSwitch] = []

    def beat(locked: Session, written: int, failed: dict[int, str]) -> None:
        row = _row(locked)
        row.done, row.failed, row.updated_at = row.done + written, len(failed), clock()
        locked.add(row)
        beats[:] = [row]

    try:
        failed = fill_vectors(
            session=session,
            store=store,
            runtime=runtime,
            batch=batch,
            on_batch=beat,
            committed=lambda: progress(beats[0]),
        )
        return finish(
            session=session,
            store=store,
            runtime=runtime,
            actor=actor,
            now=clock(),
            failed=set(failed),
        )
    except BaseException as exc:
        session.rollback()
        mark_failed(session, f"{type(exc).__name__}: {exc}", clock())
        raise


def mark_failed(session: Session, error: str, now: datetime) -> None:
    lock_for_write(session)
    row = session.get(ModelSwitch, 1)
    if row is not None and row.status == "running":
        row.status, row.error, row.updated_at = "failed", error[:1000], now
        session.add(row)
    session.commit()


def finish(
    *,
    session: Session,
    store: ImageStore,
    runtime: FaceRuntime,
    actor: Principal,
    now: datetime,
    failed: set[int] | None = None,
) -> ModelSwitch:
    """The switch itself, in one transaction under the write lock (see the module).
    ``failed``: the faces the pass could not embed (they are tried once more here, and
    counted once)."""
    model = runtime.model
    lock_for_write(session)
    row = _row(session)
    late = session.exec(
        select(Face, Image)
        .join(Image, col(Image.id) == col(Face.image_id))
        .where(lacking(model))
        .order_by(col(Face.id))
    ).all()
    vectors, bad = embed_rows(list(late), runtime=runtime, store=store)
    written = write_vectors(session, vectors, model)
    swapped = _swap(session, model)
    state = session.get(IndexState, 1)
    assert state is not None
    old_model = state.model
    state.recogniser, state.detector, state.model = row.recogniser, row.detector, model
    state.switches += 1
    session.add(state)
    if swapped or old_model not in (None, model):
        request_rebuild(session)
    row.status, row.updated_at = "done", now
    row.done, row.failed = row.done + written, len((failed or set()) | set(bad))
    session.add(row)
    record(
        session,
        actor=actor,
        action="use",
        entity="model",
        details={
            "recogniser": row.recogniser,
            "detector": row.detector,
            "model": model,
            "swapped": swapped,
            "failed": row.failed,
        },
        time=now,
    )
    session.commit()
    return row


SWAP = (
    # The kept vectors of faces whose current vector is about to be kept instead.
    "DELETE FROM face_vectors WHERE model <> :m AND EXISTS (SELECT 1 FROM faces f "
    "WHERE f.id = face_vectors.face_id AND f.model = face_vectors.model)",
    # Keep each swapped face's current vector (and its points) as its model's row.
    "INSERT INTO face_vectors (face_id, model, embedding, landmarks) "
    "SELECT f.id, f.model, f.embedding, f.landmarks "
    "FROM faces f WHERE f.model <> :m AND EXISTS (SELECT 1 FROM face_vectors v "
    "WHERE v.face_id = f.id AND v.model = :m)",
    # The target's vector and points into the face row.
    "UPDATE faces SET embedding = (SELECT v.embedding FROM face_vectors v "
    "WHERE v.face_id = faces.id AND v.model = :m), landmarks = (SELECT v.landmarks "
    "FROM face_vectors v WHERE v.face_id = faces.id AND v.model = :m), model = :m "
    "WHERE model <> :m AND EXISTS "
    "(SELECT 1 FROM face_vectors v WHERE v.face_id = faces.id AND v.model = :m)",
)


def _swap(session: Session, model: str) -> int:
    """Swap every face that has a ``model`` vector; returns how many (the UPDATE's rows)."""
    for statement in SWAP:
        result = session.execute(text(statement), {"m": model})
    swapped = int(getattr(result, "rowcount", 0))
    session.execute(text("DELETE FROM face_vectors WHERE model = :m"), {"m": model})
    return swapped


def _row(session: Session) -> ModelSwitch:
    row = session.get(ModelSwitch, 1, populate_existing=True)
    if row is None or row.status != "running":
        raise Conflict("no switch is running (it failed or another finished it)")
    return row


def progress(session: Session, settings: Settings) -> tuple[Choice, ModelSwitch | None]:
    """The active choice and the newest switch (pending, failed or done)."""
    return read_choice(session, settings), session.get(ModelSwitch, 1)
