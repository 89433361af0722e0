"""Microsoft 365 group calendars shared into Salesforce (G2).

Each group listed in `org.group_calendars` is read like a user calendar (the window of W1, through
`/groups/{id}/calendarView`) and its events become Salesforce Events owned by the configured
user, linked to the records of their participants (L). Only events of 24 hours or less go up;
longer ones are refused with the reason in the session log. One way: Salesforce edits are not
written back to the group (a group calendar is a shared space; decision 0053).

Graph answers group calendars to delegated tokens only (api-facts A12): crmcal uses the refresh
token of a consenting user (`graph.delegated_refresh_token`). Without it, or when Graph refuses
(403), the group's session fails with a message that says so, and `crmcal doctor` says it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, select

from crmcal.connectors.errors import AuthError, ConnectorError
from crmcal.domain import CrmEvent, Item, ItemError, OrgSettings, RecordRef
from crmcal.domain.crm import CrmOpportunity
from crmcal.domain.ids import id_problem
from crmcal.domain.settings import GroupCalendarSync
from crmcal.rules.linking import SearchResults, link, search_domains
from crmcal.rules.mapping import changed, event_from_item, synced_values
from crmcal.rules.participants import Directory, participants
from crmcal.rules.window import Window, window
from crmcal.state import StateStore
from crmcal.state.models import SessionStatus
from crmcal.state.models_records import GroupEventLinkRow
from crmcal.sync.guard import Deletions, over_guard
from crmcal.sync.plan import natural_key
from crmcal.sync.ports import CrmPort

if TYPE_CHECKING:
    from crmcal.config import Config

log = logging.getLogger("crmcal.sync")

MAX_GROUP_EVENT = timedelta(hours=24)
"""G2: only events of 24 hours or less are shared."""

DELEGATED_NEEDED = (
    "Microsoft 365 group calendars need a delegated permission: Graph refuses application "
    "permissions on /groups/{id}/calendar (403). Grant delegated Group.Read.All to the app, sign "
    "in once as a member of the group and set graph.delegated_refresh_token (G2)."
)


class GroupCalendar(Protocol):
    """What G2 needs of Graph (delegated)."""

    def group_calendar_view(
        self, group: str, start: datetime, end: datetime
    ) -> tuple[list[Item], list[ItemError]]: ...

    def group_event_exists(self, group: str, item_id: str) -> bool: ...


# -- pure decisions ----------------------------------------------------------------------------


def refusal(item: Item) -> str | None:
    """G2: why a group event is not shared (None when it is)."""
    if item.is_cancelled:
        return "cancelled"
    if item.is_private:
        return "private (A3)"
    if item.end - item.start > MAX_GROUP_EVENT:
        return "longer than 24 hours (G2)"
    if item.end < item.start:
        return "ends before it starts"
    return None


@dataclass(frozen=True, slots=True)
class Known:
    """A group event crmcal already made an Event for."""

    item_id: str
    event_id: str
    synced: Mapping[str, object]
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class GroupPlan:
    creates: list[tuple[Item, CrmEvent]] = field(default_factory=list)
    updates: list[tuple[Item, str, dict[str, object]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    """Item ids whose Event goes (the group event was cancelled or became unshareable)."""
    missing: list[str] = field(default_factory=list)
    """Item ids linked before and not in the window read now (deleted, or moved out)."""
    refused: list[tuple[Item, str]] = field(default_factory=list)


def plan_group(
    items: Sequence[Item],
    known: Mapping[str, Known],
    *,
    org: OrgSettings,
    owner_id: str,
    w: Window,
    links: Mapping[str, tuple[str | None, str | None]],
    zone: Callable[[str], tzinfo | None] = lambda _n: None,
) -> GroupPlan:
    """G2 for one group calendar: create, update or delete Events. `links`: (WhoId, WhatId) per
    item id from Initial Search (L)."""
    out = GroupPlan()
    seen: set[str] = set()
    for item in items:
        seen.add(item.id)
        if not w.touches(item.start, item.end):
            continue
        k = known.get(item.id)
        why = refusal(item)
        if why is not None:
            if k is not None:
                out.deletes.append(item.id)
            elif not item.is_cancelled:
                out.refused.append((item, why))
            continue
        who, what = links.get(item.id, (None, None))
        ev = event_from_item(
            item,
            owner_id=owner_id,
            org=org,
            tz=zone(item.start_time_zone),
            who_id=who,
            what_id=what,
            guid=item.ical_uid,
            first_share=k is None,
            defaults=org.event_defaults if k is None else None,
        )
        if k is None:
            out.creates.append((item, ev))
            continue
        now_values = synced_values(ev)
        diff = changed(k.synced, now_values)
        if diff:
            out.updates.append((item, k.event_id, dict(diff)))
    out.missing = sorted(i for i in known if i not in seen)
    return out


# -- effects -----------------------------------------------------------------------------------


@dataclass
class GroupResult:
    group: str
    status: SessionStatus = SessionStatus.SUCCEEDED
    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    adopted: int = 0
    refused: int = 0
    held: int = 0
    """X7: Event deletions the guard held (decision 0120)."""
    error: str | None = None
    log: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, object]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "held": self.held,
            "adopted": self.adopted,
            "refused": self.refused,
        }


def run_group_session(
    group: GroupCalendarSync,
    *,
    calendar: GroupCalendar | None,
    crm: CrmPort,
    store: StateStore,
    directory: Directory,
    now: datetime,
    zone: Callable[[str], tzinfo | None] = lambda _n: None,
    trigger: str = "schedule",
    allow_mass_delete: bool = False,
) -> GroupResult:
    """One G2 session for one group calendar, recorded as a session of the group's address.
    Never raises for API problems: a refused or missing delegated permission fails the session
    with `DELEGATED_NEEDED`."""
    key = group.group.strip().lower()
    org = directory.org
    res = GroupResult(key)
    sid = store.start_session(key, trigger)
    try:
        if calendar is None:
            raise _NoDelegation(DELEGATED_NEEDED)
        _run(group, key, calendar, crm, store, directory, org, now, zone, res, allow_mass_delete)
        res.status = SessionStatus.SUCCEEDED
    except _NoDelegation as exc:
        res.status, res.error = SessionStatus.FAILED, str(exc)
    except AuthError as exc:
        res.status = SessionStatus.FAILED
        res.error = f"{DELEGATED_NEEDED} Graph said: {exc}"
    except ConnectorError as exc:
        res.status, res.error = SessionStatus.FAILED, str(exc)
    except Exception as exc:  # a bug in one group must not stop the users' cycle: recorded
        log.exception("group calendar %s", key)
        res.status, res.error = SessionStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
    finally:
        if res.error:
            log.warning("group calendar %s: %s", key, res.error)
        for line in res.log:
            log.info("group %s: %s", key, line)
        store.finish_session(sid, status=res.status, stats=res.stats(), error=res.error)
    return res


MASS_DELETE_GROUP_REASON = "mass_delete_guard_group"
"""X7 for a group calendar (its own reason: the issue is the group's address's)."""


class _NoDelegation(Exception):
    pass


def _run(
    group: GroupCalendarSync,
    key: str,
    calendar: GroupCalendar,
    crm: CrmPort,
    store: StateStore,
    directory: Directory,
    org: OrgSettings,
    now: datetime,
    zone: Callable[[str], tzinfo | None],
    res: GroupResult,
    allow_mass_delete: bool = False,
) -> None:
    problem = id_problem(group.owner)
    if problem is not None:
        # A real org fails a whole query on one malformed id literal: this group is refused
        # alone, with the reason, before anything is read (issue 17).
        raise ConnectorError(f"org.group_calendars owner: {problem}")
    w = window(now, org)
    items, errors = calendar.group_calendar_view(group.group, w.start, w.end)
    res.read = len(items)
    for e in errors:
        res.log.append(f"{e.item_id}: unreadable: {e.reason}")
    with store.session() as s:
        rows = list(s.scalars(select(GroupEventLinkRow).where(GroupEventLinkRow.group == key)))
        known = {
            r.item_id: Known(r.item_id, r.event_id, dict(r.synced or {}), r.item_start, r.item_end)
            for r in rows
        }
    links = _initial_search(crm, directory, items, group.owner, now)
    gp = plan_group(items, known, org=org, owner_id=group.owner, w=w, links=links, zone=zone)
    for item, why in gp.refused:
        res.refused += 1
        res.log.append(f"{item.id}: {item.subject!r} not shared: {why}")

    # Creates, adopting an Event of the owner with the same subject and start (D2), so that a
    # crash between the create and the bookkeeping never duplicates one.
    linked_ids = {k.event_id for k in known.values()}
    adopt: dict[tuple[str, str, str], str] = {}
    if gp.creates:
        starts = sorted({ev.start for _, ev in gp.creates if ev.start is not None})
        for ev in crm.events_by_natural_keys([group.owner], starts):
            if ev.id and ev.id not in linked_ids:
                adopt.setdefault(natural_key(group.owner, ev), ev.id)
    to_create: list[tuple[Item, CrmEvent]] = []
    done: list[tuple[Item, str, dict[str, object]]] = []
    for item, ev in gp.creates:
        found = adopt.pop(natural_key(group.owner, ev), None)
        if found is not None:
            res.adopted += 1
            done.append((item, found, dict(synced_values(ev))))
            res.log.append(f"{item.id}: linked existing Event {found} (D2)")
        else:
            to_create.append((item, ev))
    if to_create:
        for cr in crm.create_events([ev for _, ev in to_create]):
            item, ev = to_create[cr.key]
            if cr.ok and cr.id:
                res.created += 1
                done.append((item, cr.id, dict(synced_values(ev))))
                res.log.append(f"{item.id}: created Event {cr.id} (G2)")
            else:
                res.log.append(f"{item.id}: Event not created: {cr.error}")
    if gp.updates:
        records = [{"Id": eid, **_scalars(f)} for _, eid, f in gp.updates]
        results = {r.key: r for r in crm.update_records("Event", records)}
        for item, eid, f in gp.updates:
            r = results.get(eid)
            if r is not None and r.ok:
                res.updated += 1
                done.append((item, eid, {**dict(known[item.id].synced), **f}))
            else:
                res.log.append(f"{item.id}: Event {eid} not updated: {r.error if r else ''}")
    gone: list[str] = list(gp.deletes)
    left: list[str] = []
    for item_id in gp.missing:
        if calendar.group_event_exists(group.group, item_id):
            left.append(item_id)  # moved out of the window: the Event stays (W3)
        else:
            gone.append(item_id)  # deleted in the group calendar: its Event goes (X5)
    held = _guard(gone, known, org, key, store, now, res, confirmed=allow_mass_delete)
    if held:
        gone = []
    deleted_ok: set[str] = set()
    if gone:
        ids = [known[i].event_id for i in gone]
        for r in crm.delete_events(ids):
            if r.ok or (r.error is not None and r.error.code == "ENTITY_IS_DELETED"):
                deleted_ok.add(r.key)
        res.deleted = len(deleted_ok)
    with store.session() as s:
        for item, eid, synced in done:
            row = s.get(GroupEventLinkRow, (key, item.id))
            if row is None:
                row = GroupEventLinkRow(group=key, item_id=item.id, event_id=eid)
                s.add(row)
            row.guid = item.ical_uid
            row.event_id = eid
            row.owner_id = group.owner
            row.synced = dict(synced)
            row.item_start, row.item_end = item.start, item.end
            row.updated_at = now
        drop = [i for i in gone if known[i].event_id in deleted_ok] + left
        if not held:  # X7 settled (confirmed, or nothing over the guard any more)
            store.resolve_reason_in(s, key, MASS_DELETE_GROUP_REASON, now)
        if drop:
            s.execute(
                delete(GroupEventLinkRow).where(
                    GroupEventLinkRow.group == key, GroupEventLinkRow.item_id.in_(drop)
                )
            )


def _guard(
    gone: Sequence[str],
    known: Mapping[str, Known],
    org: OrgSettings,
    key: str,
    store: StateStore,
    now: datetime,
    res: GroupResult,
    *,
    confirmed: bool,
) -> bool:
    """X7 for a group calendar (issue 18: G2 was outside the guard): the session's Event
    deletions are weighed with the same count as a user's (`sync.guard`: more than
    `mass_delete_guard` Events, or more than half of the group's linked Events). Over it, none
    is deleted, the links stay, and an issue of the group's address says what would go; the
    next session weighs them again, until `crmcal sync --allow-mass-delete` confirms."""
    n = len(gone)
    if not over_guard(org, Deletions(n, n), len(known), confirmed=confirmed):
        return False
    res.held = n
    res.log.append(f"X7: {n} Event deletions held (of {len(known)} linked)")
    ids = ", ".join(sorted(known[i].event_id for i in gone)[:20])
    store.raise_issue(
        mailbox=key,
        reason=MASS_DELETE_GROUP_REASON,
        message=(
            f"This group calendar's session would delete {n} Salesforce Events (of "
            f"{len(known)} linked; the guard allows {org.mass_delete_guard}): {ids}. Nothing was "
            "deleted. If that is intended, run `crmcal sync --allow-mass-delete`."
        ),
        actions=["dismiss"],
        now=now,
    )
    return True


def _scalars(fields: Mapping[str, object]) -> dict[str, str | int | float | bool | None]:
    out: dict[str, str | int | float | bool | None] = {}
    for k, v in fields.items():
        out[k] = v if v is None or isinstance(v, str | int | float | bool) else str(v)
    return out


def _initial_search(
    crm: CrmPort, directory: Directory, items: Sequence[Item], owner_id: str, now: datetime
) -> dict[str, tuple[str | None, str | None]]:
    """L1-L6 for the group's events: one people query, one Account query, one Opportunity query."""
    per_item: dict[str, tuple[str, ...]] = {}
    for item in items:
        if refusal(item) is None and not item.is_private:
            per_item[item.id] = tuple(e.key for e in participants(item, directory).searchable)
    addresses = sorted({a for v in per_item.values() for a in v})
    if not addresses:
        return {}
    people: dict[str, tuple[RecordRef, ...]] = {}
    for ref in crm.find_people(addresses):
        k = ref.email.strip().lower()
        people[k] = (*people.get(k, ()), ref)
    accounts: dict[str, RecordRef] = {}
    domains = search_domains(addresses, people, directory.org)
    if domains:
        for dom, refs in crm.accounts_by_domain(domains).items():
            if refs:
                accounts[dom] = refs[0]
    account_ids = {r.account_id for rs in people.values() for r in rs if r.account_id}
    account_ids |= {a.id for a in accounts.values()}
    opps: dict[str, tuple[CrmOpportunity, ...]] = {}
    if account_ids:
        for o in crm.open_opportunities(sorted(account_ids)):
            if o.account_id:
                opps[o.account_id] = (*opps.get(o.account_id, ()), o)
    found = SearchResults(people, accounts, opps, {})
    out: dict[str, tuple[str | None, str | None]] = {}
    for item_id, addrs in per_item.items():
        lk = link(addrs, found, owner_id=owner_id, today=now.date())
        out[item_id] = (lk.who_id, lk.what_id)
    return out


def run_group_calendars(
    groups: Sequence[GroupCalendarSync],
    *,
    calendar: GroupCalendar | None,
    crm: CrmPort,
    store: StateStore,
    directory: Directory,
    now: datetime,
    zone: Callable[[str], tzinfo | None] = lambda _n: None,
    trigger: str = "schedule",
    allow_mass_delete: bool = False,
) -> list[GroupResult]:
    """G2: one session per configured group calendar (X7: `allow_mass_delete` confirms)."""
    return [
        run_group_session(
            g,
            calendar=calendar,
            crm=crm,
            store=store,
            directory=directory,
            now=now,
            zone=zone,
            trigger=trigger,
            allow_mass_delete=allow_mass_delete,
        )
        for g in groups
    ]


def doctor_check(cfg: Config) -> tuple[str, str, str] | None:
    """`crmcal doctor`, G2: (area, `ok`/`fail`, detail), or None when no group is configured.
    Offline: it says whether the delegated permission group calendars need is configured."""
    groups = cfg.org.group_calendars
    if not groups:
        return None
    names = ", ".join(g.group for g in groups[:5])
    if cfg.graph.delegated_token() is None:
        return ("group calendars (G2)", "fail", f"{names}: {DELEGATED_NEEDED}")
    return (
        "group calendars (G2)",
        "ok",
        f"{names}: read with the delegated token (graph.delegated_refresh_token); Graph "
        "refuses app-only access to group calendars, so keep that token's user a group member",
    )


__all__ = [
    "DELEGATED_NEEDED",
    "MAX_GROUP_EVENT",
    "GroupCalendar",
    "GroupPlan",
    "GroupResult",
    "doctor_check",
    "plan_group",
    "refusal",
    "run_group_calendars",
    "run_group_session",
]
