"""Alembic environment: runs migrations against ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context

from facerec.db.engine import make_engine

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
        context.run_migrations()
engine.dispose()
