"""Initial Search (L1-L7): which records an item links to. Pure: the connector runs the queries
(one for all addresses of a session, L2) and hands the rows in; this module chooses."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crmcal.domain import (
    EmailAddress,
    EventRelation,
    Item,
    OrgSettings,
    RecordRef,
    RecordType,
    record_type_of,
)
from crmcal.domain.crm import CrmOpportunity

MAX_WHO_RELATIONS = 50
"""L5: with Shared Activities an Event relates to up to 50 Contacts (or 1 Lead)."""


@dataclass(frozen=True, slots=True)
class SearchResults:
    """Rows the connector found for a session's addresses, domains and record ids."""

    people: Mapping[str, tuple[RecordRef, ...]]
    """Contacts and Leads by lower-cased e-mail (L2)."""
    accounts_by_domain: Mapping[str, RecordRef]
    """Accounts whose Website matches a domain (L3)."""
    opportunities: Mapping[str, tuple[CrmOpportunity, ...]]
    """Opportunities by Account Id (L6)."""
    records: Mapping[str, RecordRef]
    """Records found by id (L4: ids and URLs in appointments)."""

    @classmethod
    def empty(cls) -> SearchResults:
        return cls({}, {}, {}, {})


@dataclass(frozen=True, slots=True)
class Linking:
    """The outcome of Initial Search for one item."""

    who_id: str | None = None
    what_id: str | None = None
    who_relations: tuple[str, ...] = ()
    """All Who records to relate (EventWhoRelation), the WhoId first."""
    resolved: frozenset[str] = frozenset()
    """Addresses that have a record (person, or Account by domain)."""
    unresolved: tuple[str, ...] = ()
    """L1 addresses with no record at all (M4, K)."""

    @property
    def linked(self) -> bool:
        return self.who_id is not None or self.what_id is not None


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_SF_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+\.(?:force\.com|salesforce\.com)/"
    r"(?:lightning/r/[A-Za-z0-9_]+/)?([A-Za-z0-9]{18}|[A-Za-z0-9]{15})(?![A-Za-z0-9])"
)
_SF_ID = re.compile(
    r"(?<![A-Za-z0-9])((?:003|00Q|001|006)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)(?![A-Za-z0-9])"
)
LINKABLE = {RecordType.CONTACT, RecordType.LEAD, RecordType.ACCOUNT, RecordType.OPPORTUNITY}


def addresses_in_text(*texts: str) -> tuple[str, ...]:
    """L4: e-mail addresses written in an appointment's subject, location or body, in order."""
    seen: dict[str, None] = {}
    for t in texts:
        for m in _EMAIL.finditer(t or ""):
            seen.setdefault(m.group(0).strip(".'").lower(), None)
    return tuple(seen)


def record_ids_in_text(*texts: str) -> tuple[str, ...]:
    """L4: Salesforce record ids and record URLs written in an appointment, in order."""
    seen: dict[str, None] = {}
    for t in texts:
        for m in _SF_URL.finditer(t or ""):
            if record_type_of(m.group(1)) in LINKABLE:
                seen.setdefault(m.group(1), None)
        for m in _SF_ID.finditer(t or ""):
            seen.setdefault(m.group(1), None)
    return tuple(seen)


def search_addresses(
    item: Item, searchable: tuple[EmailAddress, ...], org: OrgSettings
) -> tuple[str, ...]:
    """L1 (+ L4 for appointments): the addresses to look up for an item, lower-cased, in order;
    internal and blocklisted ones are already gone from `searchable`."""
    out = [e.key for e in searchable]
    if not item.is_meeting:
        for a in addresses_in_text(item.subject, item.location, item.body):
            if a not in out and not org.is_internal(a) and not org.is_blocklisted(a):
                out.append(a)
    return tuple(out)


def search_domains(
    addresses: Iterable[str], people: Mapping[str, object], org: OrgSettings
) -> tuple[str, ...]:
    """L3: domains of addresses with no person record, never free-mail ones."""
    out: dict[str, None] = {}
    for a in addresses:
        if people.get(a):
            continue
        dom = a.rpartition("@")[2]
        if dom and not org.is_free_mail(a) and not org.is_internal(a):
            out.setdefault(dom, None)
    return tuple(out)


def choose_opportunity(
    opps: Iterable[CrmOpportunity], owner_id: str, today: date
) -> CrmOpportunity | None:
    """L6: the user's most recently modified Opportunity that is open, or closed within 365 days,
    or closing within 180 days."""

    def relevant(o: CrmOpportunity) -> bool:
        if o.owner_id != owner_id:
            return False
        if not o.is_closed:
            return True
        if o.close_date is None:
            return False
        return today - timedelta(
            days=365
        ) <= o.close_date or today <= o.close_date <= today + timedelta(days=180)

    candidates = [o for o in opps if relevant(o)]
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(candidates, key=lambda o: (o.last_modified or oldest, o.id), default=None)


def link(
    addresses: tuple[str, ...],
    found: SearchResults,
    *,
    owner_id: str,
    today: date,
    shared_activities: bool = True,
    record_ids: tuple[str, ...] = (),
) -> Linking:
    """L2-L6 for one item: WhoId (first Contact in attendee order, else first Lead), the other
    Who records, and WhatId (the owner's relevant Opportunity on the Contact's Account, else the
    Account; an Account found by domain when no person matched; nothing with a Lead as WhoId, as
    Salesforce requires)."""
    contacts: list[RecordRef] = []
    leads: list[RecordRef] = []
    resolved: set[str] = set()
    domain_accounts: list[RecordRef] = []
    for a in addresses:
        people = found.people.get(a, ())
        if people:
            resolved.add(a)
            for r in people:
                if r.type is RecordType.CONTACT and r.id not in {c.id for c in contacts}:
                    contacts.append(r)
                elif r.type is RecordType.LEAD and r.id not in {x.id for x in leads}:
                    leads.append(r)
            continue
        acct = found.accounts_by_domain.get(a.rpartition("@")[2])
        if acct is not None:
            resolved.add(a)
            domain_accounts.append(acct)
    explicit_what: RecordRef | None = None
    for rid in record_ids:
        rec = found.records.get(rid)
        if rec is None:
            continue
        if rec.type is RecordType.CONTACT and rec.id not in {c.id for c in contacts}:
            contacts.append(rec)
        elif rec.type is RecordType.LEAD and rec.id not in {x.id for x in leads}:
            leads.append(rec)
        elif rec.type in (RecordType.ACCOUNT, RecordType.OPPORTUNITY) and explicit_what is None:
            explicit_what = rec

    unresolved = tuple(a for a in addresses if a not in resolved)
    who_id: str | None = None
    what_id: str | None = None
    relations: tuple[str, ...] = ()
    if contacts:
        primary = contacts[0]
        who_id = primary.id
        relations = (
            tuple(c.id for c in contacts[:MAX_WHO_RELATIONS]) if shared_activities else (who_id,)
        )
        if explicit_what is not None:
            what_id = explicit_what.id
        elif primary.account_id:
            opp = choose_opportunity(
                found.opportunities.get(primary.account_id, ()), owner_id, today
            )
            what_id = opp.id if opp else primary.account_id
    elif leads:
        who_id = leads[0].id
        relations = (who_id,)
    elif explicit_what is not None:
        what_id = explicit_what.id
    elif domain_accounts:
        acct = domain_accounts[0]
        opp = choose_opportunity(found.opportunities.get(acct.id, ()), owner_id, today)
        what_id = opp.id if opp else acct.id
    return Linking(
        who_id=who_id,
        what_id=what_id,
        who_relations=relations,
        resolved=frozenset(resolved),
        unresolved=unresolved,
    )


def is_lead(record_id: str | None) -> bool:
    return bool(record_id) and record_type_of(record_id or "") is RecordType.LEAD


def valid_links(
    who_id: str | None,
    what_id: str | None,
    whos: tuple[str, ...],
    *,
    who_from_user: bool = False,
    what_from_user: bool = False,
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """E6 (Event object reference: "If the WhoId refers to a lead, then the WhatId field must be
    empty"; EventRelation: "up to 50 contacts or one lead"): the (WhoId, WhatId, Who relations)
    crmcal may write. A Lead goes alone; when a Lead and a What meet, the one the user chose
    wins (the Lead when both were chosen), else the Lead; Contacts drop any Lead among them and
    are capped at 50 (L5)."""
    if is_lead(who_id):
        if what_id and what_from_user and not who_from_user:
            return None, what_id, ()
        return who_id, None, (who_id,) if who_id else ()
    people = tuple(w for w in whos if not is_lead(w))
    if who_id and who_id not in people:
        people = (who_id, *people)
    return who_id, what_id, people[:MAX_WHO_RELATIONS]


def clashing_whos(
    have: Iterable[EventRelation], who_id: str | None, whos: tuple[str, ...]
) -> list[str]:
    """Ids of an Event's Who relation rows that must go before ``who_id``/``whos`` are written
    (E6): every other person when a Lead comes in, and any Lead when Contacts come in. Other
    related Contacts are left alone (someone may have added them in Salesforce)."""
    wanted = {w[:15] for w in whos} | ({who_id[:15]} if who_id else set())
    incoming_lead = is_lead(who_id) or any(is_lead(w) for w in whos)
    out: list[str] = []
    for r in have:
        if not r.is_parent or r.is_what or r.is_invitee or not r.id:
            continue
        if r.relation_id[:15] in wanted:
            continue
        if incoming_lead or is_lead(r.relation_id):
            out.append(r.id)
    return out
