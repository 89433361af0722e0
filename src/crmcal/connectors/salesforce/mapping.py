"""Salesforce JSON <-> :mod:`crmcal.domain.crm` (the only place that reads record JSON)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TypeAlias

from crmcal.connectors.unicode import lone_surrogate_at
from crmcal.domain.crm import (
    ClassicRecurrence,
    ClassicRecurrenceType,
    CrmEvent,
    CrmFieldDescribe,
    CrmObjectDescribe,
    CrmOpportunity,
    CrmUser,
    EventRelation,
    EventShowAs,
    LightningRecurrence,
    PublicCalendar,
    RecordRef,
    RecordType,
    RelationStatus,
    record_type_of,
)

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
JsonObject: TypeAlias = dict[str, JsonValue]
Scalar: TypeAlias = str | int | float | bool | None


class MappingError(ValueError):
    """A record can't be read into a domain type (missing Id, wrong types)."""


EVENT_FIELDS: tuple[str, ...] = (
    "Id", "OwnerId", "Subject", "StartDateTime", "EndDateTime", "IsAllDayEvent", "ActivityDate",
    "DurationInMinutes", "Location", "Description", "ShowAs", "IsPrivate", "WhoId", "WhatId",
    "IsReminderSet", "ReminderDateTime", "IsChild", "IsGroupEvent", "IsRecurrence",
    "RecurrenceActivityId", "RecurrenceType", "RecurrenceInterval", "RecurrenceDayOfWeekMask",
    "RecurrenceDayOfMonth", "RecurrenceInstance", "RecurrenceMonthOfYear",
    "RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceTimeZoneSidKey",
    "IsRecurrence2", "Recurrence2PatternText", "Recurrence2PatternTimeZone",
    "Recurrence2PatternStartDate", "IsRecurrence2Exception", "CreatedById", "LastModifiedById",
    "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted",
)  # fmt: skip


# -------------------------------------------------------------------------------- primitives
def parse_datetime(value: JsonValue) -> datetime | None:
    """``2026-03-05T22:07:19.000+0000`` (or any ISO 8601 with offset) as aware UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(f"not a datetime: {value!r}")
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    elif len(s) >= 5 and s[-5] in "+-" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise MappingError(f"not a datetime: {value!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def parse_date(value: JsonValue) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(f"not a date: {value!r}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise MappingError(f"not a date: {value!r}") from None


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def _s(rec: Mapping[str, JsonValue], key: str) -> str:
    v = rec.get(key)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    raise MappingError(f"{key} is not text")


def _opt_s(rec: Mapping[str, JsonValue], key: str) -> str | None:
    v = rec.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    raise MappingError(f"{key} is not text")


def _b(rec: Mapping[str, JsonValue], key: str) -> bool:
    v = rec.get(key)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    raise MappingError(f"{key} is not a boolean")


def _i(rec: Mapping[str, JsonValue], key: str) -> int | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool):
        raise MappingError(f"{key} is not a number")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise MappingError(f"{key} is not a number")


def record_id(rec: Mapping[str, JsonValue]) -> str:
    rid = rec.get("Id")
    if not isinstance(rid, str) or len(rid) not in (15, 18):
        raise MappingError("record has no valid Id")
    return rid


# -------------------------------------------------------------------------------------- Event
def event_from_json(
    rec: Mapping[str, JsonValue],
    *,
    guid_field: str | None = None,
    extra_fields: Sequence[str] = (),
) -> CrmEvent:
    bad_text = lone_surrogate_at(rec)
    if bad_text is not None:
        raise MappingError(f"{bad_text} is not valid Unicode text")
    try:
        show_as = EventShowAs(_s(rec, "ShowAs") or "Busy")
    except ValueError:
        show_as = EventShowAs.BUSY
    classic = None
    if _b(rec, "IsRecurrence") and rec.get("RecurrenceType"):
        try:
            rtype = ClassicRecurrenceType(_s(rec, "RecurrenceType"))
        except ValueError:
            raise MappingError(f"unknown RecurrenceType {rec.get('RecurrenceType')!r}") from None
        rstart = parse_datetime(rec.get("RecurrenceStartDateTime"))
        rend = parse_date(rec.get("RecurrenceEndDateOnly"))
        if rstart is None or rend is None:
            raise MappingError("Classic series without start or end")
        classic = ClassicRecurrence(
            type=rtype,
            start=rstart,
            end_date=rend,
            time_zone=_s(rec, "RecurrenceTimeZoneSidKey"),
            interval=_i(rec, "RecurrenceInterval"),
            day_of_week_mask=_i(rec, "RecurrenceDayOfWeekMask"),
            day_of_month=_i(rec, "RecurrenceDayOfMonth"),
            instance=_opt_s(rec, "RecurrenceInstance"),
            month_of_year=_opt_s(rec, "RecurrenceMonthOfYear"),
        )
    lightning = None
    if _b(rec, "IsRecurrence2") and rec.get("Recurrence2PatternText"):
        lightning = LightningRecurrence(
            pattern_text=_s(rec, "Recurrence2PatternText"),
            time_zone=_s(rec, "Recurrence2PatternTimeZone"),
            start_date=parse_datetime(rec.get("Recurrence2PatternStartDate")),
        )
    extras: list[tuple[str, Scalar]] = []
    for name in extra_fields:
        v = rec.get(name)
        if isinstance(v, list | dict):
            raise MappingError(f"{name} is not a scalar")
        extras.append((name, v))
    return CrmEvent(
        id=record_id(rec),
        owner_id=_s(rec, "OwnerId"),
        subject=_s(rec, "Subject"),
        start=parse_datetime(rec.get("StartDateTime")),
        end=parse_datetime(rec.get("EndDateTime")),
        is_all_day=_b(rec, "IsAllDayEvent"),
        activity_date=parse_date(rec.get("ActivityDate")),
        duration_minutes=_i(rec, "DurationInMinutes"),
        location=_s(rec, "Location"),
        description=_s(rec, "Description"),
        show_as=show_as,
        is_private=_b(rec, "IsPrivate"),
        who_id=_opt_s(rec, "WhoId"),
        what_id=_opt_s(rec, "WhatId"),
        is_reminder_set=_b(rec, "IsReminderSet"),
        reminder_at=parse_datetime(rec.get("ReminderDateTime")),
        guid=guid_of(_opt_s(rec, guid_field)) if guid_field else None,
        is_child=_b(rec, "IsChild"),
        is_group_event=_b(rec, "IsGroupEvent"),
        classic_recurrence=classic,
        recurrence_activity_id=_opt_s(rec, "RecurrenceActivityId"),
        lightning_recurrence=lightning,
        is_recurrence2_exception=_b(rec, "IsRecurrence2Exception"),
        created_by_id=_opt_s(rec, "CreatedById"),
        last_modified_by_id=_opt_s(rec, "LastModifiedById"),
        created=parse_datetime(rec.get("CreatedDate")),
        last_modified=parse_datetime(rec.get("LastModifiedDate")),
        system_modstamp=parse_datetime(rec.get("SystemModstamp")),
        is_deleted=_b(rec, "IsDeleted"),
        extra_fields=tuple(extras),
    )


GUID_OWNER_SEPARATOR = "|"


def guid_key(guid: str, owner_id: str) -> str:
    """D3's external id value: the item GUID and the owner, so that P3's sibling Events (same
    GUID, one per sharer) each have their own key and an upsert is exactly-once per (GUID, owner),
    which is D1's key too."""
    return f"{guid}{GUID_OWNER_SEPARATOR}{owner_id[:15]}" if owner_id else guid


def guid_of(value: str | None) -> str | None:
    """The GUID part of a stored key (values written by other tools come back as they are)."""
    if value is None:
        return None
    return value.split(GUID_OWNER_SEPARATOR, 1)[0]


def event_to_json(
    ev: CrmEvent, *, guid_field: str | None = None, for_update: bool = False
) -> dict[str, Scalar]:
    """Fields to write. Create-only fields (series definitions) are left out on update."""
    out: dict[str, Scalar] = {
        "OwnerId": ev.owner_id or None,
        "Subject": ev.subject or None,
        "Location": ev.location or None,
        "Description": ev.description or None,
        "ShowAs": ev.show_as.value,
        "IsPrivate": ev.is_private,
        "WhoId": ev.who_id,
        "WhatId": ev.what_id,
        "IsReminderSet": ev.is_reminder_set,
        "ReminderDateTime": format_datetime(ev.reminder_at) if ev.reminder_at else None,
        "IsAllDayEvent": ev.is_all_day,
    }
    if ev.is_all_day:
        day = ev.activity_date or (ev.start.date() if ev.start else None)
        out["ActivityDate"] = day.isoformat() if day else None
        minutes = ev.duration_minutes
        if minutes is None and ev.start and ev.end:
            minutes = max((ev.end.date() - ev.start.date()).days, 1) * 1440
        out["DurationInMinutes"] = minutes or 1440
    else:
        out["StartDateTime"] = format_datetime(ev.start) if ev.start else None
        if ev.end is not None:
            out["EndDateTime"] = format_datetime(ev.end)
        elif ev.duration_minutes is not None:
            out["DurationInMinutes"] = ev.duration_minutes
    if guid_field and ev.guid is not None:
        out[guid_field] = guid_key(ev.guid, ev.owner_id)
    if not for_update:
        rec = ev.classic_recurrence
        if rec is not None:
            out.update(
                IsRecurrence=True,
                RecurrenceType=rec.type.value,
                RecurrenceStartDateTime=format_datetime(rec.start),
                RecurrenceEndDateOnly=rec.end_date.isoformat(),
                RecurrenceTimeZoneSidKey=rec.time_zone or None,
            )
            for key, val in (
                ("RecurrenceInterval", rec.interval),
                ("RecurrenceDayOfWeekMask", rec.day_of_week_mask),
                ("RecurrenceDayOfMonth", rec.day_of_month),
                ("RecurrenceInstance", rec.instance),
                ("RecurrenceMonthOfYear", rec.month_of_year),
            ):
                if val is not None:
                    out[key] = val
    lr = ev.lightning_recurrence
    if lr is not None and (not for_update or lr.pattern_text):
        out["Recurrence2PatternText"] = lr.pattern_text
        if lr.time_zone:
            out["Recurrence2PatternTimeZone"] = lr.time_zone
    for name, extra in ev.extra_fields:
        out[name] = extra
    return out


# ------------------------------------------------------------------------ relations, records
def relation_from_json(rec: Mapping[str, JsonValue]) -> EventRelation:
    try:
        status = RelationStatus(_s(rec, "Status") or "New")
    except ValueError:
        status = RelationStatus.UNDECIDED if rec.get("Status") == "Maybe" else RelationStatus.NEW
    return EventRelation(
        event_id=_s(rec, "EventId"),
        relation_id=_s(rec, "RelationId"),
        is_invitee=_b(rec, "IsInvitee"),
        status=status,
        id=record_id(rec),
        is_parent=_b(rec, "IsParent"),
        is_what=_b(rec, "IsWhat"),
        response=_s(rec, "Response"),
        is_deleted=rec.get("IsDeleted") is True,
    )


def relation_to_json(rel: EventRelation) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {
        "EventId": rel.event_id,
        "RelationId": rel.relation_id,
        "IsInvitee": rel.is_invitee,
    }
    if rel.is_parent:
        out["IsParent"] = True
    if rel.is_what:
        out["IsWhat"] = True
    if rel.status is not RelationStatus.NEW:
        out["Status"] = "Maybe" if rel.status is RelationStatus.UNDECIDED else rel.status.value
    if rel.response:
        out["Response"] = rel.response
    return out


def ref_from_json(rec: Mapping[str, JsonValue], sobject: str) -> RecordRef:
    rid = record_id(rec)
    rtype = record_type_of(rid)
    if rtype is RecordType.OTHER:
        try:
            rtype = RecordType(sobject)
        except ValueError:
            rtype = RecordType.OTHER
    return RecordRef(
        type=rtype,
        id=rid,
        name=_s(rec, "Name"),
        email=_s(rec, "Email"),
        account_id=_opt_s(rec, "AccountId"),
        object_name="" if rtype is not RecordType.OTHER else sobject,
    )


def user_from_json(rec: Mapping[str, JsonValue]) -> CrmUser:
    return CrmUser(
        id=record_id(rec),
        email=_s(rec, "Email"),
        name=_s(rec, "Name"),
        username=_s(rec, "Username"),
        is_active=_b(rec, "IsActive"),
    )


def calendar_from_json(rec: Mapping[str, JsonValue]) -> PublicCalendar:
    return PublicCalendar(
        id=record_id(rec),
        name=_s(rec, "Name"),
        type=_s(rec, "Type") or "Public",
        is_active=_b(rec, "IsActive"),
    )


def opportunity_from_json(rec: Mapping[str, JsonValue]) -> CrmOpportunity:
    return CrmOpportunity(
        id=record_id(rec),
        name=_s(rec, "Name"),
        account_id=_opt_s(rec, "AccountId"),
        owner_id=_opt_s(rec, "OwnerId"),
        stage=_s(rec, "StageName"),
        is_closed=_b(rec, "IsClosed"),
        is_won=_b(rec, "IsWon"),
        close_date=parse_date(rec.get("CloseDate")),
        last_modified=parse_datetime(rec.get("LastModifiedDate")),
    )


def describe_from_json(data: Mapping[str, JsonValue]) -> CrmObjectDescribe:
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list):
        raise MappingError("describe without fields")
    fields: list[CrmFieldDescribe] = []
    for f in raw_fields:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise MappingError("describe field without name")
        picks = f.get("picklistValues")
        values = tuple(
            str(p["value"])
            for p in (picks if isinstance(picks, list) else [])
            if isinstance(p, dict) and isinstance(p.get("value"), str)
        )
        refs = f.get("referenceTo")
        length = f.get("length")
        fields.append(
            CrmFieldDescribe(
                name=str(f["name"]),
                type=_s(f, "type"),
                length=length if isinstance(length, int) else 0,
                nillable=bool(f.get("nillable", True)),
                createable=bool(f.get("createable", False)),
                updateable=bool(f.get("updateable", False)),
                defaulted_on_create=bool(f.get("defaultedOnCreate", False)),
                external_id=bool(f.get("externalId", False)),
                custom=bool(f.get("custom", False)),
                picklist_values=values,
                restricted_picklist=bool(f.get("restrictedPicklist", False)),
                reference_to=tuple(str(r) for r in refs) if isinstance(refs, list) else (),
                label=_s(f, "label"),
            )
        )
    return CrmObjectDescribe(
        name=_s(data, "name"),
        key_prefix=_opt_s(data, "keyPrefix"),
        fields=tuple(fields),
        createable=bool(data.get("createable", False)),
        updateable=bool(data.get("updateable", False)),
        deletable=bool(data.get("deletable", False)),
        label=_s(data, "label"),
    )
