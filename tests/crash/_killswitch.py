"""An ASGI middleware around both emulators that counts the external writes crmcal makes over
HTTP and can `kill -9` the client process right when the k-th write has been applied by the
emulator but before its response leaves (the hardest crash point: the write happened, the
client never learns it)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def is_write(method: str, path: str, body: bytes) -> bool:
    """An HTTP request that changes Microsoft 365 or Salesforce data (reads sent as POST, such
    as `$batch` of GETs or composite queries, are not writes)."""
    if method not in WRITE_METHODS:
        return False
    if not (path.startswith("/v1.0/") or path.startswith("/services/data/")):
        return False  # token endpoints, discovery, the /_sandbox control API
    inner_key = None
    if path.endswith("/$batch"):
        inner_key = "requests"
    elif path.rstrip("/").endswith("/composite"):
        inner_key = "compositeRequest"
    if inner_key is None:
        return True
    try:
        data = json.loads(body or b"{}")
        inner = data.get(inner_key) or []
        return any(str(r.get("method", "GET")).upper() != "GET" for r in inner)
    except (ValueError, AttributeError):
        return True


@dataclass
class KillSwitch:
    writes: list[str] = field(default_factory=list)
    kill_at: int | None = None
    pid: int | None = None
    killed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, k: int | None, pid: int | None) -> None:
        with self._lock:
            self.writes.clear()
            self.kill_at, self.pid, self.killed = k, pid, False

    def disarm(self) -> None:
        with self._lock:
            self.kill_at, self.pid = None, None

    def _count(self, label: str) -> None:
        with self._lock:
            self.writes.append(label)
            if self.kill_at == len(self.writes) and self.pid is not None:
                os.kill(self.pid, signal.SIGKILL)
                self.killed = True
                self.kill_at = None

    def __call__(self, app: ASGI) -> ASGI:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope.get("type") != "http" or scope.get("method") not in WRITE_METHODS:
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            while True:
                msg = await receive()
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            if not is_write(scope["method"], scope["path"], body):
                await app(scope, replay, send)
                return
            label = f"{scope['method']} {scope['path']}"

            async def counted(msg: Message) -> None:
                if msg["type"] == "http.response.start":
                    self._count(label)  # the write is applied; the client dies before the reply
                await send(msg)

            await app(scope, replay, counted)

        return middleware
