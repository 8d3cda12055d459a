"""The periodic retention run, started by the app's lifespan in every worker.

Each worker ticks once at start and then every ``retention.interval_minutes``; a tick
first takes the lease (``lease.py``), so with ``--workers N`` (or several hosts on one
PostgreSQL) only the holder removes anything. The blocking work runs in a thread; an
error is logged and the next tick tries again, so the job never brings a worker down.
Stopping waits for the tick in progress, which checks between batches and ends early.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session

from facerec.periodic import LeasedJob
from facerec.retention.lease import LEASE_KEY, take_lease
from facerec.retention.service import RetentionReport, apply_retention

log = logging.getLogger(__name__)


class RetentionJob(LeasedJob):
    """One worker's periodic retention task."""

    name = "retention"
    lease_key = LEASE_KEY
    failure = "retention run failed"

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return self.state.settings.retention.interval_minutes * 60

    def wait_s(self) -> float:
        return self.interval

    def tick(self) -> RetentionReport | None:
        """Take the lease and run once; None when another worker holds the lease."""
        settings = self.state.settings.retention
        ttl = timedelta(seconds=2 * self.interval)
        with Session(self.state.db, expire_on_commit=False) as session:
            now = self.state.clock()
            if not take_lease(
                session=session, holder=self.holder, now=now, ttl=ttl, key=self.lease_key
            ):
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
