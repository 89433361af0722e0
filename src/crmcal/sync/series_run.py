"""Series in one session (issue 7): gather what `sync.series` decides on, run its actions.

Reads, per session and only when series are in play: the masters of the series the delta touched
(one `$batch`; delta sends occurrences and exceptions sparse and no masters, E1), those series'
occurrences in the window (`/instances`, 20 series per `$batch`)
and the linked Salesforce series' occurrence Events (one query per kind). Writes go through the
engine's `Executor` (journaled, O5), then the `series` rows are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from crmcal.connectors.errors import ItemError
from crmcal.domain import CalendarChanges, CrmEvent, Item, RecurrenceFormat
from crmcal.domain.calendar import ItemType
from crmcal.rules import categories as cat
from crmcal.rules.linking import SearchResults
from crmcal.state import StateStore
from crmcal.state.models import LinkRow, Origin, ShareMode
from crmcal.state.models_engine import SeriesRow
from crmcal.sync.actions import Action, DeleteEvent, DeleteItem, ItemRef, Plan, Unlink
from crmcal.sync.execute import Executor, Outcome
from crmcal.sync.guard import NONE, Deletions
from crmcal.sync.plan import UNSYNCED, Context, TrackedItem
from crmcal.sync.ports import CalendarPort, CrmPort
from crmcal.sync.series import (
    HELD_MARK,
    MASS_DELETE_SERIES_REASON,
    HoldSeries,
    LinkSeries,
    SeriesAction,
    SeriesCase,
    SeriesLink,
    SeriesPlanner,
    UnlinkSeries,
    occurrence_window,
    plan_downsync,
)


class SeriesCalendar(Protocol):
    """What series need of the calendar besides `CalendarPort` (`GraphClient` has it)."""

    def instances(
        self, mailbox: str, master_id: str, start: datetime, end: datetime
    ) -> list[Item]: ...


class SeriesBatchCalendar(Protocol):
    """Several series' occurrences at once (`GraphClient.instances_many`, in `$batch`)."""

    def instances_many(
        self, mailbox: str, master_ids: Sequence[str], start: datetime, end: datetime
    ) -> Mapping[str, Sequence[Item] | Exception]: ...


class SeriesCrm(Protocol):
    """What series need of Salesforce besides `CrmPort` (`SalesforceClient` has it)."""

    def series_events(
        self,
        classic_ids: Sequence[str],
        lightning: Sequence[tuple[str, datetime]] = (),
        window: tuple[datetime, datetime] | None = None,
    ) -> list[CrmEvent]: ...


def _link(row: SeriesRow) -> SeriesLink:
    return SeriesLink(
        mailbox=row.mailbox,
        master_id=row.master_id,
        guid=row.guid,
        event_id=row.event_id,
        format=row.format,
        origin=Origin(row.origin),
        share_mode=ShareMode(row.share_mode),
        pattern_key=row.pattern_key,
        synced=dict(row.synced or {}),
        sf_key=row.sf_key,
    )


_SERIES = select(SeriesRow).where(SeriesRow.mailbox == bindparam("m"))


def series_links_in(s: Session, mailbox: str) -> dict[str, SeriesLink]:
    """The mailbox's shared series by master id, within the session's first transaction: their
    master ids keep the item planner off them, and `run_series` starts from them."""
    return {r.master_id: _link(r) for r in s.scalars(_SERIES, {"m": mailbox})}


def _lightning_key(key: str | None) -> tuple[str, datetime] | None:
    if not key or "|" not in key:
        return None
    owner, when = key.split("|", 1)
    return owner, datetime.fromisoformat(when.replace("Z", "+00:00"))


def merge_outcome(a: Outcome, b: Outcome) -> None:
    """Add `b`'s counts and log to `a`."""
    for k, v in vars(b).items():
        cur = getattr(a, k)
        if isinstance(cur, int) and isinstance(v, int):
            setattr(a, k, cur + v)
        elif isinstance(cur, list) and isinstance(v, list):
            cur.extend(v)


@dataclass
class SeriesRun:
    """One session's series (R1-R6, X8, N3, U5): read and decided by `plan_series`, weighed by
    the session's one X7 guard (`guard`), then written (`execute`)."""

    ctx: Context
    calendar: CalendarPort
    crm: CrmPort
    store: StateStore
    search: SearchResults
    session_id: int | None
    now: datetime
    links: Mapping[str, SeriesLink]
    crm_events: tuple[CrmEvent, ...]
    crm_deleted: frozenset[str]
    linked: int
    """X7's "half of what is linked": the series and the items linked outside them."""
    planner: SeriesPlanner | None = None
    cases: dict[str, SeriesCase] = field(default_factory=dict)
    masters: dict[str, Item] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    read: dict[str, Sequence[Item] | Exception] = field(default_factory=dict)

    @property
    def mailbox(self) -> str:
        return self.ctx.mailbox

    def deletions(self) -> Deletions:
        """What the series plan deletes, before the guard (for the session's one X7 count)."""
        return self.planner.deletions(self.cases) if self.planner is not None else NONE

    def guard(self, *, deleting: int, deleting_items: int, over: bool | None = None) -> None:
        """X7 over the series plan; `over` is the session's verdict over its whole plan."""
        if self.planner is not None:
            self.planner.guard(
                self.cases,
                deleting=deleting,
                deleting_items=deleting_items,
                linked=self.linked,
                over=over,
            )

    def prefetch(self, master_ids: Sequence[str]) -> None:
        """The occurrences of several series in `$batch` (E1: delta sends them sparse, so they
        are read here; 20 series per call where the calendar can batch them)."""
        want = [m for m in master_ids if m not in self.read]
        if want and hasattr(self.calendar, "instances_many"):
            many = cast(SeriesBatchCalendar, self.calendar)
            w = self.ctx.window
            self.read.update(many.instances_many(self.mailbox, want, w.start, w.end))

    def instances_of(self, case: SeriesCase) -> SeriesCase:
        m = case.master
        if m is None or m.type is not ItemType.SERIES_MASTER:
            return case
        if not hasattr(self.calendar, "instances"):
            return case
        got = self.read.get(m.id)
        try:
            if isinstance(got, Exception):
                raise got
            if got is None:
                cal = cast(SeriesCalendar, self.calendar)
                got = cal.instances(self.mailbox, m.id, self.ctx.window.start, self.ctx.window.end)
        except ItemError as exc:  # this series only; its occurrences are judged next time
            self.log.append(f"{m.id}: occurrences not read: {exc}")
            return case
        return replace(case, instances=tuple(got), instances_read=True)

    def execute(self) -> Outcome | None:
        """The series plan's writes (journaled by the engine's executor), then the `series`
        rows; then the occurrences of the series shared just now (R5). None: nothing to do."""
        if self.planner is None:
            return None
        ctx = self.ctx
        links = self.links
        by_event = {lk.event_id: lk for lk in links.values()}
        by_key = {lk.sf_key: lk for lk in links.values() if lk.sf_key}
        sf_masters = {
            lk.master_id: self.masters[lk.master_id]
            for lk in links.values()
            if lk.origin is Origin.SALESFORCE and lk.master_id in self.masters
        }
        actions: list[SeriesAction] = list(self.planner.out)
        actions += plan_downsync(
            ctx, self.crm_events, self.crm_deleted, {**by_key, **by_event}, sf_masters
        )
        if not actions and not self.log:
            return None
        out = Outcome(log=self.log)
        new_links = self._run(actions, out)
        fresh = [lk for lk in new_links if lk.origin is Origin.OUTLOOK]
        if fresh:
            self._fresh(fresh, out)
        return out

    def _run(self, actions: list[SeriesAction], out: Outcome) -> list[SeriesLink]:
        return _execute(
            actions, self.ctx, self.calendar, self.crm, self.store, self.session_id, self.now, out
        )

    def _fresh(self, fresh: list[SeriesLink], out: Outcome) -> None:
        """Series shared just now: their occurrences (exceptions made before sharing: R5)."""
        ctx = self.ctx
        sf_rows = _rows(self.crm, fresh, ctx)
        planner2 = SeriesPlanner(ctx, self.search, ctx.directory.org.recurrence_format)
        masters = self.masters
        self.prefetch([
            lk.master_id for lk in fresh
            if lk.master_id in masters and masters[lk.master_id].type is ItemType.SERIES_MASTER
        ])  # fmt: skip
        for lk in fresh:
            master = masters.get(lk.master_id)
            if master is None:
                continue
            case = self.instances_of(SeriesCase(lk.master_id, master, link=lk))
            planner2.occurrences(
                replace(case, rows=tuple(sf_rows.get(lk.event_id, ()))), master, lk
            )
        if planner2.out:
            self._run(planner2.out, out)


def _in_play(
    changes: CalendarChanges,
    links: Mapping[str, SeriesLink],
    crm_events: tuple[CrmEvent, ...],
    crm_deleted: frozenset[str],
) -> tuple[dict[str, Item], dict[str, None], dict[str, list[Item]], set[str]]:
    """Which series are in play: those the delta touched, those with tombstones (a deleted series
    only shows as its occurrences' tombstones), those Salesforce deleted or changed. Returns the
    masters the delta sent, the wanted master ids, the touched occurrences, and the series
    Salesforce deleted."""
    masters: dict[str, Item] = {}
    wanted: dict[str, None] = {}
    touched: dict[str, list[Item]] = {}
    for it in changes.items:
        if it.type is ItemType.SERIES_MASTER:
            masters[it.id] = it
            wanted.setdefault(it.id, None)
        elif it.series_master_id:
            wanted.setdefault(it.series_master_id, None)
            touched.setdefault(it.series_master_id, []).append(it)
        elif it.id in links:  # U5: a shared series that became a single item
            masters[it.id] = it
            wanted.setdefault(it.id, None)
    if changes.removed:
        for mid in links:
            wanted.setdefault(mid, None)
    for lk in links.values():
        if lk.synced.get(HELD_MARK):  # X7: held deletions stay in play until settled
            wanted.setdefault(lk.master_id, None)
    sf_deleted = {lk.master_id for lk in links.values() if lk.event_id in crm_deleted}
    changed_ids = {e.id for e in crm_events if e.id}
    for lk in links.values():
        if lk.master_id in sf_deleted or (
            lk.origin is Origin.SALESFORCE and lk.event_id in changed_ids
        ):
            wanted.setdefault(lk.master_id, None)
    return masters, wanted, touched, sf_deleted


def _case(
    mid: str,
    master: Item | None,
    link: SeriesLink | None,
    touched: Sequence[Item],
    tracked: Mapping[str, TrackedItem],
    sf_deleted: bool,
) -> SeriesCase:
    """The series case of a series crmcal may share (R2: marked, or saved on any occurrence or
    the master; U5; X5 when Salesforce deleted it)."""
    marked = any(cat.wants_share(i.categories) for i in touched) or (
        master is not None and cat.wants_share(master.categories)
    )
    saved = [
        t
        for t in tracked.values()
        if t.share_mode is ShareMode.SAVE
        and t.event_id is None
        and (t.item_id == mid or (t.snapshot is not None and t.snapshot.series_master_id == mid))
    ]
    marked = marked or bool(saved)
    t = tracked.get(mid)
    single = t.event_id if t is not None and t.event_id and link is None else None
    case = SeriesCase(
        mid,
        master,
        link=link,
        single_event=single,
        marked=marked,
        sf_deleted=sf_deleted,
        unsynced=t is not None and t.event_id is None and t.status == UNSYNCED,
        saved=tuple(ItemRef(x.mailbox, x.item_id, x.guid) for x in saved),
        who_id=next((x.who_id for x in saved if x.who_id), None),
        what_id=next((x.what_id for x in saved if x.what_id), None),
    )
    if link is not None and t is not None and (t.who_id or t.what_id):
        # M2 on a linked series: the choice is stored on the master's link (decision 0121).
        case = replace(case, who_id=t.who_id, what_id=t.what_id, relink=True)
    return case


def plan_series(
    *,
    ctx: Context,
    calendar: CalendarPort,
    crm: CrmPort,
    store: StateStore,
    changes: CalendarChanges,
    tracked: Mapping[str, TrackedItem],
    crm_events: tuple[CrmEvent, ...],
    crm_deleted: frozenset[str],
    search: SearchResults,
    session_id: int | None,
    now: datetime,
    links: Mapping[str, SeriesLink] | None = None,
) -> SeriesRun | None:
    """Read and decide the series in play of one mailbox, writing nothing; None when
    `recurring_sync` is off. `links`: the mailbox's series as the session read them at its start
    (read here when not given). X7 is not applied yet: the session weighs the series'
    deletions with its items' (`SeriesRun.guard`)."""
    org = ctx.directory.org
    if not org.recurring_sync:
        return None
    mailbox = ctx.mailbox
    if links is None:  # the session read them in its first transaction
        with store.session() as s:
            links = series_links_in(s, mailbox)
    linked = len(links) + sum(1 for t in tracked.values() if t.event_id and t.item_id not in links)
    run = SeriesRun(
        ctx, calendar, crm, store, search, session_id, now, links, crm_events, crm_deleted, linked
    )
    masters, wanted, touched, sf_deleted = _in_play(changes, links, crm_events, crm_deleted)
    missing = [m for m in wanted if m not in masters]
    unreadable: set[str] = set()
    if missing:
        got, errors = calendar.fetch_items(mailbox, missing)
        masters.update({i.id: i for i in got})
        unreadable = {e.item_id for e in errors}
    run.masters = masters
    planner = run.planner = SeriesPlanner(ctx, search, org.recurrence_format)
    cases = run.cases
    for mid in wanted:
        master = masters.get(mid)
        link = links.get(mid)
        if mid in unreadable or (master is None and link is None):
            continue
        if link is not None and link.origin is Origin.SALESFORCE and mid not in sf_deleted:
            if master is not None:
                planner.status(master, shared=True, status=cat.TRACKED)
            else:
                cases[mid] = SeriesCase(mid, None, link=link)
            continue
        cases[mid] = _case(mid, master, link, touched.get(mid, ()), tracked, mid in sf_deleted)
    _read_occurrences(run)
    for c in cases.values():
        planner.decide(c)
    return run


def _read_occurrences(run: SeriesRun) -> None:
    """The occurrences the cases need: Outlook's of live shared series, and Salesforce's of
    those and of series deleted in Outlook (X7 weighs those by their occurrences)."""
    cases = run.cases
    live = [
        c for c in cases.values()
        if c.link is not None and c.link.origin is Origin.OUTLOOK and not c.sf_deleted
        and c.master is not None and c.master.type is ItemType.SERIES_MASTER
    ]  # fmt: skip
    gone = [
        c for c in cases.values()
        if c.link is not None and not c.sf_deleted and not run.ctx.allow_mass_delete
        and (c.master is None or c.master.is_cancelled)
    ]  # fmt: skip
    if not (live or gone):
        return
    run.prefetch([c.master_id for c in live])
    sf_rows = _rows(run.crm, [c.link for c in (*live, *gone) if c.link is not None], run.ctx)
    for c in live:
        assert c.link is not None
        cases[c.master_id] = replace(
            run.instances_of(c), rows=tuple(sf_rows.get(c.link.event_id, ()))
        )
    for c in gone:
        assert c.link is not None
        cases[c.master_id] = replace(c, rows=tuple(sf_rows.get(c.link.event_id, ())))


def run_series(
    *,
    deleting: int = 0,
    deleting_items: int = 0,
    **kw: Any,
) -> Outcome | None:
    """Plan, guard and execute the series of one mailbox on their own (X7 counting `deleting`
    Events and `deleting_items` items of an item plan already weighed). A session uses
    `plan_series` and weighs the whole plan at once instead (decision 0120)."""
    run = plan_series(**kw)
    if run is None:
        return None
    run.guard(deleting=deleting, deleting_items=deleting_items)
    return run.execute()


def _rows(crm: CrmPort, links: Iterable[SeriesLink], ctx: Context) -> dict[str, list[CrmEvent]]:
    """The Salesforce occurrence Events of linked series in the window, by series Event id."""
    classic = [lk.event_id for lk in links if lk.format == RecurrenceFormat.CLASSIC.value]
    lightning: dict[tuple[str, datetime], str] = {}
    for lk in links:
        if lk.format == RecurrenceFormat.LIGHTNING.value:
            key = _lightning_key(lk.sf_key)
            if key is not None:
                lightning[(key[0], key[1])] = lk.event_id
    if not hasattr(crm, "series_events") or (not classic and not lightning):
        return {}
    reader = cast(SeriesCrm, crm)
    out: dict[str, list[CrmEvent]] = {}
    for ev in reader.series_events(classic, list(lightning), occurrence_window(ctx)):
        if ev.recurrence_activity_id:
            out.setdefault(ev.recurrence_activity_id, []).append(ev)
        lr = ev.lightning_recurrence
        if lr is not None and lr.start_date is not None:
            k = (ev.owner_id[:15], lr.start_date.astimezone(UTC).replace(microsecond=0))
            for (o, when), eid in lightning.items():
                if (o[:15], when.astimezone(UTC).replace(microsecond=0)) == k:
                    out.setdefault(eid, []).append(ev)
    return out


def _execute(
    actions: list[SeriesAction],
    ctx: Context,
    calendar: CalendarPort,
    crm: CrmPort,
    store: StateStore,
    session_id: int | None,
    now: datetime,
    out: Outcome,
) -> list[SeriesLink]:
    """Deletions first (a replaced series goes before its successor is linked), then the rest;
    then the `series` rows. Returns the links made."""
    org = ctx.directory.org
    engine = [a for a in actions if not isinstance(a, LinkSeries | UnlinkSeries | HoldSeries)]
    first: list[Action] = [a for a in engine if isinstance(a, DeleteEvent | Unlink | DeleteItem)]
    rest: list[Action] = [a for a in engine if not isinstance(a, DeleteEvent | Unlink | DeleteItem)]
    created: dict[str, str] = {}
    failed_before = out.failed
    for part in (first, rest):
        if part:
            ex = Executor(store, calendar, crm, org, session_id=session_id, now=now)
            merge_outcome(out, ex.run(Plan(tuple(part))))
            created.update(ex.created_ids)
    # A write of this batch failed: existing series keep their last synced values, so the next
    # session sees the difference again and retries (O5; review finding) instead of losing it.
    had_failures = out.failed > failed_before
    made: list[SeriesLink] = []
    with store.session() as s:
        for a in actions:
            if isinstance(a, UnlinkSeries):
                s.execute(
                    delete(SeriesRow).where(
                        SeriesRow.mailbox == a.mailbox, SeriesRow.master_id == a.master_id
                    )
                )
            elif isinstance(a, HoldSeries):  # X7
                held = s.scalars(
                    select(SeriesRow).where(
                        SeriesRow.mailbox == a.mailbox, SeriesRow.master_id == a.master_id
                    )
                ).first()
                if held is not None:
                    marks = {k: v for k, v in (held.synced or {}).items() if k != HELD_MARK}
                    held.synced = {**marks, HELD_MARK: True} if a.held else marks
        s.flush()
        if any(isinstance(a, HoldSeries) and not a.held for a in actions):
            # X7 settled (confirmed, or nothing left to delete): its issue closes once no series
            # of the mailbox is held any more.
            marks_left = [
                r.synced
                for r in s.scalars(select(SeriesRow).where(SeriesRow.mailbox == ctx.mailbox))
                if (r.synced or {}).get(HELD_MARK)
            ]
            if not marks_left:
                store.resolve_reason_in(s, ctx.mailbox, MASS_DELETE_SERIES_REASON, now)
        for a in actions:
            if not isinstance(a, LinkSeries):
                continue
            event_id = a.event_id or (created.get(a.create_key) if a.create_key else None)
            if not event_id:
                continue  # the create failed: the executor recorded why (N4)
            master_id = a.master_id
            link = s.scalars(
                select(LinkRow).where(LinkRow.mailbox == a.mailbox, LinkRow.event_id == event_id)
            ).first()
            if not master_id:  # X8: the Outlook series the executor just created
                if link is None:
                    continue
                master_id = link.item_id
            if link is not None:
                # A series' link is not ended by its first occurrence leaving the window (W3).
                link.item_start = link.item_end = None
            row = s.scalars(
                select(SeriesRow).where(
                    SeriesRow.mailbox == a.mailbox, SeriesRow.master_id == master_id
                )
            ).first()
            if row is not None and had_failures and row.event_id == event_id:
                continue
            if row is None:
                row = SeriesRow(mailbox=a.mailbox, master_id=master_id)
                s.add(row)
            row.guid = a.guid or (link.guid if link is not None else "")
            row.event_id = event_id
            row.format = a.format
            row.origin = a.origin.value
            row.share_mode = a.share_mode.value
            row.pattern_key = a.pattern_key
            row.synced = dict(a.synced)
            row.sf_key = a.sf_key
            if a.map_occurrences:
                made.append(
                    SeriesLink(
                        a.mailbox, master_id, row.guid, event_id, a.format, a.origin,
                        a.share_mode, a.pattern_key, dict(a.synced), a.sf_key,
                    )
                )  # fmt: skip
    return made


__all__ = ["SeriesRun", "merge_outcome", "plan_series", "run_series", "series_links_in"]
