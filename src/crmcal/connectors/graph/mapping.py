"""Graph event JSON ⇄ `crmcal.domain` types, at the edge (api-facts A1, A2, A7, A13).

Reading requires only what Graph always sends, including the sparse occurrence and exception rows
of calendarView/delta (E1: `id`, `type`, `seriesMasterId`, `start`, `end`); every other property
is optional. What is present but malformed becomes a `MappingError` that the client reports per
item (SPEC Y3).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from crmcal import timezones
from crmcal.connectors.unicode import lone_surrogate_at
from crmcal.domain.calendar import (
    Attendee,
    AttendeeType,
    DayOfWeek,
    EmailAddress,
    Item,
    ItemDraft,
    ItemPatch,
    ItemType,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    ResponseType,
    Sensitivity,
    ShowAs,
    WeekIndex,
)

JsonObject = dict[str, Any]
E = TypeVar("E", bound=StrEnum)

SALESFORCE_PROPERTY_GUID = "{4d1f3c2a-8b6e-4f0a-9c75-2e61b0a7d9c3}"
SALESFORCE_PROPERTY_ID = f"String {SALESFORCE_PROPERTY_GUID} Name crmcalSalesforceEventId"
"""crmcal's single-value extended property holding the Salesforce Event id (A7)."""
SALESFORCE_PROPERTY_EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{SALESFORCE_PROPERTY_ID}')"
)
MAX_ATTENDEES = 500


class MappingError(ValueError):
    """One item could not be read; `reason` says why (Y3)."""

    def __init__(self, item_id: str, reason: str) -> None:
        super().__init__(reason)
        self.item_id = item_id
        self.reason = reason


# -- reading --------------------------------------------------------------------------------------


def _str(obj: Mapping[str, Any], key: str, item_id: str, default: str | None = None) -> str:
    v = obj.get(key, default)
    if v is None and default is not None:
        return default
    if not isinstance(v, str):
        raise MappingError(item_id, f"{key} is missing or not a string")
    return v


def _bool(obj: Mapping[str, Any], key: str, item_id: str, default: bool = False) -> bool:
    v = obj.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise MappingError(item_id, f"{key} is not a boolean")
    return v


def parse_datetime_tz(value: object, item_id: str, name: str) -> datetime:
    """A `dateTimeTimeZone` as an aware UTC datetime."""
    if not isinstance(value, Mapping):
        raise MappingError(item_id, f"{name} is missing or not a dateTimeTimeZone")
    raw = value.get("dateTime")
    tzname = value.get("timeZone") or "UTC"
    if not isinstance(raw, str) or not isinstance(tzname, str):
        raise MappingError(item_id, f"{name} is missing dateTime or timeZone")
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as e:
        raise MappingError(item_id, f"{name}.dateTime is not a date-time: {raw[:40]!r}") from e
    if dt.tzinfo is None:
        zi = timezones.zoneinfo_for(tzname)
        if zi is None:
            raise MappingError(item_id, f"{name}.timeZone is not a known zone: {tzname[:60]!r}")
        dt = dt.replace(tzinfo=zi)
    return dt.astimezone(UTC)


def parse_all_day(value: object, item_id: str, name: str) -> datetime:
    """An all-day bound: the date written in `dateTime`, as midnight UTC. Graph returns all-day
    items midnight to midnight in the zone of the request (`Prefer: outlook.timezone`, else
    UTC) whatever zone they were made in, so the date is never an instant to convert (E2;
    microsoft-graph-docs#1802, docs-contrib #471, #6459)."""
    parse_datetime_tz(value, item_id, name)  # same checks as any dateTimeTimeZone
    assert isinstance(value, Mapping)
    written = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    return datetime(written.year, written.month, written.day, tzinfo=UTC)


def parse_offset_datetime(value: object, item_id: str, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(item_id, f"{name} is not a string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise MappingError(item_id, f"{name} is not a date-time") from e
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _email(value: object) -> EmailAddress | None:
    if not isinstance(value, Mapping):
        return None
    e = value.get("emailAddress")
    if not isinstance(e, Mapping):
        return None
    addr = e.get("address")
    name = e.get("name")
    return EmailAddress(
        address=addr if isinstance(addr, str) else "",
        name=name if isinstance(name, str) else "",
    )


def _enum(cls: type[E], value: object, item_id: str, name: str, default: E | None = None) -> E:
    if value is None and default is not None:
        return default
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return cls(value)
    except ValueError as e:
        if default is not None:
            return default
        raise MappingError(item_id, f"{name} has an unknown value {value!r}") from e


def _attendees(value: object, item_id: str) -> tuple[Attendee, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MappingError(item_id, "attendees is not an array")
    if len(value) > MAX_ATTENDEES:
        raise MappingError(item_id, f"{len(value)} attendees, more than Graph's {MAX_ATTENDEES}")
    out = []
    for a in value:
        email = _email(a)
        if email is None:
            raise MappingError(item_id, "an attendee has no emailAddress")
        assert isinstance(a, Mapping)
        status = a.get("status")
        resp = status.get("response") if isinstance(status, Mapping) else None
        out.append(
            Attendee(
                email=email,
                type=_enum(
                    AttendeeType, a.get("type"), item_id, "attendee type", AttendeeType.REQUIRED
                ),
                response=_enum(ResponseType, resp, item_id, "attendee response", ResponseType.NONE),
            )
        )
    return tuple(out)


def recurrence_from_graph(value: object, item_id: str = "") -> Recurrence | None:
    """`patternedRecurrence` with read-side placeholders (`0001-01-01`, 0, `first`) removed."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MappingError(item_id, "recurrence is not an object")
    pat = value.get("pattern")
    rng = value.get("range")
    if not isinstance(pat, Mapping) or not isinstance(rng, Mapping):
        raise MappingError(item_id, "recurrence needs pattern and range")
    try:
        days = tuple(DayOfWeek(d) for d in pat.get("daysOfWeek") or [])
        end_raw = rng.get("endDate")
        end = date.fromisoformat(end_raw) if isinstance(end_raw, str) else None
        if end is not None and end.year <= 1:
            end = None
        start_raw = rng.get("startDate")
        if not isinstance(start_raw, str):
            raise MappingError(item_id, "recurrence range has no startDate")
        tz = rng.get("recurrenceTimeZone")
        return Recurrence(
            pattern=RecurrencePattern(
                type=PatternType(str(pat.get("type"))),
                interval=int(pat.get("interval") or 1),
                days_of_week=days,
                day_of_month=int(pat.get("dayOfMonth") or 0),
                month=int(pat.get("month") or 0),
                index=WeekIndex(pat.get("index") or "first"),
                first_day_of_week=DayOfWeek(pat.get("firstDayOfWeek") or "sunday"),
            ),
            range=RecurrenceRange(
                type=RangeType(str(rng.get("type"))),
                start_date=date.fromisoformat(start_raw),
                end_date=end,
                number_of_occurrences=int(rng.get("numberOfOccurrences") or 0),
                time_zone=tz if isinstance(tz, str) and tz else None,
            ),
        )
    except (ValueError, TypeError) as e:
        if isinstance(e, MappingError):
            raise
        raise MappingError(item_id, f"recurrence is malformed: {e}") from e


def salesforce_id_from(obj: Mapping[str, Any]) -> str | None:
    props = obj.get("singleValueExtendedProperties")
    if not isinstance(props, list):
        return None
    want = SALESFORCE_PROPERTY_ID.lower()
    for p in props:
        if isinstance(p, Mapping) and str(p.get("id", "")).lower() == want:
            v = p.get("value")
            return v if isinstance(v, str) and v else None
    return None


def _etag_key(etag: object) -> str:
    """The change key inside `@odata.etag` (`W/"DwAAABYAAAC…"`, the same value as `changeKey`
    on a full event); sparse delta rows carry only the etag (E1)."""
    if not isinstance(etag, str):
        return ""
    v = etag[2:] if etag.startswith("W/") else etag
    return v.strip('"')


def item_from_graph(mailbox: str, obj: Mapping[str, Any]) -> Item:
    """One Graph event as an `Item`; raises `MappingError` for malformed input (Y3)."""
    raw_id = obj.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        raise MappingError("", "the item has no id")
    iid = raw_id
    bad_text = lone_surrogate_at(obj)
    if bad_text is not None:
        raise MappingError(iid, f"{bad_text} is not valid Unicode text")
    all_day = _bool(obj, "isAllDay", iid)
    when = parse_all_day if all_day else parse_datetime_tz
    start = when(obj.get("start"), iid, "start")
    end = when(obj.get("end"), iid, "end")
    if end < start:
        raise MappingError(iid, "end is before start")
    start_tz = obj.get("originalStartTimeZone")
    end_tz = obj.get("originalEndTimeZone")
    body = obj.get("body")
    body_text, body_html = "", False
    if isinstance(body, Mapping):
        content = body.get("content")
        body_text = content if isinstance(content, str) else ""
        body_html = str(body.get("contentType", "")).lower() == "html"
    loc = obj.get("location")
    location = ""
    if isinstance(loc, Mapping) and isinstance(loc.get("displayName"), str):
        location = loc["displayName"]
    cats = obj.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise MappingError(iid, "categories is not an array of strings")
    resp = obj.get("responseStatus")
    my_response = _enum(
        ResponseType,
        resp.get("response") if isinstance(resp, Mapping) else None,
        iid,
        "responseStatus",
        ResponseType.NONE,
    )
    reminder = obj.get("reminderMinutesBeforeStart", 0)
    if reminder is not None and (isinstance(reminder, bool) or not isinstance(reminder, int)):
        raise MappingError(iid, "reminderMinutesBeforeStart is not an integer")
    master = obj.get("seriesMasterId")
    return Item(
        id=iid,
        mailbox=mailbox,
        # Optional: delta sends occurrences and exceptions without it (E1), and the documented
        # delta examples leave it out of single items too (concepts/delta-query-events.md).
        ical_uid=_str(obj, "iCalUId", iid, ""),
        change_key=_str(obj, "changeKey", iid, "") or _etag_key(obj.get("@odata.etag")),
        subject=_str(obj, "subject", iid, ""),
        start=start,
        end=end,
        start_time_zone=start_tz if isinstance(start_tz, str) and start_tz else "UTC",
        end_time_zone=end_tz if isinstance(end_tz, str) and end_tz else "UTC",
        is_all_day=all_day,
        organizer=_email(obj.get("organizer")),
        attendees=_attendees(obj.get("attendees"), iid),
        is_organizer=_bool(obj, "isOrganizer", iid, True),
        my_response=my_response,
        sensitivity=_enum(Sensitivity, obj.get("sensitivity") or "normal", iid, "sensitivity"),
        show_as=_enum(ShowAs, obj.get("showAs"), iid, "showAs", ShowAs.UNKNOWN),
        categories=tuple(cats),
        type=_enum(ItemType, obj.get("type") or "singleInstance", iid, "type"),
        series_master_id=master if isinstance(master, str) and master else None,
        recurrence=recurrence_from_graph(obj.get("recurrence"), iid),
        original_start=parse_offset_datetime(obj.get("originalStart"), iid, "originalStart"),
        is_cancelled=_bool(obj, "isCancelled", iid),
        body=body_text,
        body_is_html=body_html,
        location=location,
        reminder_on=_bool(obj, "isReminderOn", iid),
        reminder_minutes=int(reminder or 0),
        web_link=_str(obj, "webLink", iid, ""),
        created=parse_offset_datetime(obj.get("createdDateTime"), iid, "createdDateTime"),
        last_modified=parse_offset_datetime(
            obj.get("lastModifiedDateTime"), iid, "lastModifiedDateTime"
        ),
        salesforce_event_id=salesforce_id_from(obj),
        has_attachments=_bool(obj, "hasAttachments", iid),
    )


# -- writing --------------------------------------------------------------------------------------


def _local(dt: datetime, tz: str) -> JsonObject:
    if dt.tzinfo is None:
        raise ValueError("datetimes written to Graph must be timezone-aware")
    zi = timezones.zoneinfo_for(tz)
    if zi is None:
        raise ValueError(f"time zone {tz!r} has no IANA equivalent")
    name = timezones.iana_to_windows(tz) or tz
    return {"dateTime": dt.astimezone(zi).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": name}


def recurrence_to_graph(rec: Recurrence, default_tz: str) -> JsonObject:
    p, r = rec.pattern, rec.range
    pattern: JsonObject = {"type": p.type.value, "interval": p.interval}
    if p.type in (PatternType.WEEKLY, PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY):
        pattern["daysOfWeek"] = [d.value for d in p.days_of_week]
    if p.type is PatternType.WEEKLY:
        pattern["firstDayOfWeek"] = p.first_day_of_week.value
    if p.type in (PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY):
        pattern["index"] = p.index.value
    if p.type in (PatternType.ABSOLUTE_MONTHLY, PatternType.ABSOLUTE_YEARLY):
        pattern["dayOfMonth"] = p.day_of_month
    if p.type in (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY):
        pattern["month"] = p.month
    rng: JsonObject = {"type": r.type.value, "startDate": r.start_date.isoformat()}
    if r.type is RangeType.END_DATE and r.end_date is not None:
        rng["endDate"] = r.end_date.isoformat()
    if r.type is RangeType.NUMBERED:
        rng["numberOfOccurrences"] = r.number_of_occurrences
    tz = r.time_zone or default_tz
    rng["recurrenceTimeZone"] = timezones.iana_to_windows(tz) or tz
    return {"pattern": pattern, "range": rng}


def _attendees_json(att: tuple[Attendee, ...]) -> list[JsonObject]:
    return [
        {
            "type": a.type.value,
            "emailAddress": {"address": a.email.address, "name": a.email.name or a.email.address},
        }
        for a in att
    ]


def salesforce_property(sf_id: str | None) -> list[JsonObject]:
    return [{"id": SALESFORCE_PROPERTY_ID, "value": sf_id or ""}]


def draft_to_graph(d: ItemDraft) -> JsonObject:
    """The POST body for a new event; raises ValueError for unwritable drafts."""
    if d.end < d.start:
        raise ValueError("end is before start")
    out: JsonObject = {
        "subject": d.subject,
        "body": {"contentType": "html" if d.body_is_html else "text", "content": d.body},
        "start": _local(d.start, d.time_zone),
        "end": _local(d.end, d.time_zone),
        "isAllDay": d.is_all_day,
        "sensitivity": d.sensitivity.value,
        "showAs": d.show_as.value,
        "categories": list(d.categories),
        "isReminderOn": d.reminder_on,
    }
    if d.reminder_on:
        out["reminderMinutesBeforeStart"] = d.reminder_minutes
    if d.location:
        out["location"] = {"displayName": d.location}
    if d.attendees:
        out["attendees"] = _attendees_json(d.attendees)
    if d.recurrence is not None:
        out["recurrence"] = recurrence_to_graph(d.recurrence, d.time_zone)
    if d.salesforce_event_id:
        out["singleValueExtendedProperties"] = salesforce_property(d.salesforce_event_id)
    if d.transaction_id:
        out["transactionId"] = d.transaction_id
    return out


def patch_to_graph(p: ItemPatch) -> JsonObject:
    """Only the fields that changed (A5: PATCH sends only changed properties)."""
    out: JsonObject = {}
    tz = p.time_zone or "UTC"
    if p.subject is not None:
        out["subject"] = p.subject
    if p.start is not None:
        out["start"] = _local(p.start, tz)
    if p.end is not None:
        out["end"] = _local(p.end, tz)
    if p.start is not None and p.end is not None and p.end < p.start:
        raise ValueError("end is before start")
    if p.is_all_day is not None:
        out["isAllDay"] = p.is_all_day
    if p.body is not None:
        out["body"] = {"contentType": "html" if p.body_is_html else "text", "content": p.body}
    if p.location is not None:
        out["location"] = {"displayName": p.location}
    if p.attendees is not None:
        out["attendees"] = _attendees_json(p.attendees)
    if p.sensitivity is not None:
        out["sensitivity"] = p.sensitivity.value
    if p.show_as is not None:
        out["showAs"] = p.show_as.value
    if p.categories is not None:
        out["categories"] = list(p.categories)
    if p.reminder_on is not None:
        out["isReminderOn"] = p.reminder_on
    if p.reminder_minutes is not None:
        out["reminderMinutesBeforeStart"] = p.reminder_minutes
    if p.recurrence is not None:
        out["recurrence"] = recurrence_to_graph(p.recurrence, tz)
    if p.salesforce_event_id is not None:
        out["singleValueExtendedProperties"] = salesforce_property(p.salesforce_event_id)
    return out
