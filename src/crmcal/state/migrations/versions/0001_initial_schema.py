"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:07:08.755930
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=320), nullable=False),
        sa.Column("window", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "scope", name=op.f("pk_cursors")),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(length=18), nullable=False),
        sa.Column("owner_id", sa.String(length=18), nullable=False),
        sa.Column("guid", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_by_crmcal", sa.Boolean(), nullable=False),
        sa.Column("series_guid", sa.String(length=255), nullable=True),
        sa.Column("sf_modstamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sf_hash", sa.String(length=64), nullable=True),
        sa.Column("synced", sa.JSON(), nullable=False),
        sa.Column("invitees", sa.JSON(), nullable=False),
        sa.Column("invitee_status", sa.JSON(), nullable=False),
        sa.Column("who_ids", sa.JSON(), nullable=False),
        sa.Column("what_id", sa.String(length=18), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
        sa.UniqueConstraint("guid", "owner_id", name=op.f("uq_events_guid_owner_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("event_id", sa.String(length=18), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("item_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("web_link", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismissed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issues_mailbox"), ["mailbox"], unique=False)
        batch_op.create_index(
            "ix_issues_open", ["mailbox", "item_id", "reason", "resolved_at"], unique=False
        )

    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_mailbox"), ["mailbox"], unique=False)

    op.create_table(
        "user_health",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("unhealthy", sa.Boolean(), nullable=False),
        sa.Column("unhealthy_reason", sa.Text(), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_user_health")),
    )
    op.create_table(
        "intents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_intents_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intents")),
    )
    with op.batch_alter_table("intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intents_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_intents_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intents_status"), ["status"], unique=False)

    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("guid", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=18), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("share_mode", sa.String(length=16), nullable=False),
        sa.Column("outlook_change_key", sa.String(length=255), nullable=True),
        sa.Column("outlook_hash", sa.String(length=64), nullable=True),
        sa.Column("who_id", sa.String(length=18), nullable=True),
        sa.Column("what_id", sa.String(length=18), nullable=True),
        sa.Column("item_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("item_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=512), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.event_id"],
            name=op.f("fk_links_event_id_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("mailbox", "item_id", name=op.f("uq_links_mailbox_item_id")),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_links_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_links_guid"), ["guid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_links_guid"))
        batch_op.drop_index(batch_op.f("ix_links_event_id"))

    op.drop_table("links")
    with op.batch_alter_table("intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intents_status"))
        batch_op.drop_index(batch_op.f("ix_intents_session_id"))
        batch_op.drop_index(batch_op.f("ix_intents_key"))

    op.drop_table("intents")
    op.drop_table("user_health")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_mailbox"))

    op.drop_table("sessions")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_open")
        batch_op.drop_index(batch_op.f("ix_issues_mailbox"))

    op.drop_table("issues")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_owner_id"))

    op.drop_table("events")
    op.drop_table("cursors")
