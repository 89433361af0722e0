"""Issue 19's org settings page: the fields grouped, in plain words (no rule IDs), and the
switches that delete, mail or overwrite things confirmed before anything is saved."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from crmcal.domain.settings import OrgSettings
from crmcal.web.org_form import GROUPS, WORDS
from tests.web._support import Dash, sign_in


class _Form(HTMLParser):
    """The org form's values as a browser would submit them unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._area: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") != "checkbox" or "checked" in a:
                self.values[name] = a.get("value", "") if a.get("type") != "checkbox" else "on"
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._area = name
            self.values[name] = ""

    def handle_data(self, data: str) -> None:
        if self._area:
            self.values[self._area] += data
        elif self._select and self.lasttag == "option" and self.values.get(self._select) == "":
            self.values[self._select] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._area = None


def org_form(c: httpx.Client) -> dict[str, str]:
    f = _Form()
    f.feed(c.get("/admin/org").text)
    return f.values


def test_org_settings_grouped_in_plain_words(dash: Dash) -> None:
    """Every org setting is on the page once, in a group, with a label and help text that name
    no SPEC rule ID (those stay in docs/configuration.md)."""
    grouped = [n for _, names in GROUPS for n in names]
    assert sorted(grouped) == sorted(OrgSettings.model_fields) == sorted(WORDS)
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        page = c.get("/admin/org").text
    legends = re.findall(r"<legend>([^<]+)</legend>", page)
    assert legends == [t for t, _ in GROUPS]
    body = page.split('action="/admin/org"', 1)[1].split("</form>", 1)[0]
    assert not re.findall(r"\b[A-Z]\d{1,2}\b:", body), "rule IDs on the settings page"
    for name in OrgSettings.model_fields:
        assert body.count(f'data-field="{name}"') == 1, name
    assert "Deleting an Event deletes the Outlook meeting" in body
    assert "Put Salesforce Events in Outlook" in body


def test_x1_x3_risky_switches_need_a_confirmation(dash: Dash) -> None:
    """X1 (Salesforce to Outlook) and X3 (deletions reach Outlook) turned on: the first submit
    saves nothing and says what would happen; only the confirmed submit saves. A harmless
    change saves at once."""
    svc = dash.web.service
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        form = org_form(c)
        assert form.pop("sync_salesforce_calendar") == "on"  # on by default: turned off here
        form["mass_delete_guard"] = "30"
        assert c.post("/admin/org", data=form).status_code == 303  # nothing risky
        assert svc.cfg.org.mass_delete_guard == 30
        assert not svc.cfg.org.sync_salesforce_calendar
        form = org_form(c)
        assert form["mass_delete_guard"] == "30"
        form["sync_salesforce_calendar"] = "on"
        form["salesforce_delete_removes_outlook_items"] = "on"
        r = c.post("/admin/org", data=form)
        assert r.status_code == 200 and 'id="confirm"' in r.text
        assert "Events people create in Salesforce will appear" in r.text
        assert "This cannot be undone." in r.text
        assert not svc.cfg.org.sync_salesforce_calendar  # nothing saved yet
        assert not svc.cfg.org.salesforce_delete_removes_outlook_items
        again = _Form()
        again.feed(r.text)  # the confirmation page keeps what was submitted
        assert again.values["sync_salesforce_calendar"] == "on"
        assert again.values["salesforce_delete_removes_outlook_items"] == "on"
        r = c.post("/admin/org", data={**again.values, "confirmed": "yes"})
        assert r.status_code == 303, r.text
        assert svc.cfg.org.sync_salesforce_calendar
        assert svc.cfg.org.salesforce_delete_removes_outlook_items
        # already on: a later save does not ask again
        form = org_form(c)
        form["mass_delete_guard"] = "31"
        assert c.post("/admin/org", data=form).status_code == 303
        assert svc.cfg.org.mass_delete_guard == 31


def test_k1_turning_on_autocreate_needs_a_confirmation(dash: Dash) -> None:
    svc = dash.web.service
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        form = org_form(c) | {"autocreate": "lead"}
        r = c.post("/admin/org", data=form)
        assert (
            r.status_code == 200 and "create a Lead in Salesforce for every participant" in r.text
        )
        assert svc.cfg.org.autocreate.value == "off"
        assert c.post("/admin/org", data=form | {"confirmed": "yes"}).status_code == 303
        assert svc.cfg.org.autocreate.value == "lead"


def test_g3_salesforce_to_outlook_needs_a_confirmation(dash: Dash) -> None:
    """G3: a user's direction set to `salesforce_to_outlook` (Outlook edits overwritten) is
    confirmed first, on the user's own settings page."""
    from tests.web._support import ALICE

    svc = dash.web.service
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        f = _Form()
        f.feed(c.get("/settings").text)
        form = f.values | {"direction": "salesforce_to_outlook"}
        r = c.post("/settings", data=form)
        assert r.status_code == 200 and 'id="confirm"' in r.text
        assert "Salesforce will win" in r.text
        assert svc.user(ALICE).settings.direction.value == "both"
        assert c.post("/settings", data=form | {"confirmed": "yes"}).status_code == 303
        assert svc.user(ALICE).settings.direction.value == "salesforce_to_outlook"
