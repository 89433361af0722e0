"""Salesforce to Outlook (issue #6, first part): X1 over HTTP, with the org-level read."""

from __future__ import annotations

from datetime import timedelta

from crmcal.domain import Direction, UserSettings
from tests.integration.conftest import World

BOTH_BACKENDS = True  # issue 20: every test here also runs on EWS (Exchange Server)

ANA = "ana@contoso.example"
MARIA = "maria@fabrikam.example"


def _items(world: World, mailbox: str) -> list[object]:
    return world.calendar.calendar_view(
        mailbox, world.now - timedelta(days=30), world.now + timedelta(days=90)
    )


def test_X1_event_made_in_salesforce_appears_in_outlook_once(world: World) -> None:
    world.person(ANA)
    uid = world.sf_ids[ANA]
    start = (world.now + timedelta(days=3)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(uid, "Call planned in Salesforce", start, start + timedelta(minutes=45),
                                        Location="Phone", Description="Notes from SF")  # fmt: skip
    [r] = world.sync()
    assert r.outcome.created_items == 1
    [item] = _items(world, ANA)
    assert item.subject == "Call planned in Salesforce"  # type: ignore[attr-defined]
    assert (item.start, item.end) == (start, start + timedelta(minutes=45))  # type: ignore[attr-defined]
    assert item.categories == ("Salesforce", "Status: Tracked successfully.")  # type: ignore[attr-defined]
    assert item.location == "Phone"  # type: ignore[attr-defined]
    for _ in range(2):
        world.sync()
    assert len(_items(world, ANA)) == 1  # no second copy
    assert [e.id for e in world.events()] == [eid]  # and no Event echoed back up


def test_X1_events_crmcal_made_never_come_back_down(world: World) -> None:
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    world.meeting(ANA, "Shared from Outlook", (MARIA,))
    for _ in range(3):
        world.sync()
    assert len(_items(world, ANA)) == 1
    assert len(world.events()) == 1


def test_X1_off_by_setting_and_G3_outlook_master(world: World) -> None:
    world.person(ANA)
    start = world.now + timedelta(days=2)
    world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Not wanted below", start, start + timedelta(hours=1)
    )
    world.org = world.org.model_copy(update={"sync_salesforce_calendar": False})
    world.sync()
    assert _items(world, ANA) == []
    world.org = world.org.model_copy(update={"sync_salesforce_calendar": True})
    u = world.users[ANA]
    world.users[ANA] = u.model_copy(
        update={"settings": UserSettings(direction=Direction.OUTLOOK_TO_SALESFORCE)}
    )
    world.sync()
    assert _items(world, ANA) == []


def test_X1_only_events_in_the_window(world: World) -> None:
    world.person(ANA)
    far = world.now + timedelta(days=200)
    world.sb.salesforce.add_event(world.sf_ids[ANA], "Far away", far, far + timedelta(hours=1))
    world.sync()
    assert _items(world, ANA) == []


def test_org_level_read_is_one_salesforce_query_per_cycle(world: World) -> None:
    """DESIGN 5 / #5's goal: a cycle with nothing changed costs one Salesforce call for the org."""
    for i in range(5):
        world.person(f"user{i}@contoso.example")
    world.sync()
    world.sync()
    before = world.crm.total_calls
    world.sync()
    assert world.crm.total_calls - before == 1


BEN = "ben@contoso.example"


def test_X3_event_deleted_in_salesforce_outlook_born_item_only_loses_categories(
    world: World,
) -> None:
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Deleted in Salesforce", (BEN, MARIA))
    world.set_categories(ANA, rec.id, ("Mine",))
    world.respond(BEN, world.copy_of(BEN, rec))
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.delete("Event", ev.id)  # type: ignore[arg-type]
    world.sync()
    assert world.item(ANA, rec.id).categories == ("Mine",)
    assert world.item(BEN, world.copy_of(BEN, rec)).categories == ()
    for _ in range(2):
        world.sync()
    assert world.events() == []  # not shared again by itself
    assert world.item(ANA, rec.id).categories == ("Mine",)


def test_X3_event_deleted_in_salesforce_salesforce_born_item_goes(world: World) -> None:
    world.person(ANA)
    start = (world.now + timedelta(days=3)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Made in Salesforce", start, start + timedelta(hours=1)
    )
    world.sync()
    assert len(_items(world, ANA)) == 1
    world.sb.salesforce.delete("Event", eid)
    [r] = world.sync()
    assert r.outcome.deleted_items == 1
    assert _items(world, ANA) == []


def test_X3_setting_deletes_outlook_born_items_too(world: World) -> None:
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    world.org = world.org.model_copy(update={"salesforce_delete_removes_outlook_items": True})
    world.meeting(ANA, "Gone everywhere", (MARIA,))
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.delete("Event", ev.id)  # type: ignore[arg-type]
    world.sync()
    assert _items(world, ANA) == []


def _fmt(d: object) -> str:
    from datetime import UTC, datetime

    assert isinstance(d, datetime)
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_X2_salesforce_move_reaches_the_organizers_meeting(world: World) -> None:
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Moved in Salesforce", (MARIA,))
    world.sync()
    [ev] = world.events()
    assert ev.start is not None
    new_start = ev.start + timedelta(hours=2)
    world.sb.salesforce.update("Event", ev.id, {"StartDateTime": _fmt(new_start),  # type: ignore[arg-type]
                                               "EndDateTime": _fmt(new_start + timedelta(hours=1)),
                                               "Location": "Their office"})  # fmt: skip
    [r] = world.sync()
    assert r.outcome.updated_items == 1
    it = world.item(ANA, rec.id)
    assert (it.start, it.location) == (new_start, "Their office")
    [r] = world.sync()
    assert (r.outcome.updated, r.outcome.updated_items) == (0, 0)  # settled, no ping-pong


def test_X2_salesforce_born_item_follows_salesforce(world: World) -> None:
    world.person(ANA)
    start = (world.now + timedelta(days=3)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(
        world.sf_ids[ANA], "From Salesforce", start, start + timedelta(hours=1)
    )
    world.sync()
    world.sb.salesforce.update("Event", eid, {"Subject": "Renamed in Salesforce"})
    world.sync()
    [item] = _items(world, ANA)
    assert item.subject == "Renamed in Salesforce"  # type: ignore[attr-defined]


def test_X2_P7_external_organizers_meeting_is_never_written(world: World) -> None:
    """P7: crmcal never writes to a meeting the user does not organize; the Salesforce edit stays
    in Salesforce and nothing ping-pongs."""
    world.person(ANA)
    world.contact("priya@litware.example", "Shah")
    inv = world.invitation(
        ANA,
        "priya@litware.example",
        "Their meeting",
        (ANA,),
        "040000008200E00074C5B7101A82E00800000000P7TEST01",
    )
    world.respond(ANA, inv.id)
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.update("Event", ev.id, {"Location": "Edited in Salesforce"})  # type: ignore[arg-type]
    before = world.item(ANA, inv.id)
    for _ in range(3):
        [r] = world.sync()
        assert (r.outcome.updated_items, r.outcome.updated) == (0, 0)
    after = world.item(ANA, inv.id)
    assert after.location == before.location
    [ev] = world.events()
    assert ev.location == "Edited in Salesforce"


def test_U4_conflict_outlook_wins_on_both_sides(world: World) -> None:
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Contested", (MARIA,))
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.update("Event", ev.id, {"Location": "Salesforce says here"})  # type: ignore[arg-type]
    world.sb.graph.update_event(ANA, rec.id, {"location": {"displayName": "Outlook says there"}})
    [r] = world.sync()
    assert any("conflict on Location" in line for line in r.outcome.log), r.outcome.log
    [ev] = world.events()
    assert ev.location == "Outlook says there"
    assert world.item(ANA, rec.id).location == "Outlook says there"


def test_G3_outlook_master_reverts_salesforce_edits(world: World) -> None:
    world.person(ANA, direction=Direction.OUTLOOK_TO_SALESFORCE)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Outlook is master", (MARIA,))
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.update("Event", ev.id, {"Subject": "Changed in Salesforce"})  # type: ignore[arg-type]
    world.sync()
    [ev] = world.events()
    assert ev.subject == "Outlook is master"
    assert world.item(ANA, rec.id).subject == "Outlook is master"


def test_P5_salesforce_invitee_changes_never_touch_outlook_attendees(world: World) -> None:
    """P5: with invitation_mode off (the default), a Salesforce-side invitee added and a field
    edited leave the Outlook attendee list exactly as it was (Microsoft 365 would mail them)."""
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Keep my attendees", (MARIA,))
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.create("EventRelation", {"EventId": ev.id, "RelationId": world.sf_ids[BEN], "IsInvitee": True},
                               system=True)  # fmt: skip
    world.sb.salesforce.update("Event", ev.id, {"Subject": "Renamed in Salesforce"})  # type: ignore[arg-type]
    before = world.item(ANA, rec.id).attendees
    world.sync()
    after = world.item(ANA, rec.id)
    assert after.subject == "Renamed in Salesforce"  # X2 came down (Ana organizes it)
    assert after.attendees == before
