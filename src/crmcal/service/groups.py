"""The runner's G2 step: group calendars read with a delegated Graph client.

Building that client (the refresh-token provider and a `GraphClient`) is connector wiring, so it
lives here with the other clients built from configuration (`runner.build_calendar`), not in
`sync/`: the engine sees the calendar through `sync.groups.GroupCalendar` only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from crmcal.config import Config
from crmcal.connectors.graph.auth import DelegatedRefreshToken
from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.tls import verify_of
from crmcal.rules.participants import Directory
from crmcal.state import StateStore
from crmcal.sync.groups import GroupResult, run_group_calendars
from crmcal.sync.ports import CrmPort


def delegated_calendar(cfg: Config) -> GraphClient | None:
    """G2: a Graph client acting with the configured delegated refresh token (None without)."""
    g = cfg.graph
    token, secret = g.delegated_token(), g.secret()
    if token is None or not g.configured:
        return None
    verify = verify_of(g.ca_bundle)
    provider = DelegatedRefreshToken(
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=secret.get_secret_value() if secret else "",
        refresh_token=token.get_secret_value(),
        authority_url=g.authority_url,
        verify=verify,
    )
    return GraphClient(
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret="",
        authority_url=g.authority_url,
        graph_url=g.graph_url,
        verify=verify,
        token_provider=provider,
    )


def run_configured_groups(
    cfg: Config,
    *,
    store: StateStore,
    crm: CrmPort,
    directory: Directory,
    now: datetime,
    zone: Callable[[str], tzinfo | None] = lambda _n: None,
    trigger: str = "schedule",
    allow_mass_delete: bool = False,
) -> list[GroupResult]:
    """The runner's G2 step: every configured group calendar, with a delegated client."""
    if not cfg.org.group_calendars:
        return []
    client = delegated_calendar(cfg)
    try:
        return run_group_calendars(
            cfg.org.group_calendars,
            calendar=client,
            crm=crm,
            store=store,
            directory=directory,
            now=now,
            zone=zone,
            trigger=trigger,
            allow_mass_delete=allow_mass_delete,
        )
    finally:
        if client is not None:
            client.close()
