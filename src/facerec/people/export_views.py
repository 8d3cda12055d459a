"""GET /people/{id}/export: everything stored about a person as a ZIP. Thin."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from facerec.api.deps import PersonId, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.people.export import export_person

router = APIRouter(prefix="/people", tags=["people"], responses=ERROR_RESPONSES)
CHUNK = 1 << 16


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
    # Closed by _chunks once sent (or below on failure): it outlives this function.
    handle = tempfile.TemporaryFile(dir=state.settings.data_dir)  # noqa: SIM115
    try:
        name = export_person(
            session=session,
            store=state.store,
            crops=state.crops,
            person_id=person_id,
            out=handle,
            now=state.clock(),
            zone=ZoneInfo(state.settings.attendance.timezone),
            actor=actor,
        )
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size),
        "Cache-Control": "no-store",
    }
    return StreamingResponse(_chunks(handle), media_type="application/zip", headers=headers)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The file a chunk at a time; closing it (an unnamed temporary file) frees its space."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()
