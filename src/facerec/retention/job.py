"""The periodic retention run, started by the app's lifespan in every worker.

Each worker ticks once at start and then every ``retention.interval_minutes``; a tick
first takes the lease (``lease.py``), so with ``--workers N`` (or several hosts on one
PostgreSQL) only the holder removes anything. The blocking work runs in a thread; an
error is logged and the next tick tries again, so the job never brings a worker down.
Stopping waits for the tick in progress, which checks between batches and ends early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta

from sqlmodel import Session

from facerec.retention.lease import release_lease, take_lease, this_process
from facerec.retention.service import RetentionReport, apply_retention
from facerec.state import AppState

log = logging.getLogger(__name__)


class RetentionJob:
    """One worker's periodic retention task."""

    def __init__(self, state: AppState, *, holder: str | None = None) -> None:
        self.state = state
        self.holder = holder or this_process()
        self.ticks = 0
        """Ticks finished (with or without the lease, with or without an error)."""
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return self.state.settings.retention.interval_minutes * 60

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """End the loop (the tick in progress stops at its next batch) and give the lease up."""
        self._halt.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await asyncio.to_thread(self._release)
        except Exception:
            log.exception("could not release the retention lease (it lapses by itself)")

    def tick(self) -> RetentionReport | None:
        """Take the lease and run once; None when another worker holds the lease."""
        settings = self.state.settings.retention
        ttl = timedelta(seconds=2 * self.interval)
        with Session(self.state.db, expire_on_commit=False) as session:
            now = self.state.clock()
            if not take_lease(session=session, holder=self.holder, now=now, ttl=ttl):
                return None
            report = apply_retention(
                session=session,
                crops=self.state.crops,
                settings=settings,
                now=now,
                should_stop=self._halt.is_set,
            )
        if report.rows:
            log.info(
                "retention removed %d check-in crops, %d unknown faces, %d resolved unknown "
                "faces (%d files)",
                report.checkin_crops,
                report.unknown_faces,
                report.resolved_unknown_faces,
                report.files_removed,
            )
        return report

    async def _loop(self) -> None:
        while not self._halt.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("retention run failed; retrying in %.0f s", self.interval)
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    def _release(self) -> None:
        with Session(self.state.db) as session:
            release_lease(session=session, holder=self.holder)
