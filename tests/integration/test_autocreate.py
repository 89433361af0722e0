"""K1-K5 and M4 end to end: a session over HTTP against both emulators makes records for
unresolved participants, links the Event to them, and a second session writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crmcal.domain import AutoCreate
from crmcal.rules.autocreate import MARKER
from crmcal.state.models_records import CreatedRecordRow
from crmcal.sync.autocreate import create_records_for_addresses, unresolved_participants
from crmcal.sync.plan import UNRESOLVED_REASON

from .conftest import DOMAIN, World

ANN = f"ann@{DOMAIN}"
KNOWN = "eu1@fabrikam.example"
UNKNOWN = "jane.roe@northwind.example"
FREE = "bob.free@gmail.com"


def _meeting(w: World, subject: str, attendees: list[tuple[str, str]], **extra: Any) -> Any:
    start = (w.now + timedelta(days=1)).replace(minute=0, second=0)
    body = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Agenda"},
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {
            "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": "UTC",
        },
        "attendees": [
            {"type": "required", "emailAddress": {"address": a, "name": n}} for a, n in attendees
        ],
        **extra,
    }
    return w.sb.graph.seed_event(ANN, body, created=w.now - timedelta(days=1))


def _setup(w: World, mode: AutoCreate, **org: Any) -> str:
    w.org = w.org.model_copy(update={"autocreate": mode, **org})
    w.person(ANN)
    acct = w.sb.salesforce.add_account("Fabrikam", website="https://www.fabrikam.example")
    return w.contact(KNOWN, "Known", account=acct)


def _rows(w: World, soql: str) -> list[dict[str, Any]]:
    return list(w.crm.query(soql))


def _people(w: World) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for obj, extra in (("Contact", ", AccountId"), ("Lead", ", Company")):
        q = f"SELECT Id, FirstName, LastName, Email, Description{extra} FROM {obj}"
        for r in _rows(w, q):
            out[str(r["Email"]).lower()] = {**r, "type": obj}
    return out


MEETING = [
    (KNOWN, "Eve Known"),
    (UNKNOWN, "Jane Roe"),
    (FREE, "Bob Free"),
]


def _second_session_writes_nothing(w: World) -> None:
    [again] = w.sync(ANN)
    assert again.outcome.created == 0
    assert again.outcome.updated == 0
    assert again.outcome.relations == 0
    assert again.records_created == 0


def test_k1_off_makes_no_record_and_links_the_known_contact(world: World) -> None:
    """K1: `autocreate = off` (default) makes nothing; the Event links the known Contact."""
    cid = _setup(world, AutoCreate.OFF)
    _meeting(world, "Roadmap", MEETING)
    [r] = world.sync(ANN)
    assert r.outcome.created == 1 and r.records_created == 0
    [ev] = world.events()
    assert ev.who_id == cid
    assert set(_people(world)) == {KNOWN}
    _second_session_writes_nothing(world)


def test_k2_contact_under_new_account_k3_names_k4_marked(world: World) -> None:
    """K2 `contact`: no Account's Website matches northwind.example, so an Account named after
    the domain is made with a Contact under it; K3: FirstName/LastName from the display name;
    K1: nothing for the free-mail address; K4: records marked, in the session log and listed."""
    cid = _setup(world, AutoCreate.CONTACT)
    _meeting(world, "Roadmap", MEETING)
    [r] = world.sync(ANN)
    assert r.outcome.created == 1 and r.records_created == 1
    people = _people(world)
    assert set(people) == {KNOWN, UNKNOWN}  # K1: never for free-mail addresses
    jane = people[UNKNOWN]
    assert (jane["type"], jane["FirstName"], jane["LastName"]) == ("Contact", "Jane", "Roe")
    assert jane["Description"] == MARKER
    [acct] = _rows(world, "SELECT Id, Name, Website, Description FROM Account WHERE Id = "
                          f"'{jane['AccountId']}'")  # fmt: skip
    assert acct["Name"] == "Northwind" and "northwind.example" in acct["Website"]
    assert acct["Description"] == MARKER
    [ev] = world.events()
    assert ev.who_id == cid  # L5: the first Contact in attendee order stays the WhoId
    whos = {x.relation_id for x in world.relations(str(ev.id)) if not x.is_invitee}
    assert jane["Id"] in whos  # the new Contact is related to the Event too
    assert any("auto-created Contact" in line and UNKNOWN in line for line in r.outcome.log)
    assert any(FREE in line and "free-mail" in line for line in r.outcome.log)
    assert world.store is not None
    with world.store.session() as s:
        rows = list(s.scalars(select(CreatedRecordRow)))
        assert [(x.object_type, x.email, x.mailbox) for x in rows] == [("Contact", UNKNOWN, ANN)]
        assert rows[0].account_created
    stats = r.stats()
    assert stats["records_created"] == 1
    _second_session_writes_nothing(world)
    assert len(_rows(world, "SELECT Id FROM Account")) == 2


def test_k2_contact_under_account_whose_website_matches(world: World) -> None:
    """K2 `contact`: the Account whose Website matches the domain gets the Contact (no new
    Account)."""
    _setup(world, AutoCreate.CONTACT)
    nw = world.sb.salesforce.add_account("Northwind Traders", website="northwind.example")
    _meeting(world, "Roadmap", MEETING)
    world.sync(ANN)
    jane = _people(world)[UNKNOWN]
    assert jane["AccountId"] == nw
    assert len(_rows(world, "SELECT Id FROM Account")) == 2


def test_k2_lead_mode_makes_a_lead_with_company_from_domain(world: World) -> None:
    """K2 `lead`: a Lead with Company from the domain; no Account is made."""
    _setup(world, AutoCreate.LEAD)
    _meeting(world, "Roadmap", MEETING)
    [r] = world.sync(ANN)
    people = _people(world)
    assert set(people) == {KNOWN, UNKNOWN}
    jane = people[UNKNOWN]
    assert (jane["type"], jane["Company"], jane["LastName"]) == ("Lead", "Northwind", "Roe")
    assert len(_rows(world, "SELECT Id FROM Account")) == 1
    assert r.outcome.created == 1
    _second_session_writes_nothing(world)


def test_k2_smart_contact_when_account_has_contacts_else_lead(world: World) -> None:
    """K2 `smart`: Contact when the domain's Account has Contacts (adatum), else a Lead
    (northwind has no Account; litware's Account has no Contacts)."""
    _setup(world, AutoCreate.SMART)
    adatum = world.sb.salesforce.add_account("Adatum", website="https://adatum.example")
    world.contact("someone@adatum.example", "Someone", account=adatum)
    world.sb.salesforce.add_account("Litware", website="https://litware.example")
    _meeting(
        world,
        "Roadmap",
        [*MEETING, ("new.person@adatum.example", ""), ("tom@litware.example", "Lit, Tom")],
    )
    world.sync(ANN)
    people = _people(world)
    assert people[UNKNOWN]["type"] == "Lead"
    newp = people["new.person@adatum.example"]
    assert (newp["type"], newp["AccountId"]) == ("Contact", adatum)
    # K3: no display name: the address's local part gives the names.
    assert (newp["FirstName"], newp["LastName"]) == ("New", "Person")
    tom = people["tom@litware.example"]
    assert (tom["type"], tom["FirstName"], tom["LastName"]) == ("Lead", "Tom", "Lit")
    assert FREE not in people
    _second_session_writes_nothing(world)


def test_k5_new_account_gets_an_opportunity_used_as_what_id(world: World) -> None:
    """K5: with `autocreate_opportunity`, the new Account gets an Opportunity (name from the
    Account and the subject, stage and close date from settings) and the Event's WhatId is it."""
    _setup(
        world,
        AutoCreate.CONTACT,
        autocreate_opportunity=True,
        autocreate_opportunity_stage="Qualification",
        autocreate_opportunity_close_days=45,
    )
    _meeting(world, "Pilot kickoff", [(UNKNOWN, "Jane Roe"), (FREE, "Bob Free")])
    [r] = world.sync(ANN)
    assert r.outcome.created == 1
    [opp] = _rows(world, "SELECT Id, Name, StageName, CloseDate, AccountId FROM Opportunity")
    assert opp["Name"] == "Northwind - Pilot kickoff"
    assert opp["StageName"] == "Qualification"
    assert opp["CloseDate"] == (world.now.date() + timedelta(days=45)).isoformat()
    jane = _people(world)[UNKNOWN]
    assert jane["AccountId"] == opp["AccountId"]
    [ev] = world.events()
    assert (ev.who_id, ev.what_id) == (jane["Id"], opp["Id"])
    _second_session_writes_nothing(world)
    assert len(_rows(world, "SELECT Id FROM Opportunity")) == 1


def test_m4_unresolved_issue_names_addresses_then_one_click_create(world: World) -> None:
    """M4: with `autocreate = off`, a meeting marked for sharing whose external participants all
    lack a record waits with an issue naming the addresses; the dashboard's create action
    (`create_records_for_addresses`, contact semantics while off) lifts it at the next session."""
    _setup(world, AutoCreate.OFF)
    rec = _meeting(
        world,
        "Intro",
        [(UNKNOWN, "Jane Roe"), (FREE, "Bob Free")],
        categories=["Salesforce"],
    )
    [r] = world.sync(ANN)
    assert r.outcome.created == 0
    assert world.store is not None
    from crmcal.state.models import IssueRow

    with world.store.session() as s:
        [issue] = [
            i
            for i in s.scalars(select(IssueRow).where(IssueRow.resolved_at.is_(None)))
            if i.reason == UNRESOLVED_REASON
        ]
        assert UNKNOWN in issue.message and "create record" in issue.actions
        item_id = str(issue.item_id)
    pairs = unresolved_participants(world.store, ANN, item_id)
    assert pairs == [(UNKNOWN, "Jane Roe")]  # free-mail is blocklisted: never blocks, never made
    made = create_records_for_addresses(
        world.crm, world.org, pairs, subject="Intro", store=world.store, mailbox=ANN
    )
    assert [(m.object_type, m.email, m.name, m.account_created) for m in made] == [
        ("Contact", UNKNOWN, "Jane Roe", True)
    ]
    world.sb.graph.update_event(
        ANN, rec.id, {"location": {"displayName": "Room 1"}}
    )  # any later session
    [r2] = world.sync(ANN)
    assert r2.outcome.created == 1
    [ev] = world.events()
    assert ev.who_id == made[0].record_id
    assert unresolved_participants(world.store, ANN, item_id) == []
    # Created again: nothing new (the address has a record now).
    assert create_records_for_addresses(world.crm, world.org, pairs) == []


@pytest.mark.parametrize("mode", [AutoCreate.CONTACT, AutoCreate.LEAD, AutoCreate.SMART])
def test_k1_never_for_internal_blocklisted_or_free_mail(world: World, mode: AutoCreate) -> None:
    """K1: internal, blocklisted and free-mail addresses never get a record, in any mode."""
    from crmcal.domain.settings import Blocklist

    _setup(world, mode, blocklist=Blocklist(domains=("blocked.example",)))
    made = create_records_for_addresses(
        world.crm,
        world.org,
        [(f"carl@{DOMAIN}", "Carl"), ("x@blocked.example", "X"), (FREE, "Bob"), ("bad", "")],
    )
    assert made == []
    assert set(_people(world)) == {KNOWN}


def test_m4_lifted_by_autocreate_in_the_same_session(world: World) -> None:
    """M4 + K: a meeting marked for sharing whose only external participant has no record is not
    held when `autocreate = lead`: the Lead is made and the Event links it at once."""
    _setup(world, AutoCreate.LEAD)
    _meeting(world, "Intro", [(UNKNOWN, "Jane Roe")], categories=["Salesforce"])
    [r] = world.sync(ANN)
    assert r.outcome.created == 1 and r.records_created == 1
    jane = _people(world)[UNKNOWN]
    [ev] = world.events()
    assert (jane["type"], ev.who_id) == ("Lead", jane["Id"])
    assert world.store is not None
    from crmcal.state.models import IssueRow

    with world.store.session() as s:
        open_reasons = [
            i.reason for i in s.scalars(select(IssueRow).where(IssueRow.resolved_at.is_(None)))
        ]
    assert UNRESOLVED_REASON not in open_reasons
    _second_session_writes_nothing(world)


def test_k_p6_attendee_added_to_a_shared_meeting_gets_a_record_and_is_related(
    world: World,
) -> None:
    """K + P6: a participant added later to a shared meeting gets a Contact (K2) at the next
    session and is related to the existing Event; the dashboard's list shows the record (K4)."""
    cid = _setup(world, AutoCreate.CONTACT)
    rec = _meeting(world, "Roadmap", [(KNOWN, "Eve Known")])
    world.sync(ANN)
    [ev] = world.events()
    attendees = [
        {"type": "required", "emailAddress": {"address": KNOWN, "name": "Eve Known"}},
        {"type": "required", "emailAddress": {"address": UNKNOWN, "name": "Jane Roe"}},
    ]
    world.sb.graph.update_event(ANN, rec.id, {"attendees": attendees})
    [r] = world.sync(ANN)
    assert r.records_created == 1 and r.outcome.created == 0
    jane = _people(world)[UNKNOWN]
    whos = {x.relation_id for x in world.relations(str(ev.id)) if not x.is_invitee}
    assert jane["Id"] in whos  # related next to the WhoId, which stays the known Contact
    [ev] = world.events()
    assert ev.who_id == cid
    assert world.store is not None
    from crmcal.sync.autocreate import list_created

    assert [(c.object_type, c.email) for c in list_created(world.store, mailbox=ANN)] == [
        ("Contact", UNKNOWN)
    ]
    _second_session_writes_nothing(world)
