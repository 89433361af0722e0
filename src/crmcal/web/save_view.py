"""What the Save dialog shows besides the pickers (issue 19): a linked Event's current Name and
Related To by name, and each participant with the record crmcal resolved them to."""

from __future__ import annotations

from dataclasses import dataclass

from crmcal.connectors.errors import ConnectorError
from crmcal.domain.calendar import Item
from crmcal.domain.crm import RecordRef
from crmcal.web.service import WebService


@dataclass(frozen=True)
class Participant:
    address: str
    name: str
    state: str
    """`you`, `internal`, `blocklisted`, `record` or `none`."""
    record: RecordRef | None = None


@dataclass(frozen=True)
class Current:
    who_id: str | None
    what_id: str | None
    records: dict[str, RecordRef]


def current_links(svc: WebService, event_id: str | None) -> Current | None:
    """The linked Event's WhoId and WhatId as Salesforce has them now, with their records'
    names (two queries); None when there is no Event or Salesforce did not answer."""
    if not event_id:
        return None
    try:
        found = svc.crm.events_by_ids([event_id])
        if not found:
            return None
        ev = found[0]
        ids = [i for i in (ev.who_id, ev.what_id) if i]
        records = {r.id: r for r in svc.crm.records_by_ids(ids)} if ids else {}
    except ConnectorError:
        return None
    return Current(ev.who_id, ev.what_id, records)


def participants(svc: WebService, mailbox: str, item: Item) -> tuple[list[Participant], bool]:
    """Every participant and what they resolve to; False when Salesforce did not answer."""
    org, u = svc.cfg.org, svc.user(mailbox)
    people = [*([item.organizer] if item.organizer else []), *(a.email for a in item.attendees)]
    seen: dict[str, Participant] = {}
    ask: list[str] = []
    for e in people:
        key = e.address.strip().lower()
        if not key or key in seen:
            continue
        if key == mailbox:
            state = "you"
        elif org.is_internal(key):
            state = "internal"
        elif org.is_blocklisted(key, u.settings):
            state = "blocklisted"
        else:
            state = "none"
            ask.append(key)
        seen[key] = Participant(key, e.name, state)
    ok = True
    if ask:
        try:
            found = {r.email.strip().lower(): r for r in svc.crm.find_people(sorted(ask))}
        except ConnectorError:
            found, ok = {}, False
        for key in ask:
            if key in found:
                seen[key] = Participant(key, seen[key].name, "record", found[key])
    return list(seen.values()), ok
