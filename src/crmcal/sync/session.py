"""One session for one user: read changes, look up, plan, execute, record.

The only place that strings the pieces together; every decision is the planner's, every write the
executor's. The Graph delta cursor advances only after the writes it led to are recorded, so a
crash re-reads rather than skips (O5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import or_, select

from crmcal.connectors.errors import AuthError, ConnectorError
from crmcal.domain import CalendarChanges, CrmEvent, Item, OrgSettings, RecordRef, UserConfig
from crmcal.domain.crm import CrmOpportunity
from crmcal.rules.linking import SearchResults
from crmcal.rules.participants import Directory
from crmcal.rules.window import Window, window
from crmcal.state import StateStore
from crmcal.state.models import (
    CursorRow,
    EventRow,
    LinkRow,
    Origin,
    SessionStatus,
    ShareMode,
    UserHealthRow,
)
from crmcal.sync.codec import item_from_json
from crmcal.sync.execute import Executor, Outcome
from crmcal.sync.plan import (
    Context,
    Inputs,
    KnownEvent,
    Lookups,
    NaturalKey,
    TrackedItem,
    in_play,
    key_start,
    lookups,
    natural_key,
    plan,
)
from crmcal.sync.ports import CalendarPort, CrmPort
from crmcal.sync.reconcile import reconcile

log = logging.getLogger("crmcal.sync")

GRAPH_DELTA = "graph_delta"


@dataclass
class SessionResult:
    mailbox: str
    session_id: int
    status: SessionStatus
    read: int = 0
    outcome: Outcome = field(default_factory=Outcome)
    error: str | None = None
    seconds: float = 0.0

    def stats(self) -> dict[str, Any]:
        return {"read": self.read, **self.outcome.as_dict(), "seconds": round(self.seconds, 3)}


def _tracked(row: LinkRow) -> TrackedItem:
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


def _known(row: EventRow) -> KnownEvent:
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


def search(crm: CrmPort, lk: Lookups, ctx: Context) -> SearchResults:
    """Run the session's lookups: one call per kind (L2, L3, L4, L6), none when nothing is asked."""
    people: dict[str, tuple[RecordRef, ...]] = {}
    if lk.addresses:
        for ref in crm.find_people(lk.addresses):
            key = ref.email.strip().lower()
            people[key] = (*people.get(key, ()), ref)
    accounts: dict[str, RecordRef] = {}
    domains = lk.domains(people, ctx)
    if domains:
        for dom, refs in crm.accounts_by_domain(domains).items():
            if refs:
                accounts[dom] = refs[0]
    records: dict[str, RecordRef] = {}
    if lk.record_ids:
        records = {r.id: r for r in crm.records_by_ids(lk.record_ids)}
    account_ids = {r.account_id for rs in people.values() for r in rs if r.account_id}
    account_ids |= {a.id for a in accounts.values()}
    account_ids |= {r.account_id for r in records.values() if r.account_id}
    opps: dict[str, tuple[CrmOpportunity, ...]] = {}
    if account_ids:
        for o in crm.open_opportunities(sorted(account_ids)):
            if o.account_id:
                opps[o.account_id] = (*opps.get(o.account_id, ()), o)
    return SearchResults(people, accounts, opps, records)


def run_user_session(
    user: UserConfig,
    *,
    directory: Directory,
    calendar: CalendarPort,
    crm: CrmPort,
    store: StateStore,
    now: datetime,
    zone: Callable[[str], tzinfo | None] = lambda _n: None,
    trigger: str = "schedule",
    shared_activities: bool = True,
    allow_mass_delete: bool = False,
    crm_events: tuple[CrmEvent, ...] = (),
    crm_deleted: frozenset[str] = frozenset(),
) -> SessionResult:
    """One session for one user (Outlook to Salesforce). Never raises for per-item problems;
    systemic ones (auth, limits, service down) end the session as failed and count for I3."""
    t0 = time.monotonic()
    mailbox = user.mailbox
    org: OrgSettings = directory.org
    sid = store.start_session(mailbox, trigger)
    result = SessionResult(mailbox, sid, SessionStatus.RUNNING)
    w = window(now, org)
    new_cursor: str | None = None
    outcome_ok: bool | None = None
    expired = False
    try:
        reconcile(store, crm, mailbox)  # O5: settle what an interrupted session left open
        with store.session() as s:  # one read transaction for what the session starts from
            health = s.get(UserHealthRow, mailbox)
            enabled_at = health.enabled_at if health is not None and health.enabled_at else now
            cur = s.get(CursorRow, (GRAPH_DELTA, mailbox))
            cursor = cur.value if cur is not None and cur.window == w.key() else None
            rows = list(s.scalars(select(LinkRow).where(LinkRow.mailbox == mailbox)))
            tracked = {r.item_id: _tracked(r) for r in rows}
            item_dates = {r.item_id: (r.item_start, r.item_end) for r in rows if r.event_id}
        changes: CalendarChanges = calendar.delta(mailbox, w.start, w.end, cursor)
        result.read = len(changes.items)
        # X3: items whose Event was deleted in Salesforce are looked at even if Outlook did not
        # change them (one batched read of just those items).
        seen_ids = {i.id for i in changes.items}
        changed_ids = {e.id for e in crm_events if e.id} | set(crm_deleted)
        hit = [
            t.item_id
            for t in tracked.values()
            if t.event_id in changed_ids and t.item_id not in seen_ids
        ]
        if hit:
            reread, unreadable = calendar.fetch_items(mailbox, hit)
            changes = replace(
                changes,
                items=(*changes.items, *reread),
                errors=(*changes.errors, *unreadable),
            )
        ctx = Context(
            user=user,
            directory=directory,
            now=now,
            window=w,
            enabled_at=enabled_at,
            shared_activities=shared_activities,
            zone=zone,
            allow_mass_delete=allow_mass_delete,
        )
        items = in_play(changes.items, tracked)
        lk = lookups(ctx, items, tracked)
        if lk.internal:
            extra = {u.email.strip().lower(): u.id for u in crm.users(lk.internal) if u.is_active}
            if extra:
                directory = replace(
                    directory, salesforce_users={**directory.salesforce_users, **extra}
                )
                ctx = replace(ctx, directory=directory)
        gone, exits = _gone_and_exits(calendar, mailbox, changes, tracked, w, item_dates)
        by_guid, events = _state_for(
            store, lk.guids, tracked.values(), [e.id for e in crm_events if e.id]
        )
        found = search(crm, lk, ctx)
        existing = _existing(crm, lk, items, tracked, ctx)
        p = plan(
            Inputs(
                ctx,
                items=changes.items,
                removed=changes.removed,
                gone=gone,
                exits=exits,
                crm_events=crm_events,
                crm_deleted=crm_deleted,
                tracked=tracked,
                by_guid=by_guid,
                events=events,
                search=found,
                existing=existing,
            )
        )
        result.outcome = Executor(store, calendar, crm, org, session_id=sid, now=now).run(p)
        new_cursor = changes.cursor
        for err in changes.errors:
            store.raise_issue(
                mailbox=mailbox,
                reason="unreadable_item",
                item_id=err.item_id,
                message=f"The item could not be read: {err.reason}",
                now=now,
            )
        result.status = (
            SessionStatus.PARTIAL
            if result.outcome.failed or changes.errors
            else SessionStatus.SUCCEEDED
        )
        outcome_ok = True
    except ConnectorError as exc:
        result.status = SessionStatus.FAILED
        result.error = str(exc)
        outcome_ok = False
        expired = isinstance(exc, AuthError)
    except Exception as exc:  # a bug, not the APIs: record it, then let it surface
        result.status = SessionStatus.FAILED
        result.error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        result.seconds = time.monotonic() - t0
        with store.session() as s:  # one write transaction to close the session
            if outcome_ok and new_cursor:
                store.set_cursor_in(s, GRAPH_DELTA, mailbox, new_cursor, w.key())
            if outcome_ok is not None:
                store.record_outcome_in(
                    s,
                    mailbox,
                    ok=outcome_ok,
                    unhealthy_after=org.unhealthy_after_failures,
                    reason=result.error,
                    credentials_expired=expired,
                    enabled_at=now,  # W4: when crmcal was switched on, in the session's clock
                )
            store.finish_session_in(
                s, sid, status=result.status, stats=result.stats(), error=result.error
            )
    return result


def _gone_and_exits(
    calendar: CalendarPort,
    mailbox: str,
    changes: CalendarChanges,
    tracked: dict[str, TrackedItem],
    w: Window,
    item_dates: dict[str, tuple[datetime | None, datetime | None]],
) -> tuple[frozenset[str], tuple[Item, ...]]:
    """X5 vs W3, in one batched read: removed linked items that are really deleted (a 404), and
    linked items that left the window: moved out (a tombstone, yet still there) or passed by the
    sliding window (their last known end is before it starts; no tombstone comes for those)."""
    removed = [r.id for r in changes.removed if (t := tracked.get(r.id)) and t.event_id]
    seen_ids = {i.id for i in changes.items}
    slid = [
        item_id
        for item_id, (start, end) in item_dates.items()
        if end is not None
        and start is not None
        and not w.touches(start, end)
        and item_id not in seen_ids
        and item_id not in removed
    ]
    ids = removed + slid
    if not ids:
        return frozenset(), ()
    items, errors = calendar.fetch_items(mailbox, ids)
    # Only a real "not found" is a deletion: an item that answered with an error or an
    # unreadable body still exists as far as anyone knows, so its Event is left alone.
    unknown = {i.id for i in items} | {e.item_id for e in errors}
    gone = frozenset(i for i in removed if i not in unknown)
    return gone, tuple(items)


def _state_for(
    store: StateStore,
    guids: Iterable[str],
    tracked: Iterable[TrackedItem],
    more_event_ids: Iterable[str] = (),
) -> tuple[dict[str, tuple[TrackedItem, ...]], dict[str, KnownEvent]]:
    """Tracked items of every mailbox and known Events for the GUIDs, links and Salesforce
    changes in play."""
    guid_list = sorted(set(guids))
    event_ids = sorted({t.event_id for t in tracked if t.event_id} | set(more_event_ids))
    by_guid: dict[str, tuple[TrackedItem, ...]] = {}
    events: dict[str, KnownEvent] = {}
    with store.session() as s:
        for i in range(0, len(guid_list), 500):
            chunk = guid_list[i : i + 500]
            for r in s.scalars(select(LinkRow).where(LinkRow.guid.in_(chunk))):
                by_guid[r.guid] = (*by_guid.get(r.guid, ()), _tracked(r))
        for i in range(0, max(len(guid_list), len(event_ids)), 500):
            g, e = guid_list[i : i + 500], event_ids[i : i + 500]
            q = select(EventRow).where(or_(EventRow.guid.in_(g), EventRow.event_id.in_(e)))
            for row in s.scalars(q):
                events[row.event_id] = _known(row)
    return by_guid, events


def _existing(
    crm: CrmPort,
    lk: Lookups,
    items: list[Any],
    tracked: dict[str, TrackedItem],
    ctx: Context,
) -> dict[NaturalKey, tuple[str, ...]]:
    """D2: Events of this owner at the start times of items that might be shared now."""
    candidates = [
        i for i in items if not (i.id in tracked and tracked[i.id].event_id) and i.start is not None
    ]
    if not candidates or not lk.natural_keys:
        return {}
    # Salesforce puts an all-day Event at midnight UTC of its date: use the natural keys' starts.
    starts = sorted({key_start(k[2]) for k in lk.natural_keys if k[2]})
    out: dict[NaturalKey, tuple[str, ...]] = {}
    for ev in crm.events_by_natural_keys([ctx.owner_id], starts):
        if ev.id is None:
            continue
        k = natural_key(ev.owner_id, ev)
        out[k] = (*out.get(k, ()), ev.id)
    return out
