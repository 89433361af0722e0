"""Y2 sessions on the server (issue 19): the cookie carries only an id, logout and "sign out
everywhere" revoke sessions, a sign-in gets a fresh id; Entra ID users are matched by `tid` and
`oid`; admins manage accounts and API tokens in the UI."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from crmcal.state import StateStore
from crmcal.state.models_web import WebAccountRow, WebSessionRow
from crmcal.web import accounts
from tests.web._support import ALICE, BOB, Dash, csrf_of, sign_in
from tests.web.test_access import _entra_sign_in


def _cookie(c: httpx.Client) -> str:
    value = c.cookies.get("crmcal_session")
    assert value
    return value


def _as(d: Dash, cookie: str) -> httpx.Client:
    c = d.browser_client()
    c.cookies.set("crmcal_session", cookie)
    return c


def test_y2_cookie_carries_only_an_id_and_the_server_keeps_the_session(dash: Dash) -> None:
    with dash.browser_client() as c:
        csrf_of(c, "/login")
        anon = _cookie(c)
        sign_in(c, ALICE, "alice-pass")
        value = _cookie(c)
        assert value != anon  # a fresh id at sign-in (no session fixation)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 32 random bytes, nothing else
        with dash.store.session() as s:
            rows = list(s.scalars(select(WebSessionRow)))
        mine = [r for r in rows if r.data.get("uid") is not None]
        assert len(mine) == 1 and mine[0].id != value and value not in mine[0].id
        with _as(dash, anon) as old:  # the id from before the sign-in is worth nothing
            assert old.get("/api/v1/me").status_code == 401


def test_y2_logout_revokes_the_session(dash: Dash) -> None:
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        stolen = _cookie(c)
        r = c.post("/logout", data={"csrf": csrf_of(c)})
        assert r.status_code == 303
    with _as(dash, stolen) as replay:
        assert replay.get("/api/v1/me").status_code == 401
        assert replay.get("/issues").status_code == 303


def test_y2_admin_signs_a_user_out_everywhere(dash: Dash) -> None:
    phone, laptop = dash.browser_client(), dash.browser_client()
    sign_in(phone, ALICE, "alice-pass")
    sign_in(laptop, ALICE, "alice-pass")
    sign_in(bob := dash.browser_client(), BOB, "bob-pass")
    alice_id = accounts.by_token(dash.store, dash.tokens[ALICE])
    assert alice_id is not None
    with dash.browser_client() as admin:
        sign_in(admin, "admin", "admin-pass")
        page = admin.get("/admin/accounts")
        assert page.status_code == 200 and f'data-account="{ALICE}"' in page.text
        r = admin.post(
            f"/admin/accounts/{alice_id.account_id}/signout", data={"csrf": csrf_of(admin)}
        )
        assert r.status_code == 303
        assert "2 sessions signed out" in admin.get("/admin/accounts").text
    assert phone.get("/api/v1/me").status_code == 401
    assert laptop.get("/api/v1/me").status_code == 401
    assert bob.get("/api/v1/me").status_code == 200  # others keep theirs
    with dash.api(ALICE) as api:  # API tokens are not sessions
        assert api.get("/api/v1/me").status_code == 200
    for c in (phone, laptop, bob):
        c.close()


def test_y2_a_user_ends_all_own_sessions(dash: Dash) -> None:
    other = dash.browser_client()
    sign_in(other, BOB, "bob-pass")
    with dash.browser_client() as c:
        sign_in(c, BOB, "bob-pass")
        r = c.post("/account/signout-everywhere", data={"csrf": csrf_of(c)})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 401
    other.close()
    with dash.browser_client() as c:  # users may not use the admin page
        sign_in(c, BOB, "bob-pass")
        assert c.get("/admin/accounts").status_code == 403


def test_y2_admin_adds_an_account_and_issues_a_token_in_the_ui(dash: Dash) -> None:
    with dash.browser_client() as admin:
        sign_in(admin, "admin", "admin-pass")
        form = {"csrf": csrf_of(admin), "username": "ops", "password": "short", "is_admin": "true"}
        r = admin.post("/admin/accounts", data=form)
        assert r.status_code == 200 and "shorter than 8" in r.text
        form["password"] = "ops-password-1"
        assert admin.post("/admin/accounts", data=form).status_code == 303
        ops = next(a for a in accounts.list_accounts(dash.store) if a.username == "ops")
        assert ops.is_admin
        r = admin.post(f"/admin/accounts/{ops.account_id}/token", data={"csrf": csrf_of(admin)})
        token = re.search(r"<code class=\"wrap\">(crmcal_[^<]+)</code>", r.text)
        assert token is not None
    with httpx.Client(base_url=dash.url, headers={"Authorization": f"Bearer {token[1]}"}) as c:
        assert c.get("/api/v1/me").json()["username"] == "ops"
    with dash.browser_client() as c:
        sign_in(c, "ops", "ops-password-1")


def test_y2_entra_users_are_matched_by_tid_and_oid(dash: Dash) -> None:
    """The first Entra sign-in binds the account to (tid, oid); a later sign-in with the same
    address but another oid (the address given to someone else) is refused."""
    with dash.browser_client() as c:
        r = _entra_sign_in(dash, c, ALICE)
        assert r.status_code == 303 and r.headers["location"] == "/health"
    with dash.store.session() as s:
        row = s.scalars(select(WebAccountRow).where(WebAccountRow.username == ALICE)).one()
        tid, oid = row.entra_tid, row.entra_oid
        assert tid and oid
        row.entra_oid = "00000000-0000-0000-0000-0000000000ff"  # someone else held the address
    with dash.browser_client() as c:
        r = _entra_sign_in(dash, c, ALICE)
        assert r.headers["location"] == "/login?error=not_this_person"
        assert c.get("/api/v1/me").status_code == 401


def test_y2_oid_wins_over_preferred_username() -> None:
    with StateStore("sqlite://") as store:
        store.migrate()
        first = accounts.sign_in_external(
            store, "dana@contoso.example", is_admin=False, mailbox="dana@contoso.example",
            tid="t1", oid="o1",
        )  # fmt: skip
        # renamed in Entra: same person, new address -> the same account
        again = accounts.sign_in_external(
            store, "dana.smith@contoso.example", is_admin=False, mailbox=None, tid="t1", oid="o1"
        )
        assert again.account_id == first.account_id and again.mailbox == "dana@contoso.example"
        # another person now has the old address: not Dana's account
        with pytest.raises(accounts.NotThisPerson):
            accounts.sign_in_external(
                store, "dana@contoso.example", is_admin=False, mailbox=None, tid="t1", oid="o2"
            )
        # the same oid in another tenant is another person
        with pytest.raises(accounts.NotThisPerson):
            accounts.sign_in_external(
                store, "dana@contoso.example", is_admin=False, mailbox=None, tid="t2", oid="o1"
            )
