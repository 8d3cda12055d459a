"""Routes under /webhooks: endpoints and their delivery log (admins only).

Why ``Permission.ADMIN`` and not ``SETTINGS``: an endpoint sends names, check-in times
and devices to another system, with a secret that proves it is us; choosing where
personal data goes is an access decision, like API keys and devices, not a tuning knob
like the threshold. The delivery log holds the same personal data.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from facerec.api.deps import Limit, Offset, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.db.models import MAX_ID
from facerec.webhooks import service
from facerec.webhooks.models import (
    DeliveryPage,
    DeliveryPublic,
    EndpointCreate,
    EndpointCreated,
    EndpointPage,
    EndpointPublic,
    EndpointUpdate,
)

ADMIN = [require(Permission.ADMIN)]
router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)
WebhookId = Annotated[int, Path(gt=0, le=MAX_ID, description="A webhook endpoint's id")]
DeliveryId = Annotated[int, Path(gt=0, le=MAX_ID, description="A delivery's id")]
StatusFilter = Annotated[Literal["pending", "sent", "failed"] | None, Query()]


@router.get("", response_model=EndpointPage, dependencies=ADMIN)
def get_webhooks(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> EndpointPage:
    return service.list_endpoints(session=session, offset=offset, limit=limit)


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    summary="Register an endpoint; the answer shows its signing secret, once",
    dependencies=ADMIN,
)
def post_webhook(
    session: SessionDep, state: StateDep, endpoint_in: EndpointCreate, principal: CurrentPrincipal
) -> EndpointCreated:
    return service.create_endpoint(
        session=session, endpoint_in=endpoint_in, actor=principal, now=state.clock()
    )


@router.get("/{webhook_id}", response_model=EndpointPublic, dependencies=ADMIN)
def get_webhook(session: SessionDep, webhook_id: WebhookId) -> EndpointPublic:
    return service.read_endpoint(session=session, endpoint_id=webhook_id)


@router.patch("/{webhook_id}", response_model=EndpointPublic, dependencies=ADMIN)
def patch_webhook(
    session: SessionDep,
    state: StateDep,
    webhook_id: WebhookId,
    endpoint_in: EndpointUpdate,
    principal: CurrentPrincipal,
) -> EndpointPublic:
    return service.update_endpoint(
        session=session,
        endpoint_id=webhook_id,
        endpoint_in=endpoint_in,
        actor=principal,
        now=state.clock(),
    )


@router.delete("/{webhook_id}", status_code=204, dependencies=ADMIN)
def delete_webhook(
    session: SessionDep, state: StateDep, webhook_id: WebhookId, principal: CurrentPrincipal
) -> Response:
    service.delete_endpoint(
        session=session, endpoint_id=webhook_id, actor=principal, now=state.clock()
    )
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, dependencies=ADMIN)
def get_deliveries(
    session: SessionDep,
    webhook_id: WebhookId,
    status: StatusFilter = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> DeliveryPage:
    return service.list_deliveries(
        session=session, endpoint_id=webhook_id, status=status, offset=offset, limit=limit
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    summary="Send a delivery again from now (attempts reset, same delivery id)",
    dependencies=ADMIN,
)
def post_redeliver(
    session: SessionDep,
    state: StateDep,
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    principal: CurrentPrincipal,
) -> DeliveryPublic:
    return service.redeliver(
        session=session,
        endpoint_id=webhook_id,
        delivery_id=delivery_id,
        actor=principal,
        now=state.clock(),
    )
