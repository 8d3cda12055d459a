"""Routes for /people and a person's faces. Thin: parse, call a service, answer."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from facerec.api.deps import Offset, PersonId, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.api.inputs import openapi_image_body, parse_images
from facerec.api.sessions import in_session
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.auth.principal import Principal
from facerec.errors import FaceRecError, ValidationFailed
from facerec.faces import service as faces
from facerec.faces.identity import IdentityCheck
from facerec.faces.models import (
    EnrolResult,
    EnrolWarning,
    FaceList,
    FacePublic,
    FaceRejection,
)
from facerec.people import removal, service
from facerec.people.models import PeoplePage, PersonCreate, PersonPublic, PersonUpdate
from facerec.state import AppState
from facerec.switch.serving import Serving, serve

router = APIRouter(prefix="/people", tags=["people"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=201,
    response_model=PersonPublic,
    dependencies=[require(Permission.PEOPLE_WRITE)],
)
def create_person(
    session: SessionDep, state: StateDep, person_in: PersonCreate, actor: CurrentPrincipal
) -> PersonPublic:
    """Without ``start_date``, the person starts today (in the attendance time zone)."""
    today = state.clock().astimezone(ZoneInfo(state.settings.attendance.timezone)).date()
    return service.create_person(session=session, person_in=person_in, today=today, actor=actor)


@router.get("", response_model=PeoplePage, dependencies=[require(Permission.PEOPLE_READ)])
def list_people(
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of a name or external id")
    ] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PeoplePage:
    return service.list_people(session=session, q=q, offset=offset, limit=limit)


@router.get(
    "/{person_id}", response_model=PersonPublic, dependencies=[require(Permission.PEOPLE_READ)]
)
def read_person(session: SessionDep, person_id: PersonId) -> PersonPublic:
    return service.read_person(session=session, person_id=person_id)


@router.patch(
    "/{person_id}", response_model=PersonPublic, dependencies=[require(Permission.PEOPLE_WRITE)]
)
def update_person(
    session: SessionDep, person_id: PersonId, person_in: PersonUpdate, actor: CurrentPrincipal
) -> PersonPublic:
    return service.update_person(
        session=session, person_id=person_id, person_in=person_in, actor=actor
    )


@router.delete("/{person_id}", status_code=204, dependencies=[require(Permission.PEOPLE_WRITE)])
def delete_person(
    session: SessionDep, state: StateDep, person_id: PersonId, actor: CurrentPrincipal
) -> Response:
    """Remove the person: their faces, photos and crops are erased (and leave the index);
    their attendance events stay in reports as a removed person, under their name or
    ``Removed person #<id>`` (setting ``privacy.removed_person_name``). Audited."""
    now = state.clock()
    removal.remove_person(
        session=session,
        store=state.store,
        crops=state.crops,
        person_id=person_id,
        now=now,
        today=now.astimezone(ZoneInfo(state.settings.attendance.timezone)).date(),
        names=state.settings.privacy.removed_person_name,
        actor=actor,
    )
    return Response(status_code=204)


@router.get(
    "/{person_id}/faces", response_model=FaceList, dependencies=[require(Permission.PEOPLE_READ)]
)
def list_faces(session: SessionDep, person_id: PersonId) -> FaceList:
    items = [FacePublic.of(f) for f in faces.list_faces(session=session, person_id=person_id)]
    return FaceList(items=items, total=len(items))


async def _enrol_with(
    serving: Serving,
    *,
    state: AppState,
    data: bytes,
    person_id: int,
    force: bool,
    actor: Principal,
    checks: list[IdentityCheck],
) -> FacePublic:
    """One photo's enrolment with one engine and index (``switch/serving.py``);
    ``checks`` gets the identity check that ran, for its warnings."""
    check = IdentityCheck(settings=serving.settings, index=serving.index, force=force)
    checks[:] = [check]
    analyzed = await serving.runtime.run(data)
    public: FacePublic = await in_session(
        state,
        _enrol_public,
        store=state.store,
        person_id=person_id,
        data=data,
        analyzed=analyzed,
        gates=serving.settings.enrol,
        force=force,
        check=check,
        actor=actor,
    )
    return public


def _enrol_public(*, session: Session, **kwargs: Any) -> FacePublic:
    """``enrol_face``, answered while its session is open (a duplicate's row was rolled
    back, so it is read again)."""
    face, duplicate = faces.enrol_face(session=session, **kwargs)
    return FacePublic.of(face, duplicate=duplicate)


@router.post(
    "/{person_id}/faces",
    status_code=201,
    response_model=EnrolResult,
    openapi_extra=openapi_image_body(("file",)),
    summary="Enrol face photos of a person",
    dependencies=[require(Permission.PEOPLE_WRITE)],
)
async def add_faces(
    request: Request,
    state: StateDep,
    person_id: PersonId,
    actor: CurrentPrincipal,
    force: Annotated[
        bool,
        Query(
            description="Enrol even if the face fails the quality gates or does not look "
            "like the person's other faces (admins; the second is audited)"
        ),
    ] = False,
) -> JSONResponse:
    """Enrol the dominant face of each photo (one or several ``file`` parts, or JSON
    ``image_base64``). With several photos, the ones that fail are listed in ``rejected``
    and the rest are enrolled; with one photo, a failure is the response's error.
    Sending a photo already enrolled for this person returns its face with
    ``duplicate: true`` and stores nothing (still 201, as the contract says).
    A photo clearly of someone else than a person who has faces fails with
    ``face_mismatch`` (409); one that looks more like another person, or whose file is
    enrolled under another person, is enrolled with a ``looks_like`` entry in
    ``warnings``."""
    # short sessions, none held while a photo waits for inference (api/sessions.py)
    await in_session(state, service.get_person, person_id=person_id)
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    uploads = body.images.get("file", [])
    if not uploads:
        raise ValidationFailed("send at least one photo as 'file' or 'image_base64'")
    result = EnrolResult(faces=[])
    failures: list[FaceRecError] = []
    for number, upload in enumerate(uploads):
        checks: list[IdentityCheck] = []
        attempt = partial(
            _enrol_with,
            state=state,
            data=upload.data,
            person_id=person_id,
            force=force,
            actor=actor,
            checks=checks,
        )
        try:
            public = await serve(state, attempt)  # one engine and index (switch/serving.py)
        except FaceRecError as exc:
            if len(uploads) == 1:
                raise
            failures.append(exc)
            result.rejected.append(
                FaceRejection(
                    index=number, filename=upload.filename, code=exc.code, message=exc.message
                )
            )
            continue
        result.faces.append(public)
        result.warnings.extend(
            EnrolWarning(index=number, filename=upload.filename, **w.model_dump())
            for w in checks[0].warnings
        )
    if not result.faces:  # every photo failed: answer with the first failure
        failures[0].details["rejected"] = [r.model_dump() for r in result.rejected]
        raise failures[0]
    return JSONResponse(result.model_dump(mode="json"), status_code=201)
