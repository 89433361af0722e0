"""U1-U3, U6, M6: how an Outlook item becomes the fields of a Salesforce Event, and which of them
a later session may change."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from html.parser import HTMLParser

from crmcal.domain import CrmEvent, EventShowAs, Item, OrgSettings, ShowAs

SUBJECT_MAX = 255
LOCATION_MAX = 255
DESCRIPTION_MAX = 32_000
TRUNCATION_MARKER = "\n\n[... cut by crmcal: the full text is in Outlook]"

SYNCED_FIELDS = (
    "Subject",
    "StartDateTime",
    "EndDateTime",
    "IsAllDayEvent",
    "ActivityDate",
    "DurationInMinutes",
    "Location",
    "ShowAs",
    "IsPrivate",
    "IsReminderSet",
    "ReminderDateTime",
)
"""U1: the fields a change to a linked item updates. Description crosses only on first share
while Safe Description is on (U2)."""


class _Text(HTMLParser):
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip = max(self._skip - 1, 0)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """U3: the body as text (tags dropped, entities decoded, blank runs collapsed)."""
    p = _Text()
    p.feed(html)
    p.close()
    lines = [" ".join(line.split()) for line in "".join(p.out).splitlines()]
    text: list[str] = []
    for line in lines:
        if line or (text and text[-1]):
            text.append(line)
    return "\n".join(text).strip()


def cut(text: str, limit: int, marker: str = "") -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(marker)] + marker


def participants_header(item: Item) -> str:
    """U6: `From: <organizer>` and `To/CC: <attendees>` lines."""

    def show(name: str, address: str) -> str:
        return f"{name} <{address}>" if name and name != address else address

    org = item.organizer
    frm = show(org.name, org.address) if org else item.mailbox
    org_key = org.key if org else ""
    to = ", ".join(
        show(a.email.name, a.email.address) for a in item.attendees if a.email.key != org_key
    )
    return f"From: {frm}\nTo/CC: {to}"


def description(item: Item, org: OrgSettings) -> str:
    """U3 + U6: the Description written at first share."""
    body = html_to_text(item.body) if item.body_is_html else item.body.strip()
    if item.is_meeting and org.description_participants_header:
        body = participants_header(item) + ("\n\n" + body if body else "")
    return cut(body, DESCRIPTION_MAX, TRUNCATION_MARKER)


BODY_KEY = "_body"
"""U2 with Safe Description off: in an Event's synced values (the U4 base), the digest of the
Description the item's body made when last synced. Not a Salesforce field and not in
`SYNCED_FIELDS`: `merge` never sees it, and nothing writes a body back to Outlook (P7)."""


def body_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def body_edit(last: Mapping[str, object], item: Item, org: OrgSettings) -> tuple[str, str] | None:
    """U2 with Safe Description off: `(Description, digest)` when the item's body (or, for a
    meeting, its U6 header) differs from the one last synced, else None. A base without a digest
    (a link made while Safe Description was on) counts as changed: Outlook is U4's reference."""
    text = description(item, org)
    digest = body_digest(text)
    return None if last.get(BODY_KEY) == digest else (text, digest)


def show_as(s: ShowAs) -> EventShowAs:
    """U3: free to Free, oof to OutOfOffice, others to Busy."""
    if s is ShowAs.FREE:
        return EventShowAs.FREE
    if s is ShowAs.OOF:
        return EventShowAs.OUT_OF_OFFICE
    return EventShowAs.BUSY


def all_day_dates(item: Item, tz: tzinfo | None) -> tuple[date, int]:
    """First day and number of days of an all-day item.

    The Graph connector gives all-day bounds as midnight UTC of the dates written (E2: Graph
    answers midnight-to-midnight in the request's zone, the date is never an instant), so those
    are taken as they are, never converted again. Bounds at another instant (an item built at
    midnight of a zone) are read in `tz`, the item's zone."""
    if _utc_midnight(item.start) and _utc_midnight(item.end):
        first, last = item.start.astimezone(UTC).date(), item.end.astimezone(UTC).date()
    else:
        zone = tz or UTC
        first, last = item.start.astimezone(zone).date(), item.end.astimezone(zone).date()
    return first, max((last - first).days, 1)


def _utc_midnight(dt: datetime) -> bool:
    u = dt.astimezone(UTC)
    return (u.hour, u.minute, u.second, u.microsecond) == (0, 0, 0, 0)


def event_from_item(
    item: Item,
    *,
    owner_id: str,
    org: OrgSettings,
    tz: tzinfo | None = None,
    who_id: str | None = None,
    what_id: str | None = None,
    guid: str | None = None,
    first_share: bool = True,
    defaults: Mapping[str, str | int | float | bool] | None = None,
) -> CrmEvent:
    """U3: the Event fields for an item. Description only at first share (U2 decides later
    ones). A private item keeps `IsPrivate` (M6) and, as Salesforce requires, no Who or What."""
    private = item.is_private
    base = CrmEvent(
        id=None,
        owner_id=owner_id,
        subject=cut(item.subject or "", SUBJECT_MAX),
        location=cut(item.location or "", LOCATION_MAX),
        show_as=show_as(item.show_as),
        is_private=private,
        who_id=None if private else who_id,
        what_id=None if private else what_id,
        is_reminder_set=item.reminder_on,
        reminder_at=(item.start - timedelta(minutes=item.reminder_minutes)).astimezone(UTC)
        if item.reminder_on
        else None,
        guid=guid,
        description=description(item, org) if first_share else "",
        extra_fields=tuple(sorted((defaults or {}).items())) if first_share else (),
    )
    if item.is_all_day:
        first, days = all_day_dates(item, tz)
        return replace(base, is_all_day=True, activity_date=first, duration_minutes=days * 1440)
    return replace(base, start=item.start.astimezone(UTC), end=item.end.astimezone(UTC))


def _iso(v: datetime | None) -> str | None:
    return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if v else None


def synced_values(ev: CrmEvent) -> dict[str, str | bool | int | None]:
    """The U1 fields of an Event as comparable values (both sides map to this)."""
    return {
        "Subject": ev.subject,
        "StartDateTime": None if ev.is_all_day else _iso(ev.start),
        "EndDateTime": None if ev.is_all_day else _iso(ev.end),
        "IsAllDayEvent": ev.is_all_day,
        "ActivityDate": ev.activity_date.isoformat()
        if ev.is_all_day and ev.activity_date
        else None,
        "DurationInMinutes": ev.duration_minutes if ev.is_all_day else None,
        "Location": ev.location,
        "ShowAs": ev.show_as.value,
        "IsPrivate": ev.is_private,
        "IsReminderSet": ev.is_reminder_set,
        "ReminderDateTime": _iso(ev.reminder_at) if ev.is_reminder_set else None,
    }


def values_hash(values: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def changed(last: Mapping[str, object], now: Mapping[str, object]) -> dict[str, object]:
    """The fields whose value differs from the last synced one."""
    return {k: v for k, v in now.items() if last.get(k) != v}


def merge(
    last: Mapping[str, object],
    outlook: Mapping[str, object],
    salesforce: Mapping[str, object],
) -> tuple[dict[str, object], dict[str, object], tuple[str, ...]]:
    """U4: three-way merge per field. Returns (fields to write to Salesforce, fields to write to
    Outlook, fields in conflict). A field changed on both sides takes the Outlook value."""
    to_sf: dict[str, object] = {}
    to_outlook: dict[str, object] = {}
    conflicts: list[str] = []
    for k in SYNCED_FIELDS:
        o, s, b = outlook.get(k), salesforce.get(k), last.get(k)
        if o == s:
            continue
        o_changed, s_changed = o != b, s != b
        if o_changed and s_changed:
            conflicts.append(k)
            to_sf[k] = o
        elif o_changed:
            to_sf[k] = o
        elif s_changed:
            to_outlook[k] = s
        else:  # neither moved since last sync yet they differ: Outlook is the reference
            to_sf[k] = o
    return to_sf, to_outlook, tuple(conflicts)
