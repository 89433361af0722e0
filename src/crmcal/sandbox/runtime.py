"""Both emulators running on 127.0.0.1, with credentials, and a crmcal configuration that points
at them. Used by `crmcal sandbox`, `crmcal demo`, the integration tests and the benchmarks.

Nothing here is a shortcut for crmcal: the configuration it produces is an ordinary one (base
URLs, credentials and the CA bundle to trust), and crmcal reaches the emulators over https exactly
as it reaches Microsoft 365 and Salesforce: both are served with a certificate signed by the
sandbox's own CA (`crmcal.sandbox.tls`), which the configuration trusts (`graph.ca_bundle`,
`salesforce.ca_bundle`), so msal and the production token path are the ones tested.
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
from crmcal.sandbox.tls import CA_FILE, SandboxTls, process_tls

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
    """The CA and server certificate both emulators are served with (one per process)."""
    ews_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port_ews: int = 0

    def __post_init__(self) -> None:
        self.graph.add_app(GRAPH_CLIENT_ID, self.graph_secret)
        self.salesforce.add_client(self.sf_client_id, secret=self.sf_secret)
        w = self.wrap or (lambda a: a)
        gapp = graph_app(self.graph)
        gapp.state.trust_webhook_ca(str(self.tls.ca))  # webhooks served with the sandbox CA
        self.graph_app = gapp  # its `state.oidc` issues add-in tokens in tests (web/addin_auth.py)
        self._graph_srv = ServerThread(w(gapp), port=self.port_graph, tls=self.tls)
        self._sf_srv = ServerThread(
            w(salesforce_app(self.salesforce)), port=self.port_salesforce, tls=self.tls
        )
        # Exchange Server on-premises: EWS over https, on the same mailbox model as Graph.
        self.ews = EwsState(self.graph)
        self.ews.add_account(EWS_SERVICE_USER, self.ews_password, EWS_SERVICE_ADDRESS)
        self._ews_srv = ServerThread(w(ews_app(self.ews)), port=self.port_ews, tls=self.tls)

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
        ca_bundle: Path | None = None,
        calendar: str = "graph",
    ) -> Config:
        """A crmcal configuration that reaches this sandbox (as a real one reaches a tenant).

        It trusts `ca_bundle` (default: the process's CA file) for both sides."""
        from pydantic import SecretStr

        ca = ca_bundle or self.tls.ca
        return Config(
            storage=StorageConfig(data_dir=data_dir, database_url=database_url),
            graph=GraphConfig(
                tenant_id=self.graph.tenant_id,
                client_id=GRAPH_CLIENT_ID,
                client_secret=SecretStr(self.graph_secret),
                authority_url=self.graph_url,
                graph_url=f"{self.graph_url}/v1.0",
                ca_bundle=ca,
            ),
            exchange=self.exchange_config(calendar),
            salesforce=SalesforceConfig(
                login_url=self.salesforce_url,
                auth=SalesforceAuth.CLIENT_CREDENTIALS,
                client_id=self.sf_client_id,
                client_secret=SecretStr(self.sf_secret),
                ca_bundle=ca,
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
                "control_openapi": f"{self.graph_url}/_sandbox/openapi.json",
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
                "control_openapi": f"{self.salesforce_url}/_sandbox/openapi.json",
            },
            "ca_bundle": str(self.tls.ca),
        }

    def write_config(
        self,
        path: Path,
        *,
        org: OrgSettings | None = None,
        users: tuple[UserConfig, ...] = (),
        calendar: str = "graph",
    ) -> Config:
        """Write the sandbox's CA next to `path` (`sandbox-ca.pem`) and a config that trusts it;
        what `crmcal sandbox` does. `calendar="ews"` makes EWS the org's backend (`[exchange]`
        with the EWS emulator's URL, service account and CA). Returns the config written."""
        ca = self.tls.copy_ca(path.parent / CA_FILE)
        cfg = self.config(data_dir=path.parent / "sandbox-data", org=org, users=users,
                          ca_bundle=ca, calendar=calendar)  # fmt: skip
        if calendar == "ews":
            cfg = cfg.model_copy(
                update={"exchange": cfg.exchange.model_copy(update={"ca_bundle": ca})}
            )
        write_config_toml(cfg, path)
        return cfg


def adding_users_help(sb: Sandbox, config_path: Path) -> str:
    """What `crmcal sandbox --no-seed` prints: how to add a user on both sides and to the config.

    Every step is an ordinary request to the control APIs (docs/sandbox.md) plus a `[[users]]`
    table; tests/integration/test_https_sandbox.py runs exactly these steps."""
    ca = (config_path.parent / CA_FILE).as_posix()
    g, sf = sb.graph_url, sb.salesforce_url
    return "\n".join(
        [
            "No users yet. Add a mailbox (Graph) and a Salesforce user, then list them in the",
            "config (both emulators are https, signed by the sandbox CA written next to it):",
            f"  curl --cacert {ca} -X POST {g}/_sandbox/users -H 'Content-Type: application/json' "
            """-d '{"address": "ana@contoso.example", "displayName": "Ana Ruiz"}'""",
            f"  curl --cacert {ca} -X POST {sf}/_sandbox/seed -H 'Content-Type: application/json' "
            """-d '{"users": [{"email": "ana@contoso.example", "first_name": "Ana", """
            """"last_name": "Ruiz"}]}'""",
            'The second answer is the user\'s Id ({"users": ["005..."]}). Append to '
            f"{config_path.as_posix()}:",
            "  [[users]]",
            '  mailbox = "ana@contoso.example"',
            '  salesforce_user_id = "005..."',
            f"Then: crmcal sync --config {config_path.as_posix()}   (docs/sandbox.md has the rest)",
        ]
    )


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
        *_opt("ca_bundle", cfg.graph.ca_bundle),
        "",
        *_exchange_toml(cfg),
        "[salesforce]",
        f"login_url = {val(cfg.salesforce.login_url)}",
        f'auth = "{cfg.salesforce.auth.value}"',
        f"client_id = {val(cfg.salesforce.client_id)}",
        f"client_secret = {val(_secret(cfg.salesforce.client_secret))}",
        *_opt("ca_bundle", cfg.salesforce.ca_bundle),
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


def _opt(key: str, path: Path | None) -> list[str]:
    return [f"{key} = {json.dumps(path.as_posix())}"] if path else []


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
