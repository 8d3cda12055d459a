"""Attendance: events, unknown faces, schedules, holidays, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facerec.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attendance_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey("people.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("time", UTCDateTime(), nullable=False, index=True),
        sa.Column("similarity", sa.Float, nullable=True),
        sa.Column("device", sa.String(100), nullable=True),
        sa.Column("crop_path", sa.String(200), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_table(
        "unknown_faces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_id", sa.Integer, nullable=False, index=True),
        sa.Column("time", UTCDateTime(), nullable=False, index=True),
        sa.Column("device", sa.String(100), nullable=True),
        sa.Column("crop_path", sa.String(200), nullable=False),
        sa.Column("box", sa.JSON, nullable=False),
        sa.Column("landmarks", sa.JSON, nullable=False),
        sa.Column("det_score", sa.Float, nullable=False),
        sa.Column("quality", sa.JSON, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("person_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "attendance_schedules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("start_time", sa.Time, nullable=False),
        sa.Column("end_time", sa.Time, nullable=False),
        sa.Column("weekdays", sa.JSON, nullable=False),
        sa.Column("grace_minutes", sa.Integer, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
    )
    op.execute(
        "INSERT INTO attendance_schedules "
        "(name, start_time, end_time, weekdays, grace_minutes, is_default) "
        "VALUES ('Office hours', '09:00:00', '18:00:00', '[1, 2, 3, 4, 5]', 5, TRUE)"
    )
    op.create_table(
        "attendance_person_schedules",
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey("people.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "schedule_id",
            sa.Integer,
            sa.ForeignKey("attendance_schedules.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_table(
        "attendance_holidays",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
    )
    op.create_table(
        "attendance_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "attendance_audit",
        "attendance_holidays",
        "attendance_person_schedules",
        "attendance_schedules",
        "unknown_faces",
        "attendance_events",
    ):
        op.drop_table(table)
