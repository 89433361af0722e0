"""Auto-creation of records (K1-K5, M4): the effects.

`create_records_for_addresses` makes the Contacts, Leads, Accounts and Opportunities the pure
rules (`crmcal.rules.autocreate`) decide on, through the CRM port, and lists them in the state
store (K4). It serves both the session (`auto_create`, run between the lookups and the plan) and
the dashboard's "create record" action.

Order of writes: Accounts, then Opportunities, then Contacts and Leads (each one collection call
per kind). A crash between them leaves nothing a later run would duplicate: the next run finds the
Account by its Website (L3) and the people by e-mail (L2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import delete

from crmcal.domain import AutoCreate, Item, OrgSettings, RecordRef, RecordType, UserSettings
from crmcal.domain.crm import CrmOpportunity
from crmcal.rules import autocreate as rules
from crmcal.rules.linking import SearchResults
from crmcal.rules.participants import Skip, participants
from crmcal.state import StateStore
from crmcal.state.models import ShareMode
from crmcal.state.models_records import CreatedRecordRow, UnresolvedParticipantRow
from crmcal.sync.actions import (
    CreateEvent,
    LinkItem,
    Note,
    Plan,
    RaiseIssue,
    ResolveIssues,
    Seen,
)
from crmcal.sync.plan import NO_RECORD_REASON, UNRESOLVED_REASON, Inputs, in_play, plan
from crmcal.sync.ports import CrmPort, Scalar

log = logging.getLogger("crmcal.sync")

_UNLINKED_NOTE = f"not auto-shared: {Skip.UNLINKED.value}"
NEEDS_RECORD = frozenset({UNRESOLVED_REASON, NO_RECORD_REASON})
"""The issues whose item waits for a record: M4 (marked) and the A6 notice (not marked)."""


@dataclass(frozen=True, slots=True)
class CreatedRecord:
    """A person record crmcal made for an address (K4)."""

    object_type: str
    """`Contact` or `Lead`."""
    record_id: str
    email: str
    name: str
    account_id: str | None = None
    opportunity_id: str | None = None
    """K5: the Opportunity made on the new Account."""
    account_created: bool = False
    """K2: the Account was made for this address's domain in the same run."""


@dataclass
class Creation:
    """What one run made, and what it could not make (address, reason)."""

    records: list[CreatedRecord] = field(default_factory=list)
    accounts: dict[str, RecordRef] = field(default_factory=dict)
    """New Accounts by domain."""
    opportunities: dict[str, CrmOpportunity] = field(default_factory=dict)
    """New Opportunities by Account Id."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        out = [
            f"auto-created {r.object_type} {r.record_id} for {r.email} ({r.name})"
            + (f" under new Account {r.account_id}" if r.account_created else "")
            + (f" with Opportunity {r.opportunity_id}" if r.opportunity_id else "")
            + " (K4)"
            for r in self.records
        ]
        out += [f"no record auto-created for {a}: {why} (K1)" for a, why in self.skipped]
        out += [f"auto-creation failed for {a}: {why}" for a, why in self.failed]
        return out


def create_records_for_addresses(
    crm: CrmPort,
    org: OrgSettings,
    addresses: Sequence[tuple[str, str]],
    *,
    subject: str = "",
    owner_id: str | None = None,
    today: date | None = None,
    user: UserSettings | None = None,
    store: StateStore | None = None,
    mailbox: str | None = None,
    item_id: str | None = None,
    explicit: bool = True,
) -> list[CreatedRecord]:
    """The dashboard's "create record" action (and the engine's K1-K5): make a record for each
    (e-mail, display name) that has none, honouring the org's mode; with `autocreate = off` an
    explicit call uses `contact` semantics (decision 0050). Internal, blocklisted and free-mail
    addresses, and addresses that already have a Contact or Lead, get nothing. Returns the records
    made, in the order of `addresses`; with `store`, lists them there (K4)."""
    made = create_records(
        crm,
        org,
        addresses,
        subject=subject,
        owner_id=owner_id,
        today=today,
        user=user,
        explicit=explicit,
    )
    for line in made.log_lines():
        log.info("%s", line)
    if store is not None:
        remember_created(
            store,
            made.records,
            source="dashboard" if explicit else "session",
            mailbox=mailbox,
            item_id=item_id,
        )
    return made.records


def create_records(
    crm: CrmPort,
    org: OrgSettings,
    addresses: Sequence[tuple[str, str]],
    *,
    subject: str = "",
    subjects: dict[str, str] | None = None,
    owner_id: str | None = None,
    today: date | None = None,
    user: UserSettings | None = None,
    explicit: bool = False,
) -> Creation:
    """K1-K5 effects; see `create_records_for_addresses`."""
    out = Creation()
    mode = rules.effective_mode(org, explicit=explicit)
    if mode is AutoCreate.OFF:
        return out
    wanted: dict[str, str] = {}
    for a, name in addresses:
        key = a.strip().lower()
        if not key:
            continue
        if not rules.eligible(key, org, user):
            out.skipped.append((key, rules.why_not(key, org, user)))
            continue
        wanted.setdefault(key, name)
    if not wanted:
        return out
    known = {r.email.strip().lower() for r in crm.find_people(list(wanted))}
    domains = sorted({rules.domain_of(a) for a in wanted if a not in known})
    if not domains:
        return out
    accounts = {d: refs[0] for d, refs in crm.accounts_by_domain(domains).items() if refs}
    with_contacts: set[str] = set()
    if mode is AutoCreate.SMART and accounts:
        with_contacts = crm.account_ids_with_contacts(sorted({a.id for a in accounts.values()}))
    decided = rules.plan_records(
        list(wanted.items()),
        org,
        mode=mode,
        accounts=accounts,
        accounts_with_contacts=with_contacts,
        known=known,
        subject=subject,
        subjects=subjects,
        user=user,
    )
    today = today or datetime.now(UTC).date()
    owner: dict[str, Scalar] = {"OwnerId": owner_id} if owner_id else {}

    # 1. Accounts (K2), one collection call.
    new_accounts = list(decided.accounts)
    if new_accounts:
        res = crm.create_records(
            "Account",
            [
                {"Name": a.name, "Website": a.website, "Description": rules.MARKER, **owner}
                for a in new_accounts
            ],
        )
        for r in res:
            acct = new_accounts[r.key]
            if r.ok and r.id:
                out.accounts[acct.domain] = RecordRef(RecordType.ACCOUNT, r.id, acct.name)
            else:
                why = r.error.message if r.error else "unknown error"
                out.failed.append((acct.domain, f"Account not created: {why}"))

    # 2. Opportunities on the new Accounts (K5).
    opp_for = [a for a in new_accounts if a.opportunity_name and a.domain in out.accounts]
    if opp_for:
        close = rules.close_date(today, org)
        res = crm.create_records(
            "Opportunity",
            [
                {
                    "Name": a.opportunity_name or a.name,
                    "AccountId": out.accounts[a.domain].id,
                    "StageName": org.autocreate_opportunity_stage,
                    "CloseDate": close.isoformat(),
                    "Description": rules.MARKER,
                    **owner,
                }
                for a in opp_for
            ],
        )
        for r in res:
            acct = opp_for[r.key]
            aid = out.accounts[acct.domain].id
            if r.ok and r.id:
                out.opportunities[aid] = CrmOpportunity(
                    id=r.id,
                    name=acct.opportunity_name or acct.name,
                    account_id=aid,
                    owner_id=owner_id,
                    stage=org.autocreate_opportunity_stage,
                    close_date=close,
                    last_modified=datetime.now(UTC),
                )
            else:
                why = r.error.message if r.error else "unknown error"
                out.failed.append((acct.domain, f"Opportunity not created: {why}"))

    # 3. Contacts and Leads (K2, K3), one collection call per kind.
    for kind in (rules.RecordKind.CONTACT, rules.RecordKind.LEAD):
        people = [p for p in decided.people if p.kind is kind]
        ready: list[tuple[rules.NewPerson, str | None]] = []
        for p in people:
            acc_id = p.account_id
            if p.new_account is not None:
                made_acct = out.accounts.get(p.new_account)
                if made_acct is None:
                    out.failed.append((p.email, "its Account could not be created"))
                    continue
                acc_id = made_acct.id
            ready.append((p, acc_id))
        if not ready:
            continue
        recs: list[dict[str, Scalar]] = []
        for p, acc_id in ready:
            rec: dict[str, Scalar] = {
                "LastName": p.last_name,
                "Email": p.email,
                "Description": rules.MARKER,
                **owner,
            }
            if p.first_name:
                rec["FirstName"] = p.first_name
            if kind is rules.RecordKind.LEAD:
                rec["Company"] = p.company
            elif acc_id:
                rec["AccountId"] = acc_id
            recs.append(rec)
        for r in crm.create_records(kind.value, recs):
            p, acc_id = ready[r.key]
            if r.ok and r.id:
                opp = out.opportunities.get(acc_id or "")
                out.records.append(
                    CreatedRecord(
                        object_type=kind.value,
                        record_id=r.id,
                        email=p.email,
                        name=" ".join(x for x in (p.first_name, p.last_name) if x),
                        account_id=acc_id,
                        opportunity_id=opp.id if opp and p.new_account else None,
                        account_created=p.new_account is not None,
                    )
                )
            else:
                why = r.error.message if r.error else "unknown error"
                out.failed.append((p.email, f"{kind.value} not created: {why}"))
    return out


def remember_created(
    store: StateStore,
    records: Iterable[CreatedRecord],
    *,
    source: str,
    mailbox: str | None = None,
    session_id: int | None = None,
    item_id: str | None = None,
    item_ids: dict[str, str] | None = None,
) -> None:
    """K4: list the records in the state store (the dashboard shows them)."""
    rows = [
        CreatedRecordRow(
            source=source,
            mailbox=mailbox,
            session_id=session_id,
            item_id=(item_ids or {}).get(r.email, item_id),
            object_type=r.object_type,
            record_id=r.record_id,
            email=r.email,
            name=r.name[:255],
            account_id=r.account_id,
            opportunity_id=r.opportunity_id,
            account_created=r.account_created,
        )
        for r in records
    ]
    if not rows:
        return
    with store.session() as s:
        s.add_all(rows)


def unresolved_participants(store: StateStore, mailbox: str, item_id: str) -> list[tuple[str, str]]:
    """M4: the (address, display name) pairs that block an item, for the dashboard's one-click
    "create record" (pass them to `create_records_for_addresses`)."""
    from sqlalchemy import select

    with store.session() as s:
        rows = s.scalars(
            select(UnresolvedParticipantRow)
            .where(
                UnresolvedParticipantRow.mailbox == mailbox,
                UnresolvedParticipantRow.item_id == item_id,
            )
            .order_by(UnresolvedParticipantRow.address)
        )
        return [(r.address, r.name) for r in rows]


def list_created(
    store: StateStore, *, mailbox: str | None = None, limit: int = 200
) -> list[CreatedRecord]:
    """K4: the records crmcal made, newest first (the dashboard lists them; a user sees only
    their own with `mailbox`)."""
    from sqlalchemy import select

    q = select(CreatedRecordRow).order_by(CreatedRecordRow.id.desc()).limit(limit)
    if mailbox is not None:
        q = q.where(CreatedRecordRow.mailbox == mailbox)
    with store.session() as s:
        return [
            CreatedRecord(
                r.object_type,
                r.record_id,
                r.email,
                r.name,
                r.account_id,
                r.opportunity_id,
                r.account_created,
            )
            for r in s.scalars(q)
        ]


# -- the session hook ------------------------------------------------------------------------


def needs_records(p: Plan, inputs: Inputs) -> list[Item]:
    """K: the items of a plan whose participants without a Contact or Lead would get one: items
    held by M4, items auto-share passes by only for lack of a record (A6), items being shared, and
    this user's own linked items whose attendee list changed (P6). Pure."""
    by_id = {i.id: i for i in in_play(inputs.items, inputs.tracked)}
    out: dict[str, Item] = {}
    owner = inputs.ctx.owner_id
    for a in p.actions:
        item: Item | None = None
        if isinstance(a, RaiseIssue) and a.reason == UNRESOLVED_REASON:
            item = a.item
        elif isinstance(a, Note) and a.item is not None and a.text == _UNLINKED_NOTE:
            item = by_id.get(a.item.item_id)
        elif isinstance(a, CreateEvent):
            item = a.source
        elif isinstance(a, Seen):
            t = inputs.tracked.get(a.item.item_id)
            ev = inputs.events.get(t.event_id or "") if t is not None else None
            if (
                t is not None
                and ev is not None
                and ev.owner_id == owner
                and t.share_mode is not ShareMode.ATTENDEE
            ):
                item = by_id.get(a.item.item_id)
        if item is not None and item.is_meeting and not item.is_private:
            out.setdefault(item.id, item)
    return list(out.values())


def auto_create(
    crm: CrmPort,
    store: StateStore,
    inputs: Inputs,
    first: Plan,
    *,
    session_id: int | None = None,
) -> tuple[Plan, list[CreatedRecord]]:
    """K1-K5 in a session: make records for the participants of the plan's items that have none,
    then plan again with them (so M4 lifts, A6 finds a link, and the Events link the new records);
    the records are listed in the session log (K4). M4: the addresses that still block an item are
    remembered for the dashboard's one-click create. Returns the plan to execute."""
    ctx = inputs.ctx
    org = ctx.directory.org
    us = ctx.user.settings
    final = first
    created: list[CreatedRecord] = []
    if org.autocreate is not AutoCreate.OFF:
        found = inputs.search
        addresses: dict[str, str] = {}
        subjects: dict[str, str] = {}
        item_of: dict[str, str] = {}
        for item in needs_records(first, inputs):
            for e in participants(item, ctx.directory, us).external:  # K1 filters (logged)
                if found.people.get(e.key):
                    continue
                addresses.setdefault(e.key, e.name)
                subjects.setdefault(e.key, item.subject)
                item_of.setdefault(e.key, item.id)
        if addresses:
            made = create_records(
                crm,
                org,
                list(addresses.items()),
                subjects=subjects,
                owner_id=ctx.owner_id,
                today=ctx.now.date(),
                user=us,
            )
            created = made.records
            if made.records:
                remember_created(
                    store,
                    made.records,
                    source="session",
                    mailbox=ctx.mailbox,
                    session_id=session_id,
                    item_ids=item_of,
                )
                final = plan(replace(inputs, search=_with(found, made, ctx.owner_id)))
            notes = tuple(Note(None, line, ("K4",)) for line in made.log_lines())
            final = Plan((*final.actions, *notes))
    _remember_unresolved(store, final, inputs)
    return final, created


def _with(found: SearchResults, made: Creation, owner_id: str) -> SearchResults:
    people = dict(found.people)
    for r in made.records:
        kind = RecordType.CONTACT if r.object_type == "Contact" else RecordType.LEAD
        people[r.email] = (RecordRef(kind, r.record_id, r.name, r.email, r.account_id),)
    accounts = {**found.accounts_by_domain, **made.accounts}
    opps = dict(found.opportunities)
    for aid, o in made.opportunities.items():
        opps[aid] = (replace(o, owner_id=o.owner_id or owner_id), *opps.get(aid, ()))
    return SearchResults(people, accounts, opps, found.records)


def _remember_unresolved(store: StateStore, p: Plan, inputs: Inputs) -> None:
    """M4: replace the blocking addresses of every held item; forget them for items shared or
    resolved."""
    ctx = inputs.ctx
    held: dict[str, list[tuple[str, str]]] = {}
    cleared: set[str] = set()
    for a in p.actions:
        if isinstance(a, RaiseIssue) and a.reason in NEEDS_RECORD and a.item is not None:
            searchable = participants(a.item, ctx.directory, ctx.user.settings).searchable
            held[a.item.id] = [(e.key, e.name) for e in searchable]
        elif isinstance(a, ResolveIssues):
            cleared.add(a.item_id)
        elif isinstance(a, CreateEvent | LinkItem):
            cleared.add(a.item.item_id)
    touched = set(held) | cleared
    if not touched:
        return
    with store.session() as s:
        ids = sorted(touched)
        for i in range(0, len(ids), 500):
            s.execute(
                delete(UnresolvedParticipantRow).where(
                    UnresolvedParticipantRow.mailbox == ctx.mailbox,
                    UnresolvedParticipantRow.item_id.in_(ids[i : i + 500]),
                )
            )
        for item_id, pairs in held.items():
            seen: set[str] = set()
            for address, name in pairs:
                if address in seen:
                    continue
                seen.add(address)
                s.add(
                    UnresolvedParticipantRow(
                        mailbox=ctx.mailbox,
                        item_id=item_id,
                        address=address,
                        name=(name or "")[:255],
                        seen_at=ctx.now,
                    )
                )


__all__ = [
    "CreatedRecord",
    "Creation",
    "auto_create",
    "create_records",
    "create_records_for_addresses",
    "list_created",
    "needs_records",
    "remember_created",
    "unresolved_participants",
]
