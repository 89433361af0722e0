"""Engine additions (issues 6 and 7): series and one-way calendars

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("master_id", sa.String(length=512), nullable=False),
        sa.Column("guid", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=18), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("share_mode", sa.String(length=16), nullable=False),
        sa.Column("sf_key", sa.String(length=64), nullable=True),
        sa.Column("pattern_key", sa.String(length=64), nullable=False),
        sa.Column("synced", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("mailbox", "master_id", name=op.f("uq_series_mailbox_master_id")),
    )
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_series_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_series_sf_key"), ["sf_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_series_sf_key"))
        batch_op.drop_index(batch_op.f("ix_series_event_id"))
    op.drop_table("series")
