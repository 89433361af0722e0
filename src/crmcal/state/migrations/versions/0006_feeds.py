"""One-way feeds (G1 public calendars, G4 calendar objects): feed_items

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_items",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("feed", sa.String(length=300), nullable=False),
        sa.Column("record_id", sa.String(length=18), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "feed", "record_id", name=op.f("pk_feed_items")),
    )
    with op.batch_alter_table("feed_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_items_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_items_item_id"))
    op.drop_table("feed_items")
