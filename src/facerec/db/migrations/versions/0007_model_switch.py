"""Model switch: the active models in index_state, a second set of vectors, the progress.

Alembic logs the first paragraph as one line: keep it on one line.

- ``index_state`` gains ``recogniser``, ``detector`` and ``model`` (the active choice,
  None until ``facerec models use`` makes one: the settings name the models) and
  ``switches`` (a count every worker compares with its own at each search).
- ``face_vectors``: (face id, model) -> descriptor and the points it was embedded from,
  the vectors of another model than the face row's (``ON DELETE CASCADE`` with the face).
- ``model_switches``: one row, the newest switch's target, status and progress.
- ``app_settings``: the calibrated threshold becomes each recogniser's own
  (``match_threshold:<recogniser>``); the one stored was measured on the gallery's faces,
  so it goes to the recogniser that embedded most of them (dlib's when there are none).

Revision ID: 0007_model_switch
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facerec.db.models import UTCDateTime

revision = "0007_model_switch"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("index_state") as batch:
        batch.add_column(sa.Column("recogniser", sa.String(64), nullable=True))
        batch.add_column(sa.Column("detector", sa.String(64), nullable=True))
        batch.add_column(sa.Column("model", sa.String(64), nullable=True))
        batch.add_column(sa.Column("switches", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "face_vectors",
        sa.Column(
            "face_id",
            sa.Integer,
            sa.ForeignKey("faces.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("model", sa.String(64), primary_key=True, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("landmarks", sa.JSON, nullable=False),
    )
    op.create_table(
        "model_switches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("recogniser", sa.String(64), nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(1000), nullable=False, server_default=""),
        sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    _rename_threshold("match_threshold", f"match_threshold:{_gallery_recogniser()}")


def _gallery_recogniser() -> str:
    """The recogniser name of the model id most faces carry (``dlib-resnet-v1+mirror`` ->
    ``dlib-resnet``, ``mobilefacenet@85cdeb73+mirror`` -> ``mobilefacenet``)."""
    most = "SELECT model FROM faces GROUP BY model ORDER BY COUNT(*) DESC, model LIMIT 1"
    row = op.get_bind().execute(sa.text(most)).first()
    model = "dlib-resnet" if row is None else str(row[0]).split("+", 1)[0]
    return "dlib-resnet" if model.startswith("dlib-resnet") else model.split("@", 1)[0]


def _rename_threshold(old: str, new: str) -> None:
    op.get_bind().execute(
        sa.text("UPDATE app_settings SET key = :new WHERE key = :old"), {"old": old, "new": new}
    )


def downgrade() -> None:
    own = f"match_threshold:{_gallery_recogniser()}"
    _rename_threshold(own, "match_threshold")
    op.get_bind().execute(sa.text("DELETE FROM app_settings WHERE key LIKE 'match_threshold:%'"))
    op.drop_table("model_switches")
    op.drop_table("face_vectors")
    with op.batch_alter_table("index_state") as batch:
        for name in ("switches", "model", "detector", "recogniser"):
            batch.drop_column(name)
