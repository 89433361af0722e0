"""The web edge (issue 19) over HTTP: security headers, login throttling with a lockout that ends
by time, timing parity, the fixed sign-in error set, the webhook's body limit (a 300 MB body is
refused and the server's memory stays put), deep or broken JSON, and the record-search rate limit.
"""

from __future__ import annotations

import logging
import select
import socket
import statistics
import time
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from crmcal.web import accounts
from crmcal.web.app import MAX_WEBHOOK_BYTES, create_app
from crmcal.web.edge import CSP, RateLimit, Throttle, json_depth_ok
from tests.web._support import ALICE, BOB, Dash, csrf_of, sign_in

MB = 1024 * 1024


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _addr(d: Dash) -> tuple[str, int]:
    u = urlsplit(d.url)
    assert u.hostname == "127.0.0.1" and u.port
    return u.hostname, u.port


def test_security_headers_on_every_response(dash: Dash) -> None:
    """Pages, redirects, API errors, webhook refusals: CSP with frame-ancestors 'none', nosniff,
    a Referrer-Policy, and no-store (static files may be cached)."""
    with dash.browser_client() as c:
        answers = [
            c.get("/login"),
            c.get("/issues"),
            c.get("/api/v1/issues"),
            c.get("/healthz"),
            c.post("/webhooks/graph", content=b"{"),
        ]
        sign_in(c, ALICE, "alice-pass")
        answers += [c.get("/issues"), c.get("/calendar"), c.get("/openapi.json")]
        nonces = set()
        for r in answers:
            policy = r.headers["content-security-policy"]
            nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
            assert policy == CSP.format(nonce=nonce), r.url
            assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
            nonces.add(nonce)
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["cache-control"] == "no-store", r.url
        css = c.get("/static/crmcal.css")
        assert css.status_code == 200 and css.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in css.headers.get("cache-control", "")
        assert len(nonces) == len(answers)  # a fresh nonce per response
        # every inline script carries its response's nonce; no inline event handlers
        for path in ("/issues", "/health"):
            r = c.get(path)
            nonce = r.headers["content-security-policy"].split("'nonce-", 1)[1].split("'")[0]
            assert "<script>" not in r.text and "onchange=" not in r.text
            for tag in r.text.split("<script")[1:]:
                assert f'nonce="{nonce}"' in tag.split(">", 1)[0] or "src=" in tag.split(">")[0]


def _try(c: httpx.Client, user: str, password: str) -> httpx.Response:
    return c.post(
        "/login", data={"csrf": csrf_of(c, "/login"), "username": user, "password": password}
    )


def test_login_lockout_per_account_ends_by_time_and_is_logged(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    dash.web.login_throttle = Throttle(attempts=3, window=60, lockout=120, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="crmcal.web")
    with dash.browser_client() as c:
        for _ in range(3):
            assert "Wrong username or password" in _try(c, ALICE, "guess").text
        # locked: even the right password is refused, with the lockout's text
        r = _try(c, ALICE, "alice-pass")
        assert r.status_code == 200 and "Too many failed sign-ins" in r.text
        assert c.get("/api/v1/me").status_code == 401
    assert any("sign-in locked" in m and ALICE in m for m in caplog.messages)
    assert not any("guess" in m or "alice-pass" in m for m in caplog.messages)  # Y1
    now[0] += 121
    with dash.browser_client() as c:
        r = _try(c, ALICE, "alice-pass")
        assert r.status_code == 303
        assert c.get("/api/v1/me").json()["mailbox"] == ALICE
    assert any("lockout ended" in m for m in caplog.messages)


def test_login_lockout_per_client_address(dash: Dash) -> None:
    """One address trying many accounts is locked too (the per-account counter alone would let
    it spray one guess per account)."""
    dash.web.login_throttle = Throttle(attempts=4, window=60, lockout=600)
    with dash.browser_client() as c:
        for name in ("a@x.example", "b@x.example", "c@x.example", "d@x.example"):
            _try(c, name, "guess")
        assert "Too many failed sign-ins" in _try(c, BOB, "bob-pass").text


def test_login_takes_the_same_time_whether_or_not_the_user_exists(dash: Dash) -> None:
    """Timing parity: an unknown name pays the same scrypt run as a known one."""

    def timed(user: str) -> float:
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            assert accounts.authenticate(dash.store, user, "wrong-password") is None
            runs.append(time.perf_counter() - t)
        return statistics.median(runs)

    known, unknown = timed(ALICE), timed("nobody@nowhere.example")
    assert 0.5 < unknown / known < 2.0, (known, unknown)
    assert known > 0.005  # scrypt ran at all (2**14 rounds take milliseconds)


def test_login_errors_come_from_a_fixed_set(dash: Dash) -> None:
    with dash.browser_client() as c:
        page = c.get("/login", params={"error": "Your account is suspended, call 555-0100"})
        assert "555-0100" not in page.text and 'role="alert"' not in page.text
        assert "Too many failed sign-ins" in c.get("/login", params={"error": "locked"}).text


def test_minimum_password_length() -> None:
    from crmcal.state import StateStore

    with StateStore("sqlite://") as store:
        store.migrate()
        with pytest.raises(ValueError, match="shorter than 8"):
            accounts.add_account(store, "short", password="1234567")
        assert accounts.add_account(store, "long", password="12345678").username == "long"


def test_webhook_refuses_300_mb_by_content_length_before_reading(dash: Dash) -> None:
    with socket.create_connection(_addr(dash), timeout=10) as s:
        s.sendall(
            b"POST /webhooks/graph HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head


def test_webhook_refuses_a_streamed_300_mb_body_with_memory_unchanged(dash: Dash) -> None:
    """A chunked body has no length: the server reads at most the limit, answers 413 and
    closes; the test process (the server runs in it) grows by far less than the body."""
    chunk = b"[" * (64 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    before, sent, head = _rss(), 0, b""
    with socket.create_connection(_addr(dash), timeout=10) as s:
        s.sendall(
            b"POST /webhooks/graph HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < 300 * MB:
                if select.select([s], [], [], 0)[0]:
                    break
                s.sendall(frame)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection: refused
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert sent < 300 * MB
    assert _rss() - before < 40 * MB, (before, _rss())
    assert MAX_WEBHOOK_BYTES <= 1_000_000


def test_webhook_deep_or_broken_json_is_400_never_500(dash: Dash) -> None:
    with httpx.Client(base_url=dash.url, timeout=30) as c:
        deep = b"[" * 100_000 + b"]" * 100_000
        assert c.post("/webhooks/graph", content=deep).status_code == 400
        assert c.post("/webhooks/graph", content=b'{"value": [').status_code == 400
        assert c.post("/webhooks/graph/lifecycle", content=b"\xff\xfe").status_code == 400
        assert c.post("/webhooks/graph", content=b'{"value": []}').status_code in (202, 404)
        # the validation handshake: text/plain, nosniff, bounded
        r = c.post("/webhooks/graph", params={"validationToken": "<b>x</b>" + "a" * 5000})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert len(r.content) <= 1024
    assert json_depth_ok(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')
    assert not json_depth_ok(b"[" * 33)


def test_record_search_is_rate_limited_per_account(dash: Dash) -> None:
    dash.web.search_limit = RateLimit(per_minute=3)
    with dash.api(ALICE) as alice, dash.api(BOB) as bob:
        for _ in range(3):
            assert alice.get("/api/v1/records/search", params={"q": "Fab"}).status_code == 200
        r = alice.get("/api/v1/records/search", params={"q": "Fab"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert bob.get("/api/v1/records/search", params={"q": "Fab"}).status_code == 200


def test_web_search_per_minute_setting_changes_the_limit(dash: Dash) -> None:
    """`web.search_per_minute` (config) sets the limit: 1 lets one search through, then 429."""
    cfg = dash.web.cfg
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"search_per_minute": 1})})
    app = create_app(cfg, dash.store, service=dash.web.service)
    c = TestClient(app, headers={"Authorization": f"Bearer {dash.tokens[ALICE]}"})
    assert c.get("/api/v1/records/search", params={"q": "Fab"}).status_code == 200
    assert c.get("/api/v1/records/search", params={"q": "Fab"}).status_code == 429
