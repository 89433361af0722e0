"""The session's reads, as domain types (issue 18: SQL lives in `state/`; past it only typed
domain objects travel). The hot statements are built once: building them costs more CPU than
SQLite takes to run them, and a no-change session is little else (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from crmcal.domain.codec import item_from_json
from crmcal.domain.links import KnownEvent, Origin, ShareMode, TrackedItem
from crmcal.state.models import CursorRow, EventRow, IntentRow, IntentStatus, LinkRow, UserHealthRow

GRAPH_DELTA = "graph_delta"

Tx = Session
"""One state-store transaction, as the engine holds it (`StateStore.session()`); the engine
passes it on to the store's functions and runs no SQL on it itself."""

_HEALTH = select(UserHealthRow.enabled_at).where(UserHealthRow.mailbox == bindparam("m"))
_CURSOR = select(CursorRow.value, CursorRow.window).where(
    CursorRow.kind == GRAPH_DELTA, CursorRow.scope == bindparam("m")
)
_LINKS = select(LinkRow).where(LinkRow.mailbox == bindparam("m"))
_EVENTS = select(EventRow).where(EventRow.event_id.in_(bindparam("ids", expanding=True)))
_INTENTS = (
    select(IntentRow)
    .where(IntentRow.status == IntentStatus.OPEN, IntentRow.mailbox == bindparam("m"))
    .order_by(IntentRow.id)
)
_INTENT_IDS = select(IntentRow.id).where(
    IntentRow.status == IntentStatus.OPEN, IntentRow.mailbox == bindparam("m")
)


@dataclass
class MailboxState:
    """What a session starts from for one mailbox's items (read in its first transaction)."""

    enabled_at: datetime | None
    cursor: str | None
    """The Graph delta cursor, when it was read for the window `window_key` asked for."""
    tracked: dict[str, TrackedItem]
    item_dates: dict[str, tuple[datetime | None, datetime | None]]
    """Linked items' last known start and end (W3: the window sliding past them)."""
    known: dict[str, KnownEvent]
    """The Events the mailbox's links point to."""


def tracked_item(row: LinkRow) -> TrackedItem:
    snap = None
    if row.snapshot:
        try:
            snap = item_from_json(row.snapshot)
        except (KeyError, ValueError, TypeError):
            snap = None
    return TrackedItem(
        mailbox=row.mailbox,
        item_id=row.item_id,
        guid=row.guid,
        event_id=row.event_id,
        share_mode=ShareMode(row.share_mode),
        origin=Origin(row.origin),
        status=row.status,
        snapshot=snap,
        who_id=row.who_id,
        what_id=row.what_id,
        outlook_hash=row.outlook_hash,
    )


def known_event(row: EventRow) -> KnownEvent:
    return KnownEvent(
        event_id=row.event_id,
        owner_id=row.owner_id,
        guid=row.guid,
        origin=Origin(row.origin),
        created_by_crmcal=row.created_by_crmcal,
        synced=dict(row.synced or {}),
        invitees=tuple(row.invitees or ()),
        invitee_status=dict(row.invitee_status or {}),
        who_ids=tuple(row.who_ids or ()),
        what_id=row.what_id,
    )


def mailbox_state(s: Session, mailbox: str, window_key: str) -> MailboxState:
    m = {"m": mailbox}
    db = s.connection()  # plain column reads need no ORM
    enabled_at = db.execute(_HEALTH, m).scalar()
    cur = db.execute(_CURSOR, m).first()
    rows = list(s.scalars(_LINKS, m))
    event_ids = sorted({r.event_id for r in rows if r.event_id})
    known: dict[str, KnownEvent] = {}
    for i in range(0, len(event_ids), 500):
        for row in s.scalars(_EVENTS, {"ids": event_ids[i : i + 500]}):
            known[row.event_id] = known_event(row)
    return MailboxState(
        enabled_at=enabled_at,
        cursor=cur.value if cur is not None and cur.window == window_key else None,
        tracked={r.item_id: tracked_item(r) for r in rows},
        item_dates={r.item_id: (r.item_start, r.item_end) for r in rows if r.event_id},
        known=known,
    )


def open_intents(s: Session, mailbox: str) -> list[IntentRow]:
    """O5: the intents an interrupted session left open (none: one cheap id query)."""
    db = s.connection()
    if not list(db.execute(_INTENT_IDS, {"m": mailbox}).scalars()):
        return []
    return list(s.scalars(_INTENTS, {"m": mailbox}))


def links_and_events(
    s: Session, guids: Iterable[str], event_ids: Iterable[str]
) -> tuple[dict[str, tuple[TrackedItem, ...]], dict[str, KnownEvent]]:
    """Tracked items of every mailbox for the GUIDs, and the known Events for the GUIDs and ids
    (500 per statement)."""
    guid_list, id_list = sorted(set(guids)), sorted(set(event_ids))
    by_guid: dict[str, tuple[TrackedItem, ...]] = {}
    events: dict[str, KnownEvent] = {}
    for i in range(0, len(guid_list), 500):
        chunk = guid_list[i : i + 500]
        for r in s.scalars(select(LinkRow).where(LinkRow.guid.in_(chunk))):
            by_guid[r.guid] = (*by_guid.get(r.guid, ()), tracked_item(r))
    for i in range(0, max(len(guid_list), len(id_list)), 500):
        g, e = guid_list[i : i + 500], id_list[i : i + 500]
        q = select(EventRow).where(or_(EventRow.guid.in_(g), EventRow.event_id.in_(e)))
        for row in s.scalars(q):
            events[row.event_id] = known_event(row)
    return by_guid, events


__all__ = [
    "GRAPH_DELTA",
    "MailboxState",
    "Tx",
    "known_event",
    "links_and_events",
    "mailbox_state",
    "open_intents",
    "tracked_item",
]
