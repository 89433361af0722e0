"""The web edge (issue 19): security headers, the public webhook's body guard, login throttling
and the record-search rate limit. Pure ASGI middleware and small in-memory limiters; they wrap
the routes and change none of their bodies.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("crmcal.web")

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The dashboard loads nothing from elsewhere and is never framed (the Outlook add-in pages,
when they come, get their own policy that allows Outlook's hosts). An inline script runs only
with the response's nonce (`request.state.csp_nonce`, given to the templates as `csp_nonce`)."""

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the headers above to every HTTP response, and `Cache-Control: no-store` to every
    response but the static files (pages and API answers may carry a user's data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cacheable = path.startswith("/static/")
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        csp = (b"content-security-policy", CSP.format(nonce=nonce).encode())
        # The Outlook add-in's pages (web/addin.py) are framed by Outlook's hosts: they set
        # their own CSP frame-ancestors, which this layer keeps, and no X-Frame-Options.
        own_frame = path.startswith("/addin/")
        framing = {csp[0], b"x-frame-options"}
        base = tuple(h for h in BASE_HEADERS if not (own_frame and h[0] in framing))
        replaced = {h for h, _ in base} | (set() if own_frame else {csp[0]})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in replaced and (cacheable or k.lower() != b"cache-control")
                ]
                headers.extend(base)
                if not any(k.lower() == csp[0] for k, _ in headers):
                    headers.append(csp)
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_JSON_DEPTH = 32


def json_depth_ok(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the nesting of `raw` stays within `limit`, by one scan that skips strings (so a
    deep document is refused before the parser recurses into it)."""
    depth, in_str, esc = 0, False, False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:  # backslash
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif b in (0x5D, 0x7D):
            depth -= 1
    return True


class WebhookGuard:
    """The public webhook's body, checked before any route sees it (O4, issue 19).

    - a `Content-Length` over `limit` is refused with 413 before a byte of the body is read;
    - a body without a length (chunked) is read in chunks and refused with 413 as soon as it
      passes `limit`, so memory stays bounded by `limit` whatever the sender streams;
    - a body that is not JSON, or nests deeper than `MAX_JSON_DEPTH`, is a 400 (never a 500).
    The validation handshake (`?validationToken=`) carries no JSON body and is let through.
    """

    def __init__(self, app: ASGIApp, *, prefix: str = "/webhooks/", limit: int = 1_000_000) -> None:
        self.app, self.prefix, self.limit = app, prefix, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _status(send, 413)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _status(send, 413)
                return
            chunks.append(chunk)
            more = bool(msg.get("more_body", False))
        raw = b"".join(chunks)
        if b"validationToken=" not in scope.get("query_string", b"") and not _json_ok(raw):
            await _status(send, 400)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", []):
        if k.lower() == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


def _json_ok(raw: bytes) -> bool:
    if not json_depth_ok(raw):
        return False
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


async def _status(send: Send, status: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"0"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


@dataclass
class Throttle:
    """Sliding-window failure counting with a lockout that ends by time.

    `attempts` failures of one key within `window` seconds lock that key for `lockout` seconds;
    each lock is logged (no password, only the key: an account name or a client address).
    """

    attempts: int = 5
    window: float = 300.0
    lockout: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _locked: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locked_for(self, key: str) -> float:
        """Seconds left of the key's lockout (0 when it may try)."""
        with self._lock:
            until = self._locked.get(key)
            now = self.clock()
            if until is None:
                return 0.0
            if now >= until:
                del self._locked[key]
                log.info("sign-in lockout ended for %s", key)
                return 0.0
            return until - now

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            q = self._fails.setdefault(key, deque())
            q.append(now)
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.attempts:
                self._locked[key] = now + self.lockout
                q.clear()
                log.warning(
                    "sign-in locked for %s for %d s after %d failures",
                    key,
                    self.lockout,
                    self.attempts,
                )

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)


@dataclass
class RateLimit:
    """At most `per_minute` calls per key in any 60 s (a sliding window)."""

    per_minute: int = 30
    clock: Callable[[], float] = time.monotonic
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str) -> float:
        """0 when the call may go ahead (and is counted), else the seconds to wait."""
        with self._lock:
            now = self.clock()
            q = self._calls.setdefault(key, deque())
            while q and q[0] <= now - 60.0:
                q.popleft()
            if len(q) >= self.per_minute:
                return 60.0 - (now - q[0])
            q.append(now)
            return 0.0
