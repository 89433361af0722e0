"""An organizer cancels a shared meeting: an in-org attendee's cancelled copy loses crmcal's
categories and raises no issue, whatever the order of the two users' sessions (issue 18's
scenario run; X4 with P1/P2, C4). Over HTTP, both emulators."""

from __future__ import annotations

import pytest

from crmcal.rules import categories as cat

from .conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"


@pytest.mark.parametrize("first", [ANA, BEN], ids=["organizer_first", "attendee_first"])
def test_X4_cancelled_copy_of_an_in_org_attendee_loses_categories_in_either_order(
    world: World, first: str
) -> None:
    world.person(ANA)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    rec = world.meeting(ANA, "Cancelled shared meeting", (BEN, MARIA))
    copy = world.copy_of(BEN, rec)
    world.respond(BEN, copy)
    world.sync()
    world.sync()
    assert cat.SALESFORCE in world.item(BEN, copy).categories  # P1: the copy follows the Event
    assert len(world.events()) == 1

    world.sb.graph.cancel(ANA, rec.id)
    second = BEN if first == ANA else ANA
    world.sync(first)
    world.sync(second)
    world.sync()

    it = world.item(BEN, copy)
    assert it.is_cancelled
    assert cat.strip(it.categories) == it.categories, it.categories  # no crmcal category
    assert world.events() == []
    assert world.store is not None
    assert world.store.open_issues(BEN) == []
    assert world.store.open_issues(ANA) == []
    world.quiet()
    assert cat.strip(world.item(BEN, copy).categories) == world.item(BEN, copy).categories
