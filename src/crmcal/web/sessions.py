"""Dashboard sessions kept on the server (issue 19, Y2).

The cookie carries one random value and nothing else; the table `web_sessions` keeps the
session's data under the HMAC-SHA256 of that value (keyed with the session key, so a copy of the
database gives no usable cookie). Logout deletes the row; "sign out everywhere" deletes every row
of an account. A sign-in gets a fresh id (no session fixation). `request.session` works as with
Starlette's `SessionMiddleware`, which this replaces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import anyio.to_thread
from sqlalchemy import delete
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmcal.state import StateStore
from crmcal.state.models import utcnow
from crmcal.state.models_web import WebSessionRow


class ServerSessions:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: StateStore,
        key: str,
        cookie: str = "crmcal_session",
        max_age: int = 12 * 3600,
        https_only: bool = False,
    ) -> None:
        self.app, self.store, self.cookie, self.max_age = app, store, cookie, max_age
        self._key = key.encode("utf-8")
        flags = f"; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        self._flags = flags + ("; Secure" if https_only else "")

    def row_id(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        value = _cookie(scope, self.cookie)
        rid = self.row_id(value) if value else None
        loaded = await anyio.to_thread.run_sync(self._load, rid) if rid else None
        scope["session"] = dict(loaded or {})
        before = json.dumps(loaded or {}, sort_keys=True, default=str)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                data: dict[str, Any] = scope["session"]
                now = json.dumps(data, sort_keys=True, default=str)
                if now != before or (data and loaded is None):
                    header = await anyio.to_thread.run_sync(self._save, rid, loaded, data)
                    if header:
                        message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _load(self, rid: str) -> dict[str, Any] | None:
        with self.store.session() as s:
            row = s.get(WebSessionRow, rid)
            if row is None:
                return None
            if row.expires_at <= utcnow():
                s.delete(row)
                return None
            return dict(row.data or {})

    def _save(
        self, rid: str | None, loaded: dict[str, Any] | None, data: dict[str, Any]
    ) -> tuple[bytes, bytes] | None:
        """Store `data`; the Set-Cookie header to send, if the cookie changes."""
        with self.store.session() as s:
            if not data:
                if rid is not None:
                    s.execute(delete(WebSessionRow).where(WebSessionRow.id == rid))
                if loaded is None:
                    return None
                return (b"set-cookie", f"{self.cookie}=null{self._expired()}".encode())
            uid = data.get("uid")
            rotate = rid is None or loaded is None or (loaded or {}).get("uid") != uid
            if not rotate:
                row = s.get(WebSessionRow, rid)
                if row is not None:
                    row.data = dict(data)
                    return None
            if rid is not None:
                s.execute(delete(WebSessionRow).where(WebSessionRow.id == rid))
            value = secrets.token_urlsafe(32)
            now = utcnow()
            s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))
            s.add(
                WebSessionRow(
                    id=self.row_id(value),
                    account_id=uid if isinstance(uid, int) else None,
                    data=dict(data),
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.max_age),
                )
            )
        return (b"set-cookie", f"{self.cookie}={value}{self._flags}".encode())

    def _expired(self) -> str:
        return self._flags.replace(f"Max-Age={self.max_age}", "Max-Age=0")


def _cookie(scope: Scope, name: str) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(v.decode("latin-1"))
            except Exception:
                return None
            if name in jar:
                return jar[name].value or None
    return None


def sign_out_everywhere(store: StateStore, account_id: int) -> int:
    """Revoke every session of the account; the number revoked."""
    with store.session() as s:
        n = s.execute(delete(WebSessionRow).where(WebSessionRow.account_id == account_id))
        return int(getattr(n, "rowcount", 0) or 0)


def active_sessions(store: StateStore, account_id: int) -> int:
    from sqlalchemy import func, select

    with store.session() as s:
        now = utcnow()
        q = select(func.count()).where(
            WebSessionRow.account_id == account_id, WebSessionRow.expires_at > now
        )
        return int(s.scalar(q) or 0)
