"""Hostile input from either API, at engine level (Y3, L7, U3): every broken item gives a
per-item issue with a reason, the session goes on for the other items and the other users, and
nothing already synced is lost or changed wrongly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crmcal.rules.mapping import DESCRIPTION_MAX, TRUNCATION_MARKER
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"


def _zone(tz: str) -> dict[str, Any]:
    return {"dateTime": "2026-12-01T10:00:00", "timeZone": tz}


GRAPH_CORRUPTIONS: dict[str, dict[str, Any]] = {
    "start_wrong_type": {"start": 12},
    "start_missing": {"start": None},
    "end_garbage": {"end": {"dateTime": "tomorrow-ish", "timeZone": "UTC"}},
    "end_before_start": {"end": {"dateTime": "2020-01-01T00:00:00", "timeZone": "UTC"}},
    "attendees_not_a_list": {"attendees": "maria@fabrikam.example"},
    "attendee_wrong_type": {"attendees": [17, None]},
    "two_thousand_attendees": {
        "attendees": [
            {"type": "required", "emailAddress": {"address": f"p{i}@litware.example"}}
            for i in range(2000)
        ]
    },
    "subject_wrong_type": {"subject": 5},
    "sensitivity_unknown": {"sensitivity": "topsecret"},
    "invalid_zone": {"start": _zone("Mars/Olympus_Mons")},
    "custom_zone_in_the_payload": {"start": _zone("tzone://Microsoft/Custom")},
    "unpaired_surrogate_subject": {"subject": "bad \ud800 text"},
    "unpaired_surrogate_attendee_name": {
        "attendees": [
            {"type": "required", "emailAddress": {"address": MARIA, "name": "Ma\udcffria"}}
        ]
    },
    "id_missing": {"id": None},
}


def setup(world: World) -> tuple[Any, Any]:
    world.person(ANA, autoshare_meetings=True)
    world.person(BEN, autoshare_meetings=True)
    world.contact(MARIA, "Gomez")
    victim = world.meeting(ANA, "Victim", (MARIA,), days=3)
    world.meeting(ANA, "Fine", (MARIA,), days=4)
    world.meeting(BEN, "Ben's", (MARIA,), days=5)
    return victim, None


def test_Y3_broken_graph_items_are_per_item_issues(world: World) -> None:
    """Y3: malformed JSON shapes, wrong types, missing fields, end before start, 2,000
    attendees, invalid or custom zones in the payload, text that is not valid Unicode: one
    mailbox holds one item broken in each way; each is its own issue, the rest syncs."""
    setup(world)
    victims = {}
    for i, (case, override) in enumerate(sorted(GRAPH_CORRUPTIONS.items())):
        victims[case] = world.meeting(ANA, f"Victim {case}", (MARIA,), days=6 + i % 20)
        world.sb.graph.corrupt_event(ANA, victims[case].id, override)
    by = {r.mailbox: r for r in world.sync()}
    assert by[ANA].status == "partial" and by[BEN].status == "succeeded"
    assert sorted(e.subject for e in world.events()) == ["Ben's", "Fine", "Victim"]
    assert world.store is not None
    issues = {i.item_id: i for i in world.store.open_issues(ANA) if i.reason == "unreadable_item"}
    assert len(issues) == len(GRAPH_CORRUPTIONS), [i.message for i in issues.values()]
    for case, rec in victims.items():
        if case != "id_missing":
            assert rec.id in issues and issues[rec.id].message, case
    [r, _] = world.sync()
    assert r.outcome.created == 0


@pytest.mark.parametrize(
    "case", ["start_wrong_type", "end_before_start", "unpaired_surrogate_subject"]
)
def test_Y3_item_broken_after_sharing_keeps_its_event(world: World, case: str) -> None:
    """Y3: an item already shared that comes back broken changes nothing in Salesforce (no
    deletion, no edit) and is an issue; once readable again, it syncs on."""
    victim, _ = setup(world)
    world.sync()
    before = {e.subject: e for e in world.events()}
    world.sb.graph.corrupt_event(ANA, victim.id, GRAPH_CORRUPTIONS[case])
    world.sync()
    after = {e.subject: e for e in world.events()}
    assert after == before
    rec = world.sb.graph.mailbox(ANA).events[victim.id]
    rec.raw_override = None
    world.sb.graph.update_event(ANA, victim.id, {"subject": "Victim, repaired"})
    world.sync()
    assert "Victim, repaired" in {e.subject for e in world.events()}


def test_U3_Y3_huge_body_and_long_subject_are_cut_not_refused(world: World) -> None:
    """U3: a 3 MB body becomes a Description of 32,000 characters with the marker; a subject of
    400 characters becomes 255 (Y3 huge bodies: shared, not an error)."""
    world.person(ANA, autoshare_meetings=True)
    world.contact(MARIA, "Gomez")
    world.meeting(ANA, "S" * 400, (MARIA,), text="x" * 3_000_000)
    [r] = world.sync()
    assert r.status == "succeeded"
    [ev] = world.events()
    assert ev.subject == "S" * 255
    assert len(ev.description) == DESCRIPTION_MAX
    assert ev.description.endswith(TRUNCATION_MARKER)
    [r] = world.sync()
    assert r.outcome.updated == 0  # the cut values are not taken for edits (no ping-pong)


SF_CORRUPTIONS: dict[str, dict[str, Any]] = {
    "start_garbage": {"StartDateTime": "yesterday"},
    "start_wrong_type": {"StartDateTime": 42},
    "subject_wrong_type": {"Subject": ["a", "list"]},
    "end_before_start": {"EndDateTime": "2020-01-01T00:00:00.000+0000"},
    "unpaired_surrogate": {"Description": "x\ud800y"},
    "all_day_without_date": {"IsAllDayEvent": True, "ActivityDate": None},
}


def test_Y3_broken_salesforce_events_never_stop_the_others(world: World) -> None:
    """Y3 from Salesforce: Event records that come back malformed (wrong types, garbage dates,
    end before start, invalid Unicode, an all-day Event without its date) are skipped or become
    issues; the Events made in Salesforce that are fine still reach Outlook (X1); nothing fails."""
    world.person(ANA)
    start = (world.now + timedelta(days=2)).replace(minute=0, second=0)
    uid = world.sf_ids[ANA]
    for case, override in SF_CORRUPTIONS.items():
        bad = world.sb.salesforce.add_event(
            uid, f"Broken {case}", start, start + timedelta(hours=1)
        )
        world.sb.salesforce.tables["Event"][bad].update(override)
    world.sb.salesforce.add_event(uid, "Fine in SF", start, start + timedelta(hours=1))
    for _ in range(2):
        [r] = world.sync()
        assert r.status in ("succeeded", "partial"), r.error
    subjects = [
        i.subject
        for i in world.calendar.calendar_view(ANA, world.now, world.now + timedelta(days=10))
    ]
    assert "Fine in SF" in subjects
    for case in ("start_garbage", "start_wrong_type", "end_before_start", "unpaired_surrogate"):
        assert f"Broken {case}" not in subjects, case


def test_L7_injection_in_every_field_that_reaches_a_query(world: World) -> None:
    """L7: quotes, backslashes, wildcards and SOQL fragments in addresses (L2), domains (L3),
    subjects and bodies (L4: addresses and record ids found in text), GUIDs (D1/D3): the session
    succeeds, links exactly the records that match literally, and matches nothing else."""
    world.person(ANA, autoshare_meetings=True, autoshare_appointments=True)
    acct = world.sb.salesforce.add_account("O'Brien & Co", website="ob'rien.example")
    obrien = world.contact("o'brien@ob'rien.example", "O'Brien", acct)
    victim = world.contact("victim@litware.example", "Victim")
    hostile = [
        "x' OR Email != 'y@z.example",
        "a\\' OR Id != '\\@q.example",
        "%' OR Email LIKE '%@litware.example",
        "o'brien@ob'rien.example",
    ]
    rec = world.meeting(ANA, "Inj' OR Subject != '", hostile, text="001' OR Id != '0 %_\\")
    world.sb.graph.seed_event(ANA, {
        "subject": "Call 003000000000000' OR Id != ' and x'--@evil.example",
        "body": {"contentType": "text",
                 "content": "see https://x.my.salesforce.com/001' OR Name LIKE '%"},
        "start": {"dateTime": (world.now + timedelta(days=2)).strftime("%Y-%m-%dT10:00:00"),
                  "timeZone": "UTC"},
        "end": {"dateTime": (world.now + timedelta(days=2)).strftime("%Y-%m-%dT10:30:00"),
                "timeZone": "UTC"},
    })  # fmt: skip
    results = world.sync()
    assert {r.status for r in results} <= {"succeeded", "partial"}, [r.error for r in results]
    evs = {e.subject: e for e in world.events()}
    ev = evs["Inj' OR Subject != '"]
    assert ev.who_id == obrien  # the literal match, and only it
    assert ev.what_id == acct
    linked = {r.relation_id for r in world.relations(ev.id)}  # type: ignore[arg-type]
    assert victim not in linked and rec.id
    [r] = world.sync()
    assert r.outcome.created == 0
