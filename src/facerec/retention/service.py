"""Remove biometric data past its retention period. No HTTP here.

Each kind of data goes in bounded batches, one short write transaction each (under
``lock_for_write``); crop files go only after the rows that named them are committed,
and only when no other row still names them (crops are content-addressed, so an event
and an unknown face, or two events, can share one file). Running it again removes
nothing more: it is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from facerec.attendance.crops import remove_unreferenced_crops
from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.audit import record
from facerec.auth.principal import SYSTEM, Principal
from facerec.config import RetentionSettings
from facerec.db.engine import lock_for_write
from facerec.faces.storage import ImageStore
from facerec.webhooks.models import WebhookDelivery

RESOLVED = ("enrolled", "assigned", "dismissed")
FINISHED = ("sent", "failed")
"""Webhook deliveries that will not be attempted again (unless redelivered by hand)."""


@dataclass(slots=True)
class RetentionReport:
    """What one run removed (or, with ``dry_run``, would remove)."""

    checkin_crops: int = 0
    """Check-in events whose crop was removed (the events stay)."""
    unknown_faces: int = 0
    """Pending unknown faces removed."""
    resolved_unknown_faces: int = 0
    """Enrolled, assigned or dismissed unknown faces removed."""
    webhook_deliveries: int = 0
    """Finished (sent or failed) webhook deliveries removed from the delivery log."""
    files_removed: int = 0
    """Crop files deleted (a file shared by several rows counts once)."""
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return (
            self.checkin_crops
            + self.unknown_faces
            + self.resolved_unknown_faces
            + self.webhook_deliveries
        )


def cutoff(now: datetime, days: int) -> datetime | None:
    """Data older than this goes; None when ``days`` is 0 (kept forever)."""
    return now - timedelta(days=days) if days > 0 else None


def apply_retention(
    *,
    session: Session,
    crops: ImageStore,
    settings: RetentionSettings,
    now: datetime,
    dry_run: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    actor: Principal = SYSTEM,
) -> RetentionReport:
    """Remove what is past its period as of ``now``; the counts. ``actor``: who the
    audit entry names (the server's job: ``SYSTEM``; ``facerec retention run``: the CLI).

    ``should_stop`` is asked between batches (a server shutting down stops early; the
    next run finishes the work)."""
    if dry_run:
        return _count(session, settings, now)
    report = RetentionReport()
    limit = settings.batch_size
    crops_before = cutoff(now, settings.checkin_crops_days)
    pending_before = cutoff(now, settings.unknown_faces_days)
    resolved_before = cutoff(now, settings.resolved_days)
    while crops_before is not None and not should_stop():
        paths = _clear_event_crops(session, crops_before, limit)
        report.checkin_crops += len(paths)
        report.files_removed += remove_unreferenced_crops(session=session, crops=crops, paths=paths)
        if len(paths) < limit:
            break
    for before, statuses, field in (
        (pending_before, ("pending",), "unknown_faces"),
        (resolved_before, RESOLVED, "resolved_unknown_faces"),
    ):
        while before is not None and not should_stop():
            paths = _delete_unknown(session, before, statuses, limit)
            setattr(report, field, getattr(report, field) + len(paths))
            report.files_removed += remove_unreferenced_crops(
                session=session, crops=crops, paths=paths
            )
            if len(paths) < limit:
                break
    deliveries_before = cutoff(now, settings.webhook_deliveries_days)
    while deliveries_before is not None and not should_stop():
        removed = _delete_deliveries(session, deliveries_before, limit)
        report.webhook_deliveries += removed
        if removed < limit:
            break
    if report.rows:
        _audit(session, report, now, actor)
    return report


def _finished_deliveries(before: datetime) -> Any:
    return (
        select(WebhookDelivery.id)
        .where(col(WebhookDelivery.status).in_(FINISHED))
        .where(col(WebhookDelivery.created_at) < before)
    )


def _delete_deliveries(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` finished webhook deliveries of events before ``before``."""
    lock_for_write(session)
    ids = session.exec(
        _finished_deliveries(before).order_by(col(WebhookDelivery.id)).limit(limit)
    ).all()
    if ids:
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)))
    session.commit()
    return len(ids)


def _clear_event_crops(session: Session, before: datetime, limit: int) -> list[str]:
    """Forget the crops of up to ``limit`` events older than ``before``; their paths."""
    lock_for_write(session)
    rows = session.exec(
        select(AttendanceEvent.id, AttendanceEvent.crop_path)
        .where(col(AttendanceEvent.crop_path).is_not(None))
        .where(col(AttendanceEvent.time) < before)
        .order_by(col(AttendanceEvent.id))
        .limit(limit)
    ).all()
    if rows:
        session.execute(
            update(AttendanceEvent)
            .where(col(AttendanceEvent.id).in_([r[0] for r in rows]))
            .values(crop_path=None)
        )
    session.commit()
    return [str(r[1]) for r in rows]


def _delete_unknown(
    session: Session, before: datetime, statuses: Sequence[str], limit: int
) -> list[str]:
    """Delete up to ``limit`` unknown faces in ``statuses`` seen before ``before``."""
    lock_for_write(session)
    rows = session.exec(
        select(UnknownFace.id, UnknownFace.crop_path)
        .where(col(UnknownFace.status).in_(statuses))
        .where(col(UnknownFace.time) < before)
        .order_by(col(UnknownFace.id))
        .limit(limit)
    ).all()
    if rows:
        session.execute(delete(UnknownFace).where(col(UnknownFace.id).in_([r[0] for r in rows])))
    session.commit()
    return [r[1] for r in rows]


def _count(session: Session, settings: RetentionSettings, now: datetime) -> RetentionReport:
    report = RetentionReport(dry_run=True)
    before = cutoff(now, settings.checkin_crops_days)
    if before is not None:
        report.checkin_crops = _scalar(
            session,
            select(func.count())
            .select_from(AttendanceEvent)
            .where(col(AttendanceEvent.crop_path).is_not(None))
            .where(col(AttendanceEvent.time) < before),
        )
    for days, statuses, field in (
        (settings.unknown_faces_days, ("pending",), "unknown_faces"),
        (settings.resolved_days, RESOLVED, "resolved_unknown_faces"),
    ):
        before = cutoff(now, days)
        if before is not None:
            count = _scalar(
                session,
                select(func.count())
                .select_from(UnknownFace)
                .where(col(UnknownFace.status).in_(statuses))
                .where(col(UnknownFace.time) < before),
            )
            setattr(report, field, count)
    before = cutoff(now, settings.webhook_deliveries_days)
    if before is not None:
        report.webhook_deliveries = _scalar(
            session, select(func.count()).select_from(_finished_deliveries(before).subquery())
        )
    session.rollback()
    return report


def _scalar(session: Session, query: SelectOfScalar[int]) -> int:
    return int(session.exec(query).one())


def _audit(session: Session, report: RetentionReport, now: datetime, actor: Principal) -> None:
    """One audit entry per run that removed something (who: the retention job)."""
    lock_for_write(session)
    details = {k: v for k, v in asdict(report).items() if k != "dry_run"}
    record(session, actor=actor, action="retention", entity="retention", details=details, time=now)
    session.commit()
