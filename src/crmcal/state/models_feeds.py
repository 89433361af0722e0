"""One-way feeds (G1 public calendars, G4 calendar objects): the items crmcal put in Outlook.

Created by migration 0006.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crmcal.state.models import Base, utcnow


class FeedItemRow(Base):
    """One record of one feed, as an item in one mailbox."""

    __tablename__ = "feed_items"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    feed: Mapped[str] = mapped_column(String(300), primary_key=True)
    """`calendar:<Calendar Id>` (G1) or `object:<API name>` (G4)."""
    record_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    item_id: Mapped[str | None] = mapped_column(String(512), default=None, index=True)
    """None while the create is in flight: the next session finishes it (same transactionId)."""
    generation: Mapped[int] = mapped_column(Integer, default=0)
    desired: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The item as Salesforce wants it (`rules.feeds.Desired`), to put back Outlook edits."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
