"""GET /people/{id}/export: everything stored about a person as a ZIP. Thin."""

from __future__ import annotations

from typing import IO
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from facerec.api.deps import PersonId, SessionDep, StateDep
from facerec.api.downloads import zip_download
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.people.export import export_person

router = APIRouter(prefix="/people", tags=["people"], responses=ERROR_RESPONSES)


@router.get(
    "/{person_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
    summary="Everything stored about a person (ZIP)",
    dependencies=[require(Permission.PEOPLE_WRITE)],
)
def get_export(
    session: SessionDep, state: StateDep, person_id: PersonId, actor: CurrentPrincipal
) -> StreamingResponse:
    """``person.json`` (record, faces with descriptors, unknown-face sightings, audit
    entries), ``photos/``, ``events.csv``, check-in ``crops/`` and ``unknown/`` crops.
    The export is audited (action ``export``): it discloses biometric data."""

    def write(out: IO[bytes]) -> str:
        return export_person(
            session=session,
            store=state.store,
            crops=state.crops,
            person_id=person_id,
            out=out,
            now=state.clock(),
            zone=ZoneInfo(state.settings.attendance.timezone),
            actor=actor,
        )

    return zip_download(write, directory=state.settings.data_dir)
