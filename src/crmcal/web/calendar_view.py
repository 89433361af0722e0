"""The Calendar page's days (issue 19): items grouped by day in the viewer's zone, all-day items
as dates, and each category in its C1-C3 colour."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from crmcal import timezones
from crmcal.domain.calendar import Item
from crmcal.rules import categories as cat

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


def category_class(name: str) -> str:
    """C1 blue, C2 red, C3 statuses: tracked green, waiting yellow, errors orange."""
    if name == cat.SALESFORCE:
        return "salesforce"
    if name == cat.SYNC_ERROR:
        return "error"
    if name.startswith(cat.STATUS_PREFIX):
        text = name[len(cat.STATUS_PREFIX) :]
        if text == cat.TRACKED.text:
            return "ok"
        if text.startswith(("Waiting", "Unresolved")):
            return "waiting"
        return "orange"
    return "status"
