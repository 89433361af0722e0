"""Auto-created records and attachments (issue 11)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "created_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=18), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=True),
        sa.Column("opportunity_id", sa.String(length=18), nullable=True),
        sa.Column("account_created", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_created_records")),
    )
    with op.batch_alter_table("created_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_created_records_mailbox"), ["mailbox"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_created_records_record_id"), ["record_id"], unique=False
        )
    op.create_table(
        "unresolved_participants",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "mailbox", "item_id", "address", name=op.f("pk_unresolved_participants")
        ),
    )
    op.create_table(
        "uploaded_attachments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=18), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.String(length=18), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_attachments")),
        sa.UniqueConstraint("event_id", "source_id", name="uq_uploaded_attachments_event_source"),
    )
    with op.batch_alter_table("uploaded_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_uploaded_attachments_item", ["mailbox", "item_id"], unique=False)

    op.create_table(
        "group_event_links",
        sa.Column("group", sa.String(length=320), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("guid", sa.String(length=512), nullable=False),
        sa.Column("event_id", sa.String(length=18), nullable=False),
        sa.Column("owner_id", sa.String(length=18), nullable=False),
        sa.Column("synced", sa.JSON(), nullable=False),
        sa.Column("item_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("item_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group", "item_id", name=op.f("pk_group_event_links")),
    )
    with op.batch_alter_table("group_event_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_event_links_event_id"), ["event_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("group_event_links")
    op.drop_table("uploaded_attachments")
    op.drop_table("unresolved_participants")
    op.drop_table("created_records")
