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
    Config,
    GraphConfig,
    SalesforceAuth,
    SalesforceConfig,
    StorageConfig,
    WebConfig,
)
from crmcal.domain import OrgSettings, UserConfig
from crmcal.sandbox.graph.app import create_app as graph_app
from crmcal.sandbox.graph.state import GraphState
from crmcal.sandbox.salesforce.app import create_app as salesforce_app
from crmcal.sandbox.salesforce.state import SalesforceOrg
from crmcal.sandbox.server import ServerThread

GRAPH_CLIENT_ID = "00000000-crmc-a1sa-ndbo-x00000000001"


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

    def __post_init__(self) -> None:
        self.graph.add_app(GRAPH_CLIENT_ID, self.graph_secret)
        self.salesforce.add_client(self.sf_client_id, secret=self.sf_secret)
        w = self.wrap or (lambda a: a)
        self._graph_srv = ServerThread(w(graph_app(self.graph)), port=self.port_graph)
        self._sf_srv = ServerThread(w(salesforce_app(self.salesforce)), port=self.port_salesforce)

    @property
    def graph_url(self) -> str:
        return self._graph_srv.url

    @property
    def salesforce_url(self) -> str:
        return self._sf_srv.url

    def start(self) -> Sandbox:
        self._graph_srv.start()
        self._sf_srv.start()
        return self

    def stop(self) -> None:
        self._graph_srv.stop()
        self._sf_srv.stop()

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


def _secret(s: Any) -> str:
    return str(s.get_secret_value()) if s is not None else ""
