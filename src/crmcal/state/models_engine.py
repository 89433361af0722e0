"""Engine additions (issues 6 and 7): series and one-way calendars: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0005.

`series`: one row per shared recurring series in a mailbox (issue 7, SPEC R1-R6, X8): the Outlook
series master, the Salesforce series it is linked to (the Classic series record, or the first
Event of a Lightning series), the format it went up in, and what was last synced of its pattern
and of the master, so a later session can tell a pattern change (the Salesforce series is
replaced) from a field change (the occurrences are updated). Occurrences are matched by their
original start every time the series is in play, so they need no rows of their own
(docs/decisions/0060-series-engine.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcal.state.models import Base, utcnow

__all__ = ["Base", "SeriesRow"]


class SeriesRow(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    master_id: Mapped[str] = mapped_column(String(512))
    """The Outlook series master's item id."""
    guid: Mapped[str] = mapped_column(String(255), default="")
    """The master's iCalUId (the series GUID)."""
    event_id: Mapped[str] = mapped_column(String(18), index=True)
    """The Salesforce series: the Classic series record, or a Lightning series' first Event."""
    format: Mapped[str] = mapped_column(String(16))
    """`classic` or `lightning`."""
    origin: Mapped[str] = mapped_column(String(16))
    """`outlook` (R2, R3) or `salesforce` (X8)."""
    share_mode: Mapped[str] = mapped_column(String(16))
    sf_key: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    """Lightning series have no series id: owner and pattern start identify their Events."""
    pattern_key: Mapped[str] = mapped_column(String(64), default="")
    """Hash of the pattern, time of day, length and zone as last synced."""
    synced: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """Series-level Event values last synced (subject, location, show as, private, pattern)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("mailbox", "master_id"),)
