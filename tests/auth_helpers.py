"""Helpers for the access-control tests: apps with access control on, a settable clock,
credentials written straight into the database (independent of the code under test)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from facerec.app import create_app
from facerec.audit.models import AuditEntry
from facerec.config import Settings
from tests import credentials
from tests.fakes import FakeEngine


class Clock:
    """A settable UTC clock, starting at 12:00:10 on a Monday in the attendance zone
    (never near a local midnight, whatever zone ``make dst`` chooses)."""

    def __init__(self, zone: str) -> None:
        noon = datetime(2026, 11, 23, 12, 0, 10, tzinfo=ZoneInfo(zone))
        self.now = noon.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def with_auth(settings: Settings, **auth: Any) -> Settings:
    """``settings`` with access control switched on (and ``auth`` overrides)."""
    update = {"enabled": True, **auth}
    return settings.model_copy(update={"auth": settings.auth.model_copy(update=update)})


def auth_client(settings: Settings, clock: Clock, **auth: Any) -> TestClient:
    return TestClient(create_app(with_auth(settings, **auth), engine=FakeEngine(), clock=clock))


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def db_of(client: TestClient) -> Engine:
    engine: Engine = client.app.state.facerec.db  # type: ignore[attr-defined]
    return engine


def insert_key(db: Engine, *, role: str, scopes: list[str] | None = None, name: str = "") -> str:
    """An API key row made by hand; its secret."""
    now = datetime.now(UTC)
    return credentials.api_key(
        db, name=name or f"{role}-key", role=role, now=now, scopes=tuple(scopes or ())
    )


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def audit_rows(db: Engine) -> list[AuditEntry]:
    with Session(db) as session:
        return list(session.exec(select(AuditEntry)).all())


def cli_key(data_dir: Path, *args: str) -> str:
    """``facerec keys create ARGS`` in its own process (before a server starts); stdout."""
    facerec = Path(sys.executable).with_name("facerec")
    done = subprocess.run(
        [str(facerec), "keys", "create", *args],
        env={
            "FACEREC_DATA_DIR": str(data_dir),
            "PATH": "/usr/bin:/bin",
            # the test's own database on PostgreSQL (make test-postgres), as servers get it
            **{k: v for k, v in os.environ.items() if k == "FACEREC_DATABASE_URL"},
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def rows(client: TestClient, path: str, secret: str) -> Iterator[dict[str, Any]]:
    answer = client.get(path, headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    yield from answer.json()["items"]
