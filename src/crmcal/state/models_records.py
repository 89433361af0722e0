"""Auto-created records and attachments (issue 11): tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0004.

- `created_records`: every Contact, Lead, Account and Opportunity crmcal made for a participant
  (K4), by a session or by the dashboard's "create record" action, so the dashboard can list them.
- `unresolved_participants`: the addresses (with display names) that block an item under M4, so
  the dashboard's one-click "create record" knows whom to create.
- `uploaded_attachments`: the Outlook attachments saved as Salesforce `Attachment` records (T1),
  so that a later session uploads nothing twice.
- `group_event_links`: events of Microsoft 365 group calendars and the Events made for them (G2),
  with the values last written, so that an unchanged group event costs no write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcal.state.models import Base, utcnow


class CreatedRecordRow(Base):
    __tablename__ = "created_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16), default="session")
    """`session` (K) or `dashboard` (the "create record" action)."""
    mailbox: Mapped[str | None] = mapped_column(String(320), default=None, index=True)
    session_id: Mapped[int | None] = mapped_column(Integer, default=None)
    item_id: Mapped[str | None] = mapped_column(String(512), default=None)
    object_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(18), index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    account_id: Mapped[str | None] = mapped_column(String(18), default=None)
    opportunity_id: Mapped[str | None] = mapped_column(String(18), default=None)
    account_created: Mapped[bool] = mapped_column(Boolean, default=False)


class UnresolvedParticipantRow(Base):
    __tablename__ = "unresolved_participants"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class UploadedAttachmentRow(Base):
    __tablename__ = "uploaded_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(18))
    source_id: Mapped[str] = mapped_column(String(512))
    """The Graph attachment id."""
    mailbox: Mapped[str] = mapped_column(String(320))
    item_id: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    attachment_id: Mapped[str | None] = mapped_column(String(18), default=None)
    """The Salesforce Attachment Id."""
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("event_id", "source_id", name="uq_uploaded_attachments_event_source"),
        Index("ix_uploaded_attachments_item", "mailbox", "item_id"),
    )


class GroupEventLinkRow(Base):
    __tablename__ = "group_event_links"

    group: Mapped[str] = mapped_column(String(320), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    guid: Mapped[str] = mapped_column(String(512), default="")
    event_id: Mapped[str] = mapped_column(String(18), index=True)
    owner_id: Mapped[str] = mapped_column(String(18))
    synced: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item_start: Mapped[datetime | None] = mapped_column(default=None)
    item_end: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = [
    "CreatedRecordRow",
    "GroupEventLinkRow",
    "UnresolvedParticipantRow",
    "UploadedAttachmentRow",
]
