"""Webhook endpoints and their delivery log, for the API and the CLI alike. No HTTP.

Every change (create, update, delete, redeliver) is audited in its own transaction;
the secret never goes into an audit entry, a log line or an answer after creation.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session, col, func, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.errors import NotFound
from facerec.webhooks.models import (
    DeliveryPage,
    DeliveryPublic,
    EndpointCreate,
    EndpointCreated,
    EndpointPage,
    EndpointPublic,
    EndpointUpdate,
    WebhookDelivery,
    WebhookEndpoint,
)

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A generated signing secret (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_endpoint(
    *, session: Session, endpoint_in: EndpointCreate, actor: Principal, now: datetime
) -> EndpointCreated:
    """Register an endpoint; the answer holds the secret (generated unless given), once."""
    lock_for_write(session)
    secret = endpoint_in.secret or new_secret()
    row = WebhookEndpoint(
        url=endpoint_in.url,
        events=sorted(set(endpoint_in.events)),
        secret=secret,
        enabled=endpoint_in.enabled,
        description=endpoint_in.description,
        created_at=now,
        updated_at=now,
        created_by=actor.label[:100],
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        action="create",
        entity="webhook",
        entity_id=row.id,
        details={**_audited(row), "secret_generated": endpoint_in.secret is None},
        time=now,
    )
    session.commit()
    return EndpointCreated(**_public(session, row).model_dump(), secret=secret)


def list_endpoints(*, session: Session, offset: int = 0, limit: int = 100) -> EndpointPage:
    total = session.exec(select(func.count()).select_from(WebhookEndpoint)).one()
    rows = session.exec(
        select(WebhookEndpoint).order_by(col(WebhookEndpoint.id)).offset(offset).limit(limit)
    ).all()
    counts = _counts(session, [r.id or 0 for r in rows])
    return EndpointPage(items=[_public_of(r, counts) for r in rows], total=int(total))


def get_endpoint(*, session: Session, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook with id {endpoint_id}", resource="webhook", id=endpoint_id)
    return row


def read_endpoint(*, session: Session, endpoint_id: int) -> EndpointPublic:
    return _public(session, get_endpoint(session=session, endpoint_id=endpoint_id))


def update_endpoint(
    *,
    session: Session,
    endpoint_id: int,
    endpoint_in: EndpointUpdate,
    actor: Principal,
    now: datetime,
) -> EndpointPublic:
    """Change the fields sent (``null`` leaves one as it is); audited without the secret."""
    lock_for_write(session)
    row = get_endpoint(session=session, endpoint_id=endpoint_id)
    changes = {k: v for k, v in endpoint_in.model_dump(exclude_unset=True).items() if v is not None}
    before = _audited(row)
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = now
    session.add(row)
    after = _audited(row)
    record(
        session,
        actor=actor,
        action="update",
        entity="webhook",
        entity_id=endpoint_id,
        details={
            "fields": sorted(changes),
            "before": {k: v for k, v in before.items() if after[k] != v},
            "after": {k: v for k, v in after.items() if before[k] != v},
        },
        time=now,
    )
    session.commit()
    return _public(session, row)


def delete_endpoint(*, session: Session, endpoint_id: int, actor: Principal, now: datetime) -> None:
    """Remove the endpoint and its delivery log (pending deliveries are not sent)."""
    lock_for_write(session)
    row = get_endpoint(session=session, endpoint_id=endpoint_id)
    dropped = session.exec(
        select(func.count()).where(WebhookDelivery.endpoint_id == endpoint_id)
    ).one()
    for delivery in session.exec(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    ).all():
        session.delete(delivery)
    session.delete(row)
    record(
        session,
        actor=actor,
        action="delete",
        entity="webhook",
        entity_id=endpoint_id,
        details={**_audited(row), "deliveries_removed": int(dropped)},
        time=now,
    )
    session.commit()


def list_deliveries(
    *,
    session: Session,
    endpoint_id: int,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> DeliveryPage:
    """An endpoint's delivery log, newest first; ``status`` filters."""
    get_endpoint(session=session, endpoint_id=endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(WebhookDelivery.id).desc()).offset(offset).limit(limit)
    ).all()
    return DeliveryPage(items=[_delivery(r) for r in rows], total=int(total))


def redeliver(
    *, session: Session, endpoint_id: int, delivery_id: int, actor: Principal, now: datetime
) -> DeliveryPublic:
    """Send the delivery again from now (any status): attempts reset, the same
    ``X-FaceRec-Delivery`` id (the receiver can tell it is the same event)."""
    lock_for_write(session)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound(
            f"no delivery with id {delivery_id} for webhook {endpoint_id}",
            resource="webhook_delivery",
            id=delivery_id,
        )
    before = {"status": row.status, "attempts": row.attempts}
    row.status, row.attempts = "pending", 0
    row.queued_at = row.next_attempt_at = now
    session.add(row)
    record(
        session,
        actor=actor,
        action="redeliver",
        entity="webhook_delivery",
        entity_id=delivery_id,
        details={"webhook_id": endpoint_id, "event": row.event, "before": before},
        time=now,
    )
    session.commit()
    return _delivery(row)


def _audited(row: WebhookEndpoint) -> dict[str, object]:
    return {
        "url": row.url,
        "events": list(row.events),
        "enabled": row.enabled,
        "description": row.description,
    }


def _counts(session: Session, ids: list[int]) -> dict[tuple[int, str], int]:
    if not ids:
        return {}
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .where(col(WebhookDelivery.endpoint_id).in_(ids))
        .where(col(WebhookDelivery.status).in_(("pending", "failed")))
        .group_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status))
    ).all()
    return {(int(e), str(s)): int(n) for e, s, n in rows}


def _public_of(row: WebhookEndpoint, counts: dict[tuple[int, str], int]) -> EndpointPublic:
    data = row.model_dump(exclude={"secret"})
    key = row.id or 0
    return EndpointPublic(
        **data, pending=counts.get((key, "pending"), 0), failed=counts.get((key, "failed"), 0)
    )


def _public(session: Session, row: WebhookEndpoint) -> EndpointPublic:
    return _public_of(row, _counts(session, [row.id or 0]))


def _delivery(row: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic.model_validate(row, from_attributes=True)
