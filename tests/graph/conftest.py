"""Fixtures: the Graph emulator on 127.0.0.1 (uvicorn in a thread) and clients pointed at it.

One server per test module serves a `GraphState` that is reset before every test, so tests stay
independent and the suite stays fast. It is served over https with the sandbox CA (one per test
process, `crmcal.sandbox.tls.process_tls`), which every client here trusts explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from crmcal.connectors.graph import GraphClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.sandbox.graph import Faults, GraphState, create_app
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import SandboxTls, make_tls, process_tls

ANA = "ana@contoso.example"
BO = "bo@contoso.example"
CY = "cy@contoso.example"


@dataclass
class Sleeps:
    """An injectable sleep that records the waits and really sleeps them (they are tiny)."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 2.0))


@dataclass
class Sandbox:
    """The running emulator plus helpers; tests get it from the `sandbox` fixture."""

    state: GraphState
    url: str
    tls: SandboxTls = field(default_factory=process_tls)
    ANA = ANA
    BO = BO
    CY = CY

    @staticmethod
    def event(
        subject: str, start: str, end: str, tz: str = "UTC", **extra: object
    ) -> dict[str, object]:
        """An event JSON as in the docs' create example (api-facts A5)."""
        return {
            "subject": subject,
            "body": {"contentType": "HTML", "content": f"<p>{subject}</p>"},
            "start": {"dateTime": start, "timeZone": tz},
            "end": {"dateTime": end, "timeZone": tz},
            **extra,
        }

    @property
    def graph_url(self) -> str:
        return self.url + "/v1.0"

    @property
    def ca(self) -> str:
        """The CA bundle path that clients pass as `verify`."""
        return str(self.tls.ca)

    def token(self) -> str:
        r = httpx.post(
            f"{self.url}/{self.state.tenant_id}/oauth2/v2.0/token",
            data={
                "client_id": self.state.client_id,
                "client_secret": self.state.client_secret,
                "scope": "https://graph.microsoft.com/.default",
                "grant_type": "client_credentials",
            },
            verify=self.tls.context(),
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def http(self) -> httpx.Client:
        """A plain httpx client with a valid bearer token, base URL = Graph v1.0."""
        return httpx.Client(
            base_url=self.graph_url,
            headers={"Authorization": "Bearer " + self.token()},
            verify=self.tls.context(),
        )

    def client(
        self, *, page_size: int = 100, sleeps: Sleeps | None = None, **kw: object
    ) -> GraphClient:
        policy = RetryPolicy(
            max_attempts=8,
            base_delay=0.01,
            max_delay=2.0,
            max_total_wait=20.0,
            sleep=sleeps or Sleeps(),
        )
        return GraphClient(
            tenant_id=self.state.tenant_id,
            client_id=self.state.client_id,
            client_secret=self.state.client_secret,
            authority_url=self.url,
            graph_url=self.graph_url,
            retry=policy,
            page_size=page_size,
            **({"verify": self.ca} | kw),  # type: ignore[arg-type]
        )


def _fresh(state: GraphState) -> None:
    state.reset()
    state.faults = Faults(retry_after=0.05)
    for addr, name in ((ANA, "Ana Ruiz"), (BO, "Bo Li"), (CY, "Cy Park")):
        state.add_user(addr, name)


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[GraphState, str]]:
    state = GraphState()
    app = create_app(state)
    app.state.trust_webhook_ca(str(process_tls().ca))  # hooks in tests: https, sandbox CA
    with ServerThread(app, tls=process_tls()) as srv:
        yield state, srv.url


@pytest.fixture
def sandbox(_server: tuple[GraphState, str]) -> Sandbox:
    state, url = _server
    _fresh(state)
    return Sandbox(state, url)


@pytest.fixture(scope="module")
def _tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GraphState, str, Path]]:
    """A server with a CA of its own (not the process one): tests that a client trusts exactly
    the bundle it is given."""
    tls = make_tls(tmp_path_factory.mktemp("tls"))
    state = GraphState()
    with ServerThread(create_app(state), tls=tls) as srv:
        yield state, srv.url, tls.ca


@pytest.fixture
def tls_sandbox(_tls_server: tuple[GraphState, str, Path]) -> tuple[Sandbox, Path]:
    state, url, ca = _tls_server
    _fresh(state)
    return Sandbox(state, url, make_tls_of(ca)), ca


def make_tls_of(ca: Path) -> SandboxTls:
    return SandboxTls(
        ca, ca.with_name("sandbox-server-cert.pem"), ca.with_name("sandbox-server-key.pem")
    )


@pytest.fixture
def sleeps() -> Sleeps:
    """Records the connector's back-off waits (and sleeps them for real; they are tiny)."""
    return Sleeps()
