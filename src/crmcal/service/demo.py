"""`crmcal demo`: the sandbox, a seeded org, a full sync, and a summary a person can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from crmcal.domain import CrmEvent
from crmcal.rules.mapping import SUBJECT_MAX
from crmcal.sandbox import demo_data as D
from crmcal.sandbox.runtime import Sandbox
from crmcal.sandbox.seed_org import DemoOrg, seed_demo
from crmcal.service.runner import ProgressFn, build_calendar, build_crm, run_sync
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult


@dataclass
class ItemCheck:
    item: D.DemoItem
    events: list[CrmEvent]
    issues: list[str]
    ok: bool
    result: str


@dataclass
class DemoReport:
    first: list[SessionResult]
    second: list[SessionResult]
    checks: list[ItemCheck]
    graph_calls: int
    salesforce_calls: int
    state_url: str
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and self.second_writes == 0

    @property
    def second_writes(self) -> int:
        return sum(
            r.outcome.created + r.outcome.updated + r.outcome.categories + r.outcome.relations
            for r in self.second
        )


def run_demo(
    data_dir: Path,
    *,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
) -> DemoReport:
    """Run the whole demo in-process against the emulators on 127.0.0.1."""
    now = now or datetime.now(UTC)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "demo.db"
    if db.exists():
        db.unlink()
    with Sandbox() as sb:
        demo = seed_demo(sb, now)
        cfg = sb.config(
            data_dir=data_dir,
            org=demo.org,
            users=demo.users,
            database_url=f"sqlite:///{db.as_posix()}",
        )
        store = StateStore(cfg.storage.url())
        store.migrate()
        calendar, crm = build_calendar(cfg), build_crm(cfg)
        try:
            first = run_sync(
                cfg, store=store, calendar=calendar, crm=crm, now=now, progress=progress
            )
            second = run_sync(cfg, store=store, calendar=calendar, crm=crm, now=now)
            events = crm.events_changed_since(None, list(demo.salesforce_ids.values())).events
            ids = {i for e in events for i in (e.who_id, e.what_id) if i}
            names = {r.id: r.name for r in crm.records_by_ids(sorted(ids))}
            checks = _check(demo, events, store, names)
            return DemoReport(
                first=first,
                second=second,
                checks=checks,
                graph_calls=calendar.calls.total,
                salesforce_calls=crm.total_calls,
                state_url=cfg.storage.url(),
                names={v: k for k, v in demo.salesforce_ids.items()},
            )
        finally:
            calendar.close()
            crm.close()
            store.dispose()


def _check(
    demo: DemoOrg, events: tuple[CrmEvent, ...], store: StateStore, names: dict[str, str]
) -> list[ItemCheck]:
    owners = {v: k.split("@")[0] for k, v in demo.salesforce_ids.items()}
    issues = store.open_issues()
    out: list[ItemCheck] = []
    for item in D.ITEMS:
        subject = item.subject[:SUBJECT_MAX]
        mine = [e for e in events if e.subject == subject and not e.is_child]
        copies = {item_id for _mb, item_id in demo.item_ids.get(item.key, [])}
        reasons = sorted({i.reason for i in issues if i.item_id in copies})
        ok = len(mine) == item.events and (item.issue is None or item.issue in reasons)
        if item.issue is None and reasons:
            ok = False
        if mine:
            parts = []
            for e in mine:
                bits = [f"owner {owners.get(e.owner_id, e.owner_id)}"]
                if e.who_id:
                    bits.append(f"Who {names.get(e.who_id, e.who_id)}")
                if e.what_id:
                    bits.append(f"What {names.get(e.what_id, e.what_id)}")
                if e.is_private:
                    bits.append("private")
                parts.append("Event " + ", ".join(bits))
            result = "; ".join(parts)
        else:
            result = "no Event"
        if reasons:
            result += " | issue: " + ", ".join(reasons)
        out.append(ItemCheck(item, mine, reasons, ok, result))
    return out
