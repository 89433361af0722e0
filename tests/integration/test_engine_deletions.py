"""Deletions that start in Outlook, end to end over HTTP: X4, X5, M5, X7 (and W3 safety)."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"


def _setup(world: World) -> None:
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")


def test_X5_deleted_in_outlook_deletes_the_event(world: World) -> None:
    _setup(world)
    rec = world.meeting(ANA, "Will be deleted", (MARIA,))
    world.meeting(ANA, "Stays", (MARIA,), days=2)
    world.sync()
    assert len(world.events()) == 2
    world.sb.graph.delete_event(ANA, rec.id)
    [r] = world.sync(ANA)
    assert r.outcome.deleted == 1
    assert [e.subject for e in world.events()] == ["Stays"]
    world.sync()
    assert [e.subject for e in world.events()] == ["Stays"]


def test_X4_organizer_cancels_meeting_events_go(world: World) -> None:
    """X4: the organizer cancels; the Event goes, and an attendee's copy (cancelled) deletes
    nothing more (its link followed the organizer's Event)."""
    _setup(world)
    rec = world.meeting(ANA, "Cancelled later", (BEN, MARIA))
    world.respond(BEN, world.copy_of(BEN, rec))
    world.sync()
    [ev] = world.events()
    world.sb.graph.cancel(ANA, rec.id)
    world.sync()
    assert world.events() == []
    assert world.crm.relations_for([ev.id]) == []  # type: ignore[list-item]


def test_M5_unsync_category_removes_the_event_and_crmcal_categories(world: World) -> None:
    _setup(world)
    rec = world.meeting(ANA, "Unsync me", (MARIA,))
    world.sync()
    assert len(world.events()) == 1
    world.set_categories(
        ANA,
        rec.id,
        ("Personal", "Salesforce", "Salesforce Unsync", "Status: Tracked successfully."),
    )
    world.sync()
    assert world.events() == []
    assert world.item(ANA, rec.id).categories == ("Personal",)
    world.sync()  # and it stays unshared: auto-share does not take it back at once
    assert world.item(ANA, rec.id).categories == ("Personal",)


def test_X5_attendee_deletes_copy_of_in_org_organizers_meeting(world: World) -> None:
    """Anchors 1.11, last row: the attendee is taken off the invitees; the Event stays."""
    _setup(world)
    rec = world.meeting(ANA, "Team with customer", (BEN, MARIA))
    ben_copy = world.copy_of(BEN, rec)
    world.respond(BEN, ben_copy)
    world.sync()
    [ev] = world.events()
    world.sb.graph.delete_event(BEN, ben_copy, notify_attendees=False)
    world.sync(BEN)
    [still] = world.events()
    assert still.id == ev.id
    invitees = {r.relation_id for r in world.relations(ev.id) if r.is_invitee}  # type: ignore[arg-type]
    assert world.sf_ids[BEN] not in invitees


def test_W3_item_leaving_the_window_is_not_deleted_in_salesforce(world: World) -> None:
    """A tombstone for an item that only moved out of the window must not delete its Event."""
    _setup(world)
    rec = world.meeting(ANA, "Moves far away", (MARIA,))
    world.sync()
    far = (world.now + timedelta(days=120)).replace(minute=0, second=0)
    fmt = "%Y-%m-%dT%H:%M:%S"
    world.sb.graph.update_event(ANA, rec.id, {
        "start": {"dateTime": far.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (far + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
    })  # fmt: skip
    world.sync()
    assert [e.subject for e in world.events()] == ["Moves far away"]
    # W3: it stops syncing: crmcal's categories go, later edits stay in Outlook
    assert world.item(ANA, rec.id).categories == ()
    world.sb.graph.update_event(ANA, rec.id, {"subject": "Renamed later"})
    world.sync()
    assert [e.subject for e in world.events()] == ["Moves far away"]


def test_X7_mass_delete_guard_then_confirmed(world: World) -> None:
    _setup(world)
    world.org = world.org.model_copy(update={"mass_delete_guard": 2})
    recs = [world.meeting(ANA, f"Bulk {i}", (MARIA,), days=1 + i) for i in range(4)]
    world.sync()
    for rec in recs[:3]:
        world.sb.graph.delete_event(ANA, rec.id)
    [r] = world.sync(ANA)
    assert r.outcome.deleted == 0
    assert len(world.events()) == 4
    [issue] = [i for i in world.store.open_issues(ANA) if i.reason == "mass_delete_guard"]  # type: ignore[union-attr]
    assert "Bulk 0" in issue.message
    assert "--allow-mass-delete" in issue.message
    [r] = world.sync(ANA)  # an ordinary session still deletes nothing
    assert len(world.events()) == 4

    from crmcal.service.runner import run_sync

    cfg = world.config()
    [r] = run_sync(cfg, store=world.store, calendar=world.calendar, crm=world.crm, now=world.now,  # type: ignore[arg-type]
                   users=[ANA], allow_mass_delete=True)  # fmt: skip
    assert r.outcome.deleted == 3
    assert [e.subject for e in world.events()] == ["Bulk 3"]
    # Confirmed and carried out: the guard's issue closes (nothing of the user is held now).
    assert [i for i in world.store.open_issues(ANA) if i.reason == "mass_delete_guard"] == []  # type: ignore[union-attr]


def test_X5_Y3_unreadable_item_is_not_taken_for_deleted(world: World) -> None:
    """Review finding: a tombstone plus a read that errors (not a 404) must not delete the Event."""
    _setup(world)
    rec = world.meeting(ANA, "Still there, just unreadable", (MARIA,))
    world.sync()
    far = (world.now + timedelta(days=120)).replace(minute=0, second=0)
    fmt = "%Y-%m-%dT%H:%M:%S"
    world.sb.graph.update_event(ANA, rec.id, {
        "start": {"dateTime": far.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (far + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
    })  # fmt: skip
    world.sb.graph.corrupt_event(ANA, rec.id, {"start": {"dateTime": "garbage", "timeZone": "UTC"}})
    world.sync()
    assert [e.subject for e in world.events()] == ["Still there, just unreadable"]


def test_W3_window_slides_past_a_shared_item(world: World) -> None:
    """No tombstone comes when the window slides past an item: the state's dates tell."""
    _setup(world)
    rec = world.meeting(ANA, "Last week soon", (MARIA,), days=1)
    world.sync()
    world.now = world.now + timedelta(days=20)  # 19 days after the item: past the 14-day window
    world.sync()
    assert [e.subject for e in world.events()] == ["Last week soon"]
    assert world.item(ANA, rec.id).categories == ()


def test_W3_salesforce_born_item_leaving_the_window_is_removed_from_outlook(world: World) -> None:
    world.person(ANA)
    start = (world.now + timedelta(days=3)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Made in Salesforce", start, start + timedelta(hours=1)
    )
    world.sync()
    cal = world.calendar.calendar_view(
        ANA, world.now - timedelta(days=1), world.now + timedelta(days=30)
    )
    assert len(cal) == 1
    world.now = world.now + timedelta(days=20)
    world.sync()
    assert (
        world.calendar.calendar_view(
            ANA, world.now - timedelta(days=40), world.now + timedelta(days=30)
        )
        == []
    )
    assert [e.id for e in world.events()] == [eid]
