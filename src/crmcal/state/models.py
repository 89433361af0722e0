"""The state store's tables (SQLAlchemy 2, typed). Alembic migrations create them.

What crmcal remembers between sessions:
- `events`: every Salesforce Event crmcal made or linked, with the GUID and owner (D1: one per
  (GUID, owner)), where it came from, and the Salesforce version last synced.
- `links`: a mailbox item and the Event it is linked to, with the Outlook version last synced.
  Several items (an organizer's copy and attendees' copies) can link to one Event (P1).
- `cursors`: the Graph delta link per mailbox and window, the Salesforce SystemModstamp per org.
- `intents`: the journal of external writes (O5): written before the call, closed after it.
- `issues`: items that could not sync or are waiting (I1).
- `sessions`: one row per session run, with its statistics (I2).
- `user_health`: last success, consecutive failures, unhealthy marking (I3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmcal.domain.links import Origin as Origin  # moved to the domain (issue 18)
from crmcal.domain.links import ShareMode as ShareMode


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class IntentStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"


class SessionStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    """Finished, with per-item issues."""
    FAILED = "failed"
    """A systemic failure stopped it (auth, limits, service down)."""


class EventRow(Base):
    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(18), index=True)
    guid: Mapped[str | None] = mapped_column(String(255))
    origin: Mapped[Origin] = mapped_column(String(16))
    created_by_crmcal: Mapped[bool] = mapped_column(Boolean, default=True)
    series_guid: Mapped[str | None] = mapped_column(String(255), default=None)
    """For occurrences of a series: the GUID of the series, to find its siblings."""
    sf_modstamp: Mapped[datetime | None] = mapped_column(default=None)
    sf_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    """Hash of the synced Salesforce fields as last seen (vdirsyncer: hash, then version)."""
    synced: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The U1 field values both sides had at the last sync: the base of U4's three-way merge."""
    invitees: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Salesforce User Ids synced as invitees (P1, P4)."""
    invitee_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Their EventRelation Status as last synced (P4: Accepted, Declined, New)."""
    who_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Who records related at the last sync (L5, P6); the WhoId first."""
    what_id: Mapped[str | None] = mapped_column(String(18), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("guid", "owner_id"),)


class LinkRow(Base):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    item_id: Mapped[str] = mapped_column(String(512))
    guid: Mapped[str] = mapped_column(String(255), index=True)
    event_id: Mapped[str | None] = mapped_column(
        ForeignKey("events.event_id", ondelete="SET NULL"), index=True, default=None
    )
    """None while the item is tracked but not shared (waiting, unresolved, marked by Save)."""
    origin: Mapped[Origin] = mapped_column(String(16))
    share_mode: Mapped[ShareMode] = mapped_column(String(16))
    outlook_change_key: Mapped[str | None] = mapped_column(String(255), default=None)
    outlook_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    who_id: Mapped[str | None] = mapped_column(String(18), default=None)
    what_id: Mapped[str | None] = mapped_column(String(18), default=None)
    item_start: Mapped[datetime | None] = mapped_column(default=None)
    item_end: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str | None] = mapped_column(String(512), default=None)
    """The status category crmcal last gave the item (C3)."""
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The item as last read, for re-evaluating it when the other side changes (P2, P6, M4)."""
    last_synced_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("mailbox", "item_id"),)


class CursorRow(Base):
    __tablename__ = "cursors"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    """`graph_delta` or `salesforce_modstamp`."""
    scope: Mapped[str] = mapped_column(String(320), primary_key=True)
    """The mailbox for Graph, `org` for Salesforce."""
    window: Mapped[str] = mapped_column(String(64), default="")
    """The window the delta link was made for (`start/end`); a new window starts a new round."""
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IntentRow(Base):
    __tablename__ = "intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    mailbox: Mapped[str | None] = mapped_column(String(320), default=None)
    side: Mapped[str] = mapped_column(String(16))
    """`salesforce` or `outlook`."""
    action: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(512), index=True)
    """What makes the write recognisable after a crash (GUID + owner, item id, ...)."""
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[IntentStatus] = mapped_column(String(8), default=IntentStatus.OPEN, index=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class IssueRow(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(String(320), index=True)
    item_id: Mapped[str | None] = mapped_column(String(512), default=None)
    event_id: Mapped[str | None] = mapped_column(String(18), default=None)
    subject: Mapped[str] = mapped_column(String(512), default="")
    item_start: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(64))
    """A stable code, e.g. `waiting_for_organizer`, `required_fields_missing`."""
    message: Mapped[str] = mapped_column(Text, default="")
    web_link: Mapped[str | None] = mapped_column(Text, default=None)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    dismissed: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_issues_open", "mailbox", "item_id", "reason", "resolved_at"),)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mailbox: Mapped[str | None] = mapped_column(String(320), index=True, default=None)
    """None for an org-level session."""
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[SessionStatus] = mapped_column(String(16), default=SessionStatus.RUNNING)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """read, created, updated, deleted, issues, graph_calls, salesforce_calls, ..."""
    error: Mapped[str | None] = mapped_column(Text, default=None)


class UserHealthRow(Base):
    __tablename__ = "user_health"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    enabled_at: Mapped[datetime | None] = mapped_column(default=None)
    """When sync was first switched on for the user (W4 backfill)."""
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    unhealthy: Mapped[bool] = mapped_column(Boolean, default=False)
    unhealthy_reason: Mapped[str | None] = mapped_column(Text, default=None)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)


# Tables added after the initial schema live in their own modules (one per area, one migration
# each); importing them here keeps `Base.metadata` complete for Alembic and for the drift test.
from crmcal.state import (  # noqa: E402, F401
    models_engine,
    models_feeds,
    models_ops,
    models_records,
    models_web,
)
