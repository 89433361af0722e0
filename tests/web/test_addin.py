"""M7, the Outlook add-in over HTTP: what `crmcal serve` serves under `/addin/` (manifest with the
public URL, icons, the pane with its own frame policy), who may use the pane's API (Y2: an Entra
access token checked against the emulator's JWKS, or a crmcal API token) and what it does
(status in the words of the status category, Save, Unsync, Create record)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from crmcal.domain.settings import CreateRecordBy
from crmcal.rules import categories as cat
from crmcal.sandbox.runtime import GRAPH_CLIENT_ID
from crmcal.web.addin import ews_of, rest_of
from tests.web._support import ALICE, BOB, Dash, set_org

EXT = "pat@fabrikam.example"
NS = {"o": "http://schemas.microsoft.com/office/appforoffice/1.1"}


def naa_token(d: Dash, who: str = ALICE, **over: Any) -> str:
    """What Nested App Authentication hands the pane: a delegated v2.0 token for crmcal's API."""
    sb = d.world.sb
    issuer = f"{sb.graph_url}/{sb.graph.tenant_id}/v2.0"
    kw: dict[str, Any] = {
        "issuer": issuer,
        "audience": GRAPH_CLIENT_ID,
        "client_id": GRAPH_CLIENT_ID,
    }
    kw.update(over)
    return str(sb.graph_app.state.oidc.access_token(who, **kw))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_m7_manifest_icons_and_pane_are_served_with_the_public_url(dash: Dash) -> None:
    with dash.browser_client() as c:
        m = c.get("/addin/manifest.xml")
        assert m.status_code == 200 and m.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(m.content)
        assert root.find("o:SourceLocation", NS) is None
        src = root.find("o:FormSettings/o:Form/o:DesktopSettings/o:SourceLocation", NS)
        assert src is not None and src.get("DefaultValue") == f"{dash.url}/addin/taskpane.html"
        assert f"{dash.url}/addin/icon-80.png" in m.text
        for size in (16, 32, 64, 80, 128):
            png = c.get(f"/addin/icon-{size}.png")
            assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
            assert int.from_bytes(png.content[16:20], "big") == size
        assert c.get("/addin/icon-17.png").status_code == 404
        page = c.get("/addin/taskpane.html")
        assert page.status_code == 200
        assert 'src="https://appsforoffice.microsoft.com/lib/1/hosted/office.js"' in page.text
        csp = page.headers["content-security-policy"]
        assert (
            "frame-ancestors 'self' https://outlook.office.com" in csp
            and "frame-ancestors 'none'" not in csp
        )
        demo = c.get("/addin/taskpane.html?demo=x")
        assert 'src="/addin/demo-host.js"' in demo.text and "appsforoffice" not in demo.text
        assert c.get("/addin/taskpane.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/addin/..%2Fapp.js").status_code == 404


def test_m7_y2_pane_api_needs_a_valid_token(dash: Dash) -> None:
    """NAA: signature (JWKS), issuer, audience, tid, oid and scope are all checked; an API token
    works too (Exchange Server); nothing else does."""
    w = dash.world
    item = w.meeting(ALICE, "Pricing review", (EXT,))
    ref = {"rest_id": item.id, "mailbox": ALICE}
    with dash.browser_client() as c:
        assert c.post("/addin/api/item", json=ref).status_code == 401
        ok = c.post("/addin/api/item", json=ref, headers=bearer(naa_token(dash)))
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "not_shared"
        assert c.get("/addin/api/me", headers=bearer(dash.tokens[ALICE])).json()["mailbox"] == ALICE
        sb = w.sb
        bad = {
            "audience": "api://elsewhere/other-app",
            "issuer": f"{sb.graph_url}/other-tenant/v2.0",
            "scope": "User.Read",
            "lifetime_s": -600,
        }
        for key, value in bad.items():
            r = c.get("/addin/api/me", headers=bearer(naa_token(dash, **{key: value})))
            assert r.status_code == 401, (key, r.text)
            assert "Sign-in was refused" in r.json()["detail"]
        # signed with a key the tenant does not publish
        forged = jwt.decode(naa_token(dash), options={"verify_signature": False})
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = sb.graph_app.state.oidc.kid
        fake = jwt.encode(forged, other, algorithm="RS256", headers={"kid": kid})
        assert c.get("/addin/api/me", headers=bearer(fake)).status_code == 401
        # a token without oid
        forged.pop("oid")
        no_oid = jwt.encode(
            forged, sb.graph_app.state.oidc._key, algorithm="RS256", headers={"kid": kid}
        )
        assert c.get("/addin/api/me", headers=bearer(no_oid)).status_code == 401
        assert c.get("/addin/api/me", headers=bearer("not-a-token")).status_code == 401
        # Y2: Bob's token does not open Alice's item
        r = c.post("/addin/api/item", json=ref, headers=bearer(naa_token(dash, BOB)))
        assert r.status_code == 403 and "signed in to crmcal as" in r.json()["detail"]
        other_item = c.post(
            "/addin/api/item", json={"rest_id": item.id}, headers=bearer(dash.tokens[BOB])
        )
        assert other_item.status_code == 404


def test_m7_m2_pane_save_status_and_unsync(dash: Dash) -> None:
    """Save on an unshared item (marked, shared next session), status in the category's words,
    Save on a linked item (Event updated at once), Unsync (M5, Event removed at once)."""
    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    pat = sf.add_contact("Pat", email=EXT, account_id=acc)
    opp = sf.add_opportunity("Fabrikam renewal", account_id=acc)
    item = w.meeting(ALICE, "Pricing review", (EXT,))
    h = bearer(dash.tokens[ALICE])
    ews = {"ews_id": ews_of(item.id), "rest_id": item.id, "mailbox": ALICE}
    with dash.browser_client() as c:
        found = c.get("/addin/api/records", params={"q": "Pat", "kind": "who"}, headers=h).json()
        assert [x["id"] for x in found] == [pat]
        r = c.post("/addin/api/save", json={**ews, "who_id": pat}, headers=h).json()
        assert r["ok"] and "next session" in r["message"]
        assert r["status"]["state"] == "marked"
        assert cat.SALESFORCE in w.item(ALICE, item.id).categories
        w.sync(ALICE)
        [ev] = w.events()
        st = c.post("/addin/api/item", json={"ews_id": ews_of(item.id)}, headers=h).json()
        assert st["state"] == "shared" and st["event_id"] == ev.id
        assert st["status"] == cat.TRACKED.text  # C3's words
        assert st["who"]["name"] == "Pat" and st["event_url"].endswith(f"/Event/{ev.id}/view")
        r = c.post("/addin/api/save", json={**ews, "what_id": opp}, headers=h).json()
        assert r["ok"] and r["message"].endswith("The Event was updated."), r
        assert [e.what_id for e in w.events()] == [opp]  # at once, no session run by the test
        assert r["status"]["what"]["name"] == "Fabrikam renewal"
        r = c.post("/addin/api/unsync", json=ews, headers=h).json()
        assert r["ok"], r
        assert w.events() == []
        assert r["status"]["state"] == "not_shared"
        assert cat.SALESFORCE not in w.item(ALICE, item.id).categories


def test_m7_m4_pane_create_record_follows_the_create_record_policy(dash: Dash) -> None:
    """Issue 19's `org.create_record_by` holds in the pane too: by default (autocreate off) a
    rep may not create records, so the pane's Create record is refused with a plain reason."""
    w = dash.world
    item = w.meeting(ALICE, "Intro with Dana", ("dana@newco.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with dash.browser_client() as c:
        st = c.post(
            "/addin/api/item", json={"rest_id": item.id}, headers=bearer(dash.tokens[ALICE])
        ).json()
        assert st["state"] == "unresolved" and st["unresolved"] == ["dana@newco.example"]
        assert st["can_create_record"] is False  # the pane does not offer what is refused
        r = c.post(
            "/addin/api/create-record",
            json={"rest_id": item.id},
            headers=bearer(dash.tokens[ALICE]),
        )
    assert r.status_code == 403 and "not allowed" in r.text
    assert w.events() == []


def test_m7_m4_pane_create_record_for_unresolved_participant(dash: Dash) -> None:
    set_org(dash, create_record_by=CreateRecordBy.EVERYONE)  # issue 19: reps may, by policy
    w = dash.world
    item = w.meeting(ALICE, "Intro with Dana", ("dana@newco.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    h = bearer(dash.tokens[ALICE])
    with dash.browser_client() as c:
        st = c.post("/addin/api/item", json={"rest_id": item.id}, headers=h).json()
        assert st["state"] == "unresolved" and st["unresolved"] == ["dana@newco.example"]
        assert st["status"] == "Unresolved participants: dana@newco.example"
        assert st["can_create_record"]
        r = c.post("/addin/api/create-record", json={"rest_id": item.id}, headers=h).json()
        assert r["ok"] and r["message"] == "Created 1 record in Salesforce.", r
        assert r["status"]["state"] == "shared"
    [ev] = w.events()
    assert ev.who_id is not None


def test_m7_e6_pane_save_with_a_lead_and_a_what_clears_the_what(dash: Dash) -> None:
    """E6: a Lead as Name with a Related To: Salesforce refuses the pair; Save keeps the Lead,
    drops the What and says why (the pane disables Related To before it gets here)."""
    w = dash.world
    sf = w.sb.salesforce
    acc = sf.add_account("Contoso Pharma")
    lead = sf.add_lead("Rivera", first_name="Sam", email="sam@prospect.example")
    item = w.meeting(ALICE, "First call", ("sam@prospect.example",))
    h = bearer(dash.tokens[ALICE])
    with dash.browser_client() as c:
        body = {"rest_id": item.id, "who_id": lead, "what_id": acc}
        r = c.post("/addin/api/save", json=body, headers=h).json()
    assert r["ok"] and r["message"].startswith("A Lead can't have a Related To"), r
    assert r["status"]["state"] == "marked"
    w.sync(ALICE)
    assert [(e.who_id, e.what_id) for e in w.events()] == [(lead, None)]


def test_m7_id_forms_round_trip() -> None:
    rid = "AAMkAGI2TG93AAA-_x=="
    assert ews_of(rid) == "AAMkAGI2TG93AAA/+x=="
    assert rest_of(ews_of(rid)) == rid


@pytest.mark.parametrize("size", [16, 80])
def test_m7_icons_are_valid_pngs(size: int) -> None:
    import zlib

    from crmcal.web.addin import icon_png

    png = icon_png(size)
    raw = zlib.decompress(png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8])
    assert len(raw) == size * (size * 4 + 1)  # RGBA rows, each with its filter byte


def test_m7_config_addin_frame_ancestors_lets_exchange_server_owa_frame_the_pane(
    world: Any,
) -> None:
    """`web.addin_frame_ancestors`: Exchange Server's Outlook on the web may frame the pane."""
    from fastapi.testclient import TestClient

    from crmcal.config import WebConfig
    from crmcal.web.app import create_app

    owa = "https://mail.contoso.example"
    base = world.config()
    csps = []
    for extra in ((), (owa,)):
        cfg = base.model_copy(update={"web": WebConfig(addin_frame_ancestors=extra)})
        with TestClient(create_app(cfg, public_url="https://crmcal.contoso.example")) as c:
            csps.append(c.get("/addin/taskpane.html").headers["content-security-policy"])
    assert owa not in csps[0] and f"{owa} https://crmcal.contoso.example;" in csps[1]
    with pytest.raises(ValueError, match="not an https origin"):
        WebConfig(addin_frame_ancestors=("http://mail.contoso.example",))


def alice_series(w: Any) -> tuple[str, str]:
    """A weekly meeting series with Pat in Alice's calendar: (master id, second occurrence id)."""
    from datetime import timedelta

    from tests.integration.test_series import _on

    _on(w)
    start = (w.now + timedelta(days=2)).replace(minute=0, second=0)
    fmt = "%Y-%m-%dT%H:%M:%S"
    master = w.sb.graph.seed_event(
        ALICE,
        {
            "subject": "Weekly with Fabrikam",
            "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": EXT}, "type": "required"}],
            "recurrence": {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [start.strftime("%A").lower()],
                },
                "range": {
                    "type": "numbered",
                    "startDate": start.strftime("%Y-%m-%d"),
                    "numberOfOccurrences": 4,
                },
            },
        },
        created=w.now - timedelta(days=1),
    ).id
    occ = sorted(
        w.calendar.instances(ALICE, master, w.now, w.now + timedelta(days=60)),
        key=lambda i: i.start,
    )[1]
    return str(master), str(occ.id)


def test_m7_r2_save_from_an_occurrence_for_the_series(dash: Dash) -> None:
    """R2: the pane tells an occurrence from a single item; "the entire series" saves the master
    (the pane sends the master's id), and the next session shares the series."""
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email=EXT)
    master, occ = alice_series(w)
    h = bearer(dash.tokens[ALICE])
    with dash.browser_client() as c:
        st = c.post("/addin/api/item", json={"ews_id": ews_of(occ)}, headers=h).json()
        assert st["is_occurrence"] and st["series_master_id"] == master
        r = c.post("/addin/api/save", json={"rest_id": master}, headers=h).json()
        assert r["ok"] and r["status"]["item_id"] == master, r
    assert cat.SALESFORCE in w.item(ALICE, master).categories
    w.sync(ALICE)
    assert len(w.events()) >= 1


def test_m7_p3_pane_lists_sibling_events_and_owners(dash: Dash) -> None:
    """P3: an external organizer; Alice and Bob each share: the pane names both Events."""
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email=EXT)
    guid = "040000008200E00074C5B7101A82E008000000000000000000000000000000000021"
    ids = {}
    for mb in (ALICE, BOB):
        rec = w.invitation(mb, EXT, "Fabrikam QBR", (ALICE, BOB), guid)
        ids[mb] = rec.id if hasattr(rec, "id") else w.copy_of(mb, rec)
        w.respond(mb, ids[mb], "accepted")
        w.set_categories(mb, ids[mb], (cat.SALESFORCE,))
    w.sync()
    assert len(w.events()) == 2
    with dash.browser_client() as c:
        st = c.post(
            "/addin/api/item", json={"rest_id": ids[ALICE]}, headers=bearer(dash.tokens[ALICE])
        ).json()
    assert {s["owner"] for s in st["siblings"]} == {ALICE, BOB}
    assert {s["event_id"] for s in st["siblings"]} == {e.id for e in w.events()}


@pytest.mark.parametrize("calendar_backend", ["ews"], indirect=True)
def test_m7_m2_m5_pane_on_an_ews_mailbox_by_its_ews_id(dash: Dash, calendar_backend: str) -> None:
    """M7 on Exchange Server (issue 20's EWS backend): the pane sends `item.itemId` as it is (no
    `convertToRestId` on-premises); status, Save (marked, then the Event updated at once) and
    Unsync (M5) all find the item by that EWS id."""
    w = dash.world
    assert w.config().exchange.backend == "ews"
    sf = w.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    pat = sf.add_contact("Pat", email=EXT, account_id=acc)
    opp = sf.add_opportunity("Fabrikam renewal", account_id=acc)
    item = w.meeting(ALICE, "Pricing review", (EXT,))
    ref = {"ews_id": item.id, "mailbox": ALICE}  # what the on-premises pane sends
    h = bearer(dash.tokens[ALICE])
    with dash.browser_client() as c:
        st = c.post("/addin/api/item", json=ref, headers=h)
        assert st.status_code == 200, st.text
        assert st.json()["state"] == "not_shared"
        r = c.post("/addin/api/save", json={**ref, "who_id": pat}, headers=h).json()
        assert r["ok"] and "next session" in r["message"], r
        assert r["status"]["state"] == "marked"
        assert cat.SALESFORCE in w.item(ALICE, item.id).categories
        w.sync(ALICE)
        [ev] = w.events()
        st = c.post("/addin/api/item", json=ref, headers=h).json()
        assert st["state"] == "shared" and st["event_id"] == ev.id, st
        r = c.post("/addin/api/save", json={**ref, "what_id": opp}, headers=h).json()
        assert r["ok"] and r["message"].endswith("The Event was updated."), r
        assert [e.what_id for e in w.events()] == [opp]
        r = c.post("/addin/api/unsync", json=ref, headers=h).json()
        assert r["ok"], r
        assert w.events() == []
        assert r["status"]["state"] == "not_shared"
        assert cat.SALESFORCE not in w.item(ALICE, item.id).categories
