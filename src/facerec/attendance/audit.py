"""The attendance page's view of the audit log (``GET /attendance/audit``): the entries
about attendance only (events, unknown-face review, schedules, a person's schedule,
holidays, retention runs). The whole log, with users, keys, devices, people and
settings, is ``GET /audit`` (admins; ``facerec.audit``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col

from facerec.audit.models import AuditEntry, AuditPage
from facerec.audit.service import AuditQuery
from facerec.audit.service import list_audit as list_all

ATTENDANCE_ENTITIES = ("event", "unknown_group", "schedule", "holiday", "retention")
ATTENDANCE_ACTIONS = ("set_person_schedule",)
"""Attendance changes recorded on another entity (a person's own schedule)."""


def attendance_only() -> ColumnElement[bool]:
    return or_(
        col(AuditEntry.entity).in_(ATTENDANCE_ENTITIES),
        col(AuditEntry.action).in_(ATTENDANCE_ACTIONS),
    )


def list_audit(*, session: Session, offset: int, limit: int) -> AuditPage:
    """Attendance entries, newest first."""
    query = AuditQuery(where=attendance_only())
    return list_all(session=session, query=query, offset=offset, limit=limit)
