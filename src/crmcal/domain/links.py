"""What the state store knows of links and Events, as domain types (issue 18: the store returns
these, so no ORM row travels past `state/`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from crmcal.domain.calendar import Item


class Origin(StrEnum):
    """Which side an item/Event pair was born on (X3, W3 treat them differently)."""

    OUTLOOK = "outlook"
    SALESFORCE = "salesforce"


class ShareMode(StrEnum):
    AUTO = "auto"
    CATEGORY = "category"
    SAVE = "save"
    DOWNSYNC = "downsync"
    ATTENDEE = "attendee"
    """An attendee's copy linked to the organizer's Event (P1)."""


@dataclass(frozen=True, slots=True)
class TrackedItem:
    """What the state store knows of one mailbox item."""

    mailbox: str
    item_id: str
    guid: str
    event_id: str | None
    share_mode: ShareMode
    origin: Origin = Origin.OUTLOOK
    status: str | None = None
    snapshot: Item | None = None
    who_id: str | None = None
    """M2: a Name chosen with the Save action (kept over Initial Search)."""
    what_id: str | None = None
    outlook_hash: str | None = None
    """`content_hash` of the item as last synced."""


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """What the state store knows of one Event."""

    event_id: str
    owner_id: str
    guid: str | None
    origin: Origin = Origin.OUTLOOK
    created_by_crmcal: bool = True
    synced: Mapping[str, object] = field(default_factory=dict)
    invitees: tuple[str, ...] = ()
    invitee_status: Mapping[str, str] = field(default_factory=dict)
    who_ids: tuple[str, ...] = ()
    what_id: str | None = None


__all__ = ["KnownEvent", "Origin", "ShareMode", "TrackedItem"]
