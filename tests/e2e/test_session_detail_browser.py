"""I2 (issue 19) in a real browser: from Sessions to one session's detail page, which says what
the session read, created, updated and deleted, the API calls it spent (recorded by the session
itself, here started like `crmcal sync`), and links each Event to Salesforce. Screenshots go to
tests/artifacts/screenshots/19-10-*."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from crmcal.rules import categories as cat
from tests.e2e.test_dashboard_browser import CHROMIUM, LAPTOP, shoot
from tests.integration.conftest import World
from tests.web._support import ALICE, Dash, make_world_users, serve

pytest.importorskip("playwright.sync_api")


@pytest.fixture
def dash(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world) as d:
        yield d


def test_i2_session_detail_page_in_the_browser(dash: Dash) -> None:
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email="pat@fabrikam.example")
    item = w.meeting(ALICE, "Weekly with Pat", ("pat@fabrikam.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    [res] = w.sync(ALICE)  # run_sync, as `crmcal sync` and `crmcal run` start it
    [ev] = w.events()
    calls = res.stats()

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport=LAPTOP).new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            page.goto(f"{dash.url}/login")
            page.fill("input[name=username]", ALICE)
            page.fill("input[name=password]", "alice-pass")
            page.click("form[action='/login'] button[type=submit]")
            page.goto(f"{dash.url}/sessions")
            row_calls = f"{calls['salesforce_calls']} SF · {calls['graph_calls']} Graph"
            expect(page.locator("table").first).to_contain_text(row_calls)
            page.click(f"a[href='/sessions/{res.session_id}']")
            expect(page).to_have_url(re.compile(rf"/sessions/{res.session_id}$"))
            stats = page.locator("#session-stats")
            expect(stats).to_contain_text("Events created")
            created = stats.locator("div", has_text="Events created").locator("strong")
            expect(created).to_have_text("1")
            expect(stats).to_contain_text(
                f"{calls['salesforce_calls']} · {calls['graph_calls']}Salesforce · Graph calls"
            )
            writes = page.locator("#writes")
            expect(writes).to_contain_text("Weekly with Pat")
            link = writes.locator(f"a[href$='/lightning/r/Event/{ev.id}/view']")
            expect(link).to_have_count(1)
            assert link.get_attribute("target") == "_blank"
            shoot(page, "19-10-session-detail")
            assert not [e for e in errors if "Content Security Policy" in e], errors
            assert not [u for u in missing if not u.endswith("/favicon.ico")], missing
        finally:
            browser.close()
