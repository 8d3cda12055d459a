"""The webhook sender, started by the app's lifespan in every worker; one sends.

Every ``webhooks.poll_seconds`` each worker tries to take the lease (``app_settings``
row ``webhook_lease``, the retention job's mechanism in ``retention/lease.py``); the
holder sends the due deliveries in a thread and renews the lease before each request,
so a holder that dies or hangs is replaced once its lease lapses (two polls plus two
timeouts). Two senders can overlap only around such a takeover; receivers dedupe on
``X-FaceRec-Delivery`` (at-least-once). Errors are logged and the next tick retries.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from facerec.periodic import LeasedJob
from facerec.retention.lease import take_lease
from facerec.state import AppState
from facerec.webhooks.sender import (
    TickReport,
    Transport,
    due_deliveries,
    send_due,
    urllib_transport,
)

LEASE_KEY = "webhook_lease"


class WebhookJob(LeasedJob):
    """One worker's periodic sender task."""

    name = "webhooks"
    lease_key = LEASE_KEY
    failure = "webhook sending failed"

    def __init__(
        self, state: AppState, *, holder: str | None = None, transport: Transport | None = None
    ) -> None:
        super().__init__(state, holder=holder)
        self.transport = transport or urllib_transport

    @property
    def ttl(self) -> timedelta:
        settings = self.state.settings.webhooks
        return timedelta(seconds=2 * (settings.poll_seconds + settings.timeout_seconds))

    @property
    def enabled(self) -> bool:
        return self.state.settings.webhooks.enabled

    def wait_s(self) -> float:
        return self.state.settings.webhooks.poll_seconds

    def _anything_due(self) -> bool:
        with Session(self.state.db) as session:
            due = due_deliveries(session=session, now=self.state.clock(), limit=1)
        return bool(due)

    def _lease(self) -> bool:
        with Session(self.state.db) as session:
            return take_lease(
                session=session,
                holder=self.holder,
                now=self.state.clock(),
                ttl=self.ttl,
                key=self.lease_key,
            )

    def tick(self) -> TickReport | None:
        """Send what is due if this worker holds the lease; None when nothing is due (no
        write at all then) or another worker holds it."""
        if not self._anything_due() or not self._lease():
            return None
        return send_due(
            db=self.state.db,
            settings=self.state.settings.webhooks,
            clock=self.state.clock,
            transport=self.transport,
            keep_going=lambda: not self._halt.is_set() and self._lease(),
        )
