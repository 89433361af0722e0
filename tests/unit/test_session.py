"""Session + executor over in-memory ports (the unit layer; the same flows run over HTTP against
the emulators in tests/integration)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from crmcal.connectors.errors import AuthError, ItemError
from crmcal.connectors.results import WriteResult
from crmcal.domain import (
    CalendarChanges,
    CrmEvent,
    CrmUser,
    EventRelation,
    Item,
    OrgSettings,
    RecordRef,
)
from crmcal.domain.crm import CrmOpportunity
from crmcal.rules.participants import Directory
from crmcal.state import StateStore
from crmcal.state.models import EventRow, IntentRow, IntentStatus, LinkRow, SessionRow
from crmcal.sync.session import run_user_session
from tests.factories import ANN, ANN_ID, BOB, BOB_ID, NOW, contact, directory, item

EXT = "buyer@fabrikam.example"


@dataclass
class FakeCalendar:
    items: dict[str, dict[str, Item]] = field(default_factory=dict)
    changed: dict[str, set[str]] = field(default_factory=dict)
    calls: int = 0
    fail_auth: bool = False

    def put(self, it: Item) -> Item:
        self.items.setdefault(it.mailbox, {})[it.id] = it
        self.changed.setdefault(it.mailbox, set()).add(it.id)
        return it

    def delta(
        self, mailbox: str, window_start: datetime, window_end: datetime, cursor: str | None
    ) -> CalendarChanges:
        self.calls += 1
        if self.fail_auth:
            raise AuthError("invalid_client", status=401)
        box = self.items.get(mailbox, {})
        ids = set(box) if cursor is None else self.changed.get(mailbox, set())
        self.changed[mailbox] = set()
        return CalendarChanges(
            mailbox, tuple(box[i] for i in sorted(ids)), (), f"delta-{self.calls}"
        )

    def set_categories(
        self, mailbox: str, categories: Mapping[str, Sequence[str]]
    ) -> list[WriteResult[str]]:
        self.calls += 1
        out = []
        for item_id, cats in categories.items():
            it = self.items[mailbox][item_id]
            self.items[mailbox][item_id] = replace(it, categories=tuple(cats))
            self.changed.setdefault(mailbox, set()).add(item_id)  # Graph reports our own write too
            out.append(WriteResult(item_id, True, item_id))
        return out

    def ensure_categories(self, mailbox: str, wanted: Mapping[str, str]) -> None:
        self.calls += 1

    def fetch_items(self, mailbox: str, ids: Sequence[str]) -> tuple[list[Item], list[object]]:
        self.calls += 1
        box = self.items.get(mailbox, {})
        return [box[i] for i in ids if i in box], []

    def get_items(self, mailbox: str, ids: Sequence[str]) -> list[Item]:
        return self.fetch_items(mailbox, ids)[0]


@dataclass
class FakeCrm:
    people: list[RecordRef] = field(default_factory=list)
    events: dict[str, CrmEvent] = field(default_factory=dict)
    relations: list[EventRelation] = field(default_factory=list)
    required: tuple[str, ...] = ()
    guid_field: str | None = None
    refuse_relations: int = 0
    calls: int = 0
    ids: count = field(default_factory=lambda: count(1))

    def find_people(self, emails: Iterable[str]) -> list[RecordRef]:
        self.calls += 1
        want = {e.lower() for e in emails}
        return [p for p in self.people if p.email.lower() in want]

    def users(self, emails: Iterable[str] = ()) -> list[CrmUser]:
        self.calls += 1
        return []

    def accounts_by_domain(self, domains: Iterable[str]) -> dict[str, list[RecordRef]]:
        self.calls += 1
        return {d: [] for d in domains}

    def open_opportunities(self, account_ids: Sequence[str]) -> list[CrmOpportunity]:
        self.calls += 1
        return []

    def records_by_ids(self, ids: Sequence[str]) -> list[RecordRef]:
        self.calls += 1
        return []

    def events_by_natural_keys(
        self, owner_ids: Sequence[str], starts: Sequence[datetime]
    ) -> list[CrmEvent]:
        self.calls += 1
        return [e for e in self.events.values() if e.owner_id in owner_ids and e.start in starts]

    def events_by_ids(self, ids: Sequence[str]) -> list[CrmEvent]:
        return [self.events[i] for i in ids if i in self.events]

    def create_events(self, events: Sequence[CrmEvent]) -> list[WriteResult[int]]:
        self.calls += 1
        out: list[WriteResult[int]] = []
        for pos, e in enumerate(events):
            given = dict(e.extra_fields)
            missing = [f for f in self.required if f not in given]
            if missing:
                err = ItemError(
                    f"Required fields are missing: {missing}",
                    code="REQUIRED_FIELD_MISSING",
                    fields=tuple(missing),
                )
                out.append(WriteResult(pos, False, error=err))
                continue
            eid = f"00U{next(self.ids):015d}"
            self.events[eid] = replace(e, id=eid)
            out.append(WriteResult(pos, True, eid, created=True))
        return out

    def upsert_events(
        self, events: Sequence[CrmEvent], ext_field: str | None = None
    ) -> list[WriteResult[int]]:
        return self.create_events(events)

    def update_records(
        self, sobject: str, records: Sequence[Mapping[str, object]]
    ) -> list[WriteResult[str]]:
        self.calls += 1
        out = []
        for r in records:
            eid = str(r["Id"])
            ev = self.events[eid]
            if "Subject" in r:
                ev = replace(ev, subject=str(r["Subject"]))
            self.events[eid] = ev
            out.append(WriteResult(eid, True, eid))
        return out

    def relations_for(self, event_ids: Sequence[str]) -> list[EventRelation]:
        self.calls += 1
        return [r for r in self.relations if r.event_id in event_ids]

    def create_relations(self, relations: Sequence[EventRelation]) -> list[WriteResult[int]]:
        self.calls += 1
        if self.refuse_relations:
            self.refuse_relations -= 1
            err = ItemError("invitee refused", code="FIELD_INTEGRITY_EXCEPTION")
            return [WriteResult(i, False, error=err) for i in range(len(relations))]
        for r in relations:
            self.relations.append(replace(r, id=f"0RE{next(self.ids):015d}"))
        return [WriteResult(i, True, f"0RE{i}") for i in range(len(relations))]

    def delete_relations(self, ids: Sequence[str]) -> list[WriteResult[str]]:
        self.calls += 1
        self.relations = [r for r in self.relations if r.id not in ids]
        return [WriteResult(i, True, i) for i in ids]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    s.migrate()
    return s


def run(
    store: StateStore,
    cal: FakeCalendar,
    crm: FakeCrm,
    mailbox: str = ANN,
    d: Directory | None = None,
    now: datetime = NOW,
):  # type: ignore[no-untyped-def]
    d = d or directory()
    return run_user_session(
        d.users[mailbox], directory=d, calendar=cal, crm=crm, store=store, now=now
    )


def test_O5_share_journals_intent_and_second_session_writes_nothing(store: StateStore) -> None:
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)])
    meeting = cal.put(item(mailbox=ANN, attendees=(EXT, BOB)))
    r = run(store, cal, crm)
    assert r.status == "succeeded", r.error
    assert r.outcome.created == 1
    [ev] = crm.events.values()
    assert (ev.owner_id, ev.guid, ev.who_id) == (ANN_ID, meeting.ical_uid, contact(1, EXT).id)
    assert [(x.relation_id, x.is_invitee) for x in crm.relations] == [(BOB_ID, True)]
    assert cal.items[ANN][meeting.id].categories == ("Salesforce", "Status: Tracked successfully.")
    with store.session() as s:
        [intent] = s.query(IntentRow).all()
        assert intent.status == IntentStatus.DONE
        assert intent.key == f"{meeting.ical_uid}|{ANN_ID}"
        assert s.get(EventRow, ev.id) is not None

    calls = crm.calls
    r2 = run(store, cal, crm)  # sees its own category write come back through delta
    assert (r2.outcome.created, r2.outcome.updated, r2.outcome.categories) == (0, 0, 0)
    assert crm.calls == calls, "a session with nothing to do makes no Salesforce call"
    r3 = run(store, cal, crm)
    assert r3.read == 0


def test_required_fields_missing_then_succeeds_with_event_defaults(store: StateStore) -> None:
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)], required=("Type",))
    meeting = cal.put(item(mailbox=ANN, attendees=(EXT,)))
    r = run(store, cal, crm)
    assert r.status == "partial"
    assert crm.events == {}
    assert cal.items[ANN][meeting.id].categories == (
        "Sync Error",
        "Status: Required fields are missing: Type",
    )
    [issue] = store.open_issues(ANN)
    assert issue.reason == "required_fields_missing"
    # the admin fills Type through event_defaults; the next session shares it (no Outlook change)
    org = directory().org.model_copy(update={"event_defaults": {"Type": "Meeting"}})
    d = Directory.of(org, list(directory().users.values()))
    r = run(store, cal, crm, d=d)
    assert r.outcome.created == 1, r.outcome.log
    assert cal.items[ANN][meeting.id].categories == ("Salesforce", "Status: Tracked successfully.")
    assert store.open_issues(ANN) == []


def test_P2_waiting_attendee_linked_when_the_organizer_shares(store: StateStore) -> None:
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)])
    guid = "040000008200E00074C5B7101A82E00800000000SCEN1"
    bob = cal.put(item(mailbox=BOB, attendees=(ANN, EXT), ical_uid=guid))
    ann = cal.put(item(mailbox=ANN, organizer=BOB, attendees=(ANN, EXT), ical_uid=guid))
    d = directory()
    run(store, cal, crm, ANN, d)  # BOB has not shared: ANN waits
    assert crm.events == {}
    assert cal.items[ANN][ann.id].categories == ("Status: Waiting for the organizer",)
    assert [i.reason for i in store.open_issues(ANN)] == ["waiting_for_organizer"]
    cal.items[BOB][bob.id] = replace(bob, categories=("Salesforce",))
    cal.changed[BOB] = {bob.id}
    run(store, cal, crm, BOB, d)
    [ev] = crm.events.values()
    assert ev.owner_id == BOB_ID
    assert {r.relation_id for r in crm.relations} == {ANN_ID}
    assert cal.items[ANN][ann.id].categories == ("Salesforce", "Status: Tracked successfully.")
    assert store.open_issues(ANN) == []
    with store.session() as s:
        link = s.query(LinkRow).filter_by(mailbox=ANN).one()
        assert link.event_id == ev.id
    run(store, cal, crm, ANN, d)
    assert len(crm.events) == 1


def test_I3_systemic_failure_ends_session_and_counts(store: StateStore) -> None:
    cal, crm = FakeCalendar(fail_auth=True), FakeCrm()
    r = run(store, cal, crm)
    assert r.status == "failed"
    assert "invalid_client" in (r.error or "")
    h = store.health(ANN)
    assert h is not None and h.unhealthy  # expired credentials: unhealthy at once
    with store.session() as s:
        assert s.query(SessionRow).one().status == "failed"


def test_D2_adopts_event_made_by_another_tool(store: StateStore) -> None:
    cal = FakeCalendar()
    meeting = cal.put(item(mailbox=ANN, attendees=(EXT,), subject="Contract signature"))
    crm = FakeCrm(people=[contact(1, EXT)])
    crm.events["00U0000000000OTHER"] = CrmEvent(
        id="00U0000000000OTHER",
        owner_id=ANN_ID,
        subject="Contract signature",
        start=meeting.start,
        end=meeting.end,
    )
    r = run(store, cal, crm)
    assert r.outcome.created == 0
    assert r.outcome.adopted == 1
    assert len(crm.events) == 1


def test_W1_item_moving_out_of_the_window_is_not_touched(store: StateStore) -> None:
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)])
    cal.put(item(mailbox=ANN, attendees=(EXT,), start=NOW + timedelta(days=61)))
    r = run(store, cal, crm)
    assert (r.outcome.created, crm.calls) == (0, 0)


def test_two_users_same_external_meeting_P3(store: StateStore) -> None:
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)])
    guid = "040000008200E00074C5B7101A82E00800000000SCEN3"
    cal.put(item(mailbox=ANN, organizer=EXT, attendees=(ANN, BOB), ical_uid=guid))
    cal.put(item(mailbox=BOB, organizer=EXT, attendees=(ANN, BOB), ical_uid=guid))
    run(store, cal, crm, ANN)
    run(store, cal, crm, BOB)
    owners = sorted(e.owner_id for e in crm.events.values())
    assert owners == sorted([ANN_ID, BOB_ID])
    assert {e.guid for e in crm.events.values()} == {guid}
    assert crm.relations == []
    _ = OrgSettings  # settings type used by directory()


def test_P1_refused_invitee_is_retried_next_session(store: StateStore) -> None:
    """A relation Salesforce refused is not recorded as synced; the next session adds it, with
    nothing changed in Outlook (review finding)."""
    cal, crm = FakeCalendar(), FakeCrm(people=[contact(1, EXT)], refuse_relations=1)
    cal.put(item(mailbox=ANN, attendees=(EXT, BOB)))
    run(store, cal, crm)
    [ev] = crm.events.values()
    assert crm.relations == []
    with store.session() as s:
        assert s.get(EventRow, ev.id).invitees == []
    run(store, cal, crm)
    assert [(r.relation_id, r.is_invitee) for r in crm.relations] == [(BOB_ID, True)]
