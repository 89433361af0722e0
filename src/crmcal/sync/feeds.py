"""G1 and G4, effects: read the feeds once per cycle for the org, then write each mailbox's share.

`read_feeds` is the org-level part (one Salesforce query per configured feed per cycle:
incremental on `SystemModstamp`, or a full read of the window the first time and whenever the
window moves to a new day). `run_feeds` is one mailbox's part, called inside that user's session
with the feed items the Outlook delta returned; every decision is `rules.feeds.plan_feed`'s.

Durable: a create is remembered (item id empty) before Graph is asked, with a `transactionId`
that makes the retry after a crash return the same item instead of a second one.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crmcal.connectors.errors import ConnectorError, NotFound
from crmcal.domain import Item, OrgSettings, UserConfig
from crmcal.domain.crm import PublicCalendar
from crmcal.domain.feeds import FeedChanges
from crmcal.domain.settings import CalendarObject
from crmcal.rules import feeds as rules
from crmcal.rules.feeds import Desired, FeedCreate, FeedDelete, FeedInputs, FeedPatch, Stored
from crmcal.rules.window import Window
from crmcal.state import StateStore
from crmcal.state.models import utcnow
from crmcal.state.models_feeds import FeedItemRow
from crmcal.sync.ports import CalendarPort

log = logging.getLogger("crmcal.sync")

FEED_CURSOR = "feed_modstamp"
RETRY = "_retry"
"""Key in `feed_items.desired` marking a write that failed and is due again."""
_CALENDAR_ID = re.compile(r"023[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")


class FeedSource(Protocol):
    """What `read_feeds` needs of Salesforce (the Salesforce connector has these)."""

    def public_calendars(self) -> Sequence[PublicCalendar]: ...

    def calendar_events(
        self, calendar_id: str, since: datetime | None, start: datetime, end: datetime
    ) -> FeedChanges: ...

    def object_records(
        self,
        obj: CalendarObject,
        fields: Sequence[str],
        since: datetime | None,
        start: datetime,
        end: datetime,
    ) -> FeedChanges: ...


@dataclass(frozen=True)
class FeedShare:
    """One mailbox's share of a cycle's feeds (what `run_user_session` passes on)."""

    active: frozenset[str] = frozenset()
    changes: Mapping[str, Mapping[str, Desired | None]] = field(default_factory=dict)
    full: frozenset[str] = frozenset()


@dataclass
class FeedCycle:
    """The feeds as read for one cycle, ready to hand each mailbox its share."""

    window: Window
    active: dict[str, frozenset[str]] = field(default_factory=dict)
    """mailbox -> feed keys it receives."""
    changes: dict[str, dict[str, dict[str, Desired | None]]] = field(default_factory=dict)
    """mailbox -> feed -> record id -> desired item (None: remove)."""
    full: set[str] = field(default_factory=set)
    cursors: dict[str, datetime] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    calls: int = 0

    def for_mailbox(self, mailbox: str) -> FeedShare:
        return FeedShare(
            self.active.get(mailbox, frozenset()),
            self.changes.get(mailbox, {}),
            frozenset(self.full),
        )

    def commit(self, store: StateStore) -> None:
        """Advance the feed cursors (after every session of the cycle took its share)."""
        with store.session() as s:
            commit_cursors_in(s, self.cursor_json())

    def cursor_json(self) -> dict[str, object]:
        return {
            "window": self.window.key(),
            "cursors": {k: v.isoformat() for k, v in self.cursors.items()},
        }

    def to_json(self) -> dict[str, object]:
        """What Celery session tasks need (JSON, never pickle): every mailbox's share."""
        return {
            "active": {mb: sorted(keys) for mb, keys in self.active.items()},
            "changes": {
                mb: {
                    feed: {rid: (d.to_json() if d is not None else None) for rid, d in recs.items()}
                    for feed, recs in feeds.items()
                }
                for mb, feeds in self.changes.items()
            },
            "full": sorted(self.full),
        }


def share_from_json(data: Mapping[str, Any], mailbox: str) -> FeedShare:
    """One mailbox's share out of `FeedCycle.to_json()`."""
    active = data.get("active", {}).get(mailbox, ())
    changes = data.get("changes", {}).get(mailbox, {})
    return FeedShare(
        frozenset(str(k) for k in active),
        {
            str(feed): {
                str(rid): (Desired.from_json(d) if d is not None else None)
                for rid, d in recs.items()
            }
            for feed, recs in changes.items()
        },
        frozenset(str(k) for k in data.get("full", ())),
    )


def commit_cursors_in(s: Session, data: Mapping[str, Any]) -> None:
    """Advance feed cursors from `FeedCycle.cursor_json()` inside an open unit of work."""
    window_key = str(data.get("window", ""))
    for key, when in dict(data.get("cursors", {})).items():
        StateStore.set_cursor_in(s, FEED_CURSOR, str(key), str(when), window_key)


def _since(store: StateStore, key: str, w: Window) -> datetime | None:
    cur = store.get_cursor(FEED_CURSOR, key)
    if cur is None or cur.window != w.key():
        return None  # first read, or the window moved: read the whole window again
    return datetime.fromisoformat(cur.value)


def _stored_mailboxes(
    store: StateStore, feed: str, record_ids: Iterable[str]
) -> dict[str, set[str]]:
    ids = sorted(set(record_ids))
    out: dict[str, set[str]] = defaultdict(set)
    with store.session() as s:
        for i in range(0, len(ids), 500):
            q = select(FeedItemRow.record_id, FeedItemRow.mailbox).where(
                FeedItemRow.feed == feed, FeedItemRow.record_id.in_(ids[i : i + 500])
            )
            for rid, mb in s.execute(q):
                out[rid].add(mb)
    return out


def read_feeds(
    org: OrgSettings,
    users: Sequence[UserConfig],
    crm: FeedSource,
    store: StateStore,
    w: Window,
) -> FeedCycle:
    """G1 + G4, org level: one query per feed; each record handed to the mailboxes it is for."""
    cyc = FeedCycle(window=w)
    mailboxes = {u.mailbox for u in users}
    by_owner = {u.salesforce_user_id[:15]: u.mailbox for u in users}
    active: dict[str, set[str]] = defaultdict(set)
    if not org.public_calendars and not org.calendar_objects:
        return cyc
    names: dict[str, str] | None = None

    def hand(
        key: str,
        got: FeedChanges,
        targets: Mapping[str, set[str]],
        wants: Mapping[str, Desired | None],
    ) -> None:
        stored = _stored_mailboxes(store, key, [*wants, *got.deleted_ids])
        for rid, want in wants.items():
            for mb in targets.get(rid, set()):
                cyc.changes.setdefault(mb, {}).setdefault(key, {})[rid] = want
            for mb in stored.get(rid, set()) - targets.get(rid, set()):
                cyc.changes.setdefault(mb, {}).setdefault(key, {})[rid] = None  # moved away
        for rid in got.deleted_ids:
            for mb in stored.get(rid, set()):
                cyc.changes.setdefault(mb, {}).setdefault(key, {})[rid] = None
        if got.full:
            cyc.full.add(key)
        if got.cursor is not None:
            cyc.cursors[key] = got.cursor
        for rid, why in got.rejected:
            cyc.errors.append(f"{key}: record {rid} unreadable: {why}")

    for cal in org.public_calendars:
        cal_id = cal.calendar
        if not _CALENDAR_ID.fullmatch(cal_id):
            if names is None:
                cyc.calls += 1
                names = {c.name: c.id for c in crm.public_calendars()}
            cal_id = names.get(cal.calendar, "")
        targets = {u.strip().lower() for u in cal.users} & mailboxes
        if not cal_id:
            cyc.errors.append(f"public calendar {cal.calendar!r} not found (G1)")
            continue
        key = rules.calendar_feed_key(cal_id)
        for mb in targets:
            active[mb].add(key)
        try:
            cyc.calls += 1
            got: FeedChanges = crm.calendar_events(cal_id, _since(store, key, w), w.start, w.end)
        except ConnectorError as e:
            cyc.errors.append(f"{key}: not read: {e}")
            continue
        wants = {ev.id: rules.desired_from_event(ev, cal.category) for ev in got.events if ev.id}
        hand(key, got, {rid: set(targets) for rid in wants}, wants)
    for obj in org.calendar_objects:
        key = rules.object_feed_key(obj)
        for mb in mailboxes:
            active[mb].add(key)
        try:
            cyc.calls += 1
            got = crm.object_records(
                obj, rules.object_fields(obj), _since(store, key, w), w.start, w.end
            )
        except (ConnectorError, ValueError) as e:
            cyc.errors.append(f"{key}: not read: {e}")
            continue
        wants = {r.id: rules.desired_from_record(r, obj) for r in got.records}
        owners = {
            r.id: {by_owner[r.owner_id[:15]]} if r.owner_id[:15] in by_owner else set()
            for r in got.records
        }
        hand(key, got, owners, wants)
    cyc.active = {mb: frozenset(keys) for mb, keys in active.items()}
    for problem in cyc.errors:
        log.warning("feeds: %s", problem)
    return cyc


@dataclass
class FeedOutcome:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    log: list[str] = field(default_factory=list)


_STORED = select(FeedItemRow).where(FeedItemRow.mailbox == bindparam("m"))


def stored_feed_items_in(s: Session, mailbox: str) -> dict[tuple[str, str], Stored]:
    """The mailbox's feed items, within the session's read transaction."""
    rows = s.scalars(_STORED, {"m": mailbox})
    return {
        (r.feed, r.record_id): Stored(
            r.feed,
            r.record_id,
            r.item_id,
            Desired.from_json(r.desired),
            r.generation,
            retry=str(r.desired.get(RETRY)) if r.desired.get(RETRY) else None,
        )
        for r in rows
    }


def run_feeds(
    mailbox: str,
    *,
    calendar: CalendarPort,
    store: StateStore,
    w: Window,
    active: frozenset[str],
    changes: Mapping[str, Mapping[str, Desired | None]],
    full: frozenset[str],
    stored: Mapping[tuple[str, str], Stored],
    seen: Mapping[str, Item],
    removed: Sequence[str],
) -> FeedOutcome:
    """One mailbox's feed items: plan, then create, patch and delete (one `$batch` per 20)."""
    out = FeedOutcome()
    gone: frozenset[str] = frozenset()
    by_item = {st.item_id: st for st in stored.values() if st.item_id}
    asked = [i for i in removed if i in by_item]
    if asked:
        # A tombstone also comes for an item moved out of the window: only a 404 is a deletion.
        there, errors = calendar.fetch_items(mailbox, asked)
        known = {i.id for i in there} | {e.item_id for e in errors}
        gone = frozenset(i for i in asked if i not in known)
        seen = {**seen, **{i.id: i for i in there}}
    actions = rules.plan_feed(
        FeedInputs(
            window=w,
            active=active,
            changes=changes,
            full=full,
            stored=stored,
            seen=seen,
            gone=gone,
        )
    )
    if not actions:
        return out
    creates = [a for a in actions if isinstance(a, FeedCreate)]
    patches = [a for a in actions if isinstance(a, FeedPatch)]
    deletes = [a for a in actions if isinstance(a, FeedDelete)]
    wanted = rules.categories_for(actions)
    if wanted:
        calendar.ensure_categories(mailbox, wanted)
    if creates:
        _create(mailbox, creates, calendar, store, out)
    if patches:
        results = {
            str(r.key): r
            for r in calendar.update_items(
                mailbox, [(p.item_id, p.desired.patch()) for p in patches]
            )
        }
        with store.session() as s:
            for p in patches:
                r = results.get(p.item_id)
                row = s.get(FeedItemRow, (mailbox, p.feed, p.record_id))
                if row is not None:
                    row.desired = p.desired.to_json()
                    row.updated_at = utcnow()
                if r is not None and r.ok:
                    out.updated += 1
                    out.log.append(f"{p.item_id}: {p.feed} record {p.record_id} {p.reason} (G1/G4)")
                else:
                    if row is not None:  # due again next session (O5: not lost)
                        row.desired = {**row.desired, RETRY: "patch"}
                    out.failed += 1
                    out.log.append(f"{p.item_id}: feed item not updated: {r.error if r else ''}")
    if deletes:
        ids = [d.item_id for d in deletes if d.item_id]
        results = {str(r.key): r for r in calendar.delete_items(mailbox, ids)} if ids else {}
        with store.session() as s:
            for d in deletes:
                r = results.get(d.item_id or "")
                row = s.get(FeedItemRow, (mailbox, d.feed, d.record_id))
                if d.item_id and not (r is not None and (r.ok or isinstance(r.error, NotFound))):
                    if row is not None:  # due again next session (O5: not lost)
                        row.desired = {**row.desired, RETRY: "delete"}
                    out.failed += 1
                    out.log.append(f"{d.item_id}: feed item not deleted: {r.error if r else ''}")
                    continue
                if row is not None:
                    s.delete(row)
                if d.item_id:
                    out.deleted += 1
                out.log.append(f"{d.item_id}: {d.feed} record {d.record_id} {d.reason}: removed")
    return out


def _create(
    mailbox: str,
    creates: Sequence[FeedCreate],
    calendar: CalendarPort,
    store: StateStore,
    out: FeedOutcome,
) -> None:
    # Remember first (no item id yet): a crash after Graph made the item is finished next
    # session by the same transactionId, which Graph answers with the item it already made.
    with store.session() as s:
        for c in creates:
            row = s.get(FeedItemRow, (mailbox, c.feed, c.record_id))
            if row is None:
                row = FeedItemRow(mailbox=mailbox, feed=c.feed, record_id=c.record_id)
                s.add(row)
            row.item_id = None
            row.generation = c.generation
            row.desired = c.desired.to_json()
            row.updated_at = utcnow()
    results = {
        r.key: r
        for r in calendar.create_items(
            mailbox, [c.desired.draft(c.transaction_id) for c in creates]
        )
    }
    with store.session() as s:
        for pos, c in enumerate(creates):
            r = results.get(pos)
            if r is None or not r.ok or r.id is None:
                out.failed += 1
                out.log.append(
                    f"{c.feed} record {c.record_id}: not created: {r.error if r else ''}"
                )
                continue
            row = s.get(FeedItemRow, (mailbox, c.feed, c.record_id))
            if row is not None:
                row.item_id = r.id
            out.created += 1
            out.log.append(f"{r.id}: {c.feed} record {c.record_id} created in Outlook (G1/G4)")


__all__ = [
    "FEED_CURSOR",
    "FeedCycle",
    "FeedOutcome",
    "FeedShare",
    "read_feeds",
    "run_feeds",
    "stored_feed_items_in",
]
