"""Access control: users, sessions, API keys, devices, rate counters; the audit log.

Alembic logs the first paragraph as one line ("Running upgrade 0004 -> 0005, ..."): keep
it on one line. The attendance audit becomes the audit log of every change.

- ``attendance_audit`` is renamed ``audit_log`` and gains who exactly made the change
  (``actor_kind``, ``actor_id``: a user, key or device, never a name the client wrote),
  from which ``address``, and the ``request_id``. Existing rows keep their ``actor`` text
  with ``actor_kind`` ``legacy``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facerec.db.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def _now_column(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=False)


def _time_column(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        _now_column("created_at"),
        _now_column("password_changed_at"),
        **AUTOINCREMENT,
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        _now_column("created_at"),
        _now_column("last_seen_at"),
        _now_column("expires_at"),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=True),
        **AUTOINCREMENT,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        _now_column("created_at"),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        _time_column("expires_at"),
        _time_column("last_used_at"),
        _time_column("revoked_at"),
        **AUTOINCREMENT,
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("location", sa.String(200), nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("pairing_hash", sa.String(64), nullable=True, unique=True),
        _time_column("pairing_expires_at"),
        _now_column("created_at"),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        _time_column("paired_at"),
        _time_column("last_seen_at"),
        _time_column("revoked_at"),
        **AUTOINCREMENT,
    )
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(200), primary_key=True),
        _now_column("window_start"),
        sa.Column("count", sa.Integer, nullable=False, server_default="0"),
        _time_column("locked_until"),
    )
    op.rename_table("attendance_audit", "audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("actor_kind", sa.String(16), nullable=False, server_default="legacy")
        )
        batch.add_column(sa.Column("actor_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_time", "audit_log", ["time"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_entity", "audit_log")
    op.drop_index("ix_audit_log_time", "audit_log")
    with op.batch_alter_table("audit_log") as batch:
        for column in ("request_id", "address", "actor_id", "actor_kind"):
            batch.drop_column(column)
    op.rename_table("audit_log", "attendance_audit")
    for table in ("rate_counters", "devices", "api_keys", "auth_sessions", "users"):
        op.drop_table(table)
