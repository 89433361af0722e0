"""Issue 18's silent skip (A6 + M4): an auto-share candidate whose external participants all lack
a record is not shared, and the dashboard says so with a low-severity issue that names the
addresses and offers Create record; no Outlook category unless the user marked the item; the
issue closes when it no longer applies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmcal.domain.settings import CreateRecordBy
from crmcal.rules import categories as cat
from tests.integration.conftest import World
from tests.web._support import ALICE, Dash, make_world_users, serve, set_org

NEW = "new.person@unknown-co.example"
OTHER = "someone@elsewhere-co.example"
REASON = "no_record_for_participants"


@pytest.fixture
def auto(world: World) -> Iterator[Dash]:
    make_world_users(world, autoshare_meetings=True)
    with serve(world) as d:
        yield d


def _open(d: Dash) -> list[dict[str, object]]:
    with d.api(ALICE) as alice:
        issues: list[dict[str, object]] = alice.get("/api/v1/issues").json()
    return issues


def test_A6_M4_unresolved_candidate_raises_a_notice_and_create_record_shares_it(auto: Dash) -> None:
    w = auto.world
    item = w.meeting(ALICE, "Intro with strangers", (NEW, OTHER))
    w.sync(ALICE)
    assert w.events() == []
    [issue] = _open(auto)
    assert issue["reason"] == REASON
    assert NEW in str(issue["message"]) and OTHER in str(issue["message"])
    assert set(issue["actions"]) == {"create_record", "dismiss"}  # type: ignore[arg-type]
    assert issue["subject"] == "Intro with strangers"
    assert cat.strip(w.item(ALICE, item.id).categories) == w.item(ALICE, item.id).categories
    w.quiet(ALICE)  # nothing written on either side; still one issue, not a second one
    assert [i["id"] for i in _open(auto)] == [issue["id"]]
    set_org(auto, create_record_by=CreateRecordBy.EVERYONE)  # issue 19: reps may, by policy

    with auto.api(ALICE) as alice:
        res = alice.post(
            f"/api/v1/issues/{issue['id']}/actions", json={"action": "create_record"}
        ).json()
    assert res["resolved"] is True, res
    [ev] = w.events()
    assert ev.subject == "Intro with strangers"
    assert _open(auto) == []
    assert cat.SALESFORCE in w.item(ALICE, item.id).categories  # shared now: the category comes


def test_A6_notice_closes_when_a_record_appears_in_salesforce(auto: Dash) -> None:
    w = auto.world
    w.meeting(ALICE, "Will get a record", (NEW,))
    w.sync(ALICE)
    assert [i["reason"] for i in _open(auto)] == [REASON]
    w.sb.salesforce.add_contact("Person", email=NEW)
    w.sync(ALICE)  # the item is tracked with a snapshot: looked at again (P6)
    assert len(w.events()) == 1
    assert _open(auto) == []


def test_A6_notice_closes_when_the_meeting_stops_being_a_candidate(auto: Dash) -> None:
    w = auto.world
    item = w.meeting(ALICE, "Will be deleted", (NEW,))
    w.sync(ALICE)
    assert [i["reason"] for i in _open(auto)] == [REASON]
    w.sb.graph.delete_event(ALICE, item.id, notify_attendees=False)
    w.sync(ALICE)
    assert _open(auto) == []
    assert w.events() == []


def test_A6_notice_is_not_raised_for_a_marked_item_which_keeps_m4(auto: Dash) -> None:
    """A marked item keeps M4 (its Outlook status category and the unresolved issue)."""
    w = auto.world
    item = w.meeting(ALICE, "Marked by the user", (NEW,))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    assert [i["reason"] for i in _open(auto)] == ["unresolved_participants"]
    assert any(c.startswith(cat.STATUS_PREFIX) for c in w.item(ALICE, item.id).categories)


def test_A6_notice_after_unmarking_drops_the_m4_issue_and_the_category(auto: Dash) -> None:
    w = auto.world
    item = w.meeting(ALICE, "Marked then unmarked", (NEW,))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    w.set_categories(ALICE, item.id, ())
    w.sync(ALICE)
    assert [i["reason"] for i in _open(auto)] == [REASON]
    assert cat.strip(w.item(ALICE, item.id).categories) == w.item(ALICE, item.id).categories


def test_A6_notice_shows_low_severity_on_the_issues_page(auto: Dash) -> None:
    from crmcal.web.app import status_class

    assert status_class(REASON) == "notice"
    assert status_class("unresolved_participants") == "waiting"
