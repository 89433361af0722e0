"""Issue 17: every link change crmcal makes, against the strict Salesforce emulator (E6, E7).

Save (M2) with each Who/What kind, a Lead replacing several Contacts, P4/P6 re-linking when the
attendees change, M6 making an item private, and L5's related Contacts beyond the WhoId. The
emulator refuses what a real org refuses (a Lead with a What or with other people, a private
Event with relations, more than 50 Contacts), so each test fails if crmcal sends such a write."""

from __future__ import annotations

import pytest

from crmcal.domain import EventRelation
from crmcal.state import StateStore
from crmcal.web.service import Invalid, WebService
from tests.integration.conftest import DOMAIN, World

ANA = f"ana@{DOMAIN}"
MARIA = "maria@fabrikam.example"
TOM = "tom@fabrikam.example"
SUE = "sue@fabrikam.example"
LEE = "lee@prospect.example"


@pytest.fixture
def svc(world: World) -> WebService:
    world.person(ANA, autoshare_meetings=False)
    cfg = world.config()
    world.store = StateStore(cfg.storage.url())
    world.store.migrate()
    return WebService(cfg, world.store, calendar=world.calendar, crm=world.crm)


def _people(world: World, event_id: str) -> list[str]:
    """EventWhoRelation: the related Contacts/Leads (IsParent, not IsWhat), 15-char ids."""
    rels: list[EventRelation] = world.relations(event_id)
    return sorted(r.relation_id[:15] for r in rels if r.is_parent and not r.is_what)


def _ids(*ids: str) -> list[str]:
    return sorted(i[:15] for i in ids)


def _records(world: World) -> dict[str, str]:
    sf = world.sb.salesforce
    acct = sf.add_account("Fabrikam", website="fabrikam.example")
    return {
        "account": acct,
        "opportunity": sf.add_opportunity("Big deal", account_id=acct),
        "contact": world.contact(MARIA, "Gomez", acct),
        "lead": sf.add_lead("Lee", email=LEE, company="Prospect"),
        "": "",
    }


@pytest.mark.parametrize("who", ["contact", "lead", ""])
@pytest.mark.parametrize("what", ["account", "opportunity", ""])
def test_M2_save_each_who_what_kind_on_an_unshared_item(
    world: World, svc: WebService, who: str, what: str
) -> None:
    """M2, E6: Save with every Name/Related To kind; the Event the next session makes has those
    links, except that a Lead clears Related To (and Save says why)."""
    if not who and not what:
        pytest.skip("nothing chosen")
    rec = _records(world)
    item = world.meeting(ANA, "Chosen links", ())  # no attendees: M4 has nothing to wait for
    out = svc.save(ANA, item.id, rec[who] or None, rec[what] or None)
    lead_and_what = who == "lead" and bool(what)
    assert ("Related To was cleared" in out.message) is lead_and_what
    assert out.what_id == (None if lead_and_what else rec[what] or None)
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    evs = world.events()
    assert len(evs) == 1, r.outcome.log
    ev = evs[0]
    assert (ev.who_id or "")[:15] == rec[who][:15]
    assert (ev.what_id or "")[:15] == ("" if lead_and_what else rec[what][:15])
    assert _people(world, ev.id or "") == _ids(*([rec[who]] if who else []))
    world.quiet(ANA)


def test_M2_L5_a_lead_replaces_several_contacts_on_a_linked_item(
    world: World, svc: WebService
) -> None:
    """M2, E6: choosing a Lead for an Event with several Contacts (L5) and a What replaces them:
    the Contacts' rows go first, then WhoId = the Lead with no WhatId, all accepted."""
    rec = _records(world)
    tom = world.contact(TOM, "Baker", rec["account"])
    item = world.meeting(ANA, "Many people", (MARIA, TOM), categories=["Salesforce"])
    world.sync(ANA)
    [ev] = world.events()
    assert _people(world, ev.id or "") == _ids(rec["contact"], tom)
    assert ev.what_id is not None
    out = svc.save(ANA, item.id, rec["lead"], None)
    assert out.status == "updated", out.message
    [ev] = world.events()
    assert ((ev.who_id or "")[:15], ev.what_id) == (rec["lead"][:15], None)
    assert _people(world, ev.id or "") == _ids(rec["lead"])


def test_M2_related_to_for_an_item_whose_name_is_a_lead_is_refused_with_the_reason(
    world: World, svc: WebService
) -> None:
    """M2, E6: a Related To on top of a chosen Lead is refused before Salesforce sees it."""
    rec = _records(world)
    item = world.meeting(ANA, "Lead first", ("someone@elsewhere.example",))
    svc.save(ANA, item.id, rec["lead"], None)
    with pytest.raises(Invalid, match="Lead can't have a Related To"):
        svc.save(ANA, item.id, None, rec["account"])


def test_M2_malformed_ids_are_refused_with_the_reason(world: World, svc: WebService) -> None:
    """Issue 17: a malformed or mistyped id from the dashboard is refused (422 in the API), not
    sent into an IN list a real org would refuse whole."""
    rec = _records(world)
    item = world.meeting(ANA, "Typo", ("someone@elsewhere.example",))
    with pytest.raises(Invalid, match="not a Salesforce id"):
        svc.save(ANA, item.id, "003nope", None)
    bad = rec["contact"][:15] + "ZZZ"  # a checksum that doesn't match
    with pytest.raises(Invalid, match="don't match"):
        svc.save(ANA, item.id, bad, None)


def test_L5_related_contacts_beyond_the_whoid(world: World) -> None:
    """L5, E7: the WhoId is the first Contact and is itself an EventRelation row; the other
    Contacts are related too (IsParent, not invitees); a second session writes nothing."""
    world.person(ANA)
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    ids = [world.contact(a, a.split("@")[0], acct) for a in (MARIA, TOM, SUE)]
    world.meeting(ANA, "Three contacts", (MARIA, TOM, SUE))
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    [ev] = world.events()
    assert (ev.who_id or "")[:15] == ids[0][:15]
    assert _people(world, ev.id or "") == _ids(*ids)
    assert not any(x.is_invitee for x in world.relations(ev.id or "") if x.is_parent)
    world.quiet(ANA)


def test_P4_P6_relinking_when_the_whoid_contact_leaves(world: World) -> None:
    """P4/P6, E7: the WhoId's Contact leaves the meeting and another joins: the next Contact
    becomes WhoId, the newcomer is related, all in writes a real org accepts."""
    world.person(ANA)
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    maria, tom, sue = (world.contact(a, a.split("@")[0], acct) for a in (MARIA, TOM, SUE))
    rec = world.meeting(ANA, "Changing cast", (MARIA, TOM))
    world.sync(ANA)
    world.sb.graph.update_event(
        ANA,
        rec.id,
        {"attendees": [{"type": "required", "emailAddress": {"address": a}} for a in (TOM, SUE)]},
    )
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    [ev] = world.events()
    assert (ev.who_id or "")[:15] == tom[:15]
    assert set(_ids(tom, sue)) <= set(_people(world, ev.id or ""))
    assert maria  # MARIA's row may stay (crmcal never removes people others may have added)


def test_P6_a_lead_attendee_replaced_by_contacts(world: World) -> None:
    """P6, E6: an Event linked to a Lead whose meeting now has Contacts instead: the Lead's row
    goes before WhoId becomes a Contact (a Lead can't be combined with Contacts)."""
    world.person(ANA)
    lead = world.sb.salesforce.add_lead("Lee", email=LEE, company="Prospect")
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    maria = world.contact(MARIA, "Gomez", acct)
    tom = world.contact(TOM, "Baker", acct)
    rec = world.meeting(ANA, "Lead first", (LEE,))
    world.sync(ANA)
    [ev] = world.events()
    assert (ev.who_id or "")[:15] == lead[:15]
    world.sb.graph.update_event(
        ANA,
        rec.id,
        {"attendees": [{"type": "required", "emailAddress": {"address": a}} for a in (MARIA, TOM)]},
    )
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    [ev] = world.events()
    assert (ev.who_id or "")[:15] == maria[:15]
    assert _people(world, ev.id or "") == _ids(maria, tom)


def test_M6_U1_private_with_contacts_and_an_opportunity(world: World) -> None:
    """M6, U1, E7: making a shared item with three related Contacts and a What private: the
    relation rows go first, then IsPrivate (a real org refuses a private Event with any)."""
    world.person(ANA)
    sf = world.sb.salesforce
    acct = sf.add_account("Fabrikam", website="fabrikam.example")
    for a in (MARIA, TOM, SUE):
        world.contact(a, a.split("@")[0], acct)
    rec = world.meeting(ANA, "Soon private", (MARIA, TOM, SUE))
    world.sync(ANA)
    [ev] = world.events()
    assert len(_people(world, ev.id or "")) == 3 and ev.what_id
    world.sb.graph.update_event(ANA, rec.id, {"sensitivity": "private"})
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    [ev] = world.events()
    assert (ev.is_private, ev.who_id, ev.what_id) == (True, None, None)
    assert [x for x in world.relations(ev.id or "") if x.is_parent] == []
    world.quiet(ANA)
