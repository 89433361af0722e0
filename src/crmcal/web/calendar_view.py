"""The Calendar page's days (issue 19): items grouped by day in the viewer's zone, all-day items
as dates, each category in the colour C1-C4 give it, and a linked item's Event, Name and Related
To by name (one Salesforce call per page)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from crmcal import timezones
from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.salesforce.client import SalesforceClient
from crmcal.domain.calendar import Item
from crmcal.domain.crm import RecordRef
from crmcal.rules import categories as cat
from crmcal.state.models import EventRow, LinkRow

ZONES = sorted(available_timezones())


def valid_zone(name: str) -> str | None:
    name = name.strip()
    if not name or name not in ZONES:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def mailbox_zone(items: list[Item]) -> str:
    """The zone most of the mailbox's timed items were created in (Outlook creates them in the
    mailbox's zone), as IANA; UTC when none says."""
    names = Counter(i.start_time_zone for i in items if not i.is_all_day and i.start_time_zone)
    for name, _ in names.most_common():
        zi = timezones.zoneinfo_for(name)
        if zi is not None:
            return str(zi.key)
    return "UTC"


@dataclass
class Day:
    day: date
    items: list[Item] = field(default_factory=list)


def local_day(item: Item, zone: tzinfo) -> date:
    if item.is_all_day:
        return item.start.astimezone(UTC).date()  # E2: the date as written, not an instant
    return item.start.astimezone(zone).date()


def by_day(items: list[Item], zone: tzinfo) -> list[Day]:
    days: dict[date, Day] = {}
    for it in sorted(items, key=lambda i: (local_day(i, zone), not i.is_all_day, i.start)):
        days.setdefault(local_day(it, zone), Day(local_day(it, zone))).items.append(it)
    return list(days.values())


def when(item: Item, zone: tzinfo) -> str:
    if item.is_all_day:
        first = item.start.astimezone(UTC).date()
        last = item.end.astimezone(UTC).date()
        n = (last - first).days
        return "all day" if n <= 1 else f"all day, {n} days"
    s, e = item.start.astimezone(zone), item.end.astimezone(zone)
    end = e.strftime("%H:%M") if e.date() == s.date() else e.strftime("%a %d %b %H:%M")
    return f"{s.strftime('%H:%M')}–{end}"


_CLASS = {
    cat.Color.BLUE: "salesforce",
    cat.Color.RED: "error",
    cat.Color.YELLOW: "waiting",
    cat.Color.GREEN: "ok",
    cat.Color.ORANGE: "orange",
    cat.Color.GRAY: "status",
}


def category_class(name: str) -> str:
    """The colour crmcal gives the category in the user's master list (C1-C4): Salesforce blue,
    Sync Error red, statuses tracked green, waiting yellow, errors orange, Unsync gray; the
    user's own categories are not crmcal's and are drawn plain (`own`)."""
    color = cat.color_of(name)
    return "own" if color is None else _CLASS[color]


@dataclass(frozen=True, slots=True)
class Linked:
    """What a linked item's card names: the Event by its Subject, its Name and Related To."""

    event_id: str
    event_name: str
    who: RecordRef | None
    what: RecordRef | None
    what_id: str | None


def linked_names(
    crm: SalesforceClient, links: dict[str, LinkRow], events: dict[str, EventRow], ids: set[str]
) -> dict[str, Linked]:
    """For the items `ids` on the page that have an Event: the Event's Subject and its Who and
    What records by name, all in one Salesforce call (the Who/What ids from crmcal's own state,
    as last synced). Salesforce not answering leaves plain labels, never the page broken."""
    rows = {i: links[i] for i in ids if i in links and links[i].event_id}
    rec_ids: set[str] = set()
    for lk in rows.values():
        ev = events.get(str(lk.event_id))
        rec_ids.update(x for x in _who_what(lk, ev) if x)
    try:
        refs, subjects = crm.records_and_subjects(sorted(rec_ids), sorted(
            str(lk.event_id) for lk in rows.values()))  # fmt: skip
    except ConnectorError:
        refs, subjects = [], {}
    by_id = {r.id: r for r in refs}
    out = {}
    for item_id, lk in rows.items():
        eid = str(lk.event_id)
        who, what = _who_what(lk, events.get(eid))
        out[item_id] = Linked(eid, subjects.get(eid) or "the Event", by_id.get(who or ""),
                              by_id.get(what or ""), what)  # fmt: skip
    return out


def _who_what(lk: LinkRow, ev: EventRow | None) -> tuple[str | None, str | None]:
    if ev is not None:
        return (ev.who_ids[0] if ev.who_ids else lk.who_id), ev.what_id or lk.what_id
    return lk.who_id, lk.what_id
