"""The outbox: an event's deliveries are rows added to the event's own transaction.

``emit(session, "person.created", {...})`` adds one ``webhook_deliveries`` row per
enabled endpoint that asked for the event and commits nothing: the caller's commit
writes the event and its deliveries together, and its rollback drops both. The sender
(``sender.py``) picks the rows up later, so nothing is sent for an event that did not
happen, and nothing is lost if the process dies after the commit.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from facerec.audit.context import current_time
from facerec.db.models import utcnow
from facerec.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint


def emit(
    session: Session, event: str, payload: dict[str, Any], *, now: datetime | None = None
) -> int:
    """Queue ``event`` for every enabled endpoint subscribed to it, in ``session``'s
    transaction; the number of deliveries added. ``payload``: small JSON (ids, names,
    times), never embeddings or image bytes. ``now``: the event's time (default the
    app's clock in a request, else now)."""
    assert event in EVENTS, event
    endpoints = session.exec(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            col(WebhookEndpoint.enabled).is_(True)
        )
    ).all()
    targets = [endpoint_id for endpoint_id, events in endpoints if event in (events or [])]
    if not targets:
        return 0
    when = now or current_time() or utcnow()
    data = {key: _json(value) for key, value in payload.items()}
    for endpoint_id in targets:
        session.add(
            WebhookDelivery(
                delivery_id=str(uuid.uuid4()),
                endpoint_id=endpoint_id or 0,
                event=event,
                payload=data,
                created_at=when,
                queued_at=when,
                next_attempt_at=when,
            )
        )
    return len(targets)


def _json(value: object) -> object:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value
