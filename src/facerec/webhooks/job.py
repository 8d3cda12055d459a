"""The webhook sender, started by the app's lifespan in every worker; one sends.

Every ``webhooks.poll_seconds`` each worker tries to take the lease (``app_settings``
row ``webhook_lease``, the retention job's mechanism in ``retention/lease.py``); the
holder sends the due deliveries in a thread and renews the lease before each request,
so a holder that dies or hangs is replaced once its lease lapses (two polls plus two
timeouts). Two senders can overlap only around such a takeover; receivers dedupe on
``X-FaceRec-Delivery`` (at-least-once). Errors are logged and the next tick retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta

from sqlmodel import Session

from facerec.retention.lease import release_lease, take_lease, this_process
from facerec.state import AppState
from facerec.webhooks.sender import (
    TickReport,
    Transport,
    due_deliveries,
    send_due,
    urllib_transport,
)

log = logging.getLogger(__name__)
LEASE_KEY = "webhook_lease"


class WebhookJob:
    """One worker's periodic sender task."""

    def __init__(
        self, state: AppState, *, holder: str | None = None, transport: Transport | None = None
    ) -> None:
        self.state = state
        self.holder = holder or this_process()
        self.transport = transport or urllib_transport
        self.ticks = 0
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ttl(self) -> timedelta:
        settings = self.state.settings.webhooks
        return timedelta(seconds=2 * (settings.poll_seconds + settings.timeout_seconds))

    def start(self) -> None:
        if self.state.settings.webhooks.enabled:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="webhooks")

    async def stop(self) -> None:
        """End the loop (after the request in flight) and give the lease up."""
        self._halt.set()
        self._wake.set()
        if self._task is None:
            return
        await self._task
        try:
            await asyncio.to_thread(self._release)
        except Exception:
            log.exception("could not release the webhook lease (it lapses by itself)")

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
                key=LEASE_KEY,
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

    async def _loop(self) -> None:
        interval = self.state.settings.webhooks.poll_seconds
        while not self._halt.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("webhook sending failed; retrying in %.1f s", interval)
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)

    def _release(self) -> None:
        with Session(self.state.db) as session:
            release_lease(session=session, holder=self.holder, key=LEASE_KEY)
