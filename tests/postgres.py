"""The suite on PostgreSQL: one fresh database per test, cloned from a migrated template.

``FACEREC_TEST_POSTGRES`` (set by ``.ci/postgres run``, see ``make test-postgres``) is the
URL of a throw-away server's maintenance database. The session makes ``facerec_template``
once and migrates it to head; each test gets ``CREATE DATABASE ... TEMPLATE`` (a file copy,
milliseconds) as ``FACEREC_DATABASE_URL``, dropped after the test. Tests that are about
SQLite itself carry ``@pytest.mark.sqlite_only(reason)`` and skip here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

ADMIN_URL = os.environ.get("FACEREC_TEST_POSTGRES", "")
TEMPLATE = "facerec_template"
_names = itertools.count(1)


def enabled() -> bool:
    return bool(ADMIN_URL)


def database_url(name: str) -> str:
    url: URL = make_url(ADMIN_URL).set(database=name)
    return url.render_as_string(hide_password=False)


@contextmanager
def _admin() -> Iterator[Engine]:
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def create_template() -> None:
    """``facerec_template`` at the newest revision (made again each session)."""
    from facerec.db.migrate import upgrade

    with _admin() as engine, engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    upgrade(database_url(TEMPLATE))


def create_database(*, empty: bool = False) -> str:
    """A new database (a copy of the migrated template, or ``empty``); returns its URL."""
    name = f"facerec_{os.getpid()}_{next(_names)}"
    template = "template0" if empty else TEMPLATE
    with _admin() as engine, engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return database_url(name)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with _admin() as engine, engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
