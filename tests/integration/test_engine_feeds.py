"""G1 (Salesforce public calendars) and G4 (records as calendar items) over HTTP: pushed one way
into Outlook with their own category; Outlook edits and deletions are undone; Salesforce edits
and deletions follow; a second session writes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crmcal.domain.settings import CalendarObject, PublicCalendarSync
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"


def _items(world: World, mailbox: str) -> list[Any]:
    return world.calendar.calendar_view(
        mailbox, world.now - timedelta(days=30), world.now + timedelta(days=90)
    )


def test_G1_public_calendar_pushed_one_way_to_two_users(world: World) -> None:
    world.person(ANA)
    world.person(BEN)
    cal = world.sb.salesforce.add_calendar("Trade fairs")
    world.org = world.org.model_copy(
        update={
            "public_calendars": (
                PublicCalendarSync(calendar="Trade fairs", users=(ANA, BEN), category="Fairs"),
            )
        }
    )
    start = (world.now + timedelta(days=5)).replace(minute=0, second=0)
    eid = world.sb.salesforce.add_event(cal, "Hannover Messe", start, start + timedelta(hours=8),
                                        Location="Hall 4")  # fmt: skip
    world.sync()
    for mb in (ANA, BEN):
        [it] = _items(world, mb)
        assert (it.subject, it.location, it.categories) == ("Hannover Messe", "Hall 4", ("Fairs",))
        assert (it.start, it.end) == (start, start + timedelta(hours=8))
    assert [e.id for e in world.events()] == []  # nothing went up as the users' own Events
    world.quiet()

    # Ana edits her copy, Ben deletes his: both undone next session; Salesforce untouched.
    [a] = _items(world, ANA)
    [b] = _items(world, BEN)
    world.sb.graph.update_event(ANA, a.id, {"subject": "Mine now", "categories": []})
    world.sb.graph.delete_event(BEN, b.id)
    world.sync()
    [a2] = _items(world, ANA)
    [b2] = _items(world, BEN)
    assert (a2.id, a2.subject, a2.categories) == (a.id, "Hannover Messe", ("Fairs",))
    assert b2.subject == "Hannover Messe" and b2.id != b.id
    assert world.sb.salesforce.get("Event", eid)["Subject"] == "Hannover Messe"
    world.quiet()

    # Moved in Salesforce: both follow. Deleted in Salesforce: both go.
    later = start + timedelta(days=1)
    world.sb.salesforce.update("Event", eid, {"StartDateTime": later.isoformat(),
                                              "EndDateTime": (later + timedelta(hours=8)).isoformat()})  # fmt: skip
    world.sync()
    assert [i.start for i in _items(world, ANA) + _items(world, BEN)] == [later, later]
    world.quiet()
    world.sb.salesforce.delete("Event", eid)
    world.sync()
    assert _items(world, ANA) == [] and _items(world, BEN) == []
    world.quiet()


def test_G1_user_removed_from_the_calendar_loses_its_items(world: World) -> None:
    world.person(ANA)
    world.person(BEN)
    cal = world.sb.salesforce.add_calendar("Holidays")
    feed = PublicCalendarSync(calendar=cal, users=(ANA, BEN), category="Holidays")
    world.org = world.org.model_copy(update={"public_calendars": (feed,)})
    start = (world.now + timedelta(days=3)).replace(minute=0, second=0)
    world.sb.salesforce.add_event(cal, "Office closed", start, start + timedelta(hours=4))
    world.sync()
    assert len(_items(world, BEN)) == 1
    world.org = world.org.model_copy(
        update={"public_calendars": (feed.model_copy(update={"users": (ANA,)}),)}
    )
    world.sync()
    assert _items(world, BEN) == []
    assert len(_items(world, ANA)) == 1
    world.quiet()


def test_G4_custom_object_records_appear_as_categorised_items(world: World) -> None:
    world.person(ANA)
    world.person(BEN)
    sf = world.sb.salesforce
    sf.add_custom_object(
        "Site_Visit__c", {"Visit_Start__c": "datetime", "Visit_End__c": "datetime"}
    )
    obj = CalendarObject(
        object="Site_Visit__c",
        start_field="Visit_Start__c",
        end_field="Visit_End__c",
        subject_template="Visit: {Name}",
    )
    world.org = world.org.model_copy(update={"calendar_objects": (obj,)})
    start = (world.now + timedelta(days=4)).replace(minute=0, second=0)
    rid = sf.create("Site_Visit__c", {"Name": "Fabrikam plant", "OwnerId": world.sf_ids[ANA],
                                       "Visit_Start__c": start.isoformat(),
                                       "Visit_End__c": (start + timedelta(hours=3)).isoformat()},
                    system=True)  # fmt: skip
    world.sync()
    [it] = _items(world, ANA)
    assert (it.subject, it.categories) == ("Visit: Fabrikam plant", ("Site Visit",))
    assert (it.start, it.end) == (start, start + timedelta(hours=3))
    assert _items(world, BEN) == []
    world.quiet()

    # Renamed and handed to Ben in Salesforce: Ana's item goes, Ben's comes.
    sf.update("Site_Visit__c", rid, {"Name": "Fabrikam plant tour", "OwnerId": world.sf_ids[BEN]})
    world.sync()
    assert _items(world, ANA) == []
    [it] = _items(world, BEN)
    assert it.subject == "Visit: Fabrikam plant tour"
    world.quiet()

    # Deleting the record deletes the item (G4).
    sf.delete("Site_Visit__c", rid)
    world.sync()
    assert _items(world, BEN) == []
    world.quiet()


def test_G4_standard_object_with_a_date_is_an_all_day_item(world: World) -> None:
    world.person(ANA)
    sf = world.sb.salesforce
    close = (world.now + timedelta(days=10)).date()
    acc = sf.add_account("Fabrikam", website="fabrikam.example")
    sf.create("Opportunity", {"Name": "Fabrikam renewal", "AccountId": acc, "StageName": "Prospecting",
                              "CloseDate": close.isoformat(), "OwnerId": world.sf_ids[ANA]},
              system=True)  # fmt: skip
    far = date(close.year + 2, 1, 1)
    sf.create("Opportunity", {"Name": "Too far", "StageName": "Prospecting",
                              "CloseDate": far.isoformat(), "OwnerId": world.sf_ids[ANA]},
              system=True)  # fmt: skip
    obj = CalendarObject(
        object="Opportunity", date_field="CloseDate", subject_template="Close: {Name}"
    )
    world.org = world.org.model_copy(update={"calendar_objects": (obj,)})
    world.sync()
    [it] = _items(world, ANA)
    assert (it.subject, it.is_all_day, it.categories) == (
        "Close: Fabrikam renewal",
        True,
        ("Opportunity",),
    )
    assert it.start.date() == close
    world.quiet()


def test_G1_G4_crash_after_create_is_finished_without_a_duplicate(world: World) -> None:
    """O5 for feeds: the create is remembered before Graph is asked; a rerun after a crash
    between Graph's answer and the state write finds the item by its transactionId."""
    from crmcal.state.models_feeds import FeedItemRow

    world.person(ANA)
    cal = world.sb.salesforce.add_calendar("Fairs")
    world.org = world.org.model_copy(
        update={
            "public_calendars": (PublicCalendarSync(calendar=cal, users=(ANA,), category="Fairs"),)
        }
    )
    start = (world.now + timedelta(days=5)).replace(minute=0, second=0)
    world.sb.salesforce.add_event(cal, "Expo", start, start + timedelta(hours=2))
    world.sync()
    assert world.store is not None
    with world.store.session() as s:  # as if the answer had been lost: item id never recorded
        [row] = s.query(FeedItemRow).all()
        row.item_id = None
    world.sync()
    assert len(_items(world, ANA)) == 1
    with world.store.session() as s:
        [row] = s.query(FeedItemRow).all()
        assert row.item_id == _items(world, ANA)[0].id
    world.quiet()
