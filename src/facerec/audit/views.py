"""GET /audit: the whole audit log (admins), filtered and paged, or as CSV. Thin."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response

from facerec.api.deps import Offset, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.attendance.models import EARLIEST_DAY, LATEST_DAY
from facerec.audit.models import AuditPage
from facerec.audit.service import AuditQuery, iter_audit, list_audit, to_csv
from facerec.auth.deps import require
from facerec.auth.permissions import Permission
from facerec.db.models import MAX_ID
from facerec.errors import ValidationFailed

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)

Moment = Annotated[
    str | None,
    Query(
        max_length=40,
        description="A day (YYYY-MM-DD, in the attendance time zone) or a date-time "
        "(ISO 8601; without an offset, in the attendance time zone)",
    ),
]
Text = Annotated[str | None, Query(min_length=1, max_length=100)]


@router.get(
    "",
    response_model=AuditPage,
    responses={200: {"content": {"text/csv": {}}}},
    summary="Every change: who, when, from where, what (newest first)",
    dependencies=[require(Permission.ADMIN)],
)
def get_audit(
    session: SessionDep,
    state: StateDep,
    actor: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Part of the actor, e.g. user:alice"),
    ] = None,
    action: Text = None,
    entity: Text = None,
    entity_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    start: Annotated[Moment, Query(alias="from")] = None,
    end: Annotated[Moment, Query(alias="to")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    output: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="csv: every matching entry, no paging"),
    ] = "json",
) -> AuditPage | Response:
    """``from`` is inclusive; ``to`` is inclusive for a day (the whole day) and exclusive
    for a date-time. ``actor`` matches part of the label, case-insensitively."""
    zone = ZoneInfo(state.settings.attendance.timezone)
    query = AuditQuery(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        start=_moment(start, zone, "from", end_of_day=False),
        end=_moment(end, zone, "to", end_of_day=True),
    )
    if output == "csv":
        body = to_csv(iter_audit(session=session, query=query))
        headers = {
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        }
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    return list_audit(session=session, query=query, offset=offset, limit=limit)


def _moment(text: str | None, zone: ZoneInfo, name: str, *, end_of_day: bool) -> datetime | None:
    """A query bound as an aware datetime; a day is its local midnight (the next day's
    for an inclusive end)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise ValueError
            day += timedelta(days=1) if end_of_day else timedelta()
            return datetime.combine(day, time(), zone)
        moment = datetime.fromisoformat(text)
        if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
            raise ValueError
    except ValueError:
        raise ValidationFailed(
            f"{name!r} must be a day (YYYY-MM-DD) or an ISO 8601 date-time between "
            f"{EARLIEST_DAY} and {LATEST_DAY}",
            field=name,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
