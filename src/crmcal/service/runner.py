"""Build the connectors from configuration and run a session for each user.

The same code serves production and the sandbox: the configuration decides the base URLs and
credentials, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from crmcal.config import Config
from crmcal.connectors.errors import AuthError, ConnectorError
from crmcal.connectors.ews import EwsClient
from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.routing import CalendarRouter
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.connectors.tls import verify_of
from crmcal.domain import CrmEvent, UserConfig
from crmcal.rules.participants import Directory
from crmcal.rules.window import window
from crmcal.service.leases import Leases, user_key
from crmcal.service.notify import notify_unhealthy
from crmcal.state import StateStore
from crmcal.state.models import LinkRow, SessionStatus, UserHealthRow
from crmcal.sync.feeds import read_feeds
from crmcal.sync.invitations import read_invitee_changes
from crmcal.sync.plan import HELD, MASS_DELETE_REASON
from crmcal.sync.ports import CalendarPort
from crmcal.sync.session import Held, SessionResult, run_user_session
from crmcal.timezones import zoneinfo_for

SALESFORCE_MODSTAMP = "salesforce_modstamp"
SALESFORCE_SEEN = "salesforce_seen"


CalendarClient = GraphClient | CalendarRouter
"""What `build_calendar` gives: Graph alone, or a router when some mailboxes are on EWS."""


def build_calendar(cfg: Config) -> CalendarClient:
    """Graph for Exchange Online; with `[exchange]` EWS mailboxes, a router that sends each
    mailbox to its backend (issue 20)."""
    if not cfg.exchange.uses_ews:
        return build_graph(cfg)
    ex = cfg.exchange
    graph = build_graph(cfg) if ex.backend.value == "graph" or ex.graph_mailboxes else None
    return CalendarRouter(
        graph=graph, ews=build_ews(cfg), default=ex.backend.value, overrides=ex.overrides()
    )


def build_ews(cfg: Config) -> EwsClient:
    ex, g = cfg.exchange, cfg.graph
    password = ex.secret()
    secret = g.secret() if ex.auth.value == "oauth" else None
    return EwsClient(
        username=ex.username,
        password=password.get_secret_value() if password else "",
        ews_url=ex.ews_url or None,
        autodiscover=ex.autodiscover,
        auth_type=ex.auth.value,
        impersonation=ex.impersonation,
        ca_bundle=str(ex.ca_bundle) if ex.ca_bundle else None,
        server_build=ex.build(),
        oauth_client_id=g.client_id,
        oauth_client_secret=secret.get_secret_value() if secret else "",
        oauth_tenant_id=g.tenant_id,
        batch_size=ex.batch_size,
        send_invitations=cfg.org.invitation_mode,
        max_connections=cfg.scheduler.mailbox_concurrency,
    )


def build_graph(cfg: Config) -> GraphClient:
    g = cfg.graph
    secret = g.secret()
    return GraphClient(
        max_concurrency_per_mailbox=cfg.scheduler.mailbox_concurrency,
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=secret.get_secret_value() if secret else "",
        authority_url=g.authority_url,
        graph_url=g.graph_url,
        verify=verify_of(g.ca_bundle),
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
        verify=verify_of(sf.ca_bundle),
    )


def shared_activities(crm: SalesforceClient) -> bool:
    """L5: with Shared Activities, Events relate to many Contacts (`EventWhoIds` exists)."""
    return crm.describe("Event").field("EventWhoIds") is not None


ProgressFn = Callable[[UserConfig, SessionResult], None]


@dataclass(frozen=True)
class OrgRead:
    """The cycle's one Salesforce read for the whole org, shared by every user session."""

    by_owner: dict[str, tuple[CrmEvent, ...]] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()
    new_cursor: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    """Event id -> SystemModstamp of the rows inside the connector's overlap before the new
    cursor: the next cycle re-reads them, and drops the ones the sessions already had."""


@dataclass
class CycleReport:
    """What one cycle did: the sessions that ran, the users another process held, the cursor."""

    results: list[SessionResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Users whose session lock another worker held (O1: one session per user at a time)."""
    cursor_advanced: bool = False
    notified: list[str] = field(default_factory=list)
    """I3: users whose unhealthy mail this cycle sent."""


def paused_mailboxes(store: StateStore) -> set[str]:
    """O1: users paused from the dashboard (`UserHealthRow.paused`)."""
    with store.session() as s:
        return set(s.scalars(select(UserHealthRow.mailbox).where(UserHealthRow.paused)))


def chosen_users(
    cfg: Config, store: StateStore, users: Sequence[str] | None = None
) -> list[UserConfig]:
    """Enabled users not paused (in the configuration or in the state store), or the ones named."""
    wanted = {u.strip().lower() for u in users} if users else None
    paused = paused_mailboxes(store)
    return [
        u
        for u in cfg.users
        if u.enabled
        and not u.settings.paused
        and u.mailbox not in paused
        and (wanted is None or u.mailbox in wanted)
    ]


def read_org(
    cfg: Config, store: StateStore, crm: SalesforceClient, chosen: Sequence[UserConfig]
) -> OrgRead:
    """One Salesforce read for the whole org per cycle (DESIGN principle 5)."""
    if not cfg.org.sync_salesforce_calendar or not chosen:
        return OrgRead()
    cur = store.get_cursor(SALESFORCE_MODSTAMP, "org")
    since = datetime.fromisoformat(cur.value) if cur is not None else None
    changes = crm.events_changed_since(since, [u.salesforce_user_id for u in chosen])
    seen_row = store.get_cursor(SALESFORCE_SEEN, "org") if since is not None else None
    already: dict[str, str] = json.loads(seen_row.value) if seen_row is not None else {}
    high = changes.cursor
    floor = high - crm.change_overlap if high is not None else None
    seen: dict[str, str] = {}
    by_owner: dict[str, list[CrmEvent]] = {}
    for ev in changes.events:
        stamp = ev.system_modstamp.isoformat() if ev.system_modstamp else ""
        if ev.id and stamp and floor is not None and ev.system_modstamp >= floor:  # type: ignore[operator]
            seen[ev.id] = stamp
        series = bool(
            ev.recurrence_activity_id
            or ev.classic_recurrence
            or ev.lightning_recurrence
            or ev.is_recurrence2_exception
        )  # the series engine reads its Events from every read: they always go through
        if ev.id and stamp and not series and already.get(ev.id) == stamp:
            continue  # the overlap's re-read of a version every session already had
        by_owner.setdefault(ev.owner_id, []).append(ev)
    return OrgRead(
        {k: tuple(v) for k, v in by_owner.items()},
        frozenset(changes.deleted_ids),
        changes.cursor,
        seen,
    )


def advance_org_cursor(store: StateStore, read: OrgRead) -> bool:
    if read.new_cursor is None:
        return False
    with store.session() as s:
        store.set_cursor_in(s, SALESFORCE_MODSTAMP, "org", read.new_cursor.isoformat())
        store.set_cursor_in(s, SALESFORCE_SEEN, "org", json.dumps(read.seen))
    return True


def run_cycle(
    cfg: Config,
    *,
    store: StateStore,
    calendar: CalendarPort,
    crm: SalesforceClient,
    now: datetime | None = None,
    users: Sequence[str] | None = None,
    trigger: str = "manual",
    progress: ProgressFn | None = None,
    allow_mass_delete: bool = False,
    concurrency: int = 1,
    leases: Leases | None = None,
) -> CycleReport:
    """One cycle: the org-level Salesforce read, then a session per user, `concurrency` at a time
    (each user's Graph calls stay within the connector's per-mailbox limit, O3). With `leases`,
    a user another worker is syncing is skipped (O1: one session per user at a time)."""
    from crmcal.service.overrides import effective_config

    cfg = effective_config(cfg, store)  # settings changed in the dashboard (issue 8)
    when = now or datetime.now(UTC)
    directory = Directory.of(cfg.org, list(cfg.users))
    chosen = chosen_users(cfg, store, users)
    try:
        sa = shared_activities(crm)
        read = read_org(cfg, store, crm, chosen)
        # G1, G4: the one-way feeds, read once per cycle too; records are handed out by owner or
        # calendar over all configured users, so a `--user` run never takes others' items away.
        feeds = (
            read_feeds(
                cfg.org, [u for u in cfg.users if u.enabled], crm, store, window(when, cfg.org)
            )
            if chosen
            else None
        )
        # P5 `invitation_mode`: Events whose invitees changed in Salesforce (one query per cycle).
        invitees = (
            read_invitee_changes(cfg.org, crm, store, server_mark=read.new_cursor, now=when)
            if chosen
            else None
        )
    except ConnectorError as exc:  # O2/O3: the org-level read failed; every session fails
        failed = CycleReport(results=_org_read_failed(store, cfg, chosen, trigger, exc))
        failed.notified = notify_unhealthy(cfg, store, calendar)  # I3
        return failed
    report = CycleReport()

    def one(user: UserConfig) -> SessionResult | None:
        claim = leases.claim(user_key(user.mailbox)) if leases is not None else None
        try:
            return run_user_session(
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
                crm_events=read.by_owner.get(user.salesforce_user_id, ()),
                crm_deleted=read.deleted,
                feeds=feeds.for_mailbox(user.mailbox) if feeds is not None else None,
                invitee_events=invitees.event_ids if invitees is not None else frozenset(),
                claim=claim,  # O1: the lease, taken and given back in the session's own work
            )
        except Held:
            return None

    def done(user: UserConfig, r: SessionResult | None) -> None:
        if r is None:
            report.skipped.append(user.mailbox)
            return
        report.results.append(r)
        if progress is not None:
            progress(user, r)

    if concurrency <= 1:
        for user in chosen:
            done(user, one(user))
    else:
        error: BaseException | None = None
        with ThreadPoolExecutor(concurrency, thread_name_prefix="crmcal-session") as pool:
            futures = {pool.submit(one, u): u for u in chosen}
            for fut in as_completed(futures):
                try:
                    done(futures[fut], fut.result())
                except Exception as exc:  # a bug: the session recorded it; surface it at the end
                    error = error or exc
        if error is not None:
            raise error
    if users is None and cfg.org.group_calendars:  # G2: Microsoft 365 group calendars
        from crmcal.service.groups import run_configured_groups

        run_configured_groups(
            cfg, store=store, crm=crm, directory=directory, now=when, zone=zoneinfo_for,
            trigger=trigger, allow_mass_delete=allow_mass_delete,
        )  # fmt: skip
    if allow_mass_delete:  # X7 confirmed: the item guard's issue closes where nothing is held
        settle_guard_issues(
            store, [r.mailbox for r in report.results if r.status != "failed"], when
        )
    # The org cursor moves only when every session took its share of the changes; known Events
    # are skipped on a re-read, so reading again is harmless.
    if (
        users is None
        and not report.skipped
        and all(r.status != "failed" or r.stopped for r in report.results)
    ):
        report.cursor_advanced = advance_org_cursor(store, read)
        if feeds is not None:
            feeds.commit(store)
        if invitees is not None:
            invitees.commit(store)
    report.notified = notify_unhealthy(cfg, store, calendar)  # I3: one mail per incident
    return report


def settle_guard_issues(store: StateStore, mailboxes: Sequence[str], now: datetime) -> None:
    """X7: after a confirmed session, close the item guard's issue of each mailbox whose links
    hold no deletion any more (the series guard closes its own, decision 0036)."""
    if not mailboxes:
        return
    with store.session() as s:
        for mailbox in mailboxes:
            held = s.scalars(
                select(LinkRow.item_id).where(LinkRow.mailbox == mailbox, LinkRow.status == HELD)
            ).first()
            if held is None:
                store.resolve_reason_in(s, mailbox, MASS_DELETE_REASON, now)


def _org_read_failed(
    store: StateStore, cfg: Config, chosen: Sequence[UserConfig], trigger: str, exc: Exception
) -> list[SessionResult]:
    """A systemic failure before any session (limits, outage, refused credentials): each chosen
    user's session is recorded as failed with the reason and counts for I3, as it would have
    inside the session; nothing was written, and the org cursor stays where it was."""
    out: list[SessionResult] = []
    for u in chosen:
        sid = store.start_session(u.mailbox, trigger)
        store.record_outcome(
            u.mailbox,
            ok=False,
            unhealthy_after=cfg.org.unhealthy_after_failures,
            reason=str(exc),
            credentials_expired=isinstance(exc, AuthError),
        )
        r = SessionResult(u.mailbox, sid, SessionStatus.FAILED, error=str(exc))
        store.finish_session(sid, status=r.status, stats=r.stats(), error=r.error)
        out.append(r)
    return out


def run_sync(
    cfg: Config,
    *,
    store: StateStore,
    calendar: CalendarPort,
    crm: SalesforceClient,
    now: datetime | None = None,
    users: Sequence[str] | None = None,
    trigger: str = "manual",
    progress: ProgressFn | None = None,
    allow_mass_delete: bool = False,
    concurrency: int = 1,
    leases: Leases | None = None,
) -> list[SessionResult]:
    """One session for each enabled, unpaused user (or the ones named); one after the other unless
    `concurrency` says otherwise (`crmcal run` and the workers use `[scheduler]`'s)."""
    return run_cycle(
        cfg,
        store=store,
        calendar=calendar,
        crm=crm,
        now=now,
        users=users,
        trigger=trigger,
        progress=progress,
        allow_mass_delete=allow_mass_delete,
        concurrency=concurrency,
        leases=leases,
    ).results
