"""Dashboard and API (issue 8): accounts, webhook subscriptions, settings overrides: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0003.

- `web_accounts`: people who may sign in to the dashboard and API: local accounts (a scrypt
  password hash) and Entra ID users (no password; matched by their sign-in address). An account is
  an admin (Y2: sees everything) or a user bound to one crmcal mailbox (sees only its own).
- `web_setting_overrides`: org settings (scope `org`) and user settings (scope = the mailbox)
  changed from the dashboard, stored as the changed keys only and applied over the configuration
  file by the runner.
- `web_subscriptions`: the Graph change-notification subscription crmcal keeps per mailbox (O4),
  with the `clientState` secret the webhook checks (Y2).
- `web_sessions` (issue 19, migration 0010): dashboard sign-in sessions kept on the server; the
  cookie carries only a random id, stored here as its HMAC, so logout and "sign out everywhere"
  revoke a session by deleting its row.
- `web_audit` (issue 19): who changed which setting when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcal.state.crypto import Encrypted
from crmcal.state.models import Base, utcnow

ORG_SCOPE = "org"


class WebAccountRow(Base):
    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(320), unique=True)
    """Lower-case sign-in name: an e-mail address for users, any name for local admins."""
    password_hash: Mapped[str | None] = mapped_column(String(512), default=None)
    """`scrypt$n$r$p$salt$hash` (hex); None for accounts that sign in only through Entra ID."""
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    mailbox: Mapped[str | None] = mapped_column(String(320), default=None, index=True)
    """The crmcal user this account acts for (None for an admin without a mailbox)."""
    api_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    """SHA-256 of the account's API token (the token itself is shown once)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    entra_tid: Mapped[str | None] = mapped_column(String(64), default=None)
    """Entra ID tenant (`tid`) of the person bound to this account at their first sign-in."""
    entra_oid: Mapped[str | None] = mapped_column(String(64), default=None)
    """Entra ID object id (`oid`): with `entra_tid`, who this account is (never the address)."""

    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    """The zone the dashboard shows times in for this person (IANA); None: the mailbox's."""

    __table_args__ = (UniqueConstraint("entra_tid", "entra_oid"),)


class SettingOverrideRow(Base):
    __tablename__ = "web_setting_overrides"

    scope: Mapped[str] = mapped_column(String(320), primary_key=True)
    """`org`, or a user's mailbox."""
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320), default=None)


class SubscriptionRow(Base):
    __tablename__ = "web_subscriptions"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(128), unique=True)
    client_state: Mapped[str] = mapped_column(Encrypted())
    """Sealed at rest (Y1, `state/crypto.py`)."""
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    renewed_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """HMAC-SHA256 (hex) of the cookie's random value under the session key."""
    account_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditRow(Base):
    __tablename__ = "web_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(String(320))
    """`org`, a user's mailbox, or `accounts`."""
    key: Mapped[str] = mapped_column(String(120))
    old: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
