"""M7, the Outlook task pane in a real browser (Playwright + Debian's chromium) over the sandbox.

The page is the production `/addin/taskpane.html`; its request for Office.js on Microsoft's CDN
is answered with `office_host.js`, a scripted Outlook host (one appointment open, EWS item id,
`convertToRestId`, roaming settings, optionally Office SSO). The flows: Save on an unshared item
(M2), Save on a linked item updated at once (M2, U1), a Lead chosen with a Related To (E6, the
What is refused), Unsync (M5), Create record (M4, K). Each step is saved as a screenshot at 320
and 450 px, light and dark, under tests/artifacts/screenshots/addin-*.png.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from crmcal.domain.settings import CreateRecordBy
from crmcal.rules import categories as cat
from crmcal.state.models import LinkRow
from crmcal.web.addin import ews_of
from tests.web._support import ALICE, Dash, make_world_users, serve, set_org
from tests.web.test_addin import alice_series, naa_token

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
HOST_JS = Path(__file__).with_name("office_host.js").read_text(encoding="utf-8")
OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
EXT = "pat@fabrikam.example"

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (`.ci/run` installs it)",
)


@pytest.fixture
def dash(world: Any) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world) as d:
        yield d


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def open_pane(browser: Any, d: Dash, item_id: str, **host: Any) -> Any:
    """A new pane on `item_id`, as Outlook opens it (the item id in EWS form)."""
    ctx = browser.new_context(viewport={"width": 320, "height": 900})
    page = ctx.new_page()
    cfg = {"itemId": ews_of(item_id), "mailbox": ALICE, **host}
    page.add_init_script(f"window.__OFFICE_HOST__ = {json.dumps(cfg)};")
    page.route(OFFICE_JS, lambda route: route.fulfill(body=HOST_JS, content_type="text/javascript"))
    page.on("pageerror", lambda exc: pytest.fail(f"script error in the pane: {exc}"))
    page.goto(f"{d.url}/addin/taskpane.html")
    return page


def shoot(page: Any, name: str) -> None:
    """The pane at 320 and 450 px, light and dark; never wider than the pane."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    theme = page.evaluate("document.documentElement.dataset.theme || ''")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        # Outlook's theme wins over the system's (the pane reads Office.context.officeTheme)
        page.evaluate(f"document.documentElement.dataset.theme = '{scheme}'")
        for width in (320, 450):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"addin-{name}-{width}-{scheme}.png"), full_page=True)
            sw = page.evaluate("document.documentElement.scrollWidth")
            assert sw <= width, f"{name}: {sw}px wide in a {width}px pane"
    page.emulate_media(color_scheme="light")
    page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
    page.set_viewport_size({"width": 320, "height": 900})


def connect_with_token(page: Any, d: Dash) -> None:
    """Exchange Server: no Entra; the personal API token, entered once, kept in roaming settings."""
    from playwright.sync_api import expect

    expect(page.locator("#signin")).to_be_visible()
    page.fill("#token-input", d.tokens[ALICE])
    page.keyboard.press("Enter")
    expect(page.locator("#item")).to_be_visible()
    assert page.evaluate("window.__officeRoaming.crmcalToken") == d.tokens[ALICE]


def pick(page: Any, kind: str, text: str, name: str) -> None:
    from playwright.sync_api import expect

    page.fill(f"#{kind}-search", text)
    option = page.locator(f"#{kind}-results li", has_text=name)
    expect(option).to_have_count(1)
    option.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    expect(option).to_have_attribute("aria-selected", "true")


def test_m7_m2_save_unshared_then_linked_then_unsync(dash: Dash, browser: Any) -> None:
    """Save on an unshared item (marked, the next session shares it), Save on the linked item
    (the Event is updated at once), Unsync (M5: the Event is removed at once)."""
    from playwright.sync_api import expect

    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    pat = sf.add_contact("Pat", first_name="Jordan", email=EXT, account_id=acc)
    opp = sf.add_opportunity("Fabrikam renewal 2027", account_id=acc)
    item = w.meeting(ALICE, "Pricing review with Fabrikam", (EXT,))

    page = open_pane(browser, dash, item.id)
    shoot(page, "01-connect")
    connect_with_token(page, dash)
    expect(page.locator("#status")).to_have_attribute("data-state", "not_shared")
    expect(page.locator("#status-text")).to_have_text("Not shared with Salesforce.")
    shoot(page, "02-unshared")
    pick(page, "who", "Jordan", "Jordan Pat")
    page.click("#save")
    expect(page.locator("#message")).to_contain_text("next session creates the Event")
    expect(page.locator("#status")).to_have_attribute("data-state", "marked")
    shoot(page, "03-saved-marked")
    calls = page.evaluate("window.__officeCalls")
    assert ["convertToRestId", ews_of(item.id), "v2.0"] in calls
    assert cat.SALESFORCE in w.item(ALICE, item.id).categories

    w.sync(ALICE)
    [ev] = w.events()
    assert ev.who_id == pat
    page.reload()
    expect(page.locator("#status-text")).to_have_text(cat.TRACKED.text)  # C3's words
    expect(page.locator("#who-rec a")).to_have_text("Jordan Pat")
    expect(page.locator("#event-link")).to_have_attribute("href", re.compile(f"/Event/{ev.id}/"))
    pick(page, "what", "renewal", "Fabrikam renewal 2027")
    shoot(page, "04-linked")
    page.click("#save")
    expect(page.locator("#message")).to_contain_text("The Event was updated.")
    expect(page.locator("#what-rec a")).to_have_text("Fabrikam renewal 2027")
    assert [(e.who_id, e.what_id) for e in w.events()] == [(pat, opp)]  # at once
    shoot(page, "05-linked-updated")

    page.click("#unsync")
    expect(page.locator("#message")).to_contain_text("Unshared")
    expect(page.locator("#status")).to_have_attribute("data-state", "not_shared")
    expect(page.locator("#unsync")).to_be_hidden()
    expect(page.locator("#who-rec")).to_have_text("—")
    assert w.events() == []
    shoot(page, "06-unsynced")


def test_m7_e6_lead_chosen_with_a_what_and_entra_sign_in(dash: Dash, browser: Any) -> None:
    """Exchange Online: Office SSO hands the pane an Entra token (validated against the JWKS).
    A Related To chosen first, then a Lead as Name: Salesforce's rule, the What goes."""
    from playwright.sync_api import expect

    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Contoso Pharma")
    lead = sf.add_lead("Rivera", first_name="Sam", email="sam@prospect.example", company="Prospect")
    item = w.meeting(ALICE, "First call with Sam", ("sam@prospect.example",))
    token = naa_token(
        dash, audience=f"api://127.0.0.1:{dash.server.port}/{dash.web.cfg.web.oidc_client_id}"
    )
    page = open_pane(
        browser, dash, item.id, sets={"IdentityAPI": "1.3"}, ssoToken=token, theme="#1f1f1f"
    )
    expect(page.locator("#item")).to_be_visible()
    expect(page.locator("#who")).to_have_text(ALICE)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert any(c[0] == "getAccessToken" for c in page.evaluate("window.__officeCalls"))
    pick(page, "what", "Contoso", "Contoso Pharma")
    pick(page, "who", "Sam", "Sam Rivera")
    expect(page.locator("#what-search")).to_be_disabled()
    expect(page.locator("#what-hint")).to_be_visible()
    expect(page.locator("#chosen")).to_have_text("Name: Sam Rivera (Lead)")
    shoot(page, "07-lead-excludes-what")
    page.click("#save")
    expect(page.locator("#message")).to_contain_text("next session creates the Event")
    w.sync(ALICE)
    assert [(e.who_id, e.what_id) for e in w.events()] == [(lead, None)]
    assert acc


def test_m7_m4_create_record_for_unresolved_participant(dash: Dash, browser: Any) -> None:
    from playwright.sync_api import expect

    set_org(dash, create_record_by=CreateRecordBy.EVERYONE)  # issue 19: reps may, by policy
    w = dash.world
    item = w.meeting(ALICE, "Intro with Dana", ("dana@newco.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    assert w.events() == []
    page = open_pane(browser, dash, item.id, roaming={"crmcalToken": dash.tokens[ALICE]})
    expect(page.locator("#status")).to_have_attribute("data-state", "unresolved")
    expect(page.locator("#status-text")).to_have_text("Unresolved participants: dana@newco.example")
    expect(page.locator("#unresolved-list li")).to_have_text(["dana@newco.example"])
    shoot(page, "08-unresolved")
    page.click("#create-record")
    expect(page.locator("#message")).to_contain_text("Created 1 record in Salesforce.")
    expect(page.locator("#status")).to_have_attribute("data-state", "shared")
    expect(page.locator("#unresolved")).to_be_hidden()
    expect(page.locator("#who-rec a")).to_have_text(re.compile("dana", re.I))  # the new record
    shoot(page, "09-record-created")
    [ev] = w.events()
    assert ev.who_id is not None


def test_m7_demo_mode_fakes_the_host(dash: Dash, browser: Any) -> None:
    """`/addin/taskpane.html?demo=<item id>&mailbox=<you>`: no Office.js, no CDN; the token is
    asked for once and kept in the browser."""
    from playwright.sync_api import expect

    item = dash.world.meeting(ALICE, "Demo meeting", (EXT,))
    ctx = browser.new_context(viewport={"width": 320, "height": 900})
    page = ctx.new_page()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(f"{dash.url}/addin/taskpane.html?demo=&mailbox={ALICE}")
    page.fill("#token-input", dash.tokens[ALICE])
    page.click("#token-save")
    page.locator("#picker-list a", has_text="Demo meeting").click()  # no item: a picker
    expect(page).to_have_url(re.compile(re.escape(f"demo={quote(item.id, safe='')}")))
    expect(page.locator("#subject")).to_have_text("Demo meeting")
    page.reload()
    expect(page.locator("#subject")).to_have_text("Demo meeting")  # the token was kept
    assert all(u.startswith(dash.url) for u in seen), seen


def test_m7_r2_occurrence_asks_occurrence_or_series(dash: Dash, browser: Any) -> None:
    """R2: opened on an occurrence, the pane asks as Outlook does; "The entire series" saves the
    series master."""
    from playwright.sync_api import expect

    w = dash.world
    w.sb.salesforce.add_contact("Pat", first_name="Jordan", email=EXT)
    master, occ = alice_series(w)
    page = open_pane(browser, dash, occ, roaming={"crmcalToken": dash.tokens[ALICE]})
    expect(page.locator("#scope")).to_be_visible()
    expect(page.get_by_label("This occurrence")).to_be_checked()
    page.get_by_label("The entire series").check()
    pick(page, "who", "Jordan", "Jordan Pat")
    shoot(page, "10-occurrence-or-series")
    page.click("#save")
    expect(page.locator("#message")).to_contain_text("next session creates the Event")
    assert cat.SALESFORCE in w.item(ALICE, master).categories
    with dash.store.session() as s:  # the choice is stored on the series master, not the occurrence
        saved = s.scalars(select(LinkRow.item_id).where(LinkRow.mailbox == ALICE)).all()
    assert saved == [master]


def test_m7_organizer_compose_form_uses_get_item_id_async(dash: Dash, browser: Any) -> None:
    """Organizer (compose) form: the id comes from getItemIdAsync; an unsaved meeting has none,
    and the pane says so in plain words."""
    from playwright.sync_api import expect

    item = dash.world.meeting(ALICE, "Draft agenda", (EXT,))
    token = {"crmcalToken": dash.tokens[ALICE]}
    page = open_pane(browser, dash, item.id, compose=True, roaming=token)
    expect(page.locator("#subject")).to_have_text("Draft agenda")
    assert ["getItemIdAsync"] in page.evaluate("window.__officeCalls")
    unsaved = open_pane(browser, dash, item.id, compose=True, itemId=None, roaming=token)
    expect(unsaved.locator("#message")).to_have_text(
        "Save this meeting in Outlook first; then crmcal can see it."
    )


def test_m7_nested_app_authentication_through_the_host_bridge(dash: Dash, browser: Any) -> None:
    """Exchange Online: msal-browser's nestable client asks the host's broker bridge for a token
    for crmcal's API scope; crmcal validates the Entra token it gets (JWKS, iss, aud, tid, oid)."""
    from playwright.sync_api import expect

    item = dash.world.meeting(ALICE, "NAA sign-in", (EXT,))
    client = dash.web.cfg.web.oidc_client_id
    aud = f"api://127.0.0.1:{dash.server.port}/{client}"
    page = open_pane(browser, dash, item.id, naaToken=naa_token(dash, audience=aud))
    expect(page.locator("#subject")).to_have_text("NAA sign-in")
    expect(page.locator("#who")).to_have_text(ALICE)
    naa = [c for c in page.evaluate("window.__officeCalls") if c[0] == "naa"]
    assert [c[1] for c in naa][:2] == ["GetInitContext", "GetToken"]
    assert naa[1][2] == f"{aud}/access_as_user"
