"""Routes under /attendance. Thin: parse, call a service, answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response

from facerec.api.deps import (
    EventId,
    GroupId,
    IsoDay,
    Limit,
    Offset,
    PersonFilter,
    PersonId,
    ScheduleId,
    SessionDep,
    StateDep,
    UnknownFaceId,
)
from facerec.api.errors import ERROR_RESPONSES
from facerec.api.inputs import openapi_image_body, parse_images
from facerec.api.sessions import in_session
from facerec.attendance import events, export, reports, schedules, unknown
from facerec.attendance.audit import list_audit
from facerec.attendance.checkin import check_in
from facerec.attendance.filenames import attachment, report_filename
from facerec.attendance.models import (
    EARLIEST_DAY,
    LATEST_DAY,
    AssignUnknown,
    CheckInResult,
    EnrolUnknown,
    EventCreate,
    EventPage,
    EventPublic,
    HolidayIn,
    HolidayPublic,
    PersonScheduleIn,
    Report,
    ResolvedUnknown,
    ScheduleIn,
    SchedulePublic,
    TodaySummary,
    UnknownPage,
)
from facerec.attendance.rules import day_bounds
from facerec.audit.models import AuditPage
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.errors import ValidationFailed
from facerec.metrics.instruments import count_checkins
from facerec.state import AppState
from facerec.switch.serving import Serving, serve

router = APIRouter(prefix="/attendance", tags=["attendance"], responses=ERROR_RESPONSES)

FromDay = Annotated[
    date | None,
    IsoDay,
    Query(alias="from", ge=EARLIEST_DAY, le=LATEST_DAY, description="First local day (inclusive)"),
]
ToDay = Annotated[
    date | None,
    IsoDay,
    Query(alias="to", ge=EARLIEST_DAY, le=LATEST_DAY, description="Last local day (inclusive)"),
]
HolidayDay = Annotated[date, IsoDay, Path(description="The day, YYYY-MM-DD")]


def _zone(state: AppState) -> ZoneInfo:
    return ZoneInfo(state.settings.attendance.timezone)


@router.post(
    "/check-in",
    response_model=CheckInResult,
    openapi_extra=openapi_image_body(("file",), {"device": {"type": "string", "maxLength": 100}}),
    summary="Check in everyone recognised in a camera frame",
    dependencies=[require(Permission.CHECKIN)],
)
async def post_check_in(
    request: Request,
    state: StateDep,
    principal: CurrentPrincipal,
    device: Annotated[str | None, Query(max_length=100)] = None,
) -> CheckInResult:
    """Each recognised person gets an event (``checked_in``), unless they already have one
    within the dedupe window (``duplicate``, nothing recorded). Faces that match nobody
    go to the unknown-face review queue."""
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    image = body.one("file")
    if image is None:
        raise ValidationFailed("send the camera frame as 'file' or 'image_base64'", field="file")
    name = body.fields.get("device", device)
    if principal.kind == "device":  # a kiosk's events carry its own name, never the request's
        name = principal.name
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        raise ValidationFailed("device must be a string of at most 100 characters", field="device")

    # camera frames: no 2nd try; the pixels stay (within the pixel budget) for the crops,
    # and the session opens only now that the frame is analysed (api/sessions.py)
    async def attempt(serving: Serving) -> CheckInResult:
        async with serving.runtime.analysis(image.data, fallback=False) as analyzed:
            done: CheckInResult = await in_session(
                state,
                check_in,
                index=serving.index,
                crops=state.crops,
                analyzed=analyzed,
                device=name,
                now=state.clock(),
                settings=serving.settings,
            )
        return done

    result = await serve(state, attempt)  # one engine and index (switch/serving.py)
    count_checkins(name, (event.status for event in result.events), result.unknown_faces)
    zone = _zone(state)
    for event in result.events:
        event.time = event.time.astimezone(zone)
    return result


@router.get(
    "/today", response_model=TodaySummary, dependencies=[require(Permission.ATTENDANCE_READ)]
)
def get_today(session: SessionDep, state: StateDep) -> TodaySummary:
    return reports.today_summary(session=session, now=state.clock(), zone=_zone(state))


@router.get("/events", response_model=EventPage, dependencies=[require(Permission.ATTENDANCE_READ)])
def get_events(
    session: SessionDep,
    state: StateDep,
    start: FromDay = None,
    end: ToDay = None,
    person_id: PersonFilter = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> EventPage:
    zone = _zone(state)
    return events.list_events(
        session=session,
        start=day_bounds(start, zone)[0] if start else None,
        end=day_bounds(end, zone)[1] if end else None,
        person_id=person_id,
        offset=offset,
        limit=limit,
        zone=zone,
    )


@router.post(
    "/events",
    status_code=201,
    response_model=EventPublic,
    summary="Add an event (correction)",
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def post_event(
    session: SessionDep, state: StateDep, event_in: EventCreate, actor: CurrentPrincipal
) -> EventPublic:
    return events.add_event(session=session, event_in=event_in, actor=actor, zone=_zone(state))


@router.delete(
    "/events/{event_id}",
    status_code=204,
    summary="Delete an event (correction)",
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def delete_event(
    session: SessionDep,
    state: StateDep,
    event_id: EventId,
    reason: Annotated[str, Query(min_length=1, max_length=500)],
    actor: CurrentPrincipal,
) -> Response:
    crop = events.delete_event(session=session, event_id=event_id, reason=reason, actor=actor)
    if crop is not None:
        state.crops.delete(crop)
    return Response(status_code=204)


@router.get(
    "/events/{event_id}/crop",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_event_crop(session: SessionDep, state: StateDep, event_id: EventId) -> Response:
    event = events.get_event(session=session, event_id=event_id)
    if event.crop_path is None:
        raise ValidationFailed("this event has no face crop (added by hand)")
    return Response(state.crops.read(event.crop_path), media_type="image/jpeg")


@router.get(
    "/unknown",
    response_model=UnknownPage,
    summary="The unknown-face review queue",
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_unknown(
    session: SessionDep, state: StateDep, offset: Offset = 0, limit: Limit = 50
) -> UnknownPage:
    return unknown.list_groups(session=session, offset=offset, limit=limit, zone=_zone(state))


@router.get(
    "/unknown/faces/{face_id}/crop",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_unknown_crop(session: SessionDep, state: StateDep, face_id: UnknownFaceId) -> Response:
    row = unknown.get_unknown_face(session=session, face_id=face_id)
    return Response(state.crops.read(row.crop_path), media_type="image/jpeg")


@router.post(
    "/unknown/{group_id}/enrol",
    status_code=201,
    response_model=ResolvedUnknown,
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def enrol_unknown(
    session: SessionDep,
    state: StateDep,
    group_id: GroupId,
    person_in: EnrolUnknown,
    actor: CurrentPrincipal,
) -> ResolvedUnknown:
    return unknown.enrol_group(
        session=session,
        store=state.store,
        crops=state.crops,
        group_id=group_id,
        person_in=person_in,
        actor=actor,
        today=state.clock().astimezone(_zone(state)).date(),
    )


@router.post(
    "/unknown/{group_id}/assign",
    response_model=ResolvedUnknown,
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def assign_unknown(
    session: SessionDep,
    state: StateDep,
    group_id: GroupId,
    body: AssignUnknown,
    actor: CurrentPrincipal,
    force: Annotated[
        bool, Query(description="Assign even if the faces do not look like the person (audited)")
    ] = False,
) -> ResolvedUnknown:
    """Add the group's best faces to the person; ``face_mismatch`` (409) when they are
    clearly someone else, unless ``force``."""
    return unknown.assign_group(
        session=session,
        store=state.store,
        crops=state.crops,
        group_id=group_id,
        person_id=body.person_id,
        actor=actor,
        settings=state.settings,
        force=force,
    )


@router.post(
    "/unknown/{group_id}/dismiss",
    response_model=ResolvedUnknown,
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def dismiss_unknown(
    session: SessionDep, state: StateDep, group_id: GroupId, actor: CurrentPrincipal
) -> ResolvedUnknown:
    return unknown.dismiss_group(session=session, crops=state.crops, group_id=group_id, actor=actor)


@router.get(
    "/report",
    response_model=Report,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_report(
    session: SessionDep,
    state: StateDep,
    start: FromDay = None,
    end: ToDay = None,
    person_id: PersonFilter = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Response | Report:
    """Per person per day: first in, last out, status, minutes late/early; plus totals.
    Defaults to the current month up to today."""
    now = state.clock()
    zone = _zone(state)
    today = now.astimezone(zone).date()
    first = start or today.replace(day=1)
    last = end or today
    report = reports.build_report(
        session=session, start=first, end=last, person_id=person_id, now=now, zone=zone
    )
    if format == "json":
        return report
    who = report.totals[0].name if person_id is not None and report.totals else ""
    name, fallback = report_filename(first, last, format, person_id=person_id, name=who)
    disposition = {"Content-Disposition": attachment(name, fallback)}
    if format == "csv":
        return Response(
            export.to_csv(report), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return Response(
        export.to_xlsx(report),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )


@router.get(
    "/schedules",
    response_model=list[SchedulePublic],
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_schedules(session: SessionDep) -> list[SchedulePublic]:
    return schedules.list_schedules(session=session)


@router.post(
    "/schedules",
    status_code=201,
    response_model=SchedulePublic,
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def post_schedule(
    session: SessionDep, schedule_in: ScheduleIn, actor: CurrentPrincipal
) -> SchedulePublic:
    return schedules.save_schedule(
        session=session, schedule_in=schedule_in, schedule_id=None, actor=actor
    )


@router.put(
    "/schedules/{schedule_id}",
    response_model=SchedulePublic,
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def put_schedule(
    session: SessionDep, schedule_id: ScheduleId, schedule_in: ScheduleIn, actor: CurrentPrincipal
) -> SchedulePublic:
    return schedules.save_schedule(
        session=session, schedule_in=schedule_in, schedule_id=schedule_id, actor=actor
    )


@router.delete(
    "/schedules/{schedule_id}", status_code=204, dependencies=[require(Permission.ATTENDANCE_WRITE)]
)
def delete_schedule(
    session: SessionDep, schedule_id: ScheduleId, actor: CurrentPrincipal
) -> Response:
    schedules.delete_schedule(session=session, schedule_id=schedule_id, actor=actor)
    return Response(status_code=204)


@router.get(
    "/people/{person_id}/schedule",
    response_model=PersonScheduleIn,
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_person_schedule(session: SessionDep, person_id: PersonId) -> PersonScheduleIn:
    return schedules.person_schedule(session=session, person_id=person_id)


@router.put(
    "/people/{person_id}/schedule",
    status_code=204,
    summary="Set a person's own schedule",
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def put_person_schedule(
    session: SessionDep, person_id: PersonId, body: PersonScheduleIn, actor: CurrentPrincipal
) -> Response:
    schedules.set_person_schedule(
        session=session, person_id=person_id, schedule_id=body.schedule_id, actor=actor
    )
    return Response(status_code=204)


@router.get(
    "/holidays",
    response_model=list[HolidayPublic],
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_holidays(
    session: SessionDep, start: FromDay = None, end: ToDay = None
) -> list[HolidayPublic]:
    return schedules.list_holidays(session=session, start=start, end=end)


@router.put(
    "/holidays/{day}",
    response_model=HolidayPublic,
    summary="Mark a day off or a make-up workday",
    dependencies=[require(Permission.ATTENDANCE_WRITE)],
)
def put_holiday(
    session: SessionDep, day: HolidayDay, holiday_in: HolidayIn, actor: CurrentPrincipal
) -> HolidayPublic:
    return schedules.put_holiday(session=session, day=day, holiday_in=holiday_in, actor=actor)


@router.delete(
    "/holidays/{day}", status_code=204, dependencies=[require(Permission.ATTENDANCE_WRITE)]
)
def delete_holiday(session: SessionDep, day: HolidayDay, actor: CurrentPrincipal) -> Response:
    schedules.delete_holiday(session=session, day=day, actor=actor)
    return Response(status_code=204)


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Corrections and changes, newest first",
    dependencies=[require(Permission.ATTENDANCE_READ)],
)
def get_audit(session: SessionDep, offset: Offset = 0, limit: Limit = 50) -> AuditPage:
    return list_audit(session=session, offset=offset, limit=limit)
