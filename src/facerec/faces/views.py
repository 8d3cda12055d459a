"""Routes for single faces."""

from __future__ import annotations

from fastapi import APIRouter, Response

from facerec.api.deps import FaceId, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.faces import service

router = APIRouter(prefix="/faces", tags=["faces"], responses=ERROR_RESPONSES)


@router.delete("/{face_id}", status_code=204, dependencies=[require(Permission.PEOPLE_WRITE)])
def delete_face(
    session: SessionDep, state: StateDep, face_id: FaceId, actor: CurrentPrincipal
) -> Response:
    service.delete_face(session=session, store=state.store, face_id=face_id, actor=actor)
    return Response(status_code=204)


@router.get(
    "/{face_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG crop of the face"}},
    dependencies=[require(Permission.PEOPLE_READ)],
)
def face_thumbnail(session: SessionDep, state: StateDep, face_id: FaceId) -> Response:
    data = service.thumbnail(session=session, store=state.store, face_id=face_id)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
