"""Sending due deliveries: one attempt each, the outcome written back.

At-least-once: a delivery becomes ``sent`` only after a 2xx answer, written after the
request; a crash in between sends it again later, with the same ``X-FaceRec-Delivery``
id (the receiver's idempotency key). A failed attempt (an error, a timeout, any other
status) schedules the next one after ``retry_delay``: ``retry_base_seconds`` x 2^(n-1)
after the n-th failure, at most ``retry_max_seconds`` (10 s, 20 s, 40 s ... 1 h by
default; no jitter, so the schedule is predictable and testable). Once the next attempt
would fall later than ``max_age_hours`` after the delivery was queued, or after
``max_attempts``, it is ``failed`` (an admin can redeliver it).

Requests use the standard library (``urllib``; no redirects followed, since a redirect
would turn the POST into a GET elsewhere) with ``timeout_seconds``. Tests inject a
:data:`Transport`.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from facerec.config import WebhookSettings
from facerec.db.engine import lock_for_write
from facerec.metrics.instruments import webhook_attempt
from facerec.webhooks.models import WebhookDelivery, WebhookEndpoint
from facerec.webhooks.signing import body_of, headers

log = logging.getLogger(__name__)

Transport = Callable[[str, bytes, dict[str, str], float], int]
"""``(url, body, headers, timeout) -> HTTP status``; raises ``OSError`` when no answer
came (refused, reset, timed out)."""
MAX_ERROR = 500


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx is the answer (a failed attempt)


_OPENER = urllib.request.build_opener(_NoRedirects)


def urllib_transport(url: str, body: bytes, head: dict[str, str], timeout: float) -> int:
    """POST with the standard library; the status (non-2xx included), or ``OSError``."""
    request = urllib.request.Request(url, data=body, headers=head, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def retry_delay(failures: int, settings: WebhookSettings) -> timedelta:
    """The wait after the ``failures``-th failed attempt (1, 2, ...)."""
    doublings = min(max(failures - 1, 0), 40)
    seconds = min(settings.retry_base_seconds * 2**doublings, settings.retry_max_seconds)
    return timedelta(seconds=seconds)


@dataclass(slots=True)
class Attempt:
    """One request's result: ``status`` when an answer came, else ``error``."""

    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class TickReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def due_deliveries(
    *, session: Session, now: datetime, limit: int
) -> list[tuple[WebhookDelivery, str, str]]:
    """Pending deliveries whose time has come, of enabled endpoints: ``(row, url, secret)``,
    oldest first."""
    rows = session.exec(
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(WebhookDelivery.status == "pending", col(WebhookEndpoint.enabled).is_(True))
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    ).all()
    return [(row, url, secret) for row, url, secret in rows]


def attempt(
    delivery: WebhookDelivery,
    *,
    url: str,
    secret: str,
    now: datetime,
    transport: Transport,
    timeout: float,
) -> Attempt:
    """Send ``delivery`` once, signed at ``now``."""
    body = body_of(
        delivery_id=delivery.delivery_id,
        event=delivery.event,
        created_at=delivery.created_at,
        data=delivery.payload,
    )
    head = headers(
        secret=secret,
        event=delivery.event,
        delivery_id=delivery.delivery_id,
        timestamp=int(now.timestamp()),
        body=body,
    )
    try:
        status = transport(url, body, head, timeout)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        return Attempt(error=(type(exc).__name__ + ": " + str(exc))[:MAX_ERROR])
    if 200 <= status < 300:
        return Attempt(status=status)
    return Attempt(status=status, error=f"HTTP {status}")


def record_attempt(
    *,
    session: Session,
    delivery_id: int,
    attempts_before: int,
    result: Attempt,
    now: datetime,
    settings: WebhookSettings,
) -> str | None:
    """Write one attempt's outcome; the new status, or None when the row changed
    meanwhile (redelivered, its endpoint deleted): then nothing is written."""
    lock_for_write(session)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.status != "pending" or row.attempts != attempts_before:
        session.rollback()
        return None
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status_code = result.status
    if result.ok:
        row.status, row.sent_at, row.last_error = "sent", now, None
    else:
        row.last_error = result.error
        upcoming = now + retry_delay(row.attempts, settings)
        too_old = upcoming > row.queued_at + timedelta(hours=settings.max_age_hours)
        if too_old or row.attempts >= settings.max_attempts:
            row.status = "failed"
        else:
            row.next_attempt_at = upcoming
    session.add(row)
    session.commit()
    return row.status


def send_due(
    *,
    db: Engine,
    settings: WebhookSettings,
    clock: Callable[[], datetime],
    transport: Transport,
    keep_going: Callable[[], bool] = lambda: True,
) -> TickReport:
    """Attempt every due delivery once (up to ``batch_size``). After a failure, the
    endpoint's other deliveries wait for the next tick (one timeout per tick, not one
    per delivery, for a receiver that is down). ``keep_going`` is asked before each
    request (the lease is still ours, the app is not stopping)."""
    report = TickReport()
    with Session(db, expire_on_commit=False) as session:
        due = due_deliveries(session=session, now=clock(), limit=settings.batch_size)
    broken: set[int] = set()
    for delivery, url, secret in due:
        if delivery.endpoint_id in broken:
            continue
        if not keep_going():
            break
        now = clock()
        result = attempt(
            delivery,
            url=url,
            secret=secret,
            now=now,
            transport=transport,
            timeout=settings.timeout_seconds,
        )
        with Session(db) as session:
            status = record_attempt(
                session=session,
                delivery_id=delivery.id or 0,
                attempts_before=delivery.attempts,
                result=result,
                now=clock(),
                settings=settings,
            )
        webhook_attempt(delivery.event, status=result.status, ok=result.ok)
        if not result.ok:
            broken.add(delivery.endpoint_id)
            log.info(
                "webhook delivery %s (%s) to endpoint %d failed: %s",
                delivery.delivery_id,
                delivery.event,
                delivery.endpoint_id,
                result.error,
            )
        if status == "sent":
            report.sent += 1
        elif status == "failed":
            report.failed += 1
        elif status == "pending":
            report.retrying += 1
    return report
