"""Alembic environment: runs migrations against ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context

from facerec.db.engine import make_engine

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
