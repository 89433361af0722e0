"""Model-based testing of the whole engine (the vdirsyncer `SyncMachine` method, over HTTP).

A Hypothesis `RuleBasedStateMachine` drives both emulators (served on 127.0.0.1, reached by the
production connectors) with random people's actions: appointments and meetings across mailboxes,
invitations from outside (P3), Events made in Salesforce (X1), edits and deletions on both sides,
category changes (M1, M5, X6), cancellations (X4), recurring series (R2 share, R5 an occurrence
edited or cancelled, X5 the series deleted; `recurring_sync` on), the dashboard's Save (M2, on
items and on occurrences) and Unsync (M5), setting changes (A1), faults injected through
the emulators' `/_sandbox/faults` API (429 with Retry-After, 5xx, REQUEST_LIMIT_EXCEEDED, expired
tokens, expired delta tokens) and sessions. After every session it checks the safety invariants;
after the faults are lifted it lets the org settle and checks convergence and idempotence:

- D1  at most one Event per (GUID, owner) (subjects are unique per item, so per natural key; a
      Classic series record and its first occurrence share a start, so series records are
      left out of the count);
- A3  no private item is shared unless someone put the `Salesforce` category on it;
- U2  Safe Description: once an Event exists its Description changes only by a Salesforce edit,
      and no Salesforce Description edit ever reaches an Outlook body;
- W1  nothing outside the window is shared, down-synced, or touched;
- R2  a series shared by hand (the category on its master, or Save on an occurrence), not
      deleted, has its Salesforce series;
- M1/X1/U1/X2 convergence: a manually shared appointment has its Event, a Salesforce-made Event
      its Outlook item, and linked pairs agree on subject (cut to 255), start, end and location;
- O5  every intent is closed;
- idempotence/termination: the org reaches a session that makes no HTTP write within 4 passes,
      and the next session writes nothing.

Profiles: `ci` (default, the CI run) and `nightly` (`CRMCAL_HYPOTHESIS_PROFILE=nightly`). A
failure prints the shrunk steps and `@reproduce_failure(...)`/`--hypothesis-seed` to replay it:
`CRMCAL_HYPOTHESIS_PROFILE=ci uv run pytest tests/reliability/test_sync_machine.py
--hypothesis-seed=<seed> -p no:cacheprovider` (see docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain import CrmEvent, Item
from crmcal.sandbox.runtime import Sandbox
from crmcal.service.runner import run_sync
from crmcal.state import StateStore
from crmcal.state.models import LinkRow
from tests.crash._killswitch import KillSwitch
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
USERS = (ANA, BEN)
EXT1 = "priya@litware.example"  # has a Contact
EXT2 = "nobody@northwind.example"  # no record anywhere
FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01, sleep=lambda _s: None)

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("CRMCAL_MACHINE_EXAMPLES", "200")),
    stateful_step_count=8,
    derandomize=True,  # CI is repeatable; the nightly profile explores new examples
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "nightly",
    max_examples=2000,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = settings.get_profile(os.environ.get("CRMCAL_HYPOTHESIS_PROFILE", "ci"))
RUNS: Counter[str] = Counter()  # figures for docs/reliability.md (printed at the end)


@dataclass
class ModelItem:
    """What the people did to one Outlook item (or Salesforce Event), by its unique subject."""

    subject: str
    mailbox: str
    item_id: str | None = None
    kind: str = "appointment"  # appointment | meeting | invitation | salesforce
    private: bool = False
    manual: bool = False
    """The category was put on at creation and nobody touched categories since (M1)."""
    touched_categories: bool = False
    in_window: bool = True
    deleted_outlook: bool = False
    deleted_salesforce: bool = False
    cancelled: bool = False
    event_id: str | None = None  # Salesforce-made Events
    attendees: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass
class ModelSeries:
    """A recurring series one user made in Outlook (issue 18: the machine draws series too)."""

    subject: str
    mailbox: str
    master_id: str
    manual: bool = False
    """Shared by hand (the category on the master, or Save on an occurrence)."""
    deleted: bool = False


@dataclass
class Shared:
    sb: Sandbox
    switch: KillSwitch
    tmp: Path
    http: httpx.Client
    template: Path
    """A migrated, empty state store, copied for each example (migrating costs more)."""
    n: int = 0


class SyncMachine(RuleBasedStateMachine):
    shared: ClassVar[Shared]

    def __init__(self) -> None:
        super().__init__()
        sh = self.shared
        sh.n += 1
        sh.sb.graph.reset()
        sh.sb.salesforce.reset()
        sh.sb.salesforce.add_client(sh.sb.sf_client_id, secret=sh.sb.sf_secret)
        sh.sb.graph.faults = type(sh.sb.graph.faults)(retry_after=0.01)
        tmp = Path(tempfile.mkdtemp(dir=sh.tmp, prefix=f"ex{sh.n}-"))
        self.world = World(sh.sb, tmp)
        self.world.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self.items: dict[str, ModelItem] = {}
        self.seq = 0
        self.desc: dict[str, str] = {}
        self.faulted = False
        self.ever_manual: set[str] = set()
        self.sf_desc_marks: set[str] = set()
        self.series: list[ModelSeries] = []
        self.contact_id = ""
        RUNS["examples"] += 1

    # -- plumbing -------------------------------------------------------------------------------

    def subject(self, kind: str, long: bool = False) -> str:
        self.seq += 1
        s = f"{kind} S{self.seq:03d}"
        return s + " " + "x" * 270 if long else s

    def when(self, day: int, hour: int) -> tuple[datetime, datetime]:
        start = (self.world.now + timedelta(days=day)).replace(hour=hour, minute=0, second=0)
        return start, start + timedelta(minutes=30)

    def graph_body(
        self, subject: str, day: int, hour: int, private: bool, cats: tuple[str, ...]
    ) -> dict[str, Any]:
        start, end = self.when(day, hour)
        return {
            "subject": subject,
            "body": {"contentType": "text", "content": f"Notes for {subject[:20]}"},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "sensitivity": "private" if private else "normal",
            "categories": list(cats),
        }

    def clients(self) -> None:
        if self.world._calendar is None or self.world._crm is None:
            cfg = self.world.config()
            g = cfg.graph
            secret = g.secret()
            self.world._calendar = GraphClient(
                tenant_id=g.tenant_id,
                client_id=g.client_id,
                client_secret=secret.get_secret_value() if secret else "",
                authority_url=g.authority_url,
                graph_url=g.graph_url,
                retry=FAST,
                http=self.shared.http,
            )
            sf = cfg.salesforce
            s2 = sf.secret()
            self.world._crm = SalesforceClient(
                login_url=sf.login_url,
                client_id=sf.client_id,
                auth=sf.auth.value,
                client_secret=s2.get_secret_value() if s2 else None,
                retry=FAST,
                http=self.shared.http,
            )

    def run(self) -> list[Any]:
        w = self.world
        self.clients()
        cfg = w.config()
        if w.store is None:
            shutil.copyfile(self.shared.template, w.tmp / "state.db")
            w.store = StateStore(cfg.storage.url())
        assert w._calendar is not None and w._crm is not None
        RUNS["sessions"] += len(w.users)
        return run_sync(cfg, store=w.store, calendar=w._calendar, crm=w._crm, now=w.now)

    def control(self, side: str, payload: dict[str, Any]) -> None:
        """Faults through the emulators' HTTP control API, as an operator would."""
        sb = self.shared.sb
        if side == "graph":
            r = self.shared.http.put(f"{sb.graph_url}/_sandbox/faults", json=payload)
        else:
            r = self.shared.http.post(f"{sb.salesforce_url}/_sandbox/faults", json=payload)
        assert r.status_code == 200, r.text
        RUNS["faults"] += 1
        self.faulted = True

    def lift_faults(self) -> None:
        sb = self.shared.sb
        self.shared.http.put(
            f"{sb.graph_url}/_sandbox/faults",
            json={"throttle_next": 0, "fail_next": 0, "retry_after": 0.01},
        ).raise_for_status()
        self.shared.http.post(
            f"{sb.salesforce_url}/_sandbox/faults", json={"fail_next": 0, "api_used": 0}
        ).raise_for_status()
        self.faulted = False

    def alive(self, *kinds: str, organized: bool = True) -> list[ModelItem]:
        return [
            m
            for m in self.items.values()
            if m.kind in kinds
            and m.in_window
            and not m.deleted_outlook
            and not m.cancelled
            and m.item_id is not None
        ]

    def peek(self, mailbox: str, item_id: str) -> Item:
        """What the person sees in Outlook: read with the injected faults held back."""
        f = self.shared.sb.graph.faults
        held = (f.fail_next, f.throttle_next)
        f.fail_next = f.throttle_next = 0
        try:
            self.clients()
            return self.world.item(mailbox, item_id)
        finally:
            f.fail_next, f.throttle_next = held

    def linked(self, event_id: str) -> bool:
        store = self.world.store
        if store is None:
            return False
        with store.session() as s:
            q = select(LinkRow.id).where(LinkRow.event_id == event_id)
            return s.scalars(q).first() is not None

    def events(self) -> list[CrmEvent]:
        self.clients()
        return self.world.events()

    def view(self, mailbox: str) -> list[Item]:
        self.clients()
        assert self.world._calendar is not None
        now = self.world.now
        return self.world._calendar.calendar_view(
            mailbox, now - timedelta(days=60), now + timedelta(days=120)
        )

    # -- the org --------------------------------------------------------------------------------

    @initialize(
        auto_meetings=st.booleans(),
        auto_appointments=st.booleans(),
    )
    def org(self, auto_meetings: bool, auto_appointments: bool) -> None:
        w = self.world
        w.person(ANA, autoshare_meetings=auto_meetings, autoshare_appointments=auto_appointments)
        w.person(BEN, autoshare_meetings=not auto_meetings, autoshare_appointments=True)
        acct = w.sb.salesforce.add_account("Litware", website="litware.example")
        self.contact_id = w.contact(EXT1, "Shah", acct)
        w.org = w.org.model_copy(update={"recurring_sync": True})  # R1: series are drawn too

    # -- recurring series (R2, R5, X5) ----------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        manual=st.booleans(),
        day=st.integers(0, 20),
        count=st.integers(2, 5),
        daily=st.booleans(),
    )
    def series_in_outlook(self, user: str, manual: bool, day: int, count: int, daily: bool) -> None:
        """R2: a user makes a series (with the category: shared by hand; without: auto-share
        may or may not take it, as for single items)."""
        subj = self.subject("Series " + EXT1)
        body = self.graph_body(subj, day, 8, False, ("Salesforce",) if manual else ())
        start = self.when(day, 8)[0]
        pattern: dict[str, Any] = (
            {"type": "daily", "interval": 1}
            if daily
            else {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()]}
        )
        body["recurrence"] = {
            "pattern": pattern,
            "range": {
                "type": "numbered",
                "startDate": start.strftime("%Y-%m-%d"),
                "numberOfOccurrences": count,
            },
        }
        rec = self.world.sb.graph.seed_event(user, body, created=self.world.now - timedelta(days=1))
        self.series.append(ModelSeries(subj, user, rec.id, manual))
        RUNS["series"] += 1

    def occurrences(self, sr: ModelSeries) -> list[Item]:
        f = self.shared.sb.graph.faults
        held = (f.fail_next, f.throttle_next)
        f.fail_next = f.throttle_next = 0
        try:
            self.clients()
            assert self.world._calendar is not None
            now = self.world.now
            return self.world._calendar.instances(
                sr.mailbox, sr.master_id, now - timedelta(days=14), now + timedelta(days=60)
            )
        finally:
            f.fail_next, f.throttle_next = held

    @rule(data=st.data(), what=st.sampled_from(["edit", "cancel", "delete"]))
    def change_series(self, data: st.DataObject, what: str) -> None:
        """R5: one occurrence edited (its location) or cancelled; X5: the whole series deleted."""
        alive = [sr for sr in self.series if not sr.deleted]
        if not alive:
            return
        sr = data.draw(st.sampled_from(alive))
        g = self.world.sb.graph
        if what == "delete":
            g.delete_event(sr.mailbox, sr.master_id, notify_attendees=False)
            sr.deleted = True
            return
        occ = self.occurrences(sr)
        if len(occ) < 2:
            return
        o = data.draw(st.sampled_from(occ))
        if what == "edit":
            g.update_event(sr.mailbox, o.id, {"location": {"displayName": f"Room {self.seq}"}})
            self.seq += 1
        else:
            g.delete_event(sr.mailbox, o.id, notify_attendees=False)

    # -- the dashboard (M2 Save, M5 Unsync) ---------------------------------------------------

    def service(self) -> Any:
        from crmcal.web.service import WebService

        w = self.world
        self.clients()
        if w.store is None:
            shutil.copyfile(self.shared.template, w.tmp / "state.db")
            w.store = StateStore(w.config().storage.url())
        return WebService(w.config(), w.store, calendar=w._calendar, crm=w._crm)

    @precondition(lambda self: bool(self.items) or bool(self.series))
    @rule(data=st.data(), on_series=st.booleans(), who=st.booleans())
    def dashboard_save(self, data: st.DataObject, on_series: bool, who: bool) -> None:
        """M2, R2: Save on an item or on an occurrence of a series, with or without a Name. An
        error the service answers (a fault injected, say) is the user's to see; nothing breaks."""
        from crmcal.connectors.errors import ConnectorError
        from crmcal.web.service import Busy, Invalid, NotFound

        series = [sr for sr in self.series if not sr.deleted]
        items = self.alive("appointment")
        on_series = (on_series and bool(series)) or not items
        item_id: str | None
        if on_series:
            if not series:
                return
            sr = data.draw(st.sampled_from(series))
            occ = self.occurrences(sr)
            if not occ:
                return
            mailbox, item_id = sr.mailbox, data.draw(st.sampled_from(occ)).id
        else:
            m = data.draw(st.sampled_from(items))
            mailbox, item_id = m.mailbox, m.item_id
        assert item_id is not None
        try:
            self.service().save(mailbox, item_id, self.contact_id if who else None, None)
        except (Invalid, Busy, NotFound, ConnectorError):
            RUNS["save_refused"] += 1
            return
        RUNS["saves"] += 1
        if on_series:
            sr.manual = True
        else:
            self.ever_manual.add(m.subject)
            m.touched_categories = True
            m.manual = False  # the category rules' model: only creation-time marks are checked

    # -- Outlook --------------------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        private=st.booleans(),
        manual=st.booleans(),
        contact=st.booleans(),
        long=st.booleans(),
        day=st.integers(0, 20),
        hour=st.integers(7, 18),
    )
    def appointment(
        self, user: str, private: bool, manual: bool, contact: bool, long: bool, day: int, hour: int
    ) -> None:
        subj = self.subject("Call " + EXT1 if contact else "Focus", long)
        cats = ("Salesforce",) if manual else ()
        rec = self.world.sb.graph.seed_event(
            user,
            self.graph_body(subj, day, hour, private, cats),
            created=self.world.now - timedelta(days=1),
        )
        self.items[subj] = ModelItem(subj, user, rec.id, "appointment", private, manual)
        if manual:
            self.ever_manual.add(subj)

    @rule(
        organizer=st.sampled_from(USERS),
        with_colleague=st.booleans(),
        externals=st.sampled_from([(EXT1,), (EXT2,), (EXT1, EXT2), ()]),
        private=st.booleans(),
        manual=st.booleans(),
        day=st.integers(0, 20),
        accept=st.booleans(),
    )
    def meeting(
        self,
        organizer: str,
        with_colleague: bool,
        externals: tuple[str, ...],
        private: bool,
        manual: bool,
        day: int,
        accept: bool,
    ) -> None:
        other = BEN if organizer == ANA else ANA
        attendees = ((other,) if with_colleague else ()) + externals
        if not attendees:
            attendees = (EXT1,)
        subj = self.subject("Meeting")
        cats = ("Salesforce",) if manual else ()
        body = self.graph_body(subj, day, 10, private, cats)
        body["attendees"] = [
            {"type": "required", "emailAddress": {"address": a}} for a in attendees
        ]
        rec = self.world.sb.graph.seed_event(
            organizer, body, created=self.world.now - timedelta(days=1)
        )
        self.items[subj] = ModelItem(
            subj, organizer, rec.id, "meeting", private, manual, attendees=attendees
        )
        if manual:
            self.ever_manual.add(subj)
        if with_colleague and accept and other in rec.copies:
            self.world.respond(other, rec.copies[other])

    @rule(day=st.integers(0, 20), both=st.booleans())
    def invitation_from_outside(self, day: int, both: bool) -> None:
        """P3: an external organizer invites one or both users (same GUID in each mailbox)."""
        subj = self.subject("Briefing")
        guid = f"040000008200E00074C5B7101A82E008000000{self.seq:010d}"
        for mb in USERS if both else (ANA,):
            c = self.world.invitation(mb, EXT1, subj, USERS if both else (ANA,), guid, days=day)
            self.world.respond(mb, c.id)
        self.items[subj] = ModelItem(subj, ANA, None, "invitation", attendees=USERS)

    @rule(user=st.sampled_from(USERS), past=st.booleans(), manual=st.booleans())
    def outside_window(self, user: str, past: bool, manual: bool) -> None:
        """W1: items outside the window are never read nor shared."""
        subj = self.subject("Far " + EXT1)
        cats = ("Salesforce",) if manual else ()
        day = -30 if past else 75
        rec = self.world.sb.graph.seed_event(
            user,
            self.graph_body(subj, day, 9, False, cats),
            created=self.world.now - timedelta(days=40),
        )
        self.items[subj] = ModelItem(subj, user, rec.id, "appointment", in_window=False)
        self.items[subj].categories = cats

    @rule(data=st.data(), what=st.sampled_from(["subject", "location", "move", "body"]))
    def edit_in_outlook(self, data: st.DataObject, what: str) -> None:
        """U1 / U2: the organizer edits their own item."""
        alive = self.alive("appointment", "meeting", "salesforce")
        if not alive:
            return
        m = data.draw(st.sampled_from(alive))
        g = self.world.sb.graph
        if what == "subject":
            new = self.subject(m.subject.split(" S")[0])
            g.update_event(m.mailbox, m.item_id, {"subject": new})
            self.items[new] = replace(m, subject=new)
            del self.items[m.subject]
            if m.subject in self.ever_manual:
                self.ever_manual.add(new)
        elif what == "location":
            g.update_event(m.mailbox, m.item_id, {"location": {"displayName": f"Room {self.seq}"}})
            self.seq += 1
        elif what == "move":
            it = self.peek(m.mailbox, m.item_id)  # type: ignore[arg-type]
            start = it.start + timedelta(hours=1)
            g.update_event(
                m.mailbox,
                m.item_id,
                {
                    "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "timeZone": "UTC",
                    },
                },
            )
        else:
            g.update_event(
                m.mailbox,
                m.item_id,
                {"body": {"contentType": "text", "content": f"Private note olnote-{self.seq}"}},
            )
            self.seq += 1

    @rule(data=st.data(), cancel=st.booleans())
    def delete_in_outlook(self, data: st.DataObject, cancel: bool) -> None:
        """X4 / X5: the organizer cancels or deletes their item."""
        alive = self.alive("appointment", "meeting", "salesforce")
        if not alive:
            return
        m = data.draw(st.sampled_from(alive))
        if cancel and m.kind == "meeting":
            self.world.sb.graph.cancel(m.mailbox, m.item_id)  # type: ignore[arg-type]
            m.cancelled = True
        else:
            self.world.sb.graph.delete_event(m.mailbox, m.item_id, notify_attendees=False)  # type: ignore[arg-type]
            m.deleted_outlook = True

    @rule(data=st.data(), action=st.sampled_from(["add", "remove", "unsync"]))
    def categories(self, data: st.DataObject, action: str) -> None:
        """M1 (add), X6 (remove: comes back), M5 (Salesforce Unsync)."""
        alive = self.alive("appointment", "meeting")
        if not alive:
            return
        m = data.draw(st.sampled_from(alive))
        it = self.peek(m.mailbox, m.item_id)  # type: ignore[arg-type]
        cats = tuple(it.categories)
        if action == "add":
            new = (*cats, "Salesforce")
            self.ever_manual.add(m.subject)
        elif action == "remove":
            new = tuple(c for c in cats if c != "Salesforce")
        else:
            new = (*cats, "Salesforce Unsync")
        self.world.set_categories(m.mailbox, m.item_id, new)  # type: ignore[arg-type]
        m.touched_categories = True
        m.manual = False

    # -- Salesforce -----------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), day=st.integers(-25, 80), hour=st.integers(7, 18))
    def event_in_salesforce(self, user: str, day: int, hour: int) -> None:
        """X1: a user books an Event in Salesforce (inside or outside the window)."""
        subj = self.subject("Booked")
        start, end = self.when(day, hour)
        eid = self.world.sb.salesforce.add_event(
            self.world.sf_ids[user], subj, start, end, Description="Booked in Salesforce"
        )
        # W1: the window is [now - 14 days, now + 60 days] to the minute, not by whole days (an
        # Event on day 60 before the hour of `now` is inside; the model once said otherwise).
        now = self.world.now
        inside = now - timedelta(days=14) < end and start < now + timedelta(days=60)
        self.items[subj] = ModelItem(subj, user, None, "salesforce", in_window=inside, event_id=eid)

    @rule(data=st.data(), what=st.sampled_from(["subject", "location", "description", "delete"]))
    def edit_in_salesforce(self, data: st.DataObject, what: str) -> None:
        """X2 / X3 / U2: someone edits or deletes an Event in Salesforce."""
        org = self.world.sb.salesforce
        with org.lock:  # what a person sees in Salesforce (not through crmcal's API budget)
            rows = sorted(
                (str(r["Id"]), str(r.get("Subject") or ""))
                for r in org.tables["Event"].values()
                if not r.get("IsDeleted") and not r.get("IsChild")
            )
        if not rows:
            return
        eid, subject = data.draw(st.sampled_from(rows))
        m = self.items.get(subject)
        if m is None or m.kind not in ("appointment", "salesforce"):
            return  # P7: meetings are the organizer's to change; keep the model exact
        if what == "delete":
            org.delete("Event", eid)
            m.deleted_salesforce = True
        elif what == "subject":
            new = self.subject(m.subject.split(" S")[0])
            org.update("Event", eid, {"Subject": new})
            self.items[new] = replace(m, subject=new)
            del self.items[m.subject]
            if m.subject in self.ever_manual:
                self.ever_manual.add(new)
        elif what == "location":
            org.update("Event", eid, {"Location": f"SF room {self.seq}"})
            self.seq += 1
        else:
            mark = f"sfnote-{self.seq}"
            self.seq += 1
            org.update("Event", eid, {"Description": mark})
            self.desc[eid] = mark
            if self.linked(eid):  # U2 holds after the first sync; before, the first one copies it
                self.sf_desc_marks.add(mark)

    # -- settings and faults --------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), which=st.sampled_from(["meetings", "appointments"]))
    def toggle_autoshare(self, user: str, which: str) -> None:
        """A1: a user switches auto-share on or off."""
        u = self.world.users[user]
        key = f"autoshare_{which}"
        s = u.settings.model_copy(update={key: not getattr(u.settings, key)})
        self.world.users[user] = u.model_copy(update={"settings": s})

    @rule(n=st.integers(1, 3))
    def fault_graph_throttle(self, n: int) -> None:
        """O3: the next requests get 429 with Retry-After (also inside $batch)."""
        self.control("graph", {"throttle_next": n, "retry_after": 0.01})

    @rule(n=st.integers(1, 8), status=st.sampled_from([500, 502, 503, 504]))
    def fault_graph_5xx(self, n: int, status: int) -> None:
        self.control("graph", {"fail_next": n, "fail_status": status, "retry_after": 0.01})

    @rule(n=st.integers(1, 8), status=st.sampled_from([500, 503]))
    def fault_salesforce_5xx(self, n: int, status: int) -> None:
        self.control("salesforce", {"fail_next": n, "fail_status": status})

    @rule(left=st.integers(0, 6))
    def fault_salesforce_limit(self, left: int) -> None:
        """O2: the org's daily API allowance runs out mid-session (REQUEST_LIMIT_EXCEEDED)."""
        sb = self.shared.sb
        cap = sb.salesforce.api_max
        self.control("salesforce", {"api_used": cap - left})

    @rule()
    def expire_tokens(self) -> None:
        sb = self.shared.sb
        self.shared.http.post(f"{sb.graph_url}/_sandbox/tokens/expire").raise_for_status()
        self.shared.http.post(f"{sb.salesforce_url}/_sandbox/tokens/expire").raise_for_status()
        RUNS["faults"] += 1

    @rule()
    def expire_delta(self) -> None:
        """O3: 410 on the next delta round."""
        sb = self.shared.sb
        self.shared.http.post(f"{sb.graph_url}/_sandbox/delta/expire").raise_for_status()
        RUNS["faults"] += 1

    # -- sessions -------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.items))
    @rule()
    def session(self) -> None:
        faulted = self.faulted
        results = self.run()  # never raises: systemic faults fail sessions (O2, O3)
        if not faulted:
            assert all(r.status != "failed" for r in results), [r.error for r in results]
        RUNS["failed_sessions"] += sum(r.status == "failed" for r in results)
        self.lift_faults()
        self.check_safety()
        self.settle()

    def settle(self) -> None:
        """Termination and idempotence: at most 4 passes to a pass with no HTTP write, then one
        more that writes nothing either."""
        sw = self.shared.switch
        for _ in range(4):
            sw.arm(None, None)
            results = self.run()
            assert all(r.status != "failed" for r in results), [r.error for r in results]
            if not sw.writes:
                break
        else:
            raise AssertionError(f"no quiescence after 4 sessions; last writes: {sw.writes}")
        sw.arm(None, None)
        self.run()
        assert sw.writes == [], f"a second session wrote: {sw.writes}"
        self.check_safety()
        self.check_convergence()

    # -- invariants -----------------------------------------------------------------------------

    def check_safety(self) -> None:
        evs = self.events()
        owners = {v: k for k, v in self.world.sf_ids.items()}
        # D1: at most one Event per (GUID, owner); subjects are unique per item
        keys = Counter(
            (e.owner_id, e.subject, e.start) for e in evs if e.classic_recurrence is None
        )
        dup = [k for k, n in keys.items() if n > 1]
        assert not dup, f"D1: duplicate Events {dup}"
        by_subject: dict[str, list[CrmEvent]] = {}
        for e in evs:
            by_subject.setdefault(e.subject, []).append(e)
        for m in self.items.values():
            cut = m.subject[:255]
            if m.kind == "salesforce":
                continue
            # A3: private items are shared only by hand
            if m.private and m.subject not in self.ever_manual:
                assert cut not in by_subject, f"A3: private item {m.subject[:40]} was auto-shared"
            # W1: nothing outside the window is shared
            if not m.in_window:
                assert cut not in by_subject, f"W1: {m.subject[:40]} outside the window shared"
        # U2: an Event's Description changes only through Salesforce
        for e in evs:
            assert e.id is not None
            if e.id in self.desc:
                assert e.description == self.desc[e.id], (
                    f"U2: Description of {e.subject[:40]} changed: {e.description[:80]!r}"
                )
            else:
                self.desc[e.id] = e.description
        # W1/X1: Salesforce Events outside the window never reach Outlook; outside items keep
        # their categories; U2: Salesforce Description edits never reach an Outlook body
        for mb in USERS:
            for it in self.view(mb):
                m = self.items.get(it.subject)
                if m is not None and m.kind == "salesforce" and not m.in_window:
                    raise AssertionError(f"W1: {it.subject} down-synced from outside the window")
                if m is not None and m.kind == "appointment" and not m.in_window:
                    assert it.categories == m.categories, f"W1: {it.subject[:40]} touched"
                for mark in self.sf_desc_marks:
                    assert mark not in it.body, f"U2: {mark} reached Outlook ({it.subject[:40]})"
        del owners

    def check_convergence(self) -> None:
        w = self.world
        assert w.store is not None
        assert w.store.open_intents() == [], "O5: intents left open"
        evs = {e.id: e for e in self.events() if e.id}
        subjects = {e.subject for e in evs.values()}
        items = {mb: {it.id: it for it in self.view(mb)} for mb in USERS}
        for m in self.items.values():
            # M1: a manually shared appointment (category never touched since) has its Event
            if (
                m.kind == "appointment"
                and m.manual
                and m.in_window
                and not m.deleted_outlook
                and not m.deleted_salesforce
            ):
                assert m.subject[:255] in subjects, f"M1: {m.subject[:40]} not shared"
            # X1: a Salesforce Event in the window has its Outlook item
            if (
                m.kind == "salesforce"
                and m.in_window
                and not m.deleted_salesforce
                and not m.deleted_outlook
            ):
                mine = [it for it in items[m.mailbox].values() if it.subject == m.subject]
                assert mine, f"X1: {m.subject} not in {m.mailbox}'s calendar"
        # R2: a series shared by hand, not deleted, has its Salesforce series
        for sr in self.series:
            if sr.manual and not sr.deleted:
                assert sr.subject in subjects, f"R2: series {sr.subject[:40]} not shared"
        # linked pairs agree (U1 up, X2 down)
        with w.store.session() as s:
            links = list(s.scalars(select(LinkRow).where(LinkRow.event_id.is_not(None))))
        for link in links:
            e = evs.get(link.event_id)  # type: ignore[arg-type]
            it = items.get(link.mailbox, {}).get(link.item_id)
            if e is None or it is None or e.is_all_day:
                continue
            if not it.is_organizer and e.owner_id != w.sf_ids.get(link.mailbox):
                continue  # P1 attendee copies follow their organizer's item
            assert e.subject == it.subject[:255], (e.subject[:60], it.subject[:60])
            assert e.start == it.start and e.end == it.end, (it.subject[:40], e.start, it.start)
            assert e.location == it.location[:255], (it.subject[:40], e.location, it.location)
        RUNS["settled"] += 1

    @precondition(lambda self: bool(self.items))
    @rule()
    def another_session(self) -> None:
        """Sessions are the point: a second rule makes them as likely as two kinds of change."""
        self.session()

    @invariant()
    def count_steps(self) -> None:
        RUNS["steps"] += 1

    def teardown(self) -> None:
        try:
            if self.items and self.world.users:
                self.session()  # every example ends with a session and the settled checks
        finally:
            self.world.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    switch = KillSwitch()
    sb = Sandbox(wrap=switch).start()
    sb.graph.faults.retry_after = 0.01
    tmp = tmp_path_factory.mktemp("machine")
    template = tmp / "template.db"
    store = StateStore(f"sqlite:///{template.as_posix()}")
    store.migrate()
    store.dispose()
    with httpx.Client(timeout=10) as http:
        yield Shared(sb, switch, tmp, http, template)
    sb.stop()
    print(f"\nSyncMachine figures: {dict(RUNS)}")


def test_D1_A3_U2_W1_O5_sync_machine(shared: Shared) -> None:
    """The state machine (D1, A3, U2, W1, M1, X1, U1, X2, O2, O3, O5): see the module docstring."""
    SyncMachine.shared = shared
    run_state_machine_as_test(SyncMachine, settings=PROFILE)
