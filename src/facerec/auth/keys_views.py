"""Routes under /keys (admins): create, list, revoke API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from facerec.api.deps import Limit, Offset, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth import keys
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.db.models import MAX_ID

router = APIRouter(prefix="/keys", tags=["access"], responses=ERROR_RESPONSES)
KeyId = Annotated[int, Path(gt=0, le=MAX_ID, description="An API key's id")]


@router.get("", response_model=keys.KeyPage, dependencies=[require(Permission.ADMIN)])
def get_keys(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> keys.KeyPage:
    return keys.list_keys(session=session, offset=offset, limit=limit)


@router.post(
    "",
    status_code=201,
    response_model=keys.KeyCreated,
    summary="Create an API key (its secret is shown only in this answer)",
    dependencies=[require(Permission.ADMIN)],
)
def post_key(
    session: SessionDep, state: StateDep, key_in: keys.KeyCreate, principal: CurrentPrincipal
) -> keys.KeyCreated:
    return keys.create_key(session=session, key_in=key_in, actor=principal, now=state.clock())


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key (every worker refuses it from the next request)",
    dependencies=[require(Permission.ADMIN)],
)
def delete_key(
    session: SessionDep, state: StateDep, key_id: KeyId, principal: CurrentPrincipal
) -> Response:
    keys.revoke_key(session=session, key_id=key_id, actor=principal, now=state.clock())
    return Response(status_code=204)
