"""Scale-out (issue 10): session leases across workers, shared Salesforce allowance: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0002.

- `leases`: at most one holder per key (`user:<mailbox>`, `cycle:org`) until `expires_at`; a holder
  renews while it works, a crashed holder's lease simply runs out (docs/decisions/0030).
- `api_allowance`: the org's Salesforce daily allowance as last seen by any worker, and the O2
  back-off every worker obeys.
- `sync_requests`: force-sync requests (O1) waiting for the scheduler.
- `cycles` and `cycle_members`: one Celery cycle and its user sessions, so that the Salesforce
  cursor moves only when every session of the cycle took its share of the org-level read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crmcal.state.models import Base, utcnow


class LeaseRow(Base):
    __tablename__ = "leases"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    """`user:<mailbox>` for a user session, `cycle:org` for the Celery cycle."""
    owner: Mapped[str] = mapped_column(String(200))
    """Who holds it: `<host>:<pid>:<random>` of the process."""
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiAllowanceRow(Base):
    __tablename__ = "api_allowance"

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    """`salesforce`."""
    used: Mapped[int] = mapped_column(Integer, default=0)
    max: Mapped[int] = mapped_column(Integer, default=0)
    observed_at: Mapped[datetime | None] = mapped_column(default=None)
    backoff_level: Mapped[int] = mapped_column(Integer, default=0)
    """How many back-offs in a row (1: 30 min, 2: 2.5 h, 3: 4.5 h, ...); 0 when none."""
    backoff_until: Mapped[datetime | None] = mapped_column(default=None)


class SyncRequestRow(Base):
    __tablename__ = "sync_requests"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[str | None] = mapped_column(String(320), default=None)


class CycleRow(Base):
    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    """`running`, `complete` (cursor moved), `incomplete` (a session failed or was skipped)."""
    now: Mapped[datetime] = mapped_column(default=utcnow)
    """The cycle's clock, used by every session of the cycle."""
    new_cursor: Mapped[str | None] = mapped_column(Text, default=None)
    """The Salesforce SystemModstamp cursor to store when the cycle completes."""
    deleted_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    seen: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Other per-cycle reads handed to the sessions (P5 invitee changes: ids and cursor)."""
    """Event id -> SystemModstamp inside the read's overlap (runner.OrgRead.seen)."""
    total: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    """Members not finished yet (counted down as they finish: no scan of the members)."""
    unfinished: Mapped[int] = mapped_column(Integer, default=0)
    """Members that failed or were skipped: the cursor stays."""


class CycleMemberRow(Base):
    __tablename__ = "cycle_members"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """`pending`, then the session's status, or `skipped` (another worker held the user)."""
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


__all__ = [
    "ApiAllowanceRow",
    "Base",
    "CycleMemberRow",
    "CycleRow",
    "LeaseRow",
    "SyncRequestRow",
]
