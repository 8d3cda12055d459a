"""Webhooks: endpoints and their deliveries (the outbox and the delivery log).

Alembic logs the first paragraph as one line ("Running upgrade 0005 -> 0006, ..."): keep
it on one line.

- ``webhook_endpoints``: URL, events (a JSON list), the signing secret (kept as written:
  HMAC needs it), enabled, who made it.
- ``webhook_deliveries``: one row per event and endpoint, written in the event's own
  transaction; ``delivery_id`` is the UUID sent as ``X-FaceRec-Delivery`` on every
  attempt; ``status`` (indexed: pending, sent, failed) and ``next_attempt_at`` (indexed)
  are what the sender and the metrics query.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facerec.db.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def _now_column(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=False)


def _time_column(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        _now_column("created_at"),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        _now_column("updated_at"),
        **AUTOINCREMENT,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.String(36), nullable=False, unique=True),
        sa.Column(
            "endpoint_id",
            sa.Integer,
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now_column("created_at"),
        _now_column("queued_at"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False, index=True),
        _time_column("last_attempt_at"),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        _time_column("sent_at"),
        **AUTOINCREMENT,
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
