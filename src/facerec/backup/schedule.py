"""Scheduled backups: ``backup.every_hours`` apart, the newest ``backup.keep`` kept.

Started by the app's lifespan in every worker when ``every_hours`` is set. A tick takes
the ``backup_lease`` (``retention/lease.py``, one holder among all workers and hosts),
then makes a backup if the newest one in ``backup.dir`` is ``every_hours`` old (so a
restart neither skips nor doubles one), then deletes the oldest beyond ``keep``. Only
files named like ours (``facerec-backup-<UTC time>.tar``) are ever counted or deleted.
Time comes from the app's clock; the blocking work runs in a thread.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from facerec.auth.principal import SYSTEM
from facerec.backup.service import BackupReport, create_backup
from facerec.periodic import LeasedJob
from facerec.retention.lease import take_lease

log = logging.getLogger(__name__)
LEASE_KEY = "backup_lease"
NAME = re.compile(r"^facerec-backup-(\d{8}T\d{6}Z)\.tar$")
STAMP = "%Y%m%dT%H%M%SZ"
MAX_WAIT_S = 600.0
"""The longest a worker sleeps between looks (a lease holder that died is replaced)."""
LEASE_TTL = timedelta(hours=2)
"""Held across a whole backup, so a long one is never started twice."""


def backup_name(at: datetime) -> str:
    return f"facerec-backup-{at.astimezone(UTC).strftime(STAMP)}.tar"


def scheduled_backups(directory: Path) -> list[tuple[datetime, Path]]:
    """Our backups in ``directory``, oldest first, with the time in their names."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = NAME.match(path.name)
        if match and path.is_file():
            found.append((datetime.strptime(match[1], STAMP).replace(tzinfo=UTC), path))
    return sorted(found)


def next_due(directory: Path, every: timedelta) -> datetime | None:
    """When the next backup is due; None: now (there is none yet)."""
    backups = scheduled_backups(directory)
    return backups[-1][0] + every if backups else None


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` of our backups; the deleted paths."""
    old = [path for _, path in scheduled_backups(directory)[:-keep]]
    for path in old:
        path.unlink(missing_ok=True)
    return old


class BackupJob(LeasedJob):
    """One worker's scheduled-backup task."""

    name = "backup"
    lease_key = LEASE_KEY
    failure = "scheduled backup failed"

    @property
    def every(self) -> timedelta:
        return timedelta(hours=self.state.settings.backup.every_hours)

    @property
    def enabled(self) -> bool:
        return self.state.settings.backup.every_hours > 0

    def tick(self) -> BackupReport | None:
        """Take the lease; if a backup is due, make it and prune. The backup, or None."""
        settings = self.state.settings
        directory = settings.backups_dir
        now = self.state.clock()
        with Session(self.state.db) as session:
            if not take_lease(
                session=session, holder=self.holder, now=now, ttl=LEASE_TTL, key=self.lease_key
            ):
                return None
        due = next_due(directory, self.every)
        if due is not None and due > now:
            return None
        report = create_backup(
            settings=settings, target=directory / backup_name(now), now=now, actor=SYSTEM
        )
        removed = prune(directory, settings.backup.keep)
        log.info(
            "backup %s written (%d files, %d bytes); %d old backups deleted",
            report.path.name,
            report.files,
            report.size,
            len(removed),
        )
        if report.missing:
            log.warning(
                "backup %s lacks %d referenced files", report.path.name, len(report.missing)
            )
        return report

    def wait_s(self) -> float:
        """Seconds until the next look: when the next backup is due, at most MAX_WAIT_S."""
        due = next_due(self.state.settings.backups_dir, self.every)
        if due is None:
            return MAX_WAIT_S
        left = (due - self.state.clock()).total_seconds()
        return min(MAX_WAIT_S, max(1.0, left))

    def wait_after_error_s(self) -> float:
        return MAX_WAIT_S
