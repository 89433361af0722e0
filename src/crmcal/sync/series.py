"""Recurring series both ways (issue 7; SPEC R1-R6, X3-X5 and X8 for series, N3, U5): the pure
decisions. No I/O, no clock; `series_run` gathers the inputs and carries the actions out.

The unit is the series: an Outlook series master with its occurrences and exceptions on one side,
a Salesforce series on the other (Classic: the series record and its occurrence Events; Lightning:
the occurrence Events, the first of which stands for the series). Occurrences are matched by their
original start: an Outlook occurrence (or exception) whose original start is X belongs to the
Salesforce occurrence starting at X, or, once moved (R5), to the one starting where the exception
starts now. Nothing per occurrence needs remembering (docs/decisions/0060-series-engine.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from crmcal.domain import (
    CrmEvent,
    Direction,
    Item,
    ItemDraft,
    ItemPatch,
    RecurrenceFormat,
    Sensitivity,
)
from crmcal.domain.calendar import ItemType, ShowAs
from crmcal.domain.crm import LightningRecurrence
from crmcal.domain.links import Origin, ShareMode
from crmcal.rules import categories as cat
from crmcal.rules.linking import Linking, SearchResults, link, search_addresses
from crmcal.rules.mapping import event_from_item, synced_values
from crmcal.rules.participants import Scenario, autoshare_skip, participants, scenario
from crmcal.rules.recurrence import (
    Inexpressible,
    InvalidPattern,
    Reason,
    Target,
    check_series,
    expand_graph,
    from_lightning,
    resolve_zone,
    to_classic,
    to_lightning,
)
from crmcal.sync.actions import (
    Action,
    CreateEvent,
    CreateItem,
    DeleteEvent,
    DeleteItem,
    ItemRef,
    Note,
    RaiseIssue,
    ResolveIssues,
    SetCategories,
    SyncRelations,
    Track,
    Unlink,
    UpdateEvent,
    UpdateItem,
)
from crmcal.sync.guard import Deletions, over_guard
from crmcal.sync.plan import DIRECTION_REASON_TEXT, NOT_SYNCED_REASON, UNSYNCED, Context

LIGHTNING_EXCEPTION_REASON = "lightning_future_exception"
"""R5 in the Lightning format: a single changed future occurrence cannot be kept (api-facts B1)."""
CONVERSION_REASON = "series_conversion"
"""U5: a shared single item became a series, or a shared series a single item."""

OCCURRENCE_FIELDS = ("Subject", "StartDateTime", "EndDateTime", "Location", "ShowAs", "IsPrivate")
"""What an Outlook occurrence or exception sets on its Salesforce occurrence (R5, U1)."""
SERIES_FIELDS = ("Subject", "Location", "ShowAs", "IsPrivate")
"""What a master edit sets on a Classic series record (R2, U1)."""


@dataclass(frozen=True, slots=True)
class SeriesLink:
    """What the state store knows of one shared series (a `series` row)."""

    mailbox: str
    master_id: str
    guid: str
    event_id: str
    format: str
    origin: Origin
    share_mode: ShareMode
    pattern_key: str = ""
    synced: Mapping[str, object] = field(default_factory=dict)
    sf_key: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesCase:
    """One series in play in a session."""

    master_id: str
    master: Item | None
    """None when the master is gone from Outlook (deleted, or cancelled by its organizer)."""
    instances: tuple[Item, ...] = ()
    """The series' occurrences and exceptions in the window (cancelled ones are absent)."""
    instances_read: bool = False
    """Whether `instances` was read: without it no occurrence is judged (nothing is taken for
    cancelled because it could not be read)."""
    link: SeriesLink | None = None
    single_event: str | None = None
    """U5: the master's id is linked to a single Event (it was a single item when shared)."""
    marked: bool = False
    """R2: an occurrence or the master carries the `Salesforce` category, or was saved."""
    rows: tuple[CrmEvent, ...] = ()
    """The linked Salesforce series' occurrence Events in the window."""
    sf_deleted: bool = False
    """The linked Salesforce series was deleted in Salesforce (X3)."""
    unsynced: bool = False
    """M5, X3: the user unshared it (or Salesforce deleted it): auto-share leaves it alone."""
    saved: tuple[ItemRef, ...] = ()
    """R2, M2: items of the series marked with the Save action (forgotten once it is shared)."""
    who_id: str | None = None
    what_id: str | None = None
    """M2: the Name and Related To chosen with the Save action."""
    relink: bool = False
    """R2, M2 on a linked series: `who_id`/`what_id` are the Save action's choice, to bring the
    Salesforce series and its occurrences to (decision 0121)."""

    @property
    def held(self) -> bool:
        """X7: this series' deletions were held by an earlier session."""
        return self.link is not None and bool(self.link.synced.get(HELD_MARK))


@dataclass(frozen=True, slots=True)
class LinkSeries:
    """Remember a shared series (state only). `create_key` names a CreateEvent of this plan whose
    Event id is not known yet (`guid|owner`)."""

    mailbox: str
    master_id: str
    guid: str
    event_id: str | None
    format: str
    origin: Origin
    share_mode: ShareMode
    pattern_key: str
    synced: Mapping[str, object]
    sf_key: str | None = None
    create_key: str | None = None
    map_occurrences: bool = False
    """Match the new series' occurrences in this session (exceptions present at share time)."""


@dataclass(frozen=True, slots=True)
class UnlinkSeries:
    """Forget a series (state only)."""

    mailbox: str
    master_id: str


@dataclass(frozen=True, slots=True)
class HoldSeries:
    """X7: mark (or unmark) a series whose deletions wait for a confirmation (state only), so
    that later sessions keep it in play until confirmed or no longer needed."""

    mailbox: str
    master_id: str
    held: bool


SeriesAction = Action | LinkSeries | UnlinkSeries | HoldSeries

HELD_MARK = "_crmcal_held"
"""Key in a `series` row's `synced` values: its deletions are held by X7."""
MASS_DELETE_SERIES_REASON = "mass_delete_guard_series"


# -- helpers -------------------------------------------------------------------------------------


def series_zone(master: Item) -> str:
    """The series' zone: the range's, else the master's start zone (Windows or IANA name)."""
    rec = master.recurrence
    return (rec.range.time_zone if rec is not None else None) or master.start_time_zone or "UTC"


def pattern_key(master: Item) -> str:
    """What makes the Salesforce series: pattern, range, wall time, length, zone (R3)."""
    rec = master.recurrence
    zone = series_zone(master)
    res = resolve_zone(zone)
    wall = (
        master.start.astimezone(res.zone).strftime("%H:%M:%S")
        if not isinstance(res, Inexpressible)
        else master.start.isoformat()
    )
    raw = "|".join((repr(rec), wall, str(master.end - master.start), zone, str(master.is_all_day)))
    return hashlib.sha256(raw.encode()).hexdigest()


def sf_key(owner_id: str, start: datetime) -> str:
    """How a Lightning series is found again: owner and pattern start (it has no series id)."""
    return f"{owner_id[:15]}|{start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _ref(master: Item) -> ItemRef:
    return ItemRef(master.mailbox, master.id, master.ical_uid)


def _series_values(values: Mapping[str, object]) -> dict[str, object]:
    return {k: values.get(k) for k in SERIES_FIELDS}


def _occurrence_values(values: Mapping[str, object]) -> dict[str, object]:
    return {k: values.get(k) for k in OCCURRENCE_FIELDS}


# -- Outlook to Salesforce -----------------------------------------------------------------------


class SeriesPlanner:
    """Decides for the series in play of one mailbox (R1-R6, N3, U5, X3-X5 for series)."""

    def __init__(self, ctx: Context, search: SearchResults, fmt: RecurrenceFormat) -> None:
        self.ctx = ctx
        self.org = ctx.directory.org
        self.us = ctx.user.settings
        self.search = search
        self.fmt = fmt
        self.out: list[SeriesAction] = []

    def emit(self, a: SeriesAction) -> None:
        self.out.append(a)

    def status(
        self, master: Item, *, shared: bool, status: cat.Status | None, error: bool = False
    ) -> None:
        new = cat.apply(master.categories, shared=shared, status=status, error=error)
        if new != master.categories:
            self.emit(SetCategories(_ref(master), new, status, rules=("C3", "R2")))

    def refuse(
        self, master: Item, code: str, reason: str, rules: tuple[str, ...], *, shared: bool
    ) -> None:
        """N4: `Sync Error`, a status naming the reason, and an issue; nothing synced."""
        self.status(master, shared=shared, status=cat.not_synced(reason), error=True)
        self.emit(
            RaiseIssue(
                master.mailbox,
                code,
                f"Not synced: {reason}",
                item=master,
                rules=(*rules, "N4", "I1"),
            )
        )

    def decide(self, case: SeriesCase) -> None:
        link, master = case.link, case.master
        if link is not None and case.sf_deleted:
            self.deleted_in_salesforce(case, link)
            return
        if master is None or master.is_cancelled:
            if link is not None:
                self.gone_from_outlook(case, link)
            return
        if case.single_event is not None and link is None:
            # U5: a shared single item turned into a series: the Event stays as it was.
            self.refuse(
                master,
                CONVERSION_REASON,
                "a shared single item was turned into a series; the Salesforce Event stays as "
                "it was (share the series again as a new item)",
                ("U5",),
                shared=True,
            )
            return
        if master.type is not ItemType.SERIES_MASTER or master.recurrence is None:
            if link is not None:
                # U5: a shared series turned into a single item.
                self.refuse(
                    master,
                    CONVERSION_REASON,
                    "a shared series was turned into a single item; the Salesforce series stays "
                    "as it was",
                    ("U5",),
                    shared=True,
                )
            return
        if link is None:
            self.unlinked(case, master)
        elif link.origin is Origin.SALESFORCE:
            # X8: a Salesforce-born series: Salesforce drives it; Outlook keeps the categories.
            self.status(master, shared=True, status=cat.TRACKED)
        else:
            self.linked(case, master, link)

    # -- sharing ----------------------------------------------------------------------------------

    def problem(self, master: Item) -> Inexpressible | None:
        rec = master.recurrence
        assert rec is not None
        target: Target = "lightning" if self.fmt is RecurrenceFormat.LIGHTNING else "classic"
        return check_series(
            rec,
            master.start,
            master.end,
            series_zone(master),
            is_all_day=master.is_all_day,
            target=target,
            horizon=self.ctx.window.end.date(),
        )

    def series_event(self, master: Item, who: str | None, what: str | None) -> CrmEvent | None:
        """R3: the Salesforce series for an Outlook series, in the org's format."""
        rec = master.recurrence
        assert rec is not None
        ev = event_from_item(
            master,
            owner_id=self.ctx.owner_id,
            org=self.org,
            tz=self.ctx.zone(master.start_time_zone),
            who_id=who,
            what_id=what,
            guid=master.ical_uid,
            first_share=True,
            defaults=self.org.event_defaults,
        )
        length = master.end - master.start
        zone = series_zone(master)
        if self.fmt is RecurrenceFormat.LIGHTNING:
            lr = to_lightning(rec, master.start, length, zone)
            if isinstance(lr, Inexpressible) or lr.start_date is None:
                return None
            first = lr.start_date.astimezone(UTC)
            return replace(
                ev,
                start=first,
                end=first + length,
                lightning_recurrence=lr,
                is_reminder_set=False,
                reminder_at=None,
            )
        c = to_classic(rec, master.start, length, zone, horizon=self.ctx.window.end.date())
        if isinstance(c, Inexpressible):
            return None
        first = c.start.astimezone(UTC)
        return replace(
            ev,
            start=first,
            end=first + length,
            classic_recurrence=c,
            is_reminder_set=False,
            reminder_at=None,
        )

    def linking(self, master: Item) -> Linking:
        """L1-L6 for the series (its attendees are those of its occurrences in play)."""
        p = participants(master, self.ctx.directory, self.us)
        return link(
            search_addresses(master, p.searchable, self.org),
            self.search,
            owner_id=self.ctx.owner_id,
            today=self.ctx.now.date(),
            shared_activities=self.ctx.shared_activities,
        )

    def unlinked(self, case: SeriesCase, master: Item) -> None:
        ref = _ref(master)
        p = participants(master, self.ctx.directory, self.us)
        sc = scenario(master, self.ctx.directory)
        if sc is Scenario.CRMCAL_ORGANIZER and not case.marked:
            # P2: the in-org organizer's own session shares the series.
            self.emit(Note(ref, "series organized by another crmcal user: left to them", ("P2",)))
            return
        lk = self.linking(master)
        manual = case.marked
        if self.us.direction is Direction.SALESFORCE_TO_OUTLOOK:
            # G3: Salesforce is master for this user: Outlook series are never shared up.
            if manual:
                self.refuse(master, NOT_SYNCED_REASON, DIRECTION_REASON_TEXT, ("G3",), shared=True)
            return
        if case.unsynced and not manual:
            self.emit(Note(ref, "unsynced: auto-share leaves the series alone", ("M5", "X3")))
            return
        skip = autoshare_skip(master, p, self.us, self.org, linked=lk.linked)
        if not manual and skip is not None:
            self.emit(Note(ref, f"series not auto-shared: {skip.value}", ("R2",)))
            return
        mode = ShareMode.CATEGORY if manual else ShareMode.AUTO
        bad = self.problem(master)
        if bad is not None:
            # R4, R6, N3: reported with the reason, never synced wrong.
            self.refuse(master, bad.reason_code.value, bad.reason_text, ("R4",), shared=manual)
            return
        who = None if master.is_private else (case.who_id or lk.who_id)
        what = None if master.is_private else (case.what_id or lk.what_id)
        ev = self.series_event(master, who, what)
        if ev is None:  # check_series said yes; the conversion agrees (proven), but be safe
            self.refuse(
                master, "invalid_pattern", "the pattern could not be converted", ("R3",),
                shared=manual,
            )  # fmt: skip
            return
        self.create(master, ev, mode, ("R2", "R3", "A1" if mode is ShareMode.AUTO else "M1"))
        for ref in case.saved:
            if ref.item_id != master.id:  # the master's own row becomes the series' link
                self.emit(Track(ref, None, None, forget=True))

    def create(self, master: Item, ev: CrmEvent, mode: ShareMode, rules: tuple[str, ...]) -> None:
        ref = _ref(master)
        synced = synced_values(ev)
        self.emit(CreateEvent(ref, ev, mode, synced, rules=rules, source=master))
        lr = ev.lightning_recurrence
        self.emit(
            LinkSeries(
                master.mailbox,
                master.id,
                master.ical_uid,
                None,
                self.fmt.value,
                Origin.OUTLOOK,
                mode,
                pattern_key(master),
                {**_series_values(synced), "_start": synced.get("StartDateTime")},
                sf_key=sf_key(ev.owner_id, ev.start) if lr is not None and ev.start else None,
                create_key=f"{master.ical_uid}|{ev.owner_id}",
                map_occurrences=True,
            )
        )
        self.status(master, shared=True, status=cat.TRACKED)
        self.emit(ResolveIssues(master.mailbox, master.id))

    # -- a linked series --------------------------------------------------------------------------

    def linked(self, case: SeriesCase, master: Item, link: SeriesLink) -> None:
        ref = _ref(master)
        if pattern_key(master) != link.pattern_key:
            # The pattern, the time of every occurrence, their length or the zone changed: the
            # Salesforce series is replaced (Classic series fields can only be set on create;
            # Outlook also drops the exceptions when a series' time changes).
            bad = self.problem(master)
            if bad is not None:
                self.refuse(master, bad.reason_code.value, bad.reason_text, ("R4",), shared=True)
                return
            lk = self.linking(master)
            private = master.is_private
            ev = self.series_event(
                master, None if private else lk.who_id, None if private else lk.what_id
            )
            if ev is None:
                return
            ev = replace(ev, description="")  # U2: the body went up once, with the first share
            self.emit(DeleteEvent(link.event_id, ref, master.subject, ("R3", "U1")))
            self.emit(Unlink(ref, link.event_id, event_gone=True))
            self.emit(UnlinkSeries(master.mailbox, master.id))
            self.emit(Note(ref, "series pattern or time changed: Salesforce series replaced"))
            self.create(master, ev, link.share_mode, ("R3", "U1"))
            return
        self.status(master, shared=True, status=cat.TRACKED)
        if link.format == RecurrenceFormat.CLASSIC.value:
            # U1: master edits reach the Classic series record (occurrences: below).
            now_values = _series_values(
                synced_values(
                    event_from_item(
                        master, owner_id=self.ctx.owner_id, org=self.org, first_share=False
                    )
                )
            )
            last = _series_values(link.synced)
            fields = {k: v for k, v in now_values.items() if last.get(k) != v}
            if fields:
                self.emit(UpdateEvent(link.event_id, fields, now_values, item=ref, rules=("U1",)))
                self.emit(
                    LinkSeries(
                        link.mailbox,
                        link.master_id,
                        link.guid,
                        link.event_id,
                        link.format,
                        link.origin,
                        link.share_mode,
                        link.pattern_key,
                        {**link.synced, **now_values},
                        sf_key=link.sf_key,
                    )
                )
        self.relations(case, master, link)
        self.occurrences(case, master, link)

    def relations(self, case: SeriesCase, master: Item, link: SeriesLink) -> None:
        """R2, M2: Save on an occurrence or the master of a linked series sets the chosen Name
        and Related To on the Salesforce series and on each of its occurrence Events in the
        window that does not have them yet (nothing on a private series, M6)."""
        if not case.relink or master.is_private or not (case.who_id or case.what_id):
            return
        who, what = case.who_id, case.what_id

        def differs(ev: CrmEvent) -> bool:
            return bool((who and ev.who_id != who) or (what and ev.what_id != what))

        stale = [r.id for r in case.rows if r.id and differs(r)]
        if not stale:
            return
        for event_id in dict.fromkeys([link.event_id, *stale]):
            self.emit(
                SyncRelations(
                    event_id,
                    who_id=who,
                    what_id=what,
                    who_relations=(who,) if who else (),
                    set_links=True,
                    rules=("M2", "R2"),
                )
            )

    def occurrences(self, case: SeriesCase, master: Item, link: SeriesLink) -> None:
        """R5 and U1 per occurrence: each Outlook occurrence or exception in the window sets its
        Salesforce occurrence; a cancelled one deletes it. Writes only what differs."""
        if not case.instances_read:
            return
        rows = [r for r in case.rows if r.id and r.classic_recurrence is None and r.start]
        by_start: dict[datetime, CrmEvent] = {}
        for r in rows:
            assert r.start is not None
            by_start.setdefault(r.start.astimezone(UTC), r)
        used: set[str] = set()
        seen_orig: set[datetime] = set()
        for inst in sorted(case.instances, key=lambda i: i.start):
            orig = (inst.original_start or inst.start).astimezone(UTC)
            seen_orig.add(orig)
            row = by_start.get(orig)
            if row is None or row.id in used:
                row = by_start.get(inst.start.astimezone(UTC))
            if row is None or row.id is None or row.id in used:
                continue
            used.add(row.id)
            want = _occurrence_values(
                synced_values(
                    event_from_item(
                        inst, owner_id=self.ctx.owner_id, org=self.org, first_share=False
                    )
                )
            )
            have = _occurrence_values(synced_values(row))
            fields = {k: v for k, v in want.items() if have.get(k) != v}
            lex = link.format == RecurrenceFormat.LIGHTNING.value
            future = row.start is not None and row.start > self.ctx.now
            if fields and lex and future and inst.type is ItemType.EXCEPTION:
                # R4/R5: Salesforce applies a change to a future Lightning occurrence to the whole
                # series (api-facts B1), so a single changed future occurrence cannot be kept.
                self.refuse(
                    inst,
                    LIGHTNING_EXCEPTION_REASON,
                    "this occurrence was changed on its own; a Lightning series applies such a "
                    "change to every future occurrence (the Classic format keeps it)",
                    ("R5", "R4"),
                    shared=True,
                )
                continue
            if fields:
                rules = ("R5",) if inst.type is ItemType.EXCEPTION else ("U1",)
                self.emit(
                    UpdateEvent(
                        row.id,
                        fields,
                        want,
                        item=ItemRef(inst.mailbox, inst.id, inst.ical_uid),
                        rules=rules,
                    )
                )
        rec = master.recurrence
        if rec is None:
            return
        try:
            expected = expand_graph(
                rec,
                master.start,
                series_zone(master),
                self.ctx.window.start,
                self.ctx.window.end,
            )
        except (InvalidPattern, ValueError):
            return
        for start in expected:
            s = start.astimezone(UTC)
            if s in seen_orig:
                continue
            row = by_start.get(s)
            if (
                row is not None
                and row.id == link.event_id
                and link.format == RecurrenceFormat.LIGHTNING.value
            ):
                # Deleting a Lightning series' first Event deletes the series: keep it.
                self.emit(
                    Note(_ref(master), "first occurrence cancelled: kept in Salesforce", ("R5",))
                )
                continue
            if row is not None and row.id is not None and row.id not in used:
                # R5: an occurrence cancelled (deleted) in Outlook: its Salesforce occurrence goes.
                self.emit(DeleteEvent(row.id, _ref(master), row.subject, ("R5", "X4")))

    # -- X7 ---------------------------------------------------------------------------------------

    def _by_series(self) -> dict[str, list[DeleteEvent]]:
        by_series: dict[str, list[DeleteEvent]] = {}
        for d in self.out:
            if isinstance(d, DeleteEvent):
                by_series.setdefault(d.item.item_id, []).append(d)
        return by_series

    def deletions(self, cases: Mapping[str, SeriesCase]) -> Deletions:
        """X7's weight of this plan's series deletions (decision 0036): a whole series deleted in
        Outlook counts as its Salesforce occurrence Events in the window (at least one) and as
        one shared thing; each occurrence cancelled in Outlook (R5) as one Event and no thing."""
        by_series = self._by_series()
        whole = {mid for mid, ds in by_series.items() if any("X5" in d.rules for d in ds)}
        weight = 0
        for mid, ds in by_series.items():
            if mid in whole:
                found = cases.get(mid)
                weight += max(1, len(found.rows) if found is not None else 0)
            else:
                weight += len(ds)
        return Deletions(weight, len(whole))

    def guard(
        self,
        cases: Mapping[str, SeriesCase],
        *,
        deleting: int,
        deleting_items: int,
        linked: int,
        over: bool | None = None,
    ) -> None:
        """X7 for series: stop before deleting more than `mass_delete_guard` Events, or more than
        half of what the user has linked, unless confirmed (docs/decisions/0036).

        `deleting`, `deleting_items`: the Events and items this session's item plan deletes,
        weighed with the series' (`sync.guard`). `over`: the session's one verdict over its
        whole plan (decision 0120); without it, the verdict is reached here from the counts."""
        by_series = self._by_series()
        for mid, case in cases.items():  # a held series with nothing left to delete: unmark
            if case.held and (mid not in by_series or self.ctx.allow_mass_delete):
                self.emit(HoldSeries(self.ctx.mailbox, mid, held=False))
        if not by_series or self.ctx.allow_mass_delete:
            return
        mine = self.deletions(cases)
        total = Deletions(deleting, deleting_items) + mine
        if over is None:
            over = over_guard(self.org, total, linked, confirmed=False)
        if not over:
            return
        deletes = [d for ds in by_series.values() for d in ds]
        whole, weight, limit = mine.things, mine.events, self.org.mass_delete_guard
        self.out = [
            a
            for a in self.out
            if not (
                isinstance(a, DeleteEvent | Unlink | UnlinkSeries) and _master_of(a) in by_series
            )
        ]
        for mid in by_series:
            held = cases.get(mid)
            if held is None or not held.held:
                self.emit(HoldSeries(self.ctx.mailbox, mid, held=True))
        names = "; ".join(
            sorted({d.subject or d.event_id for ds in by_series.values() for d in ds})[:20]
        )
        self.emit(
            RaiseIssue(
                self.ctx.mailbox,
                MASS_DELETE_SERIES_REASON,
                f"This session would delete {total.events} Salesforce Events, "
                f"{weight} of them from recurring series ({whole} whole series deleted in "
                f"Outlook, {len(deletes) - whole} occurrences cancelled; the guard allows "
                f"{limit}): {names}. Nothing of these series was deleted. If that is intended, "
                f"confirm it here or run "
                f"`crmcal sync --user {self.ctx.mailbox} --allow-mass-delete`.",
                actions=("confirm delete", "dismiss"),
                rules=("X7", "I1"),
            )
        )

    # -- cancelling a series ----------------------------------------------------------------------

    def gone_from_outlook(self, case: SeriesCase, link: SeriesLink) -> None:
        """X4, X5 for a whole series: the Salesforce series crmcal made goes with it; a
        Salesforce-born series (X8) deleted in Outlook is deleted in Salesforce too (X5)."""
        ref = ItemRef(link.mailbox, link.master_id, link.guid)
        self.emit(DeleteEvent(link.event_id, ref, str(link.synced.get("Subject") or ""), ("X5",)))
        self.emit(Unlink(ref, link.event_id, event_gone=True))
        self.emit(UnlinkSeries(link.mailbox, link.master_id))

    def deleted_in_salesforce(self, case: SeriesCase, link: SeriesLink) -> None:
        """X3 for a whole series: Outlook-born loses crmcal's categories and its link;
        Salesforce-born (X8) is deleted from Outlook."""
        ref = ItemRef(link.mailbox, link.master_id, link.guid)
        master = case.master
        if link.origin is Origin.SALESFORCE or self.org.salesforce_delete_removes_outlook_items:
            if master is not None:
                self.emit(DeleteItem(ref, rules=("X3", "X8")))
        elif master is not None:
            new = cat.strip(master.categories)
            if new != master.categories:
                self.emit(SetCategories(ref, new, None, rules=("X3", "C4")))
        remember = UNSYNCED if link.origin is not Origin.SALESFORCE else None
        self.emit(
            Unlink(ref, link.event_id, event_gone=True, deleted_elsewhere=True, remember=remember)
        )
        self.emit(UnlinkSeries(link.mailbox, link.master_id))


def _master_of(a: DeleteEvent | Unlink | UnlinkSeries) -> str:
    return a.master_id if isinstance(a, UnlinkSeries) else a.item.item_id


# -- Salesforce to Outlook (X8) ------------------------------------------------------------------


def lightning_series(events: tuple[CrmEvent, ...], owner_id: str) -> dict[str, list[CrmEvent]]:
    """The user's Lightning series among changed Events, by `sf_key`."""
    out: dict[str, list[CrmEvent]] = {}
    for ev in events:
        lr = ev.lightning_recurrence
        if (
            ev.id is None
            or ev.is_deleted
            or ev.is_child
            or ev.owner_id[:15] != owner_id[:15]
            or lr is None
            or lr.start_date is None
        ):
            continue
        out.setdefault(sf_key(ev.owner_id, lr.start_date), []).append(ev)
    return out


def head_of(rows: list[CrmEvent]) -> CrmEvent | None:
    """The Event that stands for a Lightning series: the one at the pattern start."""
    for r in rows:
        lr = r.lightning_recurrence
        if lr is not None and lr.start_date is not None and r.start == lr.start_date:
            return r
    return None


def series_draft(head: CrmEvent, categories: tuple[str, ...]) -> ItemDraft | Inexpressible:
    """X8: the Outlook series for a Lightning series (its first Event gives the fields)."""
    lr = head.lightning_recurrence
    if lr is None or head.start is None or head.end is None:
        return Inexpressible(Reason.INVALID_PATTERN, "the Lightning series has no start or end")
    rec = from_lightning(lr, head.start)
    if isinstance(rec, Inexpressible):
        return rec
    zone = resolve_zone(lr.time_zone)
    if isinstance(zone, Inexpressible):
        return zone
    show = {"Free": ShowAs.FREE, "OutOfOffice": ShowAs.OOF}.get(head.show_as.value, ShowAs.BUSY)
    return ItemDraft(
        subject=head.subject,
        start=head.start.astimezone(zone.zone),
        end=head.end.astimezone(zone.zone),
        time_zone=zone.iana,
        body=head.description,
        location=head.location,
        sensitivity=Sensitivity.PRIVATE if head.is_private else Sensitivity.NORMAL,
        show_as=show,
        categories=categories,
        recurrence=rec,
        salesforce_event_id=head.id,
        transaction_id=f"crmcal-{head.id}",
    )


def x8_values(head: CrmEvent) -> dict[str, object]:
    lr: LightningRecurrence | None = head.lightning_recurrence
    v = _series_values(synced_values(head))
    v["_pattern"] = lr.pattern_text if lr else ""
    v["_start"] = head.start.astimezone(UTC).isoformat() if head.start else ""
    v["_end"] = head.end.astimezone(UTC).isoformat() if head.end else ""
    return v


def plan_downsync(
    ctx: Context,
    events: tuple[CrmEvent, ...],
    deleted: frozenset[str],
    links: Mapping[str, SeriesLink],
    masters: Mapping[str, Item],
) -> list[SeriesAction]:
    """X8: the user's Lightning series made in Salesforce come down as Outlook series with the
    `Salesforce` category; edits to them follow (X2), and their deletion deletes the Outlook
    series (X3). `links` are the mailbox's series links by `sf_key` and by Event id; `masters`
    the Outlook masters of the Salesforce-born ones in play, by master id."""
    out: list[SeriesAction] = []
    org = ctx.directory.org
    if not org.recurring_sync or not org.sync_salesforce_calendar:
        return out
    categories = (cat.SALESFORCE, cat.TRACKED.category)
    for key, rows in lightning_series(events, ctx.owner_id).items():
        ids = {r.id for r in rows}
        known = links.get(key) or next((links[i] for i in ids if i and i in links), None)
        head = head_of(rows)
        if known is not None:
            if known.origin is not Origin.SALESFORCE or head is None or head.id != known.event_id:
                continue  # crmcal's own series (R3), or not the series' first Event
            master = masters.get(known.master_id)
            if master is None or ctx.user.settings.direction is Direction.OUTLOOK_TO_SALESFORCE:
                continue
            now = x8_values(head)
            last = {k: v for k, v in known.synced.items() if k != HELD_MARK}
            if now == last:
                continue
            # X2 for a series: fields, times and pattern follow Salesforce.
            kw: dict[str, object] = {}
            if now["Subject"] != last.get("Subject"):
                kw["subject"] = head.subject
            if now["Location"] != last.get("Location"):
                kw["location"] = head.location
            if now["ShowAs"] != last.get("ShowAs"):
                kw["show_as"] = {"Free": ShowAs.FREE, "OutOfOffice": ShowAs.OOF}.get(
                    head.show_as.value, ShowAs.BUSY
                )
            if now["IsPrivate"] != last.get("IsPrivate"):
                kw["sensitivity"] = Sensitivity.PRIVATE if head.is_private else Sensitivity.NORMAL
            if (now["_pattern"], now["_start"], now["_end"]) != (
                last.get("_pattern"),
                last.get("_start"),
                last.get("_end"),
            ):
                draft = series_draft(head, categories)
                if isinstance(draft, Inexpressible):
                    continue
                kw.update(
                    start=draft.start,
                    end=draft.end,
                    time_zone=draft.time_zone,
                    recurrence=draft.recurrence,
                )
            ref = ItemRef(ctx.mailbox, known.master_id, known.guid)
            patch = ItemPatch(**kw)  # type: ignore[arg-type]
            out.append(
                UpdateItem(ref, patch, known.event_id, {}, tuple(sorted(kw)), (), ("X2", "X8"))
            )
            out.append(
                LinkSeries(
                    known.mailbox, known.master_id, known.guid, known.event_id, known.format,
                    known.origin, known.share_mode, known.pattern_key, now, sf_key=known.sf_key,
                )
            )  # fmt: skip
            continue
        if ctx.user.settings.direction is Direction.OUTLOOK_TO_SALESFORCE:
            continue  # G3: Outlook is master
        if head is None or head.id is None or head.id in deleted:
            continue
        draft = series_draft(head, categories)
        if isinstance(draft, Inexpressible):
            out.append(Note(None, f"Lightning series {head.id} not brought down: {draft}", ("X8",)))
            continue
        if not any(ctx.window.touches(r.start, r.end) for r in rows if r.start and r.end):
            continue
        out.append(CreateItem(ctx.mailbox, draft, head, synced_values(head), rules=("X8", "X1")))
        out.append(
            LinkSeries(
                ctx.mailbox,
                "",
                "",
                head.id,
                RecurrenceFormat.LIGHTNING.value,
                Origin.SALESFORCE,
                ShareMode.DOWNSYNC,
                "",
                x8_values(head),
                sf_key=key,
            )
        )
    return out


def occurrence_window(ctx: Context) -> tuple[datetime, datetime]:
    """The window Salesforce occurrences are read in (a day of margin for moved exceptions)."""
    return ctx.window.start - timedelta(days=1), ctx.window.end + timedelta(days=1)


__all__ = [
    "CONVERSION_REASON",
    "HELD_MARK",
    "MASS_DELETE_SERIES_REASON",
    "HoldSeries",
    "LinkSeries",
    "SeriesAction",
    "SeriesCase",
    "SeriesLink",
    "SeriesPlanner",
    "UnlinkSeries",
    "occurrence_window",
    "pattern_key",
    "plan_downsync",
    "series_zone",
    "sf_key",
]
