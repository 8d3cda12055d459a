"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine, text

from facerec.db.pool import PoolLimits


def make_engine(url: str, pool: PoolLimits | None = None) -> Engine:
    """An engine for ``url``; SQLite is put in WAL mode so readers never wait on writers.

    ``pool`` sizes the connection pool (``db.pool.pool_limits``; the server passes it);
    without it SQLAlchemy's defaults apply (the CLI, tests)."""
    sizing: dict[str, Any] = {}
    if pool is not None and ":memory:" not in url:
        sizing = {"pool_size": pool.size, "max_overflow": pool.overflow}
        sizing["pool_timeout"] = pool.timeout_s
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **sizing)
    args = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, connect_args=args, **sizing)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that is closed (and rolled back if uncommitted) on exit."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def lock_for_write(session: Session) -> None:
    """Take the database's write lock as the transaction's first statement.

    Every write transaction calls this before reading what it will change: writers
    then run one after another (SQLite: the database write lock; PostgreSQL: the row
    lock on ``index_state``), so a writer never acts on a stale read, and change-log
    generations commit in order.
    """
    session.execute(text("UPDATE index_state SET generation = generation WHERE id = 1"))
    session.info[_WRITE_LOCK] = session.get_transaction()


_WRITE_LOCK = "facerec.write_lock"


def holds_write_lock(session: Session) -> bool:
    """Whether ``session``'s current transaction took the write lock (``lock_for_write``)."""
    transaction = session.get_transaction()
    return transaction is not None and session.info.get(_WRITE_LOCK) is transaction


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
