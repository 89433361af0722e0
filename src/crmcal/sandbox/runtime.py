"""Both emulators running on 127.0.0.1, with credentials, and a crmcal configuration that points
at them. Used by `crmcal sandbox`, `crmcal demo`, the integration tests and the benchmarks.

Nothing here is a shortcut for crmcal: the configuration it produces is an ordinary one (base
URLs and credentials), and crmcal reaches the emulators over HTTP exactly as it reaches Microsoft
365 and Salesforce.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from crmcal.config import (
    CalendarBackend,
    Config,
    EwsAuth,
    ExchangeConfig,
    GraphConfig,
    SalesforceAuth,
    SalesforceConfig,
    StorageConfig,
    WebConfig,
)
from crmcal.domain import OrgSettings, UserConfig
from crmcal.sandbox.ews import EwsState
from crmcal.sandbox.ews import create_app as ews_app
from crmcal.sandbox.graph.app import create_app as graph_app
from crmcal.sandbox.graph.state import GraphState
from crmcal.sandbox.salesforce.app import create_app as salesforce_app
from crmcal.sandbox.salesforce.state import SalesforceOrg
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import SandboxTls, process_tls

GRAPH_CLIENT_ID = "00000000-crmc-a1sa-ndbo-x00000000001"
EWS_SERVICE_USER = "CONTOSO\\svc-crmcal"
EWS_SERVICE_ADDRESS = "svc-crmcal@contoso.example"


@dataclass
class Sandbox:
    """Two emulators, their state objects, and the credentials crmcal uses against them."""

    graph: GraphState = field(default_factory=GraphState)
    salesforce: SalesforceOrg = field(default_factory=SalesforceOrg)
    graph_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sf_client_id: str = field(default_factory=lambda: "3MVG9sandbox" + secrets.token_hex(8))
    sf_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port_graph: int = 0
    port_salesforce: int = 0
    wrap: Callable[[Any], Any] | None = None
    """Optional ASGI middleware around both emulators (tests: count writes, kill a client)."""
    tls: SandboxTls = field(default_factory=process_tls)
    """The sandbox CA and the server certificate the EWS emulator is served with (issue 20)."""
    ews_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port_ews: int = 0

    def __post_init__(self) -> None:
        self.graph.add_app(GRAPH_CLIENT_ID, self.graph_secret)
        self.salesforce.add_client(self.sf_client_id, secret=self.sf_secret)
        w = self.wrap or (lambda a: a)
        self._graph_srv = ServerThread(w(graph_app(self.graph)), port=self.port_graph)
        self._sf_srv = ServerThread(w(salesforce_app(self.salesforce)), port=self.port_salesforce)
        # Exchange Server on-premises: EWS over https, on the same mailbox model as Graph.
        self.ews = EwsState(self.graph)
        self.ews.add_account(EWS_SERVICE_USER, self.ews_password, EWS_SERVICE_ADDRESS)
        self._ews_srv = ServerThread(
            w(ews_app(self.ews)),
            port=self.port_ews,
            ssl_certfile=str(self.tls.cert),
            ssl_keyfile=str(self.tls.key),
        )

    @property
    def graph_url(self) -> str:
        return self._graph_srv.url

    @property
    def salesforce_url(self) -> str:
        return self._sf_srv.url

    @property
    def ews_url(self) -> str:
        return f"{self._ews_srv.url}/EWS/Exchange.asmx"

    def start(self) -> Sandbox:
        self._graph_srv.start()
        self._sf_srv.start()
        self._ews_srv.start()
        return self

    def stop(self) -> None:
        self._graph_srv.stop()
        self._sf_srv.stop()
        self._ews_srv._server.force_exit = True  # TLS keep-alives: nothing to flush
        self._ews_srv.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def config(
        self,
        *,
        data_dir: Path,
        org: OrgSettings | None = None,
        users: tuple[UserConfig, ...] = (),
        database_url: str | None = None,
        calendar: str = "graph",
    ) -> Config:
        """A crmcal configuration that reaches this sandbox (as a real one reaches a tenant)."""
        from pydantic import SecretStr

        return Config(
            storage=StorageConfig(data_dir=data_dir, database_url=database_url),
            graph=GraphConfig(
                tenant_id=self.graph.tenant_id,
                client_id=GRAPH_CLIENT_ID,
                client_secret=SecretStr(self.graph_secret),
                authority_url=self.graph_url,
                graph_url=f"{self.graph_url}/v1.0",
            ),
            exchange=self.exchange_config(calendar),
            salesforce=SalesforceConfig(
                login_url=self.salesforce_url,
                auth=SalesforceAuth.CLIENT_CREDENTIALS,
                client_id=self.sf_client_id,
                client_secret=SecretStr(self.sf_secret),
            ),
            web=WebConfig(  # dashboard sign-in through the emulator's OpenID Connect endpoints
                oidc_authority=f"{self.graph_url}/{self.graph.tenant_id}/v2.0",
                oidc_client_id=GRAPH_CLIENT_ID,
                oidc_client_secret=SecretStr(self.graph_secret),
            ),
            org=org or OrgSettings(),
            users=users,
        )

    def exchange_config(self, calendar: str = "graph") -> ExchangeConfig:
        """`[exchange]` reaching the EWS emulator; `calendar="ews"` makes it the org's backend
        (its mailboxes then come from `ews.add_mailbox`)."""
        from pydantic import SecretStr

        if calendar == "graph":
            return ExchangeConfig()
        return ExchangeConfig(
            backend=CalendarBackend(calendar),
            ews_url=self.ews_url,
            username=EWS_SERVICE_USER,
            password=SecretStr(self.ews_password),
            auth=EwsAuth.BASIC,
            ca_bundle=self.tls.ca,
        )

    def describe(self) -> dict[str, Any]:
        """What `crmcal sandbox` prints (also as JSON with `--json`)."""
        return {
            "graph": {
                "base_url": f"{self.graph_url}/v1.0",
                "authority": self.graph_url,
                "tenant_id": self.graph.tenant_id,
                "client_id": GRAPH_CLIENT_ID,
                "client_secret": self.graph_secret,
                "control": f"{self.graph_url}/_sandbox/",
            },
            "ews": {
                "url": self.ews_url,
                "username": EWS_SERVICE_USER,
                "password": self.ews_password,
                "ca_bundle": str(self.tls.ca),
                "control": f"{self._ews_srv.url}/_sandbox/ews/",
            },
            "salesforce": {
                "login_url": self.salesforce_url,
                "instance_url": self.salesforce_url,
                "client_id": self.sf_client_id,
                "client_secret": self.sf_secret,
                "control": f"{self.salesforce_url}/_sandbox/",
            },
        }


def write_config_toml(cfg: Config, path: Path) -> None:
    """Write `cfg` as a crmcal TOML file (secrets included: the sandbox's, not a real tenant's)."""

    def val(v: Any) -> str:
        return json.dumps(v)

    lines = [
        "# crmcal configuration for the local sandbox (written by `crmcal sandbox`).",
        "[storage]",
        f"data_dir = {val(cfg.storage.data_dir.as_posix())}",
        "",
        "[graph]",
        f"tenant_id = {val(cfg.graph.tenant_id)}",
        f"client_id = {val(cfg.graph.client_id)}",
        f"client_secret = {val(_secret(cfg.graph.client_secret))}",
        f"authority_url = {val(cfg.graph.authority_url)}",
        f"graph_url = {val(cfg.graph.graph_url)}",
        "",
        *_exchange_toml(cfg),
        "[salesforce]",
        f"login_url = {val(cfg.salesforce.login_url)}",
        f'auth = "{cfg.salesforce.auth.value}"',
        f"client_id = {val(cfg.salesforce.client_id)}",
        f"client_secret = {val(_secret(cfg.salesforce.client_secret))}",
        "",
        "[web]",
        f"oidc_authority = {val(cfg.web.oidc_authority)}",
        f"oidc_client_id = {val(cfg.web.oidc_client_id)}",
        f"oidc_client_secret = {val(_secret(cfg.web.oidc_client_secret))}",
        f"admins = {val(list(cfg.web.admins))}",
        "",
        "[org]",
        f"internal_domains = {val(list(cfg.org.internal_domains))}",
        "",
    ]
    for u in cfg.users:
        lines += [
            "[[users]]",
            f"mailbox = {val(u.mailbox)}",
            f"salesforce_user_id = {val(u.salesforce_user_id)}",
            f"display_name = {val(u.display_name)}",
            "[users.settings]",
            f"autoshare_meetings = {val(u.settings.autoshare_meetings)}",
            f"autoshare_appointments = {val(u.settings.autoshare_appointments)}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _exchange_toml(cfg: Config) -> list[str]:
    ex = cfg.exchange
    if not ex.uses_ews:
        return []
    return [
        "[exchange]",
        f'backend = "{ex.backend.value}"',
        f"ews_url = {json.dumps(ex.ews_url)}",
        f"username = {json.dumps(ex.username)}",
        f"password = {json.dumps(_secret(ex.password))}",
        f'auth = "{ex.auth.value}"',
        *([f"ca_bundle = {json.dumps(ex.ca_bundle.as_posix())}"] if ex.ca_bundle else []),
        "",
    ]


def _secret(s: Any) -> str:
    return str(s.get_secret_value()) if s is not None else ""
