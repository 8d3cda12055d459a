"""``facerec doctor``: do database rows, files and the vector index agree?

The checks, in order:

1. the schema is at the newest migration (otherwise nothing else is read);
2. SQLite's ``integrity_check`` and ``foreign_key_check``;
3. under the database write lock, so that no write is between its file and its row:
   every referenced image and crop file exists, no file lies there unreferenced
   (``--repair`` removes those, as the start-up sweep does), every face has its image
   row, every stored embedding is valid, and the vector index, as a worker builds it and
   as a running worker follows the change log, holds exactly the faces table;
4. without the lock (stored files are never rewritten): every file's content hashes to
   what its row or name says.

Rows whose file is missing or damaged are reported, never deleted: only the operator
knows whether a backup holds the file.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from facerec.config import Settings
from facerec.db.engine import lock_for_write, make_engine
from facerec.db.models import utcnow
from facerec.doctor import files, index
from facerec.doctor.database import schema_findings, sqlite_findings
from facerec.doctor.report import DoctorReport
from facerec.doctor.vectors import bad_embeddings
from facerec.faces.storage import ImageStore
from facerec.index.factory import index_sync
from facerec.index.faiss_index import FaissIndex
from facerec.index.models import current_generation
from facerec.index.sync import IndexSync
from facerec.inference.engines import build_engine
from facerec.switch.choice import settings_for
from facerec.switch.service import progress as switch_progress
from facerec.switch.shapes import progress_of


def run_doctor(
    *,
    session: Session,
    images: ImageStore,
    crops: ImageStore,
    model: str,
    dim: int,
    repair: bool = False,
    sync: IndexSync | None = None,
) -> DoctorReport:
    """Check (and with ``repair`` fix what is safe to fix); ``model`` and ``dim`` are the
    running embedder's. ``sync`` is the index workers search (a shared backend, caught
    up); by default one is built as a worker builds it at start."""
    report = DoctorReport(repair=repair)
    report.findings += schema_findings(session)
    session.rollback()
    if report.findings:
        return report
    report.findings += sqlite_findings(session)
    session.rollback()
    lock_for_write(session)
    try:
        stored = _locked_checks(report, session, images, crops, model=model, dim=dim, sync=sync)
        if repair:
            session.commit()
    finally:
        session.rollback()  # releases the lock when nothing was written
    report.findings += files.checksum_mismatches(stored)
    return report


def _locked_checks(
    report: DoctorReport,
    session: Session,
    images: ImageStore,
    crops: ImageStore,
    *,
    model: str,
    dim: int,
    sync: IndexSync | None,
) -> list[files.StoredFile]:
    repair = report.repair
    stored = files.referenced(session, images=images, crops=crops)
    report.findings += files.missing_files(stored)
    report.findings += files.orphans(session, images=images, crops=crops, repair=repair)
    report.findings += files.faces_without_image(session)
    report.findings += bad_embeddings(session, model=model, dim=dim)
    faces = index.stored_faces(session, model)
    report.checked.update(
        files=len(stored), faces=len(faces), generation=current_generation(session)
    )
    if any(f.vector.shape != (dim,) for f in faces.values()):
        return stored  # a worker could not build its index either: bad_embedding says why
    if sync is None:
        sync = IndexSync(FaissIndex(dim), model)
        sync.rebuild(session)
    report.findings += index.snapshot(session, sync, faces, repair=repair)
    report.findings += index.follower(session, faces, model=model, dim=dim, repair=repair)
    report.checked["index_entries"] = sync.index.count()
    return stored


def doctor_for(settings: Settings, *, repair: bool = False) -> DoctorReport:
    """Run the doctor on the data folder of ``settings`` (what ``facerec doctor`` does).
    It migrates nothing and loads no model: the embedder only names its model and size.
    The models are the database's choice (``facerec models use``), else the settings'."""
    models = models_in_use(settings)
    settings = settings_for(settings, recogniser=models["recogniser"], detector=models["detector"])
    engine = build_engine(settings)
    model, dim = engine.embedder.model_id, engine.embedder.dim
    closer = getattr(engine, "close", None)
    if callable(closer):
        closer()
    db = make_engine(settings.db_url)
    shared = index_sync(settings, dim=dim, model=model) if settings.index != "faiss" else None
    try:
        with Session(db, expire_on_commit=False) as session:
            if shared is not None:  # the one every worker searches, brought up to date
                shared.catch_up(session)
                session.rollback()
            report = run_doctor(
                session=session,
                images=ImageStore(settings.images_dir),
                crops=ImageStore(settings.crops_dir),
                model=model,
                dim=dim,
                repair=repair,
                sync=shared,
            )
            report.models = {**models, "model": model}
            return report
    finally:
        db.dispose()
        closer = getattr(shared.index if shared else None, "close", None)
        if callable(closer):
            closer()


def models_in_use(settings: Settings) -> dict[str, str]:
    """The active recogniser and detector, and the newest switch's state and progress."""
    db = make_engine(settings.db_url)
    try:
        with Session(db) as session:
            choice, row = switch_progress(session, settings)
    except SQLAlchemyError:  # no database yet, or one before the switch's migration
        return {"recogniser": settings.recogniser.model, "detector": settings.detector.model}
    finally:
        db.dispose()
    models = {"recogniser": choice.recogniser, "detector": choice.detector}
    shown = progress_of(row, utcnow())
    if shown is not None and shown.status != "done":
        models["switch"] = (
            f"to {shown.recogniser} + {shown.detector}: {shown.status}, "
            f"{shown.done}/{shown.total} faces" + (f" ({shown.error})" if shown.error else "")
        )
    return models
