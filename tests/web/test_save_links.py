"""M2 over the API against the strict Salesforce emulator (issue 17, E6): a Lead as Name clears
Related To with the reason; a Related To for a Lead item is a 422 with the reason, never a 502."""

from __future__ import annotations

from tests.web._support import ALICE, Dash, sign_in

LEAD = "lee@prospect.example"


def test_m2_lead_as_name_clears_related_to_and_says_why(dash: Dash) -> None:
    sf = dash.world.sb.salesforce
    acc = sf.add_account("Fabrikam")
    lead = sf.add_lead("Lee", email=LEAD, company="Prospect")
    item = dash.world.meeting(ALICE, "Lead call", ())
    with dash.api(ALICE) as alice:
        r = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": lead, "what_id": acc})
        assert r.status_code == 200, r.text
        assert r.json()["what_id"] is None
        assert "Related To was cleared" in r.json()["message"]
        bad = alice.post("/api/v1/save", json={"item_id": item.id, "what_id": acc})
        assert bad.status_code == 422 and "Lead can't have a Related To" in bad.text
        typo = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": lead[:15] + "ZZZ"})
        assert typo.status_code == 422 and "not a Salesforce id" in typo.text
    [r2] = dash.world.sync(ALICE)
    assert r2.outcome.failed == 0, r2.outcome.log
    [ev] = dash.world.events()
    assert (ev.who_id, ev.what_id) == (lead, None)


def test_m2_dialog_explains_the_lead_rule(dash: Dash) -> None:
    """The Save dialog clears and disables Related To when a Lead is picked, and says why."""
    item = dash.world.meeting(ALICE, "Dialog", ())
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/save", params={"user": ALICE, "item": item.id})
    assert page.status_code == 200, page.text
    assert 'id="lead-note"' in page.text
    assert (
        "A Lead can&#39;t have a Related To" in page.text
        or "A Lead can't have a Related To" in page.text
    )
    assert 'opt.dataset.type === "Lead"' in page.text
