"""A job every worker runs and one worker at a time does: the loop, the stop and the lease.

``LeasedJob`` is what the retention run, the scheduled backup and the webhook sender
share. The app's lifespan starts it in every worker; each ``tick`` (in a thread) takes
the lease named ``lease_key`` (``retention/lease.py``) before doing anything, so with
``--workers N`` or several hosts on one database only the holder works. An error in a
tick is logged and the loop goes on, so a job never brings a worker down. ``stop``
wakes the loop, waits for the tick in progress and gives the lease up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from sqlmodel import Session

from facerec.retention.lease import release_lease, this_process
from facerec.state import AppState


class LeasedJob:
    """Subclasses name the job and its lease, and say when to tick and what a tick does."""

    name = "job"
    lease_key = "job_lease"
    failure = "job failed"
    """What the log says when a tick raises."""

    def __init__(self, state: AppState, *, holder: str | None = None) -> None:
        self.state = state
        self.holder = holder or this_process()
        self.ticks = 0
        """Ticks finished (with or without the lease, with or without an error)."""
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.log = logging.getLogger(type(self).__module__)
        """The subclass's module logger: its records name the job's own module."""

    @property
    def enabled(self) -> bool:
        return True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def tick(self) -> Any:
        """One round (blocking, in a thread): take the lease, then work if it is ours."""
        raise NotImplementedError

    def wait_s(self) -> float:
        """Seconds to the next tick after one that went well."""
        raise NotImplementedError

    def wait_after_error_s(self) -> float:
        """Seconds to the next tick after one that raised."""
        return self.wait_s()

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """End the loop (the tick in progress finishes or stops early) and give the lease up."""
        self._halt.set()
        self._wake.set()
        if self._task is None:
            return
        await self._task
        try:
            await asyncio.to_thread(self._release)
        except Exception:
            self.log.exception("could not release the %s lease (it lapses by itself)", self.name)

    async def _loop(self) -> None:
        while not self._halt.is_set():
            try:
                await asyncio.to_thread(self.tick)
                wait = self.wait_s()
            except Exception:
                wait = self.wait_after_error_s()
                self.log.exception("%s; trying again in %.1f s", self.failure, wait)
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _release(self) -> None:
        with Session(self.state.db) as session:
            release_lease(session=session, holder=self.holder, key=self.lease_key)
