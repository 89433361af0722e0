"""Issue 19's calendar: a linked item's Event, Name and Related To by name (not raw Ids), looked
up in one Salesforce call per page however many items are on it, and each category in the colour
C1-C4 give it."""

from __future__ import annotations

import re

from crmcal.rules import categories as cat
from crmcal.web.calendar_view import category_class
from tests.web._support import ALICE, Dash, sign_in


def _visible(html: str) -> str:
    """The page's text as a person reads it (no tags, so no ids inside href or data-*)."""
    return re.sub(r"<[^>]+>", " ", html.split("<main", 1)[-1])


def test_calendar_names_the_event_who_and_what_in_one_call(dash: Dash) -> None:
    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    opp = sf.add_opportunity("Fabrikam renewal", account_id=acc)
    people = [("Pat", "pat@fabrikam.example"), ("Quinn", "quinn@fabrikam.example"),
              ("Robin", "robin@fabrikam.example")]  # fmt: skip
    ids = [sf.add_contact(last, email=mail, account_id=acc) for last, mail in people]
    items = [w.meeting(ALICE, f"Review {i}", (mail,), days=i + 1) for i, (_, mail) in
             enumerate(people)]  # fmt: skip
    for it in items:
        w.set_categories(ALICE, it.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    evs = w.events()
    assert len(evs) == 3
    with dash.api(ALICE) as api:
        r = api.post("/api/v1/save", json={"item_id": items[0].id, "what_id": opp})
        assert r.status_code == 200, r.text
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        c.get("/calendar")  # warm: the connector's sign-in is not the page's cost
        before = sf.api_used
        page = c.get("/calendar").text
        assert sf.api_used - before == 1, "one Salesforce call for the whole page"
    text = _visible(page)
    for last, _ in people:
        assert last in text
    assert "Fabrikam renewal" in text  # the What chosen in Save, by name
    assert text.count("Review 0") >= 2  # the item's subject and its Event's Subject
    for ev in evs:
        assert ev.id not in text and f"/lightning/r/Event/{ev.id}/view" in page
    for rid in (*ids, opp):
        assert rid not in text
    assert f"/lightning/r/Contact/{ids[0]}/view" in page
    assert f"/lightning/r/Opportunity/{opp}/view" in page
    assert 'class="pill salesforce" data-category="Salesforce"' in page


def test_calendar_survives_salesforce_not_answering(dash: Dash) -> None:
    """The names are a nicety: with Salesforce down the page still shows the calendar."""
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email="pat@fabrikam.example")
    it = w.meeting(ALICE, "Weekly with Pat", ("pat@fabrikam.example",))
    w.set_categories(ALICE, it.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    sf = w.sb.salesforce
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        sf.api_used = sf.api_max  # the allowance is gone: every call is refused
        r = c.get("/calendar")
        sf.api_used = 0
    assert r.status_code == 200 and "Weekly with Pat" in r.text
    assert "the Event" in _visible(r.text)


def test_c1_c4_categories_in_their_master_list_colours() -> None:
    """The pill of each crmcal category has the colour C4 writes to the master list; the user's
    own categories are drawn plain, not in one of crmcal's colours."""
    css = {"salesforce": cat.Color.BLUE, "error": cat.Color.RED, "ok": cat.Color.GREEN,
           "waiting": cat.Color.YELLOW, "orange": cat.Color.ORANGE, "status": cat.Color.GRAY}  # fmt: skip
    statuses = [cat.TRACKED, cat.WAITING_FOR_ORGANIZER, cat.unresolved(("a@x.example",)),
                cat.required_fields_missing(("Type",)), cat.not_synced("too long")]  # fmt: skip
    for name, color in cat.master_categories(statuses).items():
        assert css[category_class(name)] is color, name
    assert category_class("Customer visit") == "own"
    assert category_class("Status: something new") == "orange"
