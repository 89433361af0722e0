"""Run an ASGI app with uvicorn on 127.0.0.1 in a background thread (tests, demo, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from crmcal.sandbox.tls import SandboxTls

ASGIApp = Callable[..., Coroutine[Any, Any, None]]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """A uvicorn server on a loopback port, started and stopped from synchronous code.

    Use as a context manager, or call `start()` / `stop()`. `url` is the base URL, e.g.
    `https://127.0.0.1:53412` with `tls` (the sandbox CA's server certificate; both emulators are
    always served so) or `ssl_certfile`, else `http://...` (crmcal's own web server in tests).
    """

    def __init__(
        self,
        app: ASGIApp | Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        tls: SandboxTls | None = None,
        log_level: str = "warning",
    ) -> None:
        self.host = host
        # The listening socket is bound here and handed to uvicorn, so the port can't be taken
        # by another process between choosing it and listening on it (a free_port() race that
        # parallel test runs hit as "address already in use").
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY from the listening socket on Linux; without it
        # a response written in two parts waits for the client's delayed ACK (~40 ms a call).
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.port = int(self._sock.getsockname()[1])
        if tls is not None:
            ssl_certfile, ssl_keyfile = str(tls.cert), str(tls.key)
        self.tls = tls
        scheme = "https" if ssl_certfile else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level=log_level,
            access_log=False,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"srv-{self.port}",
        )

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self.tls is not None:
            # A TLS close waits for the peer's close_notify (asyncio: up to 30 s) on every
            # keep-alive connection a client left open; the emulators have nothing to flush.
            self._server.force_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
