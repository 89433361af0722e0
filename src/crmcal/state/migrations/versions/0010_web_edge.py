"""The web edge (issue 19): server-side sessions, the settings audit log, Entra ID identities,
sealed clientStates

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_account_id"), ["account_id"])
        batch_op.create_index(batch_op.f("ix_web_sessions_expires_at"), ["expires_at"])
    op.create_table(
        "web_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=320), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_audit")),
    )
    with op.batch_alter_table("web_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_audit_at"), ["at"])
    with op.batch_alter_table("web_subscriptions", schema=None) as batch_op:
        batch_op.alter_column(  # sealed clientStates (Y1) are longer than the plain ones
            "client_state", existing_type=sa.String(length=128), type_=sa.String(length=512)
        )
    with op.batch_alter_table("web_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entra_tid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entra_oid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_web_accounts_entra_tid_entra_oid"), ["entra_tid", "entra_oid"]
        )


def downgrade() -> None:
    with op.batch_alter_table("web_accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_web_accounts_entra_tid_entra_oid"), type_="unique")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("entra_oid")
        batch_op.drop_column("entra_tid")
    with op.batch_alter_table("web_subscriptions", schema=None) as batch_op:
        batch_op.alter_column(
            "client_state", existing_type=sa.String(length=512), type_=sa.String(length=128)
        )
    with op.batch_alter_table("web_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_audit_at"))
    op.drop_table("web_audit")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_account_id"))
    op.drop_table("web_sessions")
