"""One-way feeds from Salesforce into Outlook (G1 public calendars, G4 calendar objects).

A feed is identified by a key: `calendar:<Calendar Id>` for a public calendar, `object:<API name>`
for a record type. What the connector reads for a feed is a `FeedRecord`: the record's id, owner,
time and the fields a subject template may name, or a deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmcal.domain.crm import CrmEvent

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A Salesforce record that appears as a calendar item (or a deletion of one)."""

    id: str
    owner_id: str = ""
    start: datetime | None = None
    """Aware, UTC. For all-day records: midnight UTC of the date."""
    end: datetime | None = None
    is_all_day: bool = False
    fields: tuple[tuple[str, Scalar], ...] = ()
    """The record's fields as read (for the subject template), by API name."""
    location: str = ""
    description: str = ""
    is_private: bool = False
    is_deleted: bool = False
    system_modstamp: datetime | None = None

    def field(self, name: str) -> Scalar:
        low = name.lower()
        for k, v in self.fields:
            if k.lower() == low:
                return v
        return None


@dataclass(frozen=True, slots=True)
class FeedChanges:
    """What one feed read returned: records changed (or all, on a full read) and deletions."""

    records: tuple[FeedRecord, ...] = ()
    deleted_ids: tuple[str, ...] = ()
    cursor: datetime | None = None
    full: bool = False
    """A full read of the window: stored records it did not return are no longer in the feed."""
    rejected: tuple[tuple[str, str], ...] = ()
    events: tuple[CrmEvent, ...] = ()
    """For a public calendar (G1): the Events themselves, deletions apart."""
