"""The EWS emulator over https (the sandbox CA), and exchangelib / EwsClient pointed at it.

The transport is set in one place: `ews_server` serves `/EWS/Exchange.asmx` through the same
`ServerThread` the other emulators use, with the sandbox CA's server certificate; every client in
these tests trusts that CA through an ordinary CA-bundle setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from crmcal.connectors.ews import EwsClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.sandbox.ews import EwsState, create_app
from crmcal.sandbox.graph.state import GraphState
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import SandboxTls, process_tls

SERVICE_USER = "CONTOSO\\svc-crmcal"
SERVICE_PASSWORD = "sandbox-ews-password"
ANA = "ana@contoso.example"
BO = "bo@contoso.example"
CLOUD = "cloud@contoso.example"


@dataclass
class EwsServer:
    state: EwsState
    url: str
    tls: SandboxTls

    @property
    def endpoint(self) -> str:
        return self.url + "/EWS/Exchange.asmx"

    @property
    def graph(self) -> GraphState:
        return self.state.graph


@pytest.fixture
def ews_server() -> Iterator[EwsServer]:
    tls = process_tls()
    st = EwsState(GraphState())
    st.add_account(SERVICE_USER, SERVICE_PASSWORD, "svc-crmcal@contoso.example")
    st.add_account("CONTOSO\\no-role", "pw2", "no-role@contoso.example", impersonation=False)
    for address in (ANA, BO, "svc-crmcal@contoso.example", "no-role@contoso.example"):
        st.add_mailbox(address)
    st.graph.add_user(CLOUD)  # an Exchange Online mailbox: Graph only
    srv = ServerThread(create_app(st), ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key))
    srv.start()
    try:
        yield EwsServer(st, srv.url, tls)
    finally:
        srv._server.force_exit = True  # TLS keep-alive connections: nothing to flush
        srv.stop()


@pytest.fixture
def ews_client(ews_server: EwsServer) -> Iterator[EwsClient]:
    waits: list[float] = []
    client = EwsClient(
        username=SERVICE_USER,
        password=SERVICE_PASSWORD,
        ews_url=ews_server.endpoint,
        auth_type="basic",
        ca_bundle=str(ews_server.tls.ca),
        retry=RetryPolicy(max_attempts=4, max_total_wait=10.0, sleep=waits.append),
    )
    client.waits = waits  # type: ignore[attr-defined]
    yield client
    client.close()
