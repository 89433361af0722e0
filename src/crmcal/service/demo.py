"""`crmcal demo`: the sandbox, a seeded org, a full sync, people changing things, the next sync,
and a summary a person can check (each line says what a correct sync does and what crmcal did)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain import CrmEvent
from crmcal.rules.mapping import SUBJECT_MAX
from crmcal.sandbox import demo_data as D
from crmcal.sandbox.runtime import Sandbox
from crmcal.sandbox.seed_org import DemoOrg, seed_demo
from crmcal.service.runner import (
    CalendarClient,
    ProgressFn,
    build_calendar,
    build_crm,
    run_sync,
)
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult

TRACKED = "Status: Tracked successfully."


@dataclass
class ItemCheck:
    item: D.DemoItem
    events: list[CrmEvent]
    issues: list[str]
    ok: bool
    result: str


@dataclass
class ChangeCheck:
    what: str
    rules: tuple[str, ...]
    expect: str
    ok: bool
    result: str


@dataclass
class DemoReport:
    first: list[SessionResult]
    second: list[SessionResult]
    third: list[SessionResult]
    checks: list[ItemCheck]
    changes: list[ChangeCheck]
    graph_calls: int
    salesforce_calls: int
    state_url: str

    @property
    def ok(self) -> bool:
        return (
            all(c.ok for c in self.checks)
            and all(c.ok for c in self.changes)
            and self.idle_writes == 0
        )

    @property
    def idle_writes(self) -> int:
        """Writes of the third session, after which nothing had changed: must be 0."""
        return sum(
            o.created + o.updated + o.categories + o.relations + o.deleted
            + o.created_items + o.updated_items + o.deleted_items
            for o in (r.outcome for r in self.third)
        )  # fmt: skip


@dataclass
class _Ctx:
    sb: Sandbox
    demo: DemoOrg
    crm: SalesforceClient
    calendar: CalendarClient
    store: StateStore
    now: datetime
    names: dict[str, str] = field(default_factory=dict)

    def copy(self, key: str, mailbox: str) -> str:
        return dict(self.demo.item_ids[key])[mailbox]

    def events(self) -> list[CrmEvent]:
        got = self.crm.events_changed_since(None, list(self.demo.salesforce_ids.values())).events
        return [e for e in got if not e.is_child]

    def by_subject(self, key: str) -> list[CrmEvent]:
        subject = next(i for i in D.ITEMS if i.key == key).subject[:SUBJECT_MAX]
        return [e for e in self.events() if e.subject == subject]

    def categories(self, mailbox: str, item_id: str) -> tuple[str, ...]:
        [it] = self.calendar.get_items(mailbox, [item_id])
        return it.categories


def run_demo(
    data_dir: Path,
    *,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
    calendar_backend: str = "graph",
) -> DemoReport:
    """Run the whole demo in-process against the emulators on 127.0.0.1. `calendar_backend="ews"`
    puts the org's mailboxes on the EWS emulator (Exchange Server) instead of Graph (issue 20)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "demo.db"
    if db.exists():
        db.unlink()
    with Sandbox() as sb:
        demo = seed_demo(sb, now)
        if calendar_backend == "ews":  # the same mailboxes, on Exchange Server
            sb.ews.mailboxes.update(u.mailbox for u in demo.users)
        cfg = sb.config(
            data_dir=data_dir,
            org=demo.org,
            users=demo.users,
            database_url=f"sqlite:///{db.as_posix()}",
            calendar=calendar_backend,
        )
        store = StateStore(cfg.storage.url())
        store.migrate()
        calendar, crm = build_calendar(cfg), build_crm(cfg)
        ctx = _Ctx(sb, demo, crm, calendar, store, now)
        try:

            def sync(progress_fn: ProgressFn | None = None) -> list[SessionResult]:
                return run_sync(
                    cfg, store=store, calendar=calendar, crm=crm, now=now, progress=progress_fn
                )

            first = sync(progress)
            events = ctx.events()
            ids = {i for e in events for i in (e.who_id, e.what_id) if i}
            ctx.names = {r.id: r.name for r in crm.records_by_ids(sorted(ids))}
            checks = _check_items(ctx, events)
            checkers = [make(ctx) for make in CHANGES]
            second = sync()
            changes = [check() for check in checkers]
            third = sync()
            return DemoReport(
                first=first,
                second=second,
                third=third,
                checks=checks,
                changes=changes,
                graph_calls=calendar.calls.total,
                salesforce_calls=crm.total_calls,
                state_url=cfg.storage.url(),
            )
        finally:
            calendar.close()
            crm.close()
            store.dispose()


def _check_items(ctx: _Ctx, events: list[CrmEvent]) -> list[ItemCheck]:
    owners = {v: k.split("@")[0] for k, v in ctx.demo.salesforce_ids.items()}
    issues = ctx.store.open_issues()
    out: list[ItemCheck] = []
    for item in D.ITEMS:
        subject = item.subject[:SUBJECT_MAX]
        mine = [e for e in events if e.subject == subject]
        copies = {item_id for _mb, item_id in ctx.demo.item_ids.get(item.key, [])}
        reasons = sorted({i.reason for i in issues if i.item_id in copies})
        ok = len(mine) == item.events and (item.issue is None or item.issue in reasons)
        if item.issue is None and reasons:
            ok = False
        parts = []
        for e in mine:
            bits = [f"owner {owners.get(e.owner_id, e.owner_id)}"]
            if e.who_id:
                bits.append(f"Who {ctx.names.get(e.who_id, e.who_id)}")
            if e.what_id:
                bits.append(f"What {ctx.names.get(e.what_id, e.what_id)}")
            if e.is_private:
                bits.append("private")
            parts.append("Event " + ", ".join(bits))
        result = "; ".join(parts) or "no Event"
        if reasons:
            result += " | issue: " + ", ".join(reasons)
        out.append(ItemCheck(item, mine, reasons, ok, result))
    return out


# -- what people change between the first and the second session -------------------------------
# Each entry makes its change now and returns the check to run after the next session.

Check = Callable[[], ChangeCheck]


def _move_and_annotate(ctx: _Ctx) -> Check:
    """U1 + U2: Ana moves the pricing review by an hour and writes private notes in its body."""
    item_id = ctx.copy("p1", D.ANA)
    [before] = ctx.by_subject("p1")
    assert before.start is not None
    new_start = before.start + timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%S"
    ctx.sb.graph.update_event(
        D.ANA,
        item_id,
        {
            "start": {"dateTime": new_start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": (new_start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
            "body": {"contentType": "text", "content": "Internal: we can go to 8% discount."},
        },
    )

    def check() -> ChangeCheck:
        [ev] = ctx.by_subject("p1")
        moved = ev.start == new_start
        safe = "8%" not in ev.description
        return ChangeCheck(
            "Ana moves 'Fabrikam renewal: pricing review' by an hour and adds private notes",
            ("U1", "U2"),
            "the Event moves; its Description keeps the first version (Safe Description)",
            moved and safe,
            f"start {'moved' if moved else 'NOT moved'}; Description "
            + ("unchanged" if safe else "LEAKED the notes"),
        )

    return check


def _invite_ben(ctx: _Ctx) -> Check:
    """P4: Ana adds Ben to the APAC check-in."""
    item_id = ctx.copy("n3", D.ANA)
    [it] = ctx.calendar.get_items(D.ANA, [item_id])
    attendees = [
        {"type": "required", "emailAddress": {"address": a.email.address}} for a in it.attendees
    ] + [{"type": "required", "emailAddress": {"address": D.BEN}}]
    ctx.sb.graph.update_event(D.ANA, item_id, {"attendees": attendees})

    def check() -> ChangeCheck:
        [ev] = ctx.by_subject("n3")
        assert ev.id is not None
        invited = {r.relation_id for r in ctx.crm.relations_for([ev.id]) if r.is_invitee}
        ok = ctx.demo.salesforce_ids[D.BEN] in invited
        return ChangeCheck(
            "Ana adds Ben to 'Litware APAC check-in'",
            ("P4",),
            "Ben becomes an invitee of the Event",
            ok,
            "Ben invited" if ok else "Ben NOT invited",
        )

    return check


def _contact_for_sam(ctx: _Ctx) -> Check:
    """M4 + P6: a colleague creates the missing Contact in Salesforce; the waiting item shares."""
    sam = ctx.sb.salesforce.add_contact("Reyes", first_name="Sam", email=D.UNKNOWN)

    def check() -> ChangeCheck:
        evs = ctx.by_subject("m4")
        ok = len(evs) == 1 and evs[0].who_id == sam
        return ChangeCheck(
            "a Contact for sam@adatum.example is created in Salesforce",
            ("M4", "P6"),
            "'Adatum intro call' stops waiting and is shared with Who = Sam Reyes",
            ok,
            f"{len(evs)} Event(s)" + (", Who = Sam Reyes" if ok else ""),
        )

    return check


def _ben_shares(ctx: _Ctx) -> Check:
    """P2 -> P1: Ben shares his onboarding meeting by category; Ana's waiting copy is linked."""
    ctx.sb.graph.update_event(D.BEN, ctx.copy("p2", D.BEN), {"categories": ["Salesforce"]})

    def check() -> ChangeCheck:
        evs = ctx.by_subject("p2")
        ana_cats = ctx.categories(D.ANA, ctx.copy("p2", D.ANA))
        waiting = [
            i
            for i in ctx.store.open_issues(D.ANA)
            if i.reason == "waiting_for_organizer" and i.item_id == ctx.copy("p2", D.ANA)
        ]
        owner_ok = len(evs) == 1 and evs[0].owner_id == ctx.demo.salesforce_ids[D.BEN]
        ok = owner_ok and "Salesforce" in ana_cats and not waiting
        return ChangeCheck(
            "Ben shares 'Fabrikam onboarding plan' with the Salesforce category",
            ("P2", "P1"),
            "one Event owned by Ben; Ana's waiting copy is linked and gets the category",
            ok,
            f"{len(evs)} Event(s), Ana's copy: {', '.join(ana_cats) or 'no categories'}",
        )

    return check


def _category_removed(ctx: _Ctx) -> Check:
    """X6: Ana removes the Salesforce category from a shared item; it is not unshared."""
    item_id = ctx.copy("l3", D.ANA)
    ctx.sb.graph.update_event(D.ANA, item_id, {"categories": []})

    def check() -> ChangeCheck:
        cats = ctx.categories(D.ANA, item_id)
        ok = "Salesforce" in cats and len(ctx.by_subject("l3")) == 1
        return ChangeCheck(
            "Ana removes the Salesforce category from 'Northwind logistics workshop'",
            ("X6", "C1"),
            "the Event stays; the category comes back",
            ok,
            ", ".join(cats) or "no categories",
        )

    return check


def _made_in_salesforce(ctx: _Ctx) -> Check:
    """X1: Dev books a pilot review directly in Salesforce."""
    start = (ctx.now + timedelta(days=4)).replace(hour=15, minute=0, second=0, microsecond=0)
    ctx.sb.salesforce.add_event(
        ctx.demo.salesforce_ids[D.DEV],
        "Tailspin pilot review (booked in Salesforce)",
        start,
        start + timedelta(minutes=45),
    )

    def check() -> ChangeCheck:
        items = ctx.calendar.calendar_view(D.DEV, ctx.now, ctx.now + timedelta(days=30))
        mine = [i for i in items if i.subject.startswith("Tailspin pilot review")]
        ok = len(mine) == 1 and "Salesforce" in mine[0].categories
        return ChangeCheck(
            "Dev books 'Tailspin pilot review' in Salesforce",
            ("X1",),
            "it appears in Dev's Outlook calendar with the Salesforce category",
            ok,
            f"{len(mine)} item(s) in Outlook" + (", categorised" if ok else ""),
        )

    return check


def _edited_in_salesforce(ctx: _Ctx) -> Check:
    """X2: someone changes the room of Ana's Northwind workshop in Salesforce."""
    [ev] = ctx.by_subject("l3")
    assert ev.id is not None
    ctx.sb.salesforce.update("Event", ev.id, {"Location": "Northwind HQ, room 3"})

    def check() -> ChangeCheck:
        [it] = ctx.calendar.get_items(D.ANA, [ctx.copy("l3", D.ANA)])
        ok = it.location == "Northwind HQ, room 3"
        return ChangeCheck(
            "the Northwind workshop's location is changed in Salesforce",
            ("X2",),
            "Ana's Outlook item (she organizes it) gets the new location",
            ok,
            f"Outlook location: {it.location or '(none)'}",
        )

    return check


CHANGES: tuple[Callable[[_Ctx], Check], ...] = (
    _move_and_annotate,
    _invite_ben,
    _contact_for_sam,
    _ben_shares,
    _category_removed,
    _made_in_salesforce,
    _edited_in_salesforce,
)
