"""M2 Save dialog (issue 19): a linked Event's current Name and Related To by name, and every
participant with the record it resolved to."""

from __future__ import annotations

from crmcal.rules import categories as cat
from tests.web._support import ALICE, BOB, Dash, sign_in


def test_m2_dialog_shows_current_links_by_name_and_each_participant(dash: Dash) -> None:
    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    sf.add_contact("Pat Jones", email="pat@fabrikam.example", account_id=acc)
    item = w.meeting(ALICE, "Review", ("pat@fabrikam.example", "nobody@newco.example", BOB))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    sf.add_contact("Nobody", email="nobody@newco.example")
    w.sync(ALICE)
    [ev] = w.events()
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/save", params={"user": ALICE, "item": item.id}).text
    current = page.split('id="current"', 1)[1].split("</dl>", 1)[0]
    assert ev.who_id and ev.who_id not in current and "· Contact" in current
    people = page.split('id="people"', 1)[1].split("</fieldset>", 1)[0]
    assert 'data-address="pat@fabrikam.example"' in people and "Pat Jones" in people
    assert f'data-address="{BOB}"' in people and "internal, not linked" in people
    assert f'data-address="{ALICE}"' in people and ">you<" in people
    assert "Keep current: " in page and "(Contact)" in people


def test_m2_dialog_names_participants_without_a_record(dash: Dash) -> None:
    item = dash.world.meeting(ALICE, "Cold call", ("stranger@newco.example",))
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/save", params={"user": ALICE, "item": item.id}).text
    people = page.split('id="people"', 1)[1].split("</fieldset>", 1)[0]
    assert 'data-address="stranger@newco.example"' in people and "no Contact or Lead" in people
    assert 'id="current"' not in page  # not linked: nothing current to show
