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
from typing import Any, Protocol

from crmcal.connectors.errors import AuthError, ConnectorError
from crmcal.domain import CalendarChanges, CrmEvent, Item, OrgSettings, RecordRef, UserConfig
from crmcal.domain.calendar import ItemRemoved
from crmcal.domain.crm import CrmOpportunity
from crmcal.rules.feeds import Stored
from crmcal.rules.linking import SearchResults
from crmcal.rules.participants import Directory
from crmcal.rules.window import Window, window
from crmcal.state import StateStore, repo
from crmcal.state.models import (
    IntentRow,
    SessionStatus,
)
from crmcal.state.repo import Tx
from crmcal.sync.actions import Plan
from crmcal.sync.attachments import pending_retries, share_attachments
from crmcal.sync.attachments import settle_issues as settle_attachment_issues
from crmcal.sync.autocreate import auto_create
from crmcal.sync.duplicates import OPEN_ISSUE_MESSAGES, check_copies, describe
from crmcal.sync.execute import Executor, Outcome
from crmcal.sync.feeds import FeedShare, run_feeds, stored_feed_items_in
from crmcal.sync.guard import NONE, over_guard
from crmcal.sync.plan import (
    Context,
    Inputs,
    KnownEvent,
    Lookups,
    NaturalKey,
    TrackedItem,
    hold_item_deletions,
    in_play,
    item_deletions,
    key_start,
    linked_items,
    lookups,
    natural_key,
    plan,
)
from crmcal.sync.ports import CalendarPort, CrmPort
from crmcal.sync.reconcile import reconcile
from crmcal.sync.series import SeriesLink
from crmcal.sync.series_run import SeriesRun, merge_outcome, plan_series, series_links_in

log = logging.getLogger("crmcal.sync")

GRAPH_DELTA = repo.GRAPH_DELTA


@dataclass
class SessionResult:
    mailbox: str
    session_id: int
    status: SessionStatus
    read: int = 0
    outcome: Outcome = field(default_factory=Outcome)
    error: str | None = None
    seconds: float = 0.0
    stopped: bool = False
    """D4: stopped on purpose for this user; the org's cursors need not wait for it."""
    records_created: int = 0
    """K4: Contacts and Leads auto-created in this session."""
    api_calls: dict[str, int] | None = None
    """I2: Graph (or EWS) and Salesforce calls the session made, however it was started."""

    def stats(self) -> dict[str, Any]:
        return {
            "read": self.read,
            **self.outcome.as_dict(),
            "records_created": self.records_created,
            "seconds": round(self.seconds, 3),
            **(self.api_calls or {}),
        }


def thread_calls(calendar: object, crm: object) -> dict[str, int] | None:
    """The calls this thread has made through the two connectors so far (I2), or None when a
    port does not count them. A session runs on one thread, so the difference of two readings
    is the session's own cost, even with sessions running side by side (`crmcal run`, Celery);
    reading it is two attribute reads, no I/O and no transaction (decision 0134)."""
    counter = getattr(calendar, "calls", None)
    graph = getattr(counter, "this_thread", None)
    sf = getattr(crm, "calls_this_thread", None)
    if not isinstance(graph, int) or not isinstance(sf, int):
        return None
    return {"graph_calls": graph, "salesforce_calls": sf}


def _spent(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {k: after[k] - before[k] for k in after}


class Held(Exception):
    """O1: another worker is running a session for this user, so this one did not start."""


class Claim(Protocol):
    """The caller's hold on the user for one session (a lease, a Celery cycle member): taken in
    the session's first transaction and given back in its last, so a no-change session costs
    two transactions in all (docs/decisions/0035-two-transaction-sessions.md)."""

    def take(self, s: Tx) -> bool:
        """False: the session must not start (someone else holds the user, or the caller's own
        conditions say no); it raises `Held` and records nothing."""
        ...

    def give_back(self, s: Tx, result: SessionResult) -> None: ...


@dataclass
class _State:
    """What a session starts from, read in one transaction."""

    enabled_at: datetime
    cursor: str | None
    tracked: dict[str, TrackedItem]
    item_dates: dict[str, tuple[datetime | None, datetime | None]]
    stored_feeds: dict[tuple[str, str], Stored]
    series: dict[str, SeriesLink]
    """The mailbox's shared series by master id (issue 7)."""
    known: dict[str, KnownEvent]
    """The Events the mailbox's links point to (what `_state_for` would read for them)."""


def _read_state(s: Tx, mailbox: str, now: datetime, window_key: str) -> _State:
    got = repo.mailbox_state(s, mailbox, window_key)
    return _State(
        enabled_at=got.enabled_at or now,
        cursor=got.cursor,
        tracked=got.tracked,
        item_dates=got.item_dates,
        stored_feeds=stored_feed_items_in(s, mailbox),  # G1, G4
        series=series_links_in(s, mailbox),  # issue 7
        known=got.known,
    )


def _begin(
    store: StateStore,
    mailbox: str,
    trigger: str,
    now: datetime,
    window_key: str,
    claim: Claim | None,
) -> tuple[int, list[IntentRow], list[str], _State]:
    """The session's first transaction: the claim, the session record, the intents an
    interrupted session left open (O5), the open D4 issues, and the state to start from."""
    with store.session(relaxed=True) as s:
        if claim is not None and not claim.take(s):
            raise Held(mailbox)
        sid = store.start_session_in(s, mailbox, trigger)
        intents = repo.open_intents(s, mailbox)
        messages = list(s.connection().execute(OPEN_ISSUE_MESSAGES, {"m": mailbox}).scalars())
        return sid, intents, messages, _read_state(s, mailbox, now, window_key)


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
    feeds: FeedShare | None = None,
    invitee_events: frozenset[str] = frozenset(),
    claim: Claim | None = None,
    only: frozenset[str] | None = None,
) -> SessionResult:
    """One session for one user (Outlook to Salesforce). Never raises for per-item problems;
    systemic ones (auth, limits, service down) end the session as failed and count for I3.
    With a `claim`, raises `Held` (and records nothing) when another worker holds the user.
    `only`: a session limited to these items (Save, instant sync; decision 0121): they are read
    by id instead of the delta round, the cursor stays, and nothing else of the mailbox is
    looked at; reconcile, D4, series, attachments and the X7 guard run as in any session."""
    t0 = time.monotonic()
    calls0 = thread_calls(calendar, crm)
    w = window(now, directory.org)
    sid, intents, messages, st = _begin(store, user.mailbox, trigger, now, w.key(), claim)
    run = _Run(
        user, directory, calendar, crm, store, now, zone, shared_activities, allow_mass_delete,
        crm_events, crm_deleted, feeds, invitee_events, only, w, st,
        SessionResult(user.mailbox, sid, SessionStatus.RUNNING),
    )  # fmt: skip
    try:
        run.reconcile(intents)  # O5: what an interrupted session left open
        if run.copied(messages):  # D4: another tool copies crmcal's Events; stop for this user
            return run.result
        changes, feed = run.read()  # the delta round (or the named items), X3/P5 re-reads
        inputs = run.inputs(changes)  # lookups, X5/W3 confirmations, D2, Initial Search
        p, series = run.plan(inputs, changes)  # items (K1-K5 with them), then series
        p = guard(p, inputs, series)  # X7: one count over the whole plan (decision 0120)
        run.execute(p, series)  # items, then series; journaled (O5)
        run.attachments(changes)  # T1-T2
        run.feeds(feed)  # G1, G4
        run.settle(changes)  # unreadable items, the session's status
    except ConnectorError as exc:
        run.failed(exc)
    except Exception as exc:  # a bug, not the APIs: record it, then let it surface
        run.result.status = SessionStatus.FAILED
        run.result.error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        run.result.seconds = time.monotonic() - t0
        run.result.api_calls = _spent(calls0, thread_calls(calendar, crm))
        run.finish(claim)
    return run.result


@dataclass
class _FeedPart:
    """G1, G4: the feed items of this round, taken out of the planner's changes."""

    seen: dict[str, Item]
    removed: list[str]


@dataclass
class _Run:
    """One session's facts and progress; each step of `run_user_session` is one method."""

    user: UserConfig
    directory: Directory
    calendar: CalendarPort
    crm: CrmPort
    store: StateStore
    now: datetime
    zone: Callable[[str], tzinfo | None]
    shared_activities: bool
    allow_mass_delete: bool
    crm_events: tuple[CrmEvent, ...]
    crm_deleted: frozenset[str]
    feed_share: FeedShare | None
    invitee_events: frozenset[str]
    only: frozenset[str] | None
    w: Window
    st: _State
    result: SessionResult
    new_cursor: str | None = None
    ok: bool | None = None
    """True: the session ran; False: it failed or stopped (I3 counts it); None: it crashed."""
    expired: bool = False
    found: SearchResults = field(default_factory=SearchResults.empty)

    @property
    def mailbox(self) -> str:
        return self.user.mailbox

    @property
    def org(self) -> OrgSettings:
        return self.directory.org

    @property
    def sid(self) -> int:
        return self.result.session_id

    def reconcile(self, intents: list[IntentRow]) -> None:
        if intents:  # settle them, then read the state again
            reconcile(self.store, self.crm, self.mailbox, intents)
            with self.store.session() as s:
                self.st = _read_state(s, self.mailbox, self.now, self.w.key())

    def copied(self, messages: list[str]) -> bool:
        dupes = check_copies(
            self.store, self.crm, self.mailbox, self.user.salesforce_user_id, self.crm_events,
            self.now, messages=messages,
        )  # fmt: skip
        if not dupes:
            return False
        r = self.result
        r.status, r.error, self.ok = SessionStatus.FAILED, describe(dupes), False
        r.stopped = True  # the org's cursors still move on (review finding)
        return True

    def read(self) -> tuple[CalendarChanges, _FeedPart]:
        st, only, mailbox = self.st, self.only, self.mailbox
        if only is None:
            changes = self.calendar.delta(mailbox, self.w.start, self.w.end, st.cursor)
        else:
            changes = _named(self.calendar, mailbox, only, st.tracked)
        self.result.read = len(changes.items)
        # G1, G4: one-way feed items are the feeds' business, not the planner's.
        stored = st.stored_feeds
        feed_ids = {f.item_id for f in stored.values() if f.item_id}
        # A feed item whose create was interrupted has no id yet: its category gives it away.
        pending = {f.desired.category for f in stored.values() if not f.item_id}
        feed_ids |= {i.id for i in changes.items if pending & set(i.categories)}
        feed = _FeedPart(
            {i.id: i for i in changes.items if i.id in feed_ids},
            [r.id for r in changes.removed if r.id in feed_ids],
        )
        if feed_ids:
            changes = replace(
                changes,
                items=tuple(i for i in changes.items if i.id not in feed_ids),
                removed=tuple(r for r in changes.removed if r.id not in feed_ids),
            )
        # X3: items whose Event was deleted in Salesforce are looked at even if Outlook did not
        # change them (one batched read of just those items).
        seen_ids = {i.id for i in changes.items}
        changed_ids = {e.id for e in self.crm_events if e.id} | set(self.crm_deleted)
        if self.org.invitation_mode:
            changed_ids |= self.invitee_events  # P5: their items are looked at too
        hit = [
            t.item_id
            for t in st.tracked.values()
            if t.event_id in changed_ids and t.item_id not in seen_ids
        ]
        if hit:
            reread, unreadable = self.calendar.fetch_items(mailbox, hit)
            changes = replace(
                changes,
                items=(*changes.items, *reread),
                errors=(*changes.errors, *unreadable),
            )
        return changes, feed

    def inputs(self, changes: CalendarChanges) -> Inputs:
        st, crm, directory = self.st, self.crm, self.directory
        tracked = st.tracked
        ctx = Context(
            user=self.user,
            directory=directory,
            now=self.now,
            window=self.w,
            enabled_at=st.enabled_at,
            shared_activities=self.shared_activities,
            zone=self.zone,
            allow_mass_delete=self.allow_mass_delete,
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
        dates = st.item_dates
        if self.only is not None:  # a limited session looks at the named items only
            dates = {k: v for k, v in dates.items() if k in self.only}
        gone, exits = _gone_and_exits(self.calendar, self.mailbox, changes, tracked, self.w, dates)
        existing = _existing(crm, lk, items, tracked, ctx)
        # D2 adopts only an Event nothing is linked to: Events crmcal knows (linked to any item,
        # in play or not) are loaded with the rest, so the planner sees them as taken.
        candidates = [eid for ids in existing.values() for eid in ids]
        by_guid, events = _state_for(
            self.store,
            lk.guids,
            tracked.values(),
            [e.id for e in self.crm_events if e.id] + candidates,
            known=st.known,
        )
        self.found = search(crm, lk, ctx)
        inputs = Inputs(
            ctx,
            items=changes.items,
            removed=changes.removed,
            gone=gone,
            exits=exits,
            crm_events=self.crm_events,
            crm_deleted=self.crm_deleted,
            tracked=tracked,
            by_guid=by_guid,
            events=events,
            search=self.found,
            existing=existing,
            series_masters=frozenset(st.series),
            guard=False,  # weighed with the series' deletions (`guard`)
        )
        if self.org.invitation_mode and self.invitee_events:
            inputs = _with_invitees(crm, inputs, self.invitee_events, directory)
        return inputs

    def plan(self, inputs: Inputs, changes: CalendarChanges) -> tuple[Plan, SeriesRun | None]:
        # K1-K5, M4: records for unresolved participants, then the plan again with them.
        p, made = auto_create(self.crm, self.store, inputs, plan(inputs), session_id=self.sid)
        self.result.records_created = len(made)
        # R1-R6, X8, N3, U5: recurring series, decided as series (issue 7), before any write.
        series = plan_series(
            ctx=inputs.ctx, calendar=self.calendar, crm=self.crm, store=self.store,
            changes=changes, tracked=self.st.tracked, crm_events=self.crm_events,
            crm_deleted=self.crm_deleted, search=self.found, session_id=self.sid, now=self.now,
            links=self.st.series,
        )  # fmt: skip
        return p, series

    def execute(self, p: Plan, series: SeriesRun | None) -> None:
        ex = Executor(
            self.store, self.calendar, self.crm, self.org, session_id=self.sid, now=self.now
        )
        self.result.outcome = ex.run(p)
        series_out = series.execute() if series is not None else None
        if series_out is not None:
            merge_outcome(self.result.outcome, series_out)

    def attachments(self, changes: CalendarChanges) -> None:
        """T1-T2: files of the items now linked go to their Events (skips named in the log)."""
        store, mailbox, only = self.store, self.mailbox, self.only
        file_items = {i.id: i for i in in_play(changes.items, self.st.tracked)}
        retry_gone: list[str] = []
        if self.org.share_attachments:  # files that failed before are tried again (0054)
            again = [
                i
                for i in pending_retries(store, mailbox)
                if i not in file_items and (only is None or i in only)
            ]
            if again:
                got, unreadable = self.calendar.fetch_items(mailbox, again)
                file_items.update({i.id: i for i in got})
                erred = {e.item_id for e in unreadable}  # still there: tried again next time
                retry_gone = [i for i in again if i not in file_items and i not in erred]
        files = share_attachments(
            self.calendar, self.crm, store, self.org, mailbox, file_items.values()
        )
        settle_attachment_issues(store, mailbox, files, file_items, retry_gone, self.now)
        self.result.outcome.log += files.log
        self.result.outcome.failed += files.failed  # the session is partial, not succeeded

    def feeds(self, feed: _FeedPart) -> None:
        share = self.feed_share
        if share is None:  # a caller that read no feeds leaves feed items alone
            return
        fo = run_feeds(
            self.mailbox,
            calendar=self.calendar,
            store=self.store,
            w=self.w,
            active=share.active,
            changes=share.changes,
            full=share.full,
            stored=self.st.stored_feeds,
            seen=feed.seen,
            removed=feed.removed,
        )
        out = self.result.outcome
        out.created_items += fo.created
        out.updated_items += fo.updated
        out.deleted_items += fo.deleted
        out.failed += fo.failed
        out.log.extend(fo.log)

    def settle(self, changes: CalendarChanges) -> None:
        self.new_cursor = changes.cursor
        for err in changes.errors:
            self.store.raise_issue(
                mailbox=self.mailbox,
                reason="unreadable_item",
                item_id=err.item_id,
                message=f"The item could not be read: {err.reason}",
                now=self.now,
            )
        self.result.status = (
            SessionStatus.PARTIAL
            if self.result.outcome.failed or changes.errors
            else SessionStatus.SUCCEEDED
        )
        self.ok = True

    def failed(self, exc: ConnectorError) -> None:
        self.result.status = SessionStatus.FAILED
        self.result.error = str(exc)
        self.ok = False
        self.expired = isinstance(exc, AuthError)

    def finish(self, claim: Claim | None) -> None:
        """One write transaction to close the session: the cursor (only if it moved), the
        user's health (I3, W4), the session's record, the claim given back."""
        store, mailbox, result, ok = self.store, self.mailbox, self.result, self.ok
        with store.session(relaxed=True) as s:
            cursor = self.new_cursor
            if ok and cursor and cursor != self.st.cursor:  # unchanged: no write
                store.set_cursor_in(s, GRAPH_DELTA, mailbox, cursor, self.w.key())
            if ok:
                store.record_success_in(s, mailbox, enabled_at=self.now)
            elif ok is not None:
                store.record_outcome_in(
                    s,
                    mailbox,
                    ok=False,
                    unhealthy_after=self.org.unhealthy_after_failures,
                    reason=result.error,
                    credentials_expired=self.expired,
                    enabled_at=self.now,  # W4: when crmcal was switched on, in the session's clock
                )
            store.finish_session_in(
                s, self.sid, status=result.status, stats=result.stats(), error=result.error
            )
            if claim is not None:
                claim.give_back(s, result)


def _named(
    calendar: CalendarPort, mailbox: str, only: frozenset[str], tracked: dict[str, TrackedItem]
) -> CalendarChanges:
    """A limited session's "delta": the named items read by id. A tracked one that is not
    found is reported removed, so X5 confirms it gone as after a tombstone (and X7 weighs it).
    No cursor: the mailbox's delta cursor stays where it is."""
    ids = sorted(only)
    items, errors = calendar.fetch_items(mailbox, ids) if ids else ((), ())
    found = {i.id for i in items} | {e.item_id for e in errors}
    removed = tuple(ItemRemoved(i, mailbox) for i in ids if i not in found and i in tracked)
    return CalendarChanges(mailbox, tuple(items), removed, cursor="", errors=tuple(errors))


def guard(p: Plan, inputs: Inputs, series: SeriesRun | None) -> Plan:
    """X7, once over every Salesforce deletion of the session's plan: the items' and the series'
    together (decision 0120). Over the guard, all of them are held. The "half of what is linked"
    rule counts shared things against the user's linked items, or, when whole series go, against
    the series and items linked (decision 0036)."""
    org = inputs.ctx.directory.org
    items = item_deletions(p.actions)
    of_series = series.deletions() if series is not None else NONE
    linked = series.linked if series is not None and of_series.things else linked_items(inputs)
    total = items + of_series
    over = over_guard(org, total, linked, confirmed=inputs.ctx.allow_mass_delete)
    if over and items.events:
        p = Plan(tuple(hold_item_deletions(p.actions, inputs, total.events, linked)))
    if series is not None:
        series.guard(deleting=items.events, deleting_items=items.things, over=over)
    return p


def _with_invitees(
    crm: CrmPort, inputs: Inputs, invitee_events: frozenset[str], directory: Directory
) -> Inputs:
    """P5 `invitation_mode`: the current invitees of this user's linked Events whose invitees
    changed in Salesforce (one query), and the e-mail addresses of the people involved."""
    ids = sorted({t.event_id for t in inputs.tracked.values() if t.event_id in invitee_events})
    if not ids:
        return inputs
    now: dict[str, set[str]] = {i: set() for i in ids}
    for r in crm.relations_for(ids):
        if r.is_invitee and not r.is_deleted and r.relation_id.startswith("005"):
            now.setdefault(r.event_id, set()).add(r.relation_id[:15])
    known = {uid[:15]: mail for mail, uid in directory.salesforce_users.items()}
    people = set().union(*now.values()) | {
        u[:15] for i in ids if (ev := inputs.events.get(i)) for u in ev.invitees
    }
    missing = sorted(p for p in people if p not in known)
    if missing:
        known.update({u.id[:15]: u.email for u in crm.users(ids=missing) if u.email})
    return replace(
        inputs,
        crm_invitees={k: frozenset(v) for k, v in now.items()},
        user_emails={p: known[p] for p in people if p in known},
    )


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
    *,
    known: dict[str, KnownEvent] | None = None,
) -> tuple[dict[str, tuple[TrackedItem, ...]], dict[str, KnownEvent]]:
    """Tracked items of every mailbox and known Events for the GUIDs, links and Salesforce
    changes in play. Events already in `known` (read at the session's start) are not read again;
    with no GUID in play and every Event known, this reads nothing."""
    guid_list = sorted(set(guids))
    wanted = {t.event_id for t in tracked if t.event_id} | set(more_event_ids)
    have = known or {}
    events: dict[str, KnownEvent] = {e: have[e] for e in wanted if e in have}
    event_ids = sorted(wanted - events.keys())
    by_guid: dict[str, tuple[TrackedItem, ...]] = {}
    if not guid_list and not event_ids:
        return by_guid, events
    with store.session() as s:
        by_guid, more = repo.links_and_events(s, guid_list, event_ids)
    events.update(more)
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
