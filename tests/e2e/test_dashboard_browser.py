"""The dashboard in a real browser (Playwright + Debian's chromium) over the sandbox.

A user signs in with a local account, resolves an issue from the Issues page (I1), uses Save with
a Name and a Related To chosen in the pickers (M2), and changes a setting; an admin signs in with
Entra ID (the emulator's OpenID Connect pages, Y2) and changes an org setting. Every page is
saved as a screenshot at laptop and phone width under tests/artifacts/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcal.rules import categories as cat
from tests.integration.conftest import World
from tests.web._support import ADMIN_MAIL, ALICE, Dash, make_world_users, serve

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (`.ci/run` installs it)",
)


@pytest.fixture
def dash(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world) as d:
        yield d


def shoot(page: object, name: str) -> None:
    """The page at laptop width, then at phone width (full page)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=str(SHOTS / f"{name}-laptop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    # phone width: nothing wider than the screen (no sideways scrolling of the page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{name}: {width}px wide on a phone"
    page.set_viewport_size(LAPTOP)


def test_i1_m2_y2_dashboard_in_a_browser(dash: Dash) -> None:
    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Northwind Traders", website="https://northwind.example")
    opp = sf.add_opportunity("Northwind renewal", account_id=acc)
    who = sf.add_contact("O'Brien", first_name="Shane", email="shane@northwind.example",
                         account_id=acc)  # fmt: skip
    # an issue to resolve: a marked meeting whose only guest has no record (M4)
    stuck = w.meeting(ALICE, "Intro with Dana", ("dana@newco.example",))
    w.set_categories(ALICE, stuck.id, (cat.SALESFORCE,))
    # an unshared meeting to Save with chosen links
    target = w.meeting(ALICE, "Quarterly review", ("x@elsewhere.example",), days=2)
    w.sync()
    assert len(dash.store.open_issues(ALICE)) == 1
    sf.add_contact("Dana", email="dana@newco.example")  # the record appears; Retry resolves it

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        # The Graph emulator's sign-in page is https with the sandbox CA's certificate; the
        # browser trusts exactly that server key, as a person would after importing the CA.
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={_sandbox_spki()}"],
        )
        try:
            ctx = browser.new_context(viewport=LAPTOP)
            page = ctx.new_page()
            page.goto(f"{dash.url}/issues")
            expect(page).to_have_url(re.compile(r"/login"))
            shoot(page, "01-login")
            page.fill("input[name=username]", ALICE)
            page.fill("input[name=password]", "alice-pass")
            page.click("form[action='/login'] button[type=submit]")
            expect(page.locator("h1")).to_contain_text("Issues")
            card = page.locator("li.issue", has_text="Intro with Dana")
            expect(card).to_contain_text("unresolved participants")
            expect(card.locator("a", has_text="Open in Outlook")).to_have_count(1)
            shoot(page, "02-issues-user")
            card.locator("button", has_text="Retry").click()
            expect(page.locator(".flash")).to_contain_text("Resolved")
            expect(page.locator("li.issue")).to_have_count(0)
            shoot(page, "03-issues-resolved")

            page.click("nav >> text=Calendar")
            item = page.locator("li.item", has_text="Quarterly review")
            expect(item).to_have_count(1)
            shoot(page, "04-calendar")
            item.locator("a", has_text="Save to Salesforce").click()
            expect(page.locator("h1")).to_contain_text("Save to Salesforce")
            page.fill("#who-search", "O'Bri")
            expect(page.locator("#who_id option")).to_have_count(2)
            page.select_option("#who_id", who)
            page.fill("#what-search", "renewal")
            expect(page.locator("#what_id option")).to_have_count(2)
            page.select_option("#what_id", opp)
            shoot(page, "05-save")
            page.click("#save-button")
            expect(page.locator(".flash")).to_contain_text("next session creates the Event")
            expect(page.locator("li.item", has_text="Quarterly review")).to_contain_text(
                "Salesforce"
            )

            page.click("nav >> text=Settings")
            box = page.locator("input[name=autoshare_appointments]")
            expect(box).not_to_be_checked()
            box.check()
            shoot(page, "06-settings-user")
            page.click("form.settings button[type=submit]")
            expect(page.locator(".flash")).to_contain_text("Settings saved")
            expect(page.locator("input[name=autoshare_appointments]")).to_be_checked()

            page.click("nav >> text=Sessions")
            expect(page.locator("table tbody tr").first).to_contain_text(ALICE)
            shoot(page, "07-sessions")
            page.click("nav >> text=Health")
            expect(page.locator(f"tr[data-user='{ALICE}']")).to_contain_text("healthy")
            shoot(page, "08-health-user")
            page.click("nav >> text=Shared meetings")
            shoot(page, "09-siblings")
            expect(page.locator("nav >> text=Org settings")).to_have_count(0)
            page.click("text=Sign out")
            expect(page).to_have_url(re.compile(r"/login"))

            # the admin signs in with Entra ID, through the emulator's sign-in page
            page.click("#entra")
            expect(page.locator("h1")).to_have_text("Sign in")
            page.fill("input[name=username]", ADMIN_MAIL)
            page.click("#idSIButton9")
            expect(page.locator(".who")).to_contain_text("admin")
            shoot(page, "10-issues-admin")
            page.click("nav >> text=Org settings")
            guard = page.locator("input[name=mass_delete_guard]")
            expect(guard).to_have_value("20")
            guard.fill("-5")
            page.click("form.settings button[type=submit]")
            expect(page.locator("[data-field=mass_delete_guard] .error-text")).to_be_visible()
            page.locator("input[name=mass_delete_guard]").fill("35")
            shoot(page, "11-org-settings")
            page.click("form.settings button[type=submit]")
            expect(page.locator(".flash")).to_contain_text("Org settings saved")
            expect(page.locator("input[name=mass_delete_guard]")).to_have_value("35")
            page.click("nav >> text=Health")
            expect(page.locator("tbody tr")).to_have_count(2)
            shoot(page, "12-health-admin")
        finally:
            browser.close()

    # what the browser did, seen through the engine and the APIs
    cfg = dash.web.service.cfg
    assert cfg.org.mass_delete_guard == 35
    alice = cfg.user(ALICE)
    assert alice is not None and alice.settings.autoshare_appointments is True
    w.sync(ALICE)
    saved = [e for e in w.events() if e.subject == "Quarterly review"]
    assert [(e.who_id, e.what_id) for e in saved] == [(who, opp)]
    assert target


def _sandbox_spki() -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the sandbox server certificate (Chromium's pin)."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from crmcal.sandbox.tls import process_tls

    cert = x509.load_pem_x509_certificate(process_tls().cert.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
