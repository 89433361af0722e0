"""Item snapshots to and from JSON for the state store (pure). Only what the planner reads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from crmcal.domain import (
    Attendee,
    AttendeeType,
    DayOfWeek,
    EmailAddress,
    Item,
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

VERSION = 1


def _dt(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _pdt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v) if isinstance(v, str) else None


def _email(e: EmailAddress | None) -> list[str] | None:
    return [e.address, e.name] if e is not None else None


def _pemail(v: Any) -> EmailAddress | None:
    return EmailAddress(str(v[0]), str(v[1])) if isinstance(v, list) and len(v) == 2 else None


def item_to_json(item: Item) -> dict[str, Any]:
    rec = item.recurrence
    return {
        "v": VERSION,
        "id": item.id,
        "mailbox": item.mailbox,
        "ical_uid": item.ical_uid,
        "change_key": item.change_key,
        "subject": item.subject,
        "start": _dt(item.start),
        "end": _dt(item.end),
        "start_time_zone": item.start_time_zone,
        "end_time_zone": item.end_time_zone,
        "is_all_day": item.is_all_day,
        "organizer": _email(item.organizer),
        "attendees": [
            [a.email.address, a.email.name, a.type.value, a.response.value] for a in item.attendees
        ],
        "is_organizer": item.is_organizer,
        "my_response": item.my_response.value,
        "sensitivity": item.sensitivity.value,
        "show_as": item.show_as.value,
        "categories": list(item.categories),
        "type": item.type.value,
        "series_master_id": item.series_master_id,
        "recurrence": None
        if rec is None
        else {
            "pattern": {
                "type": rec.pattern.type.value,
                "interval": rec.pattern.interval,
                "days_of_week": [d.value for d in rec.pattern.days_of_week],
                "day_of_month": rec.pattern.day_of_month,
                "month": rec.pattern.month,
                "index": rec.pattern.index.value,
                "first_day_of_week": rec.pattern.first_day_of_week.value,
            },
            "range": {
                "type": rec.range.type.value,
                "start_date": rec.range.start_date.isoformat(),
                "end_date": rec.range.end_date.isoformat() if rec.range.end_date else None,
                "number_of_occurrences": rec.range.number_of_occurrences,
                "time_zone": rec.range.time_zone,
            },
        },
        "original_start": _dt(item.original_start),
        "is_cancelled": item.is_cancelled,
        "body": item.body,
        "body_is_html": item.body_is_html,
        "location": item.location,
        "reminder_on": item.reminder_on,
        "reminder_minutes": item.reminder_minutes,
        "web_link": item.web_link,
        "created": _dt(item.created),
        "last_modified": _dt(item.last_modified),
        "salesforce_event_id": item.salesforce_event_id,
        "has_attachments": item.has_attachments,
    }


def item_from_json(d: dict[str, Any]) -> Item:
    start = _pdt(d["start"])
    end = _pdt(d["end"])
    if start is None or end is None:
        raise ValueError("snapshot without start or end")
    rec = d.get("recurrence")
    recurrence = None
    if isinstance(rec, dict):
        p, r = rec["pattern"], rec["range"]
        recurrence = Recurrence(
            RecurrencePattern(
                PatternType(p["type"]),
                int(p["interval"]),
                tuple(DayOfWeek(x) for x in p["days_of_week"]),
                int(p["day_of_month"]),
                int(p["month"]),
                WeekIndex(p["index"]),
                DayOfWeek(p["first_day_of_week"]),
            ),
            RecurrenceRange(
                RangeType(r["type"]),
                date.fromisoformat(r["start_date"]),
                date.fromisoformat(r["end_date"]) if r["end_date"] else None,
                int(r["number_of_occurrences"]),
                r["time_zone"],
            ),
        )
    return Item(
        id=d["id"],
        mailbox=d["mailbox"],
        ical_uid=d["ical_uid"],
        change_key=d["change_key"],
        subject=d["subject"],
        start=start,
        end=end,
        start_time_zone=d["start_time_zone"],
        end_time_zone=d["end_time_zone"],
        is_all_day=bool(d["is_all_day"]),
        organizer=_pemail(d["organizer"]),
        attendees=tuple(
            Attendee(EmailAddress(a[0], a[1]), AttendeeType(a[2]), ResponseType(a[3]))
            for a in d["attendees"]
        ),
        is_organizer=bool(d["is_organizer"]),
        my_response=ResponseType(d["my_response"]),
        sensitivity=Sensitivity(d["sensitivity"]),
        show_as=ShowAs(d["show_as"]),
        categories=tuple(d["categories"]),
        type=ItemType(d["type"]),
        series_master_id=d["series_master_id"],
        recurrence=recurrence,
        original_start=_pdt(d["original_start"]),
        is_cancelled=bool(d["is_cancelled"]),
        body=d["body"],
        body_is_html=bool(d["body_is_html"]),
        location=d["location"],
        reminder_on=bool(d["reminder_on"]),
        reminder_minutes=int(d["reminder_minutes"]),
        web_link=d["web_link"],
        created=_pdt(d["created"]),
        last_modified=_pdt(d["last_modified"]),
        salesforce_event_id=d["salesforce_event_id"],
        has_attachments=bool(d["has_attachments"]),
    )


__all__ = ["item_from_json", "item_to_json"]
