"""`crmcal serve` over the sandbox, for the web tests and the browser tests.

Both emulators run on 127.0.0.1 (the `World` of the integration tests), the dashboard runs with
uvicorn in a thread on a free loopback port, and the accounts below exist:

- `admin` (local, password `admin-pass`), an admin;
- alice@contoso.example and bob@contoso.example (local, `<name>-pass`), users bound to their own
  mailbox, each with an API token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from crmcal.config import Config
from crmcal.domain import OrgSettings
from crmcal.sandbox.server import ServerThread, free_port
from crmcal.sandbox.tls import process_tls
from crmcal.state import StateStore
from crmcal.web import accounts
from crmcal.web.app import Web, create_app
from crmcal.web.service import WebService
from tests.integration.conftest import DOMAIN, World

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
ADMIN_MAIL = f"boss@{DOMAIN}"


@dataclass
class Dash:
    world: World
    app: FastAPI
    server: ServerThread
    store: StateStore
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def web(self) -> Web:
        web: Web = self.app.state.web
        return web

    def api(self, who: str) -> httpx.Client:
        """An API client with the bearer token of `who` (`admin`, ALICE, BOB)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )

    def browser_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def sessions(self, mailbox: str) -> list[Any]:
        return self.store.recent_sessions(mailbox, limit=100)


def make_world_users(w: World, **alice_settings: Any) -> None:
    w.person(ALICE, **({"autoshare_meetings": False} | alice_settings))
    w.person(BOB, autoshare_meetings=False)
    w.person(ADMIN_MAIL, crmcal=False)


@contextmanager
def serve(w: World, *, instant_sync: bool = False) -> Iterator[Dash]:
    """The dashboard over `w` (its users must exist already)."""
    w.org = OrgSettings(internal_domains=(DOMAIN,), instant_sync=instant_sync)
    port = free_port()
    # O4: Graph calls webhooks over https only, so with instant sync the dashboard is served
    # with the sandbox CA's certificate (the emulator trusts it like a public one)
    tls = process_tls() if instant_sync else None
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    cfg: Config = w.config()
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"admins": (ADMIN_MAIL,)})})
    if w.store is None:
        w.store = StateStore(cfg.storage.url())
        w.store.migrate()
    store = w.store
    svc = WebService(cfg, store, calendar=w.calendar, crm=w.crm)
    app = create_app(cfg, store, service=svc, public_url=base)
    tokens: dict[str, str] = {}
    accounts.add_account(store, "admin", password="admin-pass", is_admin=True)
    accounts.add_account(store, ALICE, password="alice-pass", mailbox=ALICE)
    accounts.add_account(store, BOB, password="bob-pass", mailbox=BOB)
    for who in ("admin", ALICE, BOB):
        tokens[who] = accounts.issue_token(store, who)
    server = ServerThread(app, port=port, tls=tls).start()
    web: Web = app.state.web
    web.start(subscribe=False)
    try:
        yield Dash(w, app, server, store, tokens)
    finally:
        web.instant and web.instant.stop()
        server.stop()


def sign_in(client: httpx.Client, username: str, password: str) -> None:
    """The local sign-in form, as a browser posts it (CSRF token from the page)."""
    page = client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login", data={"csrf": token, "username": username, "password": password, "next": "/"}
    )
    assert r.status_code == 303, r.text


def csrf_of(client: httpx.Client, path: str = "/issues") -> str:
    page = client.get(path)
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def set_org(d: Dash, **changes: Any) -> None:
    """Org settings changed as an admin changes them in the dashboard (an override)."""
    from crmcal.state.models_web import ORG_SCOPE
    from crmcal.web.overrides import store_overrides

    org = d.web.service.cfg.org
    store_overrides(d.store, ORG_SCOPE, d.web.cfg.org, org.model_copy(update=changes), "admin")
