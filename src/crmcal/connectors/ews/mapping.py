"""exchangelib `CalendarItem` ⇄ `crmcal.domain` types, at the edge.

Zones: EWS names a Windows zone (`StartTimeZone Id`); `Item.start_time_zone` keeps that Windows
name, as the Graph connector keeps `originalStartTimeZone`. Writes take a Windows or IANA name and
go through the CLDR mapping in `crmcal.timezones`.

GUIDs: Graph's per-occurrence `iCalUId` is the hex form of PidLidGlobalObjectId, so the connector
reads that property (PSETID_Meeting, 0x3) and every GUID rule (D1, R1-R6) sees the same values on
both backends. EWS's own `UID` is the series' (shared by every occurrence and every meeting copy).
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time
from typing import Any

from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import TimeZoneField
from exchangelib.properties import Attendee as XAttendee
from exchangelib.properties import Mailbox as XMailbox
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as XRecurrence

from crmcal import timezones
from crmcal.connectors.graph.mapping import SALESFORCE_PROPERTY_GUID as _GRAPH_PROPERTY_GUID
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

# The same MAPI property set as the Graph connector's extended property: a hybrid org's mailbox
# is read through either protocol, so the two must name one property (derived, not copied).
SALESFORCE_PROPERTY_GUID = _GRAPH_PROPERTY_GUID.strip("{}")
"""The same named property as the Graph connector's (one mailbox, two protocols)."""


class SalesforceEventId(ExtendedProperty):  # type: ignore[misc]
    property_set_id = SALESFORCE_PROPERTY_GUID
    property_name = "crmcalSalesforceEventId"
    property_type = "String"


class GlobalObjectId(ExtendedProperty):  # type: ignore[misc]
    """PidLidGlobalObjectId (MS-OXOCAL 2.2.1.27): per occurrence, the instance date inside."""

    distinguished_property_set_id = "Meeting"
    property_id = 0x3
    property_type = "Binary"


CUSTOM_ZONE = "tzone://Microsoft/Custom"


class UnmappedZone:
    """A `StartTimeZone` exchangelib cannot turn into an `EWSTimeZone` (SPEC N3): a custom
    definition (`tzone://Microsoft/Custom`, "Customized Time Zone", an empty Id) or a Windows id
    missing from its CLDR map ("Mid-Atlantic Standard Time"). Only its id is kept, as the Graph
    connector keeps `originalStartTimeZone`; the item's Start/End come in UTC either way."""

    def __init__(self, ms_id: str) -> None:
        self.ms_id = ms_id
        self.ms_name = ""
        self.key = None

    def __repr__(self) -> str:
        return f"UnmappedZone({self.ms_id!r})"


class ZoneIdField(TimeZoneField):  # type: ignore[misc]
    """exchangelib's TimeZoneField for reading, which keeps an unknown zone's id instead of
    dropping it (UnknownTimeZone -> None, a warning) or raising (a `tzone://` id reaches
    `ZoneInfo`, ValueError): an item in such a zone must neither break the GetItem batch nor look
    like UTC, or a series in Mid-Atlantic time would sync wrong (N3)."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        field_elem = elem.find(self.response_tag())
        if field_elem is None:
            return self.default
        tz_id = field_elem.get("Id") or field_elem.get("Name") or ""
        if not tz_id:
            # A definition with neither Id nor Name is a custom one (Periods only): Graph names
            # those `tzone://Microsoft/Custom`.
            return UnmappedZone(CUSTOM_ZONE)
        try:
            return EWSTimeZone.from_ms_id(tz_id)
        except (UnknownTimeZone, ValueError):
            return UnmappedZone(tz_id)


def _tolerant_zone_fields() -> None:
    """Swap CalendarItem's zone fields for `ZoneIdField` through exchangelib's own field registry
    (`remove_field` / `add_field`, as `register` does for extended properties)."""
    names = [f.name for f in CalendarItem.FIELDS]
    for name in ("_meeting_timezone", "_start_timezone", "_end_timezone"):
        old = CalendarItem.FIELDS[names.index(name)]
        if isinstance(old, ZoneIdField):
            continue
        new = ZoneIdField(
            name=name,
            field_uri=old.field_uri,
            supported_from=old.supported_from,
            deprecated_from=old.deprecated_from,
            is_searchable=False,
        )
        after = names[names.index(name) - 1]
        CalendarItem.remove_field(old)
        CalendarItem.add_field(new, insert_after=after)
        names = [f.name for f in CalendarItem.FIELDS]


def register_properties() -> None:
    for name, cls in (("crmcal_sf_id", SalesforceEventId), ("global_object_id", GlobalObjectId)):
        if name not in {f.name for f in CalendarItem.FIELDS}:
            CalendarItem.register(name, cls)
    _tolerant_zone_fields()


register_properties()

READ_FIELDS = (
    "subject",
    "sensitivity",
    "body",
    "attachments",
    "datetime_created",
    "categories",
    "has_attachments",
    "reminder_is_set",
    "reminder_minutes_before_start",
    "last_modified_time",
    "uid",
    "start",
    "end",
    "original_start",
    "is_all_day",
    "legacy_free_busy_status",
    "location",
    "is_cancelled",
    "type",
    "my_response_type",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "resources",
    "recurrence",
    "_start_timezone",
    "_end_timezone",
    "crmcal_sf_id",
    "global_object_id",
)

_SENS = {
    "Normal": Sensitivity.NORMAL,
    "Personal": Sensitivity.PERSONAL,
    "Private": Sensitivity.PRIVATE,
    "Confidential": Sensitivity.CONFIDENTIAL,
}
_SHOW = {
    "Free": ShowAs.FREE,
    "Tentative": ShowAs.TENTATIVE,
    "Busy": ShowAs.BUSY,
    "OOF": ShowAs.OOF,
    "WorkingElsewhere": ShowAs.WORKING_ELSEWHERE,
    "NoData": ShowAs.UNKNOWN,
}
_RESP = {
    "Unknown": ResponseType.NONE,
    "Organizer": ResponseType.ORGANIZER,
    "Tentative": ResponseType.TENTATIVELY_ACCEPTED,
    "Accept": ResponseType.ACCEPTED,
    "Decline": ResponseType.DECLINED,
    "NoResponseReceived": ResponseType.NOT_RESPONDED,
}
_TYPE = {
    "Single": ItemType.SINGLE_INSTANCE,
    "Occurrence": ItemType.OCCURRENCE,
    "Exception": ItemType.EXCEPTION,
    "RecurringMaster": ItemType.SERIES_MASTER,
}
_DAYS = [
    DayOfWeek.MONDAY,
    DayOfWeek.TUESDAY,
    DayOfWeek.WEDNESDAY,
    DayOfWeek.THURSDAY,
    DayOfWeek.FRIDAY,
    DayOfWeek.SATURDAY,
    DayOfWeek.SUNDAY,
]
_INDEX = [WeekIndex.FIRST, WeekIndex.SECOND, WeekIndex.THIRD, WeekIndex.FOURTH, WeekIndex.LAST]


class EwsMappingError(ValueError):
    def __init__(self, item_id: str, reason: str) -> None:
        super().__init__(reason)
        self.item_id = item_id
        self.reason = reason


def _zone_name(tz: Any) -> str:
    ms = getattr(tz, "ms_id", None)
    if isinstance(ms, str) and ms:
        return ms
    key = getattr(tz, "key", None)
    return timezones.iana_to_windows(key) or key or "UTC" if isinstance(key, str) else "UTC"


def _aware(value: Any, tz_name: str, item_id: str, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EwsMappingError(item_id, f"{name} has no zone")
        return _utc(value)
    if isinstance(value, date):
        zi = timezones.zoneinfo_for(tz_name) or UTC
        return datetime.combine(value, time(0), tzinfo=zi).astimezone(UTC)
    raise EwsMappingError(item_id, f"{name} is missing")


def _utc(value: datetime) -> datetime:
    """A plain aware UTC datetime (exchangelib's EWSDateTime only takes EWSTimeZone)."""
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _email(mb: Any) -> EmailAddress | None:
    if mb is None:
        return None
    return EmailAddress(address=mb.email_address or "", name=mb.name or "")


def _attendees(item: Any) -> tuple[Attendee, ...]:
    out = []
    for field, kind in (
        ("required_attendees", AttendeeType.REQUIRED),
        ("optional_attendees", AttendeeType.OPTIONAL),
        ("resources", AttendeeType.RESOURCE),
    ):
        for a in getattr(item, field, None) or []:
            e = _email(a.mailbox)
            if e is None:
                continue
            out.append(Attendee(e, kind, _RESP.get(a.response_type or "", ResponseType.NONE)))
    return tuple(out)


def recurrence_from_ews(rec: Any, tz_name: str, item_id: str = "") -> Recurrence | None:
    if rec is None:
        return None
    p, b = rec.pattern, rec.boundary
    try:
        if isinstance(p, DailyPattern):
            pat = RecurrencePattern(PatternType.DAILY, p.interval)
        elif isinstance(p, WeeklyPattern):
            pat = RecurrencePattern(
                PatternType.WEEKLY,
                p.interval,
                days_of_week=tuple(_DAYS[d - 1] for d in p.weekdays),
                first_day_of_week=_DAYS[(p.first_day_of_week or 7) - 1],
            )
        elif isinstance(p, AbsoluteMonthlyPattern):
            pat = RecurrencePattern(
                PatternType.ABSOLUTE_MONTHLY, p.interval, day_of_month=p.day_of_month
            )
        elif isinstance(p, RelativeMonthlyPattern):
            pat = RecurrencePattern(
                PatternType.RELATIVE_MONTHLY,
                p.interval,
                days_of_week=(_DAYS[p.weekday - 1],),
                index=_INDEX[p.week_number - 1],
            )
        elif isinstance(p, AbsoluteYearlyPattern):
            pat = RecurrencePattern(
                PatternType.ABSOLUTE_YEARLY, 1, day_of_month=p.day_of_month, month=p.month
            )
        elif isinstance(p, RelativeYearlyPattern):
            pat = RecurrencePattern(
                PatternType.RELATIVE_YEARLY,
                1,
                days_of_week=(_DAYS[p.weekday - 1],),
                index=_INDEX[p.week_number - 1],
                month=p.month,
            )
        else:
            raise EwsMappingError(
                item_id, f"recurrence pattern {type(p).__name__} is not supported"
            )
    except IndexError as e:
        raise EwsMappingError(item_id, f"recurrence pattern is malformed: {e}") from e
    start = b.start if isinstance(b.start, date) else None
    if start is None:
        raise EwsMappingError(item_id, "recurrence range has no start date")
    if isinstance(start, datetime):
        start = start.date()
    if pat.type in (PatternType.ABSOLUTE_MONTHLY, PatternType.RELATIVE_MONTHLY) and (
        pat.interval > 12 and pat.interval % 12 == 0
    ):
        # "Every n years" comes as a monthly pattern every 12n months (EWS yearly patterns have
        # no Interval); the domain names it yearly, as Graph does.
        yearly = (
            PatternType.ABSOLUTE_YEARLY
            if pat.type is PatternType.ABSOLUTE_MONTHLY
            else PatternType.RELATIVE_YEARLY
        )
        pat = RecurrencePattern(
            yearly,
            pat.interval // 12,
            days_of_week=pat.days_of_week,
            day_of_month=pat.day_of_month,
            month=start.month,
            index=pat.index,
        )
    if isinstance(b, NoEndPattern):
        rng = RecurrenceRange(RangeType.NO_END, start, time_zone=tz_name)
    elif isinstance(b, EndDatePattern):
        end = b.end.date() if isinstance(b.end, datetime) else b.end
        rng = RecurrenceRange(RangeType.END_DATE, start, end_date=end, time_zone=tz_name)
    elif isinstance(b, NumberedPattern):
        rng = RecurrenceRange(
            RangeType.NUMBERED, start, number_of_occurrences=b.number, time_zone=tz_name
        )
    else:
        raise EwsMappingError(item_id, "recurrence range is not supported")
    return Recurrence(pat, rng)


def _from_goid(raw: bytes) -> str:
    """PidLidGlobalObjectId as Graph's iCalUId: hex, or the UID inside a "vCal-Uid" blob
    (MS-OXOCAL 2.2.1.27: an iCalendar UID from outside Outlook)."""
    marker = raw.find(b"vCal-Uid")
    if marker >= 0:
        return raw[marker + 12 :].rstrip(b"\x00").decode("utf-8", "replace")
    return raw.hex().upper()


def _ical_uid(item: Any) -> str:
    raw = getattr(item, "global_object_id", None)
    if isinstance(raw, bytes) and raw:
        return _from_goid(raw)
    if isinstance(raw, str) and raw:
        try:
            return _from_goid(base64.b64decode(raw))
        except ValueError:
            pass
    uid = getattr(item, "uid", None)
    if not uid:
        raise EwsMappingError(str(getattr(item, "id", "")), "the item has no UID")
    return str(uid)


def item_from_ews(mailbox: str, item: Any, master_id: str | None = None) -> Item:
    """One exchangelib CalendarItem as an `Item`; raises `EwsMappingError` for malformed ones."""
    iid = str(getattr(item, "id", "") or "")
    if not iid:
        raise EwsMappingError("", "the item has no id")
    tz_name = _zone_name(getattr(item, "_start_timezone", None))
    end_tz = _zone_name(getattr(item, "_end_timezone", None)) or tz_name
    start = _aware(item.start, tz_name, iid, "start")
    end = _aware(item.end, tz_name, iid, "end")
    if end < start:
        raise EwsMappingError(iid, "end is before start")
    body = item.body
    body_html = type(body).__name__ == "HTMLBody"
    itype = _TYPE.get(item.type or "Single")
    if itype is None:
        raise EwsMappingError(iid, f"CalendarItemType has an unknown value {item.type!r}")
    organizer = _email(item.organizer)
    is_organizer = (item.my_response_type or "Organizer") == "Organizer"
    reminder = item.reminder_minutes_before_start
    original = item.original_start if isinstance(item.original_start, datetime) else None
    return Item(
        id=iid,
        mailbox=mailbox,
        ical_uid=_ical_uid(item),
        change_key=str(item.changekey or ""),
        subject=item.subject or "",
        start=start,
        end=end,
        start_time_zone=tz_name,
        end_time_zone=end_tz,
        is_all_day=bool(item.is_all_day),
        organizer=organizer,
        attendees=_attendees(item),
        is_organizer=is_organizer,
        my_response=_RESP.get(item.my_response_type or "", ResponseType.NONE),
        sensitivity=_SENS.get(item.sensitivity or "Normal", Sensitivity.NORMAL),
        show_as=_SHOW.get(item.legacy_free_busy_status or "", ShowAs.UNKNOWN),
        categories=tuple(item.categories or ()),
        type=itype,
        series_master_id=master_id if itype in (ItemType.OCCURRENCE, ItemType.EXCEPTION) else None,
        recurrence=(
            recurrence_from_ews(item.recurrence, tz_name, iid)
            if itype is ItemType.SERIES_MASTER
            else None
        ),
        original_start=_utc(original) if original else None,
        is_cancelled=bool(item.is_cancelled),
        body=str(body or ""),
        body_is_html=body_html,
        location=item.location or "",
        reminder_on=bool(item.reminder_is_set),
        reminder_minutes=int(reminder or 0),
        created=_utc(item.datetime_created) if item.datetime_created else None,
        last_modified=_utc(item.last_modified_time) if item.last_modified_time else None,
        salesforce_event_id=getattr(item, "crmcal_sf_id", None) or None,
        has_attachments=bool(item.has_attachments),
    )


# -- writing --------------------------------------------------------------------------------------


def ews_zone(name: str) -> EWSTimeZone:
    zi = timezones.zoneinfo_for(name)
    if zi is None:
        raise ValueError(f"time zone {name!r} has no IANA equivalent")
    return EWSTimeZone(zi.key)


def _local(dt: datetime, tz: EWSTimeZone) -> EWSDateTime:
    if dt.tzinfo is None:
        raise ValueError("datetimes written to EWS must be timezone-aware")
    local = dt.astimezone(timezones.zoneinfo_for(tz.key) or UTC)
    return EWSDateTime(
        local.year, local.month, local.day, local.hour, local.minute, local.second, tzinfo=tz
    )


_SHOW_OUT = {v: k for k, v in _SHOW.items()}
_SENS_OUT = {v: k for k, v in _SENS.items()}


def _x_attendees(att: tuple[Attendee, ...], kind: AttendeeType) -> list[XAttendee]:
    return [
        XAttendee(
            mailbox=XMailbox(email_address=a.email.address, name=a.email.name or a.email.address),
            response_type="Unknown",
        )
        for a in att
        if a.type is kind
    ]


def recurrence_to_ews(rec: Recurrence) -> XRecurrence:
    p, r = rec.pattern, rec.range
    days = [_DAYS.index(d) + 1 for d in p.days_of_week]
    if p.type is PatternType.DAILY:
        pat: Any = DailyPattern(interval=p.interval)
    elif p.type is PatternType.WEEKLY:
        pat = WeeklyPattern(
            interval=p.interval,
            weekdays=days,
            first_day_of_week=_DAYS.index(p.first_day_of_week) + 1,
        )
    elif p.type is PatternType.ABSOLUTE_MONTHLY:
        pat = AbsoluteMonthlyPattern(interval=p.interval, day_of_month=p.day_of_month)
    elif p.type is PatternType.RELATIVE_MONTHLY:
        if len(days) != 1:
            raise ValueError("a relative monthly pattern names one day of the week in EWS")
        pat = RelativeMonthlyPattern(
            interval=p.interval, weekday=days[0], week_number=_INDEX.index(p.index) + 1
        )
    elif p.type is PatternType.ABSOLUTE_YEARLY and p.interval > 1:
        pat = AbsoluteMonthlyPattern(interval=12 * p.interval, day_of_month=p.day_of_month)
    elif p.type is PatternType.ABSOLUTE_YEARLY:
        pat = AbsoluteYearlyPattern(day_of_month=p.day_of_month, month=p.month)
    elif p.type is PatternType.RELATIVE_YEARLY and p.interval > 1:
        if len(days) != 1:
            raise ValueError("a relative yearly pattern names one day of the week in EWS")
        pat = RelativeMonthlyPattern(
            interval=12 * p.interval, weekday=days[0], week_number=_INDEX.index(p.index) + 1
        )
    else:
        if len(days) != 1:
            raise ValueError("a relative yearly pattern names one day of the week in EWS")
        pat = RelativeYearlyPattern(
            weekday=days[0], week_number=_INDEX.index(p.index) + 1, month=p.month
        )
    if r.type is RangeType.END_DATE and r.end_date is not None:
        boundary: Any = EndDatePattern(start=r.start_date, end=r.end_date)
    elif r.type is RangeType.NUMBERED:
        boundary = NumberedPattern(start=r.start_date, number=r.number_of_occurrences)
    else:
        boundary = NoEndPattern(start=r.start_date)
    return XRecurrence(pattern=pat, boundary=boundary)


def _body(text: str, html: bool) -> Any:
    from exchangelib import HTMLBody
    from exchangelib.properties import Body

    return HTMLBody(text) if html else Body(text)


def draft_to_ews(d: ItemDraft, account: Any, folder: Any) -> CalendarItem:
    if d.end < d.start:
        raise ValueError("end is before start")
    tz = ews_zone(d.time_zone)
    item = CalendarItem(
        account=account,
        folder=folder,
        subject=d.subject,
        body=_body(d.body, d.body_is_html),
        start=_local(d.start, tz),
        end=_local(d.end, tz),
        is_all_day=d.is_all_day,
        sensitivity=_SENS_OUT[d.sensitivity],
        legacy_free_busy_status=_SHOW_OUT[d.show_as],
        categories=list(d.categories) or None,
        reminder_is_set=d.reminder_on,
        reminder_minutes_before_start=d.reminder_minutes if d.reminder_on else None,
        location=d.location or None,
        required_attendees=_x_attendees(d.attendees, AttendeeType.REQUIRED) or None,
        optional_attendees=_x_attendees(d.attendees, AttendeeType.OPTIONAL) or None,
        resources=_x_attendees(d.attendees, AttendeeType.RESOURCE) or None,
        recurrence=recurrence_to_ews(d.recurrence) if d.recurrence else None,
    )
    if d.salesforce_event_id:
        item.crmcal_sf_id = d.salesforce_event_id
    return item


def patch_to_ews(
    item_id: str, p: ItemPatch, account: Any, folder: Any
) -> tuple[CalendarItem, list[str]]:
    """A CalendarItem carrying the changed fields and their names (UpdateItem's SetItemField /
    DeleteItemField per field: only what changed is sent)."""
    item = CalendarItem(account=account, folder=folder, id=item_id, changekey=None)
    names: list[str] = []
    tz = ews_zone(p.time_zone or "UTC")
    if p.start is not None and p.end is not None and p.end < p.start:
        raise ValueError("end is before start")

    def put(name: str, value: Any) -> None:
        setattr(item, name, value)
        names.append(name)

    if p.subject is not None:
        put("subject", p.subject)
    if p.start is not None:
        put("start", _local(p.start, tz))
    if p.end is not None:
        put("end", _local(p.end, tz))
    if p.is_all_day is not None:
        put("is_all_day", p.is_all_day)
    if p.body is not None:
        put("body", _body(p.body, bool(p.body_is_html)))
    if p.location is not None:
        put("location", p.location or None)
    if p.attendees is not None:
        put("required_attendees", _x_attendees(p.attendees, AttendeeType.REQUIRED) or None)
        put("optional_attendees", _x_attendees(p.attendees, AttendeeType.OPTIONAL) or None)
        put("resources", _x_attendees(p.attendees, AttendeeType.RESOURCE) or None)
    if p.sensitivity is not None:
        put("sensitivity", _SENS_OUT[p.sensitivity])
    if p.show_as is not None:
        put("legacy_free_busy_status", _SHOW_OUT[p.show_as])
    if p.categories is not None:
        put("categories", list(p.categories) or None)
    if p.reminder_on is not None:
        put("reminder_is_set", p.reminder_on)
    if p.reminder_minutes is not None:
        put("reminder_minutes_before_start", p.reminder_minutes)
    if p.recurrence is not None:
        put("recurrence", recurrence_to_ews(p.recurrence))
    if p.salesforce_event_id is not None:
        put("crmcal_sf_id", p.salesforce_event_id or None)
    return item, names
