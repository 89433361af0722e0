"""Dashboard and API (issue 8): accounts, webhook subscriptions, settings overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("api_token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_web_accounts_username")),
    )
    with op.batch_alter_table("web_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_accounts_api_token_hash"), ["api_token_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_web_accounts_mailbox"), ["mailbox"], unique=False)
    op.create_table(
        "web_setting_overrides",
        sa.Column("scope", sa.String(length=320), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_web_setting_overrides")),
    )
    op.create_table(
        "web_subscriptions",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("subscription_id", sa.String(length=128), nullable=False),
        sa.Column("client_state", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_web_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_web_subscriptions_subscription_id")),
    )


def downgrade() -> None:
    op.drop_table("web_subscriptions")
    op.drop_table("web_setting_overrides")
    with op.batch_alter_table("web_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_accounts_mailbox"))
        batch_op.drop_index(batch_op.f("ix_web_accounts_api_token_hash"))
    op.drop_table("web_accounts")
