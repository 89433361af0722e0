"""Issue 19 in a real browser (Playwright + Debian's chromium): the admin's org overview, the
Issues filter with bulk Dismiss and Undo, the calendar in two viewer zones, the Save dialog (nothing pre-selected, "Nothing
matched", Cancel), the 390 px navigation behind Menu, and the Content-Security-Policy letting
the page's own scripts run. Screenshots go to tests/artifacts/screenshots/ (19-*)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from crmcal.rules import categories as cat
from tests.e2e.test_dashboard_browser import CHROMIUM, LAPTOP, PHONE, SHOTS, shoot
from tests.integration.conftest import World
from tests.web._support import ALICE, BOB, Dash, make_world_users, serve

pytest.importorskip("playwright.sync_api")


@pytest.fixture
def dash(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world) as d:
        yield d


def _sign_in(page: object, dash: Dash, user: str, password: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{dash.url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")


def test_issue19_overview_issues_save_and_phone_nav(dash: Dash) -> None:
    w = dash.world
    sf = w.sb.salesforce
    sf.add_contact("Pat", email="pat@fabrikam.example")
    w.meeting(ALICE, "Weekly with Pat", ("pat@fabrikam.example",))
    for who, subject in ((ALICE, "Intro with Dana"), (ALICE, "Intro with Eve"), (BOB, "Kickoff")):
        guest = f"{subject.split()[-1].lower()}@newco.example"
        item = w.meeting(who, subject, (guest,))
        w.set_categories(who, item.id, (cat.SALESFORCE,))
    target = w.meeting(ALICE, "Quarterly review", ("x@elsewhere.example",), days=2)
    w.sync()
    assert len(dash.store.open_issues(None)) == 3

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport=LAPTOP).new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _sign_in(page, dash, "admin", "admin-pass")
            page.goto(f"{dash.url}/")
            expect(page).to_have_url(re.compile(r"/overview$"))
            expect(page.locator("#users-summary")).to_contain_text("users syncing fine")
            expect(page.locator("#issues-by-user")).to_contain_text(ALICE)
            expect(page.locator("#changes")).to_contain_text("Events created")
            shoot(page, "19-01-overview-admin")

            page.click("nav >> text=Issues")
            page.click("nav.filters a[data-reason]")
            expect(page.locator("li.issue")).to_have_count(3)
            page.select_option("select[name=user]", ALICE)  # the picker submits by script
            expect(page).to_have_url(re.compile(r"user="))
            expect(page.locator("li.issue")).to_have_count(2)
            shoot(page, "19-02-issues-filtered")
            for box in page.locator("li.issue input[type=checkbox]").all():
                box.check()
            page.click("#bulk-dismiss")
            expect(page.locator("p.flash")).to_contain_text("Dismissed 2 issues")
            expect(page.locator("li.issue")).to_have_count(0)
            shoot(page, "19-03-issues-dismissed-undo")
            page.click("#undo")
            expect(page.locator("li.issue")).to_have_count(2)
            page.locator("li.issue input[type=checkbox]").first.check()
            page.click("#bulk-dismiss")
            page.click("#dismissed-view")
            expect(page.locator("li.issue")).to_have_count(1)
            shoot(page, "19-04-issues-dismissed-view")
            page.click("text=Sign out")

            _sign_in(page, dash, ALICE, "alice-pass")
            page.goto(f"{dash.url}/save?user={ALICE}&item={target.id}")
            page.fill("#who-search", "Pat")
            expect(page.locator("#who_id option")).to_have_count(2)
            assert page.eval_on_selector("#who_id", "s => s.selectedIndex") == 0  # not chosen
            expect(page.locator("#who_id-none")).to_contain_text("1 match")
            page.fill("#what-search", "zzzz-no-such")
            expect(page.locator("#what_id-none")).to_be_visible()
            expect(page.locator("#what_id-none")).to_have_text("Nothing matched.")
            shoot(page, "19-05-save-dialog")
            page.click("#cancel")
            expect(page).to_have_url(re.compile(r"/calendar"))
            expect(page.locator("#zone-now")).to_contain_text("the mailbox")
            first_day = page.locator("h2.day").first.get_attribute("data-day")
            shoot(page, "19-08-calendar-mailbox-zone")
            page.fill("#zone", "Pacific/Kiritimati")  # UTC+14: the 21:00 UTC meetings move a day
            page.click("form.zone button")
            expect(page.locator("#zone-now")).to_contain_text("Pacific/Kiritimati")
            assert page.locator("h2.day").first.get_attribute("data-day") != first_day
            shoot(page, "19-09-calendar-viewer-zone")

            page.set_viewport_size(PHONE)
            expect(page.locator("header.top > nav")).to_be_hidden()
            expect(page.locator("#menu-button")).to_be_visible()
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "19-06-phone-nav-closed.png"))
            page.click("#menu-button")
            expect(page.locator("header.top > nav")).to_be_visible()
            page.screenshot(path=str(SHOTS / "19-07-phone-nav-open.png"))
            page.click("header.top > nav >> text=Sessions")
            expect(page.locator("h1")).to_contain_text("Sessions")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
    assert {i.id for i in dash.store.open_issues(BOB)} != set()  # bob's untouched
