"""The seed's scenarios, end to end over HTTP against both emulators (issue #5), one test each,
plus required fields, exactly-once creation, crash recovery, and the demo itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import World

BOTH_BACKENDS = (  # issue 20: the seed's scenarios 1-3 also run on EWS (Exchange Server)
    "test_P2_scenario_1_attendee_waits_until_the_organizer_shares",
    "test_P1_scenario_2_you_organize",
    "test_P3_D3_scenario_3_external_organizer_IU1_IU2_EU1_EU2",
    "test_required_fields_missing_then_fixed_by_event_defaults",
    "test_N3_single_item_in_a_custom_zone_syncs_in_utc",
)

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
FRANK = "frank@contoso.example"
MARIA = "maria@fabrikam.example"
EU1 = "eu1@fabrikam.example"
EU2 = "eu2@adatum.example"
TRACKED = "Status: Tracked successfully."


def test_P2_scenario_1_attendee_waits_until_the_organizer_shares(world: World) -> None:
    """Scenario 1: the internal organizer (a crmcal user) has not shared; the attendee accepted
    with auto-share on. Nothing is shared and the attendee gets "waiting for the organizer";
    after the organizer shares, one Event owned by the organizer with the attendee as invitee, and
    the attendee's copy carries the Salesforce category."""
    world.person(ANA)
    world.person(BEN, autoshare_meetings=False)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(BEN, "Fabrikam onboarding plan", (ANA, MARIA))
    ana_copy = world.copy_of(ANA, rec)
    world.respond(ANA, ana_copy)

    world.sync()
    assert world.events() == []
    [issue] = world.store.open_issues(ANA)  # type: ignore[union-attr]
    assert issue.reason == "waiting_for_organizer"
    assert "Waiting for the organizer to synchronize the event" in issue.message
    assert issue.item_id == ana_copy
    assert world.item(ANA, ana_copy).categories == ("Status: Waiting for the organizer",)

    # Ana files it under her own category meanwhile; crmcal must not lose that (C4).
    world.set_categories(ANA, ana_copy, ("Customer calls", "Status: Waiting for the organizer"))
    world.set_categories(BEN, rec.id, ("Salesforce",))  # the organizer shares by category
    world.sync()
    [ev] = world.events()
    assert ev.owner_id == world.sf_ids[BEN]
    invitees = {r.relation_id for r in world.relations(ev.id) if r.is_invitee}  # type: ignore[arg-type]
    assert invitees == {world.sf_ids[ANA]}
    assert world.item(ANA, ana_copy).categories == ("Customer calls", "Salesforce", TRACKED)
    assert world.store.open_issues(ANA) == []  # type: ignore[union-attr]
    world.sync()
    assert len(world.events()) == 1


def test_P1_scenario_2_you_organize(world: World) -> None:
    """Scenario 2: one Event owned by the organizer, internal attendees (crmcal or not) as
    invitees, external attendees' Contacts linked, attendees' copies linked with the category."""
    world.person(ANA)
    world.person(BEN)
    world.person(FRANK, crmcal=False)
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    maria = world.contact(MARIA, "Gomez", acct)
    tom = world.contact("tom@fabrikam.example", "Baker", acct)
    rec = world.meeting(
        ANA, "Fabrikam pricing review", (BEN, FRANK, MARIA, "tom@fabrikam.example", EU2)
    )
    world.respond(BEN, world.copy_of(BEN, rec))

    world.sync()
    [ev] = world.events()
    assert ev.owner_id == world.sf_ids[ANA]
    assert ev.who_id == maria
    assert ev.what_id == acct
    rels = world.relations(ev.id)  # type: ignore[arg-type]
    assert {r.relation_id for r in rels if r.is_invitee} == {world.sf_ids[BEN], world.sf_ids[FRANK]}
    assert tom in {
        r.relation_id for r in rels if not r.is_invitee
    }  # L5: other Contacts related too
    assert world.item(ANA, rec.id).categories == ("Salesforce", TRACKED)
    assert world.item(BEN, world.copy_of(BEN, rec)).categories == ("Salesforce", TRACKED)
    assert (
        world.sb.salesforce.query(
            "SELECT Id FROM Contact WHERE Email = 'eu2@adatum.example'"
        ).records
        == []
    )


def test_P3_D3_scenario_3_external_organizer_IU1_IU2_EU1_EU2(world: World) -> None:
    """The seed's example: EU1 (external, has a Contact) organizes; EU2 (external, no record),
    IU1 (auto-share on) and IU2 (auto-share off, shares by category) attend. Exactly two Events,
    owners IU1 and IU2, same GUID, both with WhoId = EU1's Contact, no invitees, nothing for EU2,
    and each Description starts with the From / To/CC lines (U6). With a GUID field the GUID is
    in Salesforce and creation is an upsert (D3)."""
    world.sb.salesforce.add_custom_field("Event", "Outlook_GUID__c", external_id=True)
    world.org = world.org.model_copy(update={"guid_field": "Outlook_GUID__c"})
    iu1, iu2 = "iu1@contoso.example", "iu2@contoso.example"
    world.person(iu1)
    world.person(iu2, autoshare_meetings=False)
    eu1 = world.contact(EU1, "One")
    guid = "040000008200E00074C5B7101A82E00800000000EXAMPLE1"
    attendees = (EU2, iu1, iu2)
    c1 = world.invitation(iu1, EU1, "EU1 roadmap briefing", attendees, guid)
    c2 = world.invitation(iu2, EU1, "EU1 roadmap briefing", attendees, guid)
    world.respond(iu1, c1.id)
    world.respond(iu2, c2.id)
    world.set_categories(iu2, c2.id, ("Salesforce",))

    world.sync()
    events = world.events()
    assert sorted(e.owner_id for e in events) == sorted([world.sf_ids[iu1], world.sf_ids[iu2]])
    assert {e.who_id for e in events} == {eu1}
    assert {e.guid for e in events} == {guid}
    for e in events:
        assert [r for r in world.relations(e.id) if r.is_invitee] == []  # type: ignore[arg-type]
        lines = e.description.splitlines()
        assert lines[0] == f"From: {EU1}"
        assert lines[1] == f"To/CC: {EU2}, {iu1}, {iu2}"
    people = (
        world.sb.salesforce.query(
            "SELECT Id FROM Contact WHERE Email = 'eu2@adatum.example'"
        ).records
        + world.sb.salesforce.query(
            "SELECT Id FROM Lead WHERE Email = 'eu2@adatum.example'"
        ).records
    )
    assert people == []
    world.sync()
    assert len(world.events()) == 2


def test_required_fields_missing_then_fixed_by_event_defaults(world: World) -> None:
    """Validation failure gives `Status: Required fields are missing: <fields>` plus `Sync Error`,
    and succeeds once `event_defaults` fills them."""
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    world.sb.salesforce.set_required_fields("Event", ["Type"])
    rec = world.meeting(ANA, "Fabrikam contract", (MARIA,))
    world.sync()
    assert world.events() == []
    assert world.item(ANA, rec.id).categories == (
        "Sync Error",
        "Status: Required fields are missing: Type",
    )
    assert [i.reason for i in world.store.open_issues(ANA)] == ["required_fields_missing"]  # type: ignore[union-attr]

    world.org = world.org.model_copy(update={"event_defaults": {"Type": "Meeting"}})
    world.sync()
    [ev] = world.events()
    assert dict(ev.extra_fields).get("Type") in (None, "Meeting")
    assert world.item(ANA, rec.id).categories == ("Salesforce", TRACKED)
    assert world.store.open_issues(ANA) == []  # type: ignore[union-attr]


def test_O5_crash_between_create_and_state_write_leaves_no_duplicate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash right after Salesforce created the Event, before crmcal recorded it: the next
    session finds it (D2's natural key) and links it; exactly one Event."""
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Crash test", (MARIA,))

    class Crash(Exception):
        pass

    original = world.crm.create_events

    def create_then_crash(events: list[object]) -> list[object]:
        original(events)  # type: ignore[arg-type]  # the write reaches Salesforce...
        raise Crash  # ...and the process dies before anything else is recorded

    monkeypatch.setattr(world.crm, "create_events", create_then_crash)
    with pytest.raises(Crash):
        world.sync()
    assert len(world.events()) == 1
    monkeypatch.undo()
    world.sync()
    [ev] = world.events()
    assert world.item(ANA, rec.id).categories == ("Salesforce", TRACKED)
    world.sync()
    assert [e.id for e in world.events()] == [ev.id]
    # the open intent was reconciled: the Event counts as crmcal's own, so X5 removes it later
    open_intents = world.store.open_intents(ANA)  # type: ignore[union-attr]
    assert open_intents == []
    world.sb.graph.delete_event(ANA, rec.id)
    world.sync()
    assert world.events() == []


def test_demo_is_correct_and_idempotent(tmp_path: Path) -> None:
    """`crmcal demo`'s own check: every situation ends as SPEC says; a second session writes
    nothing."""
    from crmcal.service.demo import run_demo

    report = run_demo(tmp_path)
    wrong = [(c.item.key, c.result) for c in report.checks if not c.ok]
    assert wrong == []
    changes = [(c.what, c.result) for c in report.changes if not c.ok]
    assert changes == []
    assert report.idle_writes == 0
    assert len(report.checks) == 16
    assert len(report.changes) == 7
    assert report.ok


def test_P7_outlook_writes_are_only_crmcal_categories(world: World) -> None:
    """P7: a full share touches Outlook only through crmcal's category writes: no attendee is
    added, removed or re-invited, and the meeting's own fields are unchanged in every mailbox."""
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Pricing", (BEN, MARIA))
    before = {mb: world.item(mb, i) for mb, i in ((ANA, rec.id), (BEN, world.copy_of(BEN, rec)))}
    world.sync()
    for mb, old in before.items():
        new = world.item(mb, old.id)
        assert new.categories == ("Salesforce", TRACKED)
        assert (new.subject, new.start, new.end, new.attendees, new.body) == (
            old.subject,
            old.start,
            old.end,
            old.attendees,
            old.body,
        )
    writes = {
        k for k in world.sb.graph.stats if k.split()[-2] in ("POST", "PATCH", "PUT", "DELETE")
    }
    allowed = {
        "POST /{tenant}/oauth2/v2.0/token",
        "POST /$batch",
        "$batch> POST /users/{id}/outlook/masterCategories",
        "$batch> PATCH /users/{id}/events/{id}",  # categories only: the fields above are unchanged
    }
    assert "$batch> PATCH /users/{id}/events/{id}" in writes
    assert writes <= allowed, writes - allowed


def test_sync_command_against_the_sandbox(world: World, tmp_path: Path) -> None:
    """`crmcal sync --config FILE` with a file written for the sandbox: a session per user, a
    summary table, exit 0."""
    from typer.testing import CliRunner

    from crmcal.cli import app
    from crmcal.sandbox.runtime import write_config_toml

    world.person(ANA)
    world.contact(MARIA, "Gomez")
    world.meeting(ANA, "From the CLI", (MARIA,))
    cfg_file = tmp_path / "sandbox.toml"
    write_config_toml(world.config(), cfg_file)
    result = CliRunner().invoke(app, ["sync", "--config", str(cfg_file)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert ANA in result.output
    assert "succeeded" in result.output
    assert [e.subject for e in world.events()] == ["From the CLI"]
    assert world.sb.graph_secret not in result.output


def test_N3_single_item_in_a_custom_zone_syncs_in_utc(world: World) -> None:
    """N3: a single item is stored in UTC and syncs whatever its zone (here a legacy custom one)."""
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Custom zone call", (MARIA,))
    world.sb.graph.mailbox(ANA).events[rec.id].start_tz = "tzone://Microsoft/Custom"
    item = world.item(ANA, rec.id)
    assert item.start_time_zone == "tzone://Microsoft/Custom"
    world.sync()
    [ev] = world.events()
    assert (ev.start, ev.end) == (item.start, item.end)


def test_Y3_malformed_item_is_an_issue_and_the_session_goes_on(world: World) -> None:
    """Y3: an item Graph returns in a broken shape gives a per-item issue; the others sync."""
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    bad = world.meeting(ANA, "Broken", (MARIA,))
    world.meeting(ANA, "Fine", (MARIA,), days=2)
    world.sb.graph.corrupt_event(
        ANA, bad.id, {"start": {"dateTime": "not a date", "timeZone": "UTC"}}
    )
    [r] = world.sync()
    assert r.status == "partial"
    assert [e.subject for e in world.events()] == ["Fine"]
    [issue] = world.store.open_issues(ANA)  # type: ignore[union-attr]
    assert (issue.reason, issue.item_id) == ("unreadable_item", bad.id)


def test_D2_adopted_event_gets_the_items_links_and_fields(world: World) -> None:
    """An Event made by hand (no Who, another Location) is linked, then given what sharing would
    have written: the item's fields and Initial Search's Who (review finding)."""
    world.person(ANA)
    maria = world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Made by hand too", (MARIA,), location={"displayName": "Room 7"})
    it = world.item(ANA, rec.id)
    other = world.sb.salesforce.add_event(world.sf_ids[ANA], "Made by hand too", it.start, it.end,
                                          Location="somewhere else")  # fmt: skip
    world.sync()
    [ev] = world.events()
    assert ev.id == other
    assert ev.who_id == maria
    assert ev.location == "Room 7"


def test_D2_all_day_item_in_a_local_zone_matches_the_existing_event(world: World) -> None:
    """Salesforce keeps an all-day Event at midnight UTC of its date, the item starts at local
    midnight: D2 must still find it (review finding)."""
    from datetime import date

    world.person(ANA)
    world.contact(MARIA, "Gomez")
    day = (world.now + timedelta(days=5)).date()
    body = {
        "subject": "All-day workshop",
        "isAllDay": True,
        "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {
            "dateTime": f"{(day + timedelta(days=1)).isoformat()}T00:00:00",
            "timeZone": "W. Europe Standard Time",
        },
        "attendees": [{"type": "required", "emailAddress": {"address": MARIA}}],
    }
    world.sb.graph.seed_event(ANA, body)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    world.sb.salesforce.add_event(world.sf_ids[ANA], "All-day workshop", midnight, midnight + timedelta(days=1),
                                  IsAllDayEvent=True, ActivityDate=date(day.year, day.month, day.day).isoformat())  # fmt: skip
    world.sync()
    assert [e.subject for e in world.events()] == ["All-day workshop"]


def test_M6_U1_item_made_private_after_sharing(world: World) -> None:
    """A shared item turned private: the Event becomes private and loses its links, which
    Salesforce requires (review finding: before, every session failed with Sync Error)."""
    world.person(ANA)
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    world.contact(MARIA, "Gomez", acct)
    world.contact("tom@fabrikam.example", "Baker", acct)
    rec = world.meeting(ANA, "Becomes private", (MARIA, "tom@fabrikam.example"))
    world.sync()
    [ev] = world.events()
    assert ev.who_id is not None
    world.sb.graph.update_event(ANA, rec.id, {"sensitivity": "private"})
    [r] = world.sync(ANA)
    assert r.outcome.failed == 0, r.outcome.log
    [ev] = world.events()
    assert (ev.is_private, ev.who_id, ev.what_id) == (True, None, None)
    assert [x for x in world.relations(ev.id) if not x.is_invitee] == []  # type: ignore[arg-type]
    assert world.item(ANA, rec.id).categories == ("Salesforce", TRACKED)


def test_P4_invitee_response_reaches_salesforce(world: World) -> None:
    """P4: an attendee's answer goes up: accepted and declined as they are, others undecided."""
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Answer me", (BEN, MARIA))
    world.sync()
    [ev] = world.events()

    def ben_status() -> str:
        [rel] = [r for r in world.relations(ev.id) if r.is_invitee]  # type: ignore[arg-type]
        return rel.status.value

    assert ben_status() == "New"
    world.respond(BEN, world.copy_of(BEN, rec), "accepted")
    world.sync()
    assert ben_status() == "Accepted"


def test_D2_never_adopts_an_event_another_mailbox_is_linked_to(world: World) -> None:
    """D2 "that no other item is linked to": an Event crmcal already links to an item of any
    mailbox (here Ben's, under another GUID) is not adopted by Ana's look-alike item."""
    from crmcal.state.models import EventRow, LinkRow, Origin, ShareMode

    world.org = world.org.model_copy(update={"sync_salesforce_calendar": False})
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    world.sync()  # creates the state store; nothing to do yet
    start = (world.now + timedelta(days=1)).replace(minute=0, second=0)
    taken = world.sb.salesforce.add_event(world.sf_ids[ANA], "Look-alike", start,
                                          start + timedelta(hours=1))  # fmt: skip
    assert world.store is not None
    with world.store.session() as s:
        s.add(EventRow(event_id=taken, owner_id=world.sf_ids[ANA], guid="OTHER-GUID",
                       origin=Origin.OUTLOOK, created_by_crmcal=True))  # fmt: skip
        s.add(LinkRow(mailbox=BEN, item_id="ben-item", guid="OTHER-GUID", event_id=taken,
                      origin=Origin.OUTLOOK, share_mode=ShareMode.CATEGORY))  # fmt: skip
    world.meeting(ANA, "Look-alike", (MARIA,))
    [r] = world.sync(ANA)
    assert r.outcome.adopted == 0 and r.outcome.created == 1, r.outcome.log
    ids = {e.id for e in world.events()}
    assert taken in ids and len(ids) == 2
