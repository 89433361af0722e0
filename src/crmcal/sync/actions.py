"""The typed actions the planner emits and the executor carries out (vdirsyncer's idea, typed).

Each action names the rule(s) that asked for it, so a session log can say why it happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from crmcal.domain import Attendee, CrmEvent, Item, ItemDraft, ItemPatch
from crmcal.domain.links import Origin, ShareMode
from crmcal.rules.categories import Status


@dataclass(frozen=True, slots=True)
class ItemRef:
    mailbox: str
    item_id: str
    guid: str


@dataclass(frozen=True, slots=True)
class Invitee:
    user_id: str
    status: str
    """`Accepted`, `Declined` or `New` (undecided), P4."""


@dataclass(frozen=True, slots=True)
class CreateEvent:
    """Share an item: create its Event (or adopt one by D3 upsert), relate Whos and invitees, link
    the item. `key` identifies the write in the intent journal (GUID + owner)."""

    item: ItemRef
    event: CrmEvent
    share_mode: ShareMode
    synced: Mapping[str, object]
    who_relations: tuple[str, ...] = ()
    invitees: tuple[Invitee, ...] = ()
    rules: tuple[str, ...] = ()
    source: Item | None = None
    """The item, so a failed write can be tracked and retried (N4, I1)."""

    @property
    def key(self) -> str:
        return f"{self.item.guid}|{self.event.owner_id}"


@dataclass(frozen=True, slots=True)
class LinkItem:
    """Link an item to an Event that already exists (D1, D2, P1 attendee copies)."""

    item: ItemRef
    event_id: str
    share_mode: ShareMode
    origin: Origin = Origin.OUTLOOK
    adopted: bool = False
    """D2: an Event crmcal did not make (another tool, by hand) taken over; said in the log."""
    owner_id: str | None = None
    synced: Mapping[str, object] | None = None
    rules: tuple[str, ...] = ()
    source: Item | None = None
    """The item (or its snapshot), so the link records its times (W3)."""


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """U1: write changed fields to an Event."""

    event_id: str
    fields: Mapping[str, object]
    synced: Mapping[str, object]
    """The new base for U4 after this write."""
    conflicts: tuple[str, ...] = ()
    item: ItemRef | None = None
    rules: tuple[str, ...] = ("U1",)
    source: Item | None = None


@dataclass(frozen=True, slots=True)
class SyncRelations:
    """P4, P6, L5: bring an Event's invitees and Who relations to the wanted sets."""

    event_id: str
    add_invitees: tuple[Invitee, ...] = ()
    remove_invitees: tuple[str, ...] = ()
    update_status: tuple[Invitee, ...] = ()
    """P4: invitees whose response changed."""
    who_id: str | None = None
    what_id: str | None = None
    who_relations: tuple[str, ...] = ()
    set_links: bool = False
    """True when WhoId/WhatId/Who relations change too."""
    clear_whos: bool = False
    """M6: the item became private; every Who/What relation goes (Salesforce requires it)."""
    rules: tuple[str, ...] = ("P4", "P6")


@dataclass(frozen=True, slots=True)
class SetCategories:
    """C1-C4, N4: the item's new category list (crmcal-owned ones only differ)."""

    item: ItemRef
    categories: tuple[str, ...]
    status: Status | None
    """The status category among `categories` (C3), with its kind (and so its colour)."""
    rules: tuple[str, ...] = ("C3",)
    refresh: bool = False
    """Computed from an older snapshot (another mailbox's copy): the executor re-reads the item
    and keeps the user's current categories, changing only crmcal's (C4)."""


@dataclass(frozen=True, slots=True)
class CreateItem:
    """X1: an Event made in Salesforce appears in its owner's Outlook calendar."""

    mailbox: str
    draft: ItemDraft
    event: CrmEvent
    synced: Mapping[str, object]
    rules: tuple[str, ...] = ("X1",)


@dataclass(frozen=True, slots=True)
class DeleteEvent:
    """X4, X5, M5: delete an Event crmcal created, because its item went away or was unshared."""

    event_id: str
    item: ItemRef
    subject: str = ""
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateItem:
    """X2: fields changed in Salesforce go to the Outlook item (never attendees: P5, P7)."""

    item: ItemRef
    patch: ItemPatch
    event_id: str
    synced: Mapping[str, object]
    fields: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    rules: tuple[str, ...] = ("X2", "U4")


@dataclass(frozen=True, slots=True)
class SetAttendees:
    """P5 with `invitation_mode`: invitees added or removed in Salesforce become attendees
    added or removed in Outlook (Microsoft 365 mails them; the user opted in)."""

    item: ItemRef
    event_id: str
    attendees: tuple[Attendee, ...]
    invitees: tuple[str, ...]
    """The Event's invitee User Ids as Salesforce has them now (recorded as synced)."""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rules: tuple[str, ...] = ("P5",)


@dataclass(frozen=True, slots=True)
class DeleteItem:
    """X3: delete an Outlook item whose Event was deleted in Salesforce."""

    item: ItemRef
    rules: tuple[str, ...] = ("X3",)


@dataclass(frozen=True, slots=True)
class Unlink:
    """Forget an item's link (state only); `event_gone` forgets the Event too (once no other
    mailbox's item points at it); `deleted_elsewhere` says Salesforce already deleted it."""

    item: ItemRef
    event_id: str | None = None
    event_gone: bool = False
    deleted_elsewhere: bool = False
    remember: str | None = None
    """Keep the item tracked with this status instead of forgetting it (M5, X3: auto-share must
    not take it back), in the same transaction as the unlink (O5)."""


@dataclass(frozen=True, slots=True)
class HoldDelete:
    """X7: a deletion the mass-delete guard stopped; kept until someone confirms it."""

    item: ItemRef
    event_id: str
    subject: str
    rules: tuple[str, ...] = ("X7",)


@dataclass(frozen=True, slots=True)
class Track:
    """Remember an item that is not shared but needs another look later (waiting, unresolved,
    marked), or forget it (`forget=True`). State only."""

    item: ItemRef
    snapshot: Item | None
    status: str | None
    share_mode: ShareMode = ShareMode.AUTO
    forget: bool = False


@dataclass(frozen=True, slots=True)
class Seen:
    """Remember what a linked item looked like (its content hash), and keep a snapshot while it has
    participants without a record, so a record made later still links (P6). State only."""

    item: ItemRef
    outlook_hash: str
    snapshot: Item | None = None
    start: datetime | None = None
    end: datetime | None = None
    """The item's times, so a window slide can be noticed from the state alone (W3)."""


@dataclass(frozen=True, slots=True)
class RaiseIssue:
    """I1: an item that could not sync or is waiting."""

    mailbox: str
    reason: str
    message: str
    item: Item | None = None
    event_id: str | None = None
    actions: tuple[str, ...] = ("retry", "dismiss")
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResolveIssues:
    """Close an item's open issues (all, or all but `keep`)."""

    mailbox: str
    item_id: str
    keep: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth saying in the session log that changes nothing (e.g. why an item was
    passed by)."""

    item: ItemRef | None
    text: str
    rules: tuple[str, ...] = ()


Action = (
    CreateEvent
    | LinkItem
    | UpdateEvent
    | SyncRelations
    | SetCategories
    | CreateItem
    | UpdateItem
    | SetAttendees
    | DeleteItem
    | DeleteEvent
    | Unlink
    | HoldDelete
    | Track
    | Seen
    | RaiseIssue
    | ResolveIssues
    | Note
)


A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = field(default=())

    def of(self, kind: type[A]) -> list[A]:
        return [a for a in self.actions if isinstance(a, kind)]
