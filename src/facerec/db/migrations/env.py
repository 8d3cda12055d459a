"""Alembic environment: runs migrations against ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context

from facerec.db.engine import make_engine
from facerec.db.migrate import MIGRATION_LOCK

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    if connection.dialect.name == "sqlite":
        # Rebuilding a table (0004) drops the old one; with foreign keys on, SQLite would
        # first delete its rows and cascade into the tables that refer to it. The pragma
        # only works outside a transaction, hence the commit; the app's own connections
        # turn foreign keys back on (db/engine.py).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Starters on other hosts share no migration file lock (db/migrate.py): this
            # lock, held to the commit, makes them take turns; the next one then reads the
            # new revision and finds nothing left to do (PostgreSQL's DDL is transactional).
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()
engine.dispose()
