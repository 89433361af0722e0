"""G3 `salesforce_to_outlook` over HTTP: Salesforce is master for the user. Salesforce Events come
down and follow every Salesforce edit; Outlook edits to them are put back; nothing done in Outlook
creates, changes or deletes a Salesforce Event."""

from __future__ import annotations

from datetime import timedelta

from crmcal.domain import Direction
from tests.integration.conftest import World

ANA = "ana@contoso.example"
MARIA = "maria@fabrikam.example"


def _items(world: World, mailbox: str) -> list[object]:
    return world.calendar.calendar_view(
        mailbox, world.now - timedelta(days=30), world.now + timedelta(days=90)
    )


def test_G3_salesforce_master_brings_events_down_and_reverts_outlook_edits(world: World) -> None:
    world.person(ANA, direction=Direction.SALESFORCE_TO_OUTLOOK)
    start = (world.now + timedelta(days=2)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Planned in Salesforce", start, start + timedelta(hours=1)
    )
    [r] = world.sync()
    assert r.outcome.created_items == 1
    [item] = _items(world, ANA)
    item_id = item.id  # type: ignore[attr-defined]
    # Edited in Outlook: put back to what Salesforce has, and Salesforce is not touched.
    world.sb.graph.update_event(
        ANA, item_id, {"subject": "Renamed in Outlook", "location": {"displayName": "Here"}}
    )
    [r] = world.sync()
    assert r.outcome.updated == 0 and r.outcome.updated_items == 1
    got = world.item(ANA, item_id)
    assert (got.subject, got.location) == ("Planned in Salesforce", "")
    [ev] = world.events()
    assert (ev.id, ev.subject) == (eid, "Planned in Salesforce")
    world.quiet()
    # Moved in Salesforce: the item follows (X2 still applies).
    later = start + timedelta(days=1)
    world.sb.salesforce.update(
        "Event",
        eid,
        {
            "StartDateTime": later.isoformat(),
            "EndDateTime": (later + timedelta(hours=1)).isoformat(),
        },
    )  # type: ignore[arg-type]
    world.sync()
    assert world.item(ANA, item_id).start == later
    world.quiet()


def test_G3_salesforce_master_never_shares_outlook_items(world: World) -> None:
    world.person(ANA, direction=Direction.SALESFORCE_TO_OUTLOOK)
    world.contact(MARIA, "Gomez")
    auto = world.meeting(ANA, "Would be auto-shared", (MARIA,))
    marked = world.meeting(ANA, "Marked by hand", (MARIA,), days=2, categories=["Salesforce"])
    world.sync()
    assert world.events() == []
    assert world.item(ANA, auto.id).categories == ()
    got = world.item(ANA, marked.id)
    assert "Sync Error" in got.categories
    assert any("Salesforce to Outlook only" in c for c in got.categories), got.categories
    assert world.store is not None
    issues = world.store.open_issues(ANA)
    assert [i.item_id for i in issues] == [marked.id]
    world.quiet()


def test_G3_salesforce_master_outlook_deletion_keeps_the_event(world: World) -> None:
    world.person(ANA, direction=Direction.SALESFORCE_TO_OUTLOOK)
    start = (world.now + timedelta(days=2)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Keep me in Salesforce", start, start + timedelta(hours=1)
    )
    world.sync()
    [item] = _items(world, ANA)
    world.sb.graph.delete_event(ANA, item.id)  # type: ignore[attr-defined]
    [r] = world.sync()
    assert r.outcome.deleted == 0
    assert [e.id for e in world.events()] == [eid]
    world.quiet()


def test_G3_switching_an_outlook_shared_meeting_to_salesforce_master(world: World) -> None:
    """A meeting shared while the user was `both` keeps its link; from then on Salesforce wins."""
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Shared first", (MARIA,))
    world.sync()
    [ev] = world.events()
    u = world.users[ANA]
    world.users[ANA] = u.model_copy(
        update={
            "settings": u.settings.model_copy(update={"direction": Direction.SALESFORCE_TO_OUTLOOK})
        }
    )
    world.sb.graph.update_event(ANA, rec.id, {"subject": "Outlook tries"})
    world.sync()
    assert world.item(ANA, rec.id).subject == "Shared first"  # Ana organizes it: put back
    [ev2] = world.events()
    assert (ev2.id, ev2.subject) == (ev.id, "Shared first")
    world.sb.salesforce.update("Event", ev.id, {"Subject": "Salesforce decides"})  # type: ignore[arg-type]
    world.sync()
    assert world.item(ANA, rec.id).subject == "Salesforce decides"
    world.quiet()


BEN = "ben@contoso.example"


def test_P5_invitation_mode_brings_salesforce_invitees_to_the_organizers_meeting(
    world: World,
) -> None:
    """P5 opt-in: with `invitation_mode`, an invitee added in Salesforce is added to the
    meeting Ana organizes, and removed again when Salesforce removes it; attendees Salesforce
    never had (Maria) are never removed."""
    world.org = world.org.model_copy(update={"invitation_mode": True})
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Invite from Salesforce", (MARIA,))
    world.sync()
    [ev] = world.events()
    rel = world.sb.salesforce.create(
        "EventRelation",
        {"EventId": ev.id, "RelationId": world.sf_ids[BEN], "IsInvitee": True},
        system=True,
    )
    [a, _b] = world.sync()
    assert a.outcome.updated_items == 1, a.outcome.log
    got = [x.email.address for x in world.item(ANA, rec.id).attendees]
    assert got == [MARIA, BEN]
    world.quiet()
    world.sb.salesforce.delete("EventRelation", rel)
    world.sync()
    assert [x.email.address for x in world.item(ANA, rec.id).attendees] == [MARIA]
    world.quiet()


def test_P5_invitation_mode_off_leaves_attendees_alone(world: World) -> None:
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Default mode", (MARIA,))
    world.sync()
    world.sync()
    [ev] = world.events()
    world.sb.salesforce.create(
        "EventRelation",
        {"EventId": ev.id, "RelationId": world.sf_ids[BEN], "IsInvitee": True},
        system=True,
    )
    world.sync()
    assert [x.email.address for x in world.item(ANA, rec.id).attendees] == [MARIA]
