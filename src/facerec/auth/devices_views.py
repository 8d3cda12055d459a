"""Routes under /devices: kiosk devices (admins) and the public pairing exchange."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from facerec.api.deps import Limit, Offset, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth import devices
from facerec.auth.deps import CurrentPrincipal, public, require
from facerec.auth.permissions import Permission
from facerec.db.models import MAX_ID
from facerec.state import AppState

router = APIRouter(prefix="/devices", tags=["access"], responses=ERROR_RESPONSES)
DeviceId = Annotated[int, Path(gt=0, le=MAX_ID, description="A device's id")]


def _base_url(state: AppState, request: Request) -> str:
    """Where browsers reach us: ``auth.public_url``, else the request's own base URL."""
    return state.settings.auth.public_url or str(request.base_url)


@router.get("", response_model=devices.DevicePage, dependencies=[require(Permission.ADMIN)])
def get_devices(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> devices.DevicePage:
    return devices.list_devices(session=session, offset=offset, limit=limit)


@router.post(
    "",
    status_code=201,
    response_model=devices.Pairing,
    summary="Register a kiosk device; its one-time pairing link and QR code",
    dependencies=[require(Permission.ADMIN)],
)
def post_device(
    request: Request,
    session: SessionDep,
    state: StateDep,
    device_in: devices.DeviceCreate,
    principal: CurrentPrincipal,
) -> devices.Pairing:
    return devices.create_device(
        session=session,
        device_in=device_in,
        actor=principal,
        now=state.clock(),
        base_url=_base_url(state, request),
    )


@router.post(
    "/pair",
    response_model=devices.Paired,
    summary="Exchange a pairing code (once) for the device token",
    dependencies=[public()],
)
def post_pair(session: SessionDep, state: StateDep, pair_in: devices.PairRequest) -> devices.Paired:
    return devices.pair_device(session=session, code=pair_in.code, now=state.clock())


@router.post(
    "/{device_id}/pairing",
    response_model=devices.Pairing,
    summary="A new pairing link; the old link and the device's token stop working",
    dependencies=[require(Permission.ADMIN)],
)
def post_pairing(
    request: Request,
    session: SessionDep,
    state: StateDep,
    device_id: DeviceId,
    principal: CurrentPrincipal,
) -> devices.Pairing:
    return devices.repair_device(
        session=session,
        device_id=device_id,
        actor=principal,
        now=state.clock(),
        base_url=_base_url(state, request),
    )


@router.delete(
    "/{device_id}",
    status_code=204,
    summary="Revoke a device: its next request is refused (device_revoked)",
    dependencies=[require(Permission.ADMIN)],
)
def delete_device(
    session: SessionDep, state: StateDep, device_id: DeviceId, principal: CurrentPrincipal
) -> Response:
    devices.revoke_device(session=session, device_id=device_id, actor=principal, now=state.clock())
    return Response(status_code=204)
