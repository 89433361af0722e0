"""Issue 19: a rep's Create record follows the org's policy (`org.create_record_by`): `policy`
lets reps create only when autocreate is on; `everyone`; `admins`. Admins always may."""

from __future__ import annotations

from crmcal.domain.settings import AutoCreate, CreateRecordBy
from crmcal.rules import categories as cat
from tests.web._support import ALICE, Dash, set_org, sign_in


def _issue(d: Dash) -> int:
    w = d.world
    item = w.meeting(ALICE, "First meeting", ("jo.doe@brand-new.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with d.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
    assert "create_record" in issue["actions"]
    return int(issue["id"])


def _create(d: Dash, who: str, issue: int) -> int:
    with d.api(who) as c:
        r = c.post(f"/api/v1/issues/{issue}/actions", json={"action": "create_record"})
    return r.status_code


def test_create_record_policy_off_means_admins_only(dash: Dash) -> None:
    issue = _issue(dash)
    assert dash.web.service.cfg.org.autocreate is AutoCreate.OFF
    assert _create(dash, ALICE, issue) == 403
    assert dash.world.sb.salesforce and not dash.world.events()
    with dash.browser_client() as c:  # the rep is not offered the button
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/issues").text
        assert 'value="create_record"' not in page and 'value="dismiss"' in page
    assert _create(dash, "admin", issue) == 200
    assert len(dash.world.events()) == 1


def test_create_record_policy_follows_autocreate_and_the_setting(dash: Dash) -> None:
    issue = _issue(dash)
    set_org(dash, autocreate=AutoCreate.CONTACT, create_record_by=CreateRecordBy.ADMINS)
    assert _create(dash, ALICE, issue) == 403
    set_org(dash, autocreate=AutoCreate.CONTACT, create_record_by=CreateRecordBy.POLICY)
    assert _create(dash, ALICE, issue) == 200
