"""Y2 and I1/I2/I3 over HTTP: who sees what, CSRF, sign-in (local and Entra ID through the
emulator's OpenID Connect endpoints), the OpenAPI document and the metrics."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.web._support import ADMIN_MAIL, ALICE, BOB, Dash, csrf_of, sign_in


def _issues(d: Dash) -> tuple[int, int]:
    a = d.store.raise_issue(
        mailbox=ALICE, reason="not_synced", message="Not synced: too long", item_id="A1",
        subject="Alice's offsite",
    )  # fmt: skip
    b = d.store.raise_issue(
        mailbox=BOB, reason="unresolved_participants", message="Unresolved participants: x@y.z",
        item_id="B1", subject="Bob's pitch", actions=["retry", "dismiss"],
    )  # fmt: skip
    return a, b


def test_y2_api_requires_authentication(dash: Dash) -> None:
    with httpx.Client(base_url=dash.url) as c:
        assert c.get("/api/v1/issues").status_code == 401
        assert c.get("/api/v1/issues", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/api/v1/save", json={"item_id": "x"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        r = c.get("/issues", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_y2_user_cannot_read_or_act_on_another_users_issue(dash: Dash) -> None:
    """I1/Y2: alice sees only her issues; bob's answer 404 to her, for reading and acting."""
    a, b = _issues(dash)
    with dash.api(ALICE) as alice, dash.api("admin") as admin:
        mine = alice.get("/api/v1/issues").json()
        assert [i["id"] for i in mine] == [a]
        assert alice.get(f"/api/v1/issues/{b}").status_code == 404
        assert alice.get("/api/v1/issues", params={"mailbox": BOB}).status_code == 404
        r = alice.post(f"/api/v1/issues/{b}/actions", json={"action": "dismiss"})
        assert r.status_code == 404
        assert alice.post(f"/api/v1/users/{BOB}/pause", json={"paused": True}).status_code == 404
        assert alice.post(f"/api/v1/users/{BOB}/sync").status_code == 404
        assert alice.get("/api/v1/sessions", params={"mailbox": BOB}).status_code == 404
        r = alice.post("/api/v1/save", json={"item_id": "B1", "mailbox": BOB})
        assert r.status_code == 404
        assert alice.get("/metrics").status_code == 403
        health = alice.get("/api/v1/health").json()
        assert [u["mailbox"] for u in health["users"]] == [ALICE]
        # the admin sees everyone's, and may act
        assert {i["id"] for i in admin.get("/api/v1/issues").json()} == {a, b}
        r = admin.post(f"/api/v1/issues/{b}/actions", json={"action": "dismiss"})
        assert r.status_code == 200 and r.json()["resolved"] is True
        assert [i["id"] for i in admin.get("/api/v1/issues").json()] == [a]
    assert dash.store.health(BOB) is None or not dash.store.health(BOB).paused  # type: ignore[union-attr]


def test_y2_pages_show_only_own_issues(dash: Dash) -> None:
    _issues(dash)
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/issues").text
        assert "Alice&#39;s offsite" in page and "Bob" not in page
        assert c.get("/issues", params={"user": BOB}).status_code == 404
        assert c.get("/settings", params={"user": BOB}).status_code == 404
        assert c.get("/admin/org").status_code == 403
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        page = c.get("/issues").text
        assert "Alice&#39;s offsite" in page and "Bob&#39;s pitch" in page


def test_y2_wrong_password_and_csrf(dash: Dash) -> None:
    with dash.browser_client() as c:
        token = csrf_of(c, "/login")
        r = c.post("/login", data={"csrf": token, "username": ALICE, "password": "wrong"})
        assert r.status_code == 200 and "Wrong username or password" in r.text
        # a form without the session's CSRF token is refused, even signed in
        r = c.post("/login", data={"username": ALICE, "password": "alice-pass"})
        assert r.status_code == 403
        sign_in(c, ALICE, "alice-pass")
        assert c.post(f"/users/{ALICE}/pause", data={"paused": "true"}).status_code == 403
        # the API with the session cookie needs X-CSRF-Token for writes
        assert c.post(f"/api/v1/users/{ALICE}/pause", json={"paused": True}).status_code == 403
        token = csrf_of(c)
        r = c.post(
            f"/api/v1/users/{ALICE}/pause", json={"paused": True}, headers={"X-CSRF-Token": token}
        )
        assert r.status_code == 200 and r.json()["paused"] is True
        assert c.get("/api/v1/me").json()["mailbox"] == ALICE


def _entra_sign_in(d: Dash, c: httpx.Client, username: str) -> httpx.Response:
    """The authorization-code flow, as a browser follows it."""
    r = c.get("/login/entra", params={"next": "/health"})
    assert r.status_code == 303
    authorize = r.headers["location"]
    assert authorize.startswith(d.world.sb.graph_url)
    with httpx.Client(timeout=30) as idp:
        page = idp.get(authorize)
        assert page.status_code == 200 and "Sign in" in page.text
        fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        back = idp.post(authorize.split("?")[0], data={**fields, "username": username})
    assert back.status_code == 302, back.text
    cb = urlsplit(back.headers["location"])
    assert cb.path == "/auth/callback"
    return c.get("/auth/callback", params={k: v[0] for k, v in parse_qs(cb.query).items()})


def test_y2_entra_sign_in_through_the_emulator(dash: Dash) -> None:
    """OpenID Connect code flow against the Graph emulator: a crmcal user signs in as a user, an
    address in `web.admins` as an admin, anyone else is turned away."""
    with dash.browser_client() as c:
        r = _entra_sign_in(dash, c, ALICE)
        assert r.status_code == 303 and r.headers["location"] == "/health"
        me = c.get("/api/v1/me").json()
        assert me == {"username": ALICE, "is_admin": False, "mailbox": ALICE}
    with dash.browser_client() as c:
        _entra_sign_in(dash, c, ADMIN_MAIL)
        assert c.get("/api/v1/me").json()["is_admin"] is True
    dash.world.sb.graph.add_user(f"eve@{ALICE.split('@')[1]}")
    with dash.browser_client() as c:
        r = _entra_sign_in(dash, c, f"eve@{ALICE.split('@')[1]}")
        assert r.headers["location"].startswith("/login?error=")
        assert c.get("/api/v1/me").status_code == 401


def test_y2_entra_callback_with_a_forged_state_is_refused(dash: Dash) -> None:
    with dash.browser_client() as c:
        c.get("/login/entra")
        r = c.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert r.status_code == 303 and "error" in r.headers["location"]
        assert c.get("/api/v1/me").status_code == 401


def test_openapi_published_with_typed_models(dash: Dash) -> None:
    doc = httpx.get(f"{dash.url}/openapi.json").json()
    paths = doc["paths"]
    for p in (
        "/api/v1/save", "/api/v1/records/search", "/api/v1/issues", "/api/v1/health",
        "/api/v1/issues/{issue_id}/actions", "/api/v1/users/{mailbox}/sync",
        "/api/v1/users/{mailbox}/pause", "/api/v1/sessions",
    ):  # fmt: skip
        assert p in paths, p
    schemas = doc["components"]["schemas"]
    assert set(schemas["SaveRequest"]["properties"]) == {"item_id", "mailbox", "who_id", "what_id"}
    assert "/login" not in paths and "/webhooks/graph" not in paths


def test_i2_o2_metrics_sessions_issues_and_allowance(dash: Dash) -> None:
    _issues(dash)
    dash.world.sync()
    with dash.api("admin") as admin:
        r = admin.post(f"/api/v1/users/{ALICE}/sync")
        assert r.status_code == 200, r.text
        assert r.json()["trigger"] == "force"
        text = admin.get("/metrics").text
    assert 'crmcal_issues_open{reason="not_synced"} 1.0' in text
    assert 'crmcal_issues_open{reason="unresolved_participants"} 1.0' in text
    assert re.search(r'crmcal_sessions_total\{status="succeeded",trigger="force"\} 1\.0', text)
    assert "crmcal_salesforce_api_remaining" in text
    assert 'crmcal_api_calls_total{api="salesforce"}' in text


def test_users_cli_adds_accounts_and_tokens(tmp_path: object) -> None:
    """`crmcal users add|list|token` against a configuration's state store."""
    from pathlib import Path

    from typer.testing import CliRunner

    from crmcal.cli import app

    assert isinstance(tmp_path, Path)
    cfg = tmp_path / "crmcal.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{tmp_path.as_posix()}"\n\n[[users]]\n'
        f'mailbox = "{ALICE}"\nsalesforce_user_id = "005000000000001"\n',
        encoding="utf-8",
    )
    run = CliRunner().invoke
    r = run(
        app, ["users", "add", "root", "--admin", "--password", "pw-1-long-secret", "-c", str(cfg)]
    )
    assert r.exit_code == 0, r.output
    r = run(app, ["users", "add", ALICE, "--password", "pw-2-long-secret", "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    r = run(app, ["users", "add", "x@nowhere.example", "--password", "pw", "-c", str(cfg)])
    assert r.exit_code == 2  # not a crmcal user
    r = run(app, ["users", "token", ALICE, "-c", str(cfg)])
    assert r.exit_code == 0 and r.output.strip().startswith("crmcal_")
    r = run(app, ["users", "list", "-c", str(cfg)])
    assert "root" in r.output and ALICE in r.output
    assert "pw-1" not in r.output


def test_i3_health_shows_failures_in_a_row_and_unhealthy(dash: Dash) -> None:
    for _ in range(10):
        dash.store.record_outcome(BOB, ok=False, unhealthy_after=10, reason="token expired")
    dash.store.record_outcome(ALICE, ok=True, unhealthy_after=10)
    with dash.api("admin") as admin:
        h = admin.get("/api/v1/health").json()
    by = {u["mailbox"]: u for u in h["users"]}
    assert h["status"] == "unhealthy"
    assert by[BOB]["consecutive_failures"] == 10 and by[BOB]["unhealthy"] is True
    assert by[ALICE]["unhealthy"] is False and by[ALICE]["last_success_at"]
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        page = c.get("/health").text
    row = page.split(f'data-user="{BOB}"', 1)[1].split("</tr>", 1)[0]
    assert "unhealthy" in row and "<td>10</td>" in row
