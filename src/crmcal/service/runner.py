"""Build the connectors from configuration and run a session for each user.

The same code serves production and the sandbox: the configuration decides the base URLs and
credentials, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from crmcal.config import Config
from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain import CrmEvent, UserConfig
from crmcal.rules.participants import Directory
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult, run_user_session
from crmcal.timezones import zoneinfo_for

SALESFORCE_MODSTAMP = "salesforce_modstamp"


def build_calendar(cfg: Config) -> GraphClient:
    g = cfg.graph
    secret = g.secret()
    return GraphClient(
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=secret.get_secret_value() if secret else "",
        authority_url=g.authority_url,
        graph_url=g.graph_url,
    )


def build_crm(cfg: Config) -> SalesforceClient:
    sf = cfg.salesforce
    key = sf.key()
    secret = sf.secret()
    return SalesforceClient(
        login_url=sf.login_url,
        client_id=sf.client_id,
        auth=sf.auth.value,
        username=sf.username or None,
        private_key=key.get_secret_value() if key else None,
        client_secret=secret.get_secret_value() if secret else None,
        api_version=sf.api_version,
        guid_field=cfg.org.guid_field,
    )


def shared_activities(crm: SalesforceClient) -> bool:
    """L5: with Shared Activities, Events relate to many Contacts (`EventWhoIds` exists)."""
    return crm.describe("Event").field("EventWhoIds") is not None


ProgressFn = Callable[[UserConfig, SessionResult], None]


def run_sync(
    cfg: Config,
    *,
    store: StateStore,
    calendar: GraphClient,
    crm: SalesforceClient,
    now: datetime | None = None,
    users: Sequence[str] | None = None,
    trigger: str = "manual",
    progress: ProgressFn | None = None,
    allow_mass_delete: bool = False,
) -> list[SessionResult]:
    """One session for each enabled, unpaused user (or the ones named), one after the other."""
    when = now or datetime.now(UTC)
    directory = Directory.of(cfg.org, list(cfg.users))
    wanted = {u.strip().lower() for u in users} if users else None
    sa = shared_activities(crm)
    chosen = [
        u
        for u in cfg.users
        if u.enabled and not u.settings.paused and (wanted is None or u.mailbox in wanted)
    ]
    # One Salesforce read for the whole org per cycle (DESIGN principle 5), shared by the users.
    by_owner: dict[str, list[CrmEvent]] = {}
    deleted: frozenset[str] = frozenset()
    new_cursor: datetime | None = None
    if cfg.org.sync_salesforce_calendar and chosen:
        cur = store.get_cursor(SALESFORCE_MODSTAMP, "org")
        since = datetime.fromisoformat(cur.value) if cur is not None else None
        changes = crm.events_changed_since(since, [u.salesforce_user_id for u in chosen])
        for ev in changes.events:
            by_owner.setdefault(ev.owner_id, []).append(ev)
        deleted = frozenset(changes.deleted_ids)
        new_cursor = changes.cursor
    results: list[SessionResult] = []
    for user in chosen:
        r = run_user_session(
            user,
            directory=directory,
            calendar=calendar,
            crm=crm,
            store=store,
            now=when,
            zone=zoneinfo_for,
            trigger=trigger,
            shared_activities=sa,
            allow_mass_delete=allow_mass_delete,
            crm_events=tuple(by_owner.get(user.salesforce_user_id, ())),
            crm_deleted=deleted,
        )
        results.append(r)
        if progress is not None:
            progress(user, r)
    # The org cursor moves only when every session took its share of the changes; known Events
    # are skipped on a re-read, so reading again is harmless.
    if new_cursor is not None and all(r.status != "failed" for r in results) and wanted is None:
        store.set_cursor(SALESFORCE_MODSTAMP, "org", new_cursor.isoformat())
    return results
