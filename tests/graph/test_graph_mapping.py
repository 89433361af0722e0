"""Graph JSON ⇄ domain mapping at the connector's edge (no HTTP): shapes, zones, Y3 input checks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crmcal.connectors.errors import AuthError, ItemError, LimitExceeded, NotFound, TransientError
from crmcal.connectors.graph.errors import (
    GraphAuthError,
    GraphConflict,
    GraphItemNotFound,
    GraphNotOrganizer,
    GraphServiceError,
    GraphThrottled,
    SyncStateNotFound,
    error_from_body,
)
from crmcal.connectors.graph.mapping import (
    SALESFORCE_PROPERTY_ID,
    MappingError,
    draft_to_graph,
    item_from_graph,
    patch_to_graph,
    recurrence_from_graph,
    recurrence_to_graph,
)
from crmcal.domain.calendar import (
    Attendee,
    DayOfWeek,
    EmailAddress,
    ItemDraft,
    ItemPatch,
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
from crmcal.rules.mapping import all_day_dates

A1: dict[str, Any] = {
    "@odata.etag": 'W/"Qk1xY2hhbmdla2V5MDAx"',
    "id": "AAMkAD-emu-evt-0001=",
    "iCalUId": "040000008200E00074C5B7101A82E00800000000A1B2C3D4",
    "changeKey": "Qk1xY2hhbmdla2V5MDAx",
    "createdDateTime": "2026-03-02T09:14:11.1234567Z",
    "lastModifiedDateTime": "2026-03-02T09:20:40.7654321Z",
    "subject": "Quarterly review",
    "body": {"contentType": "html", "content": "<html><body>Agenda…</body></html>"},
    "bodyPreview": "Agenda…",
    "start": {"dateTime": "2026-03-10T14:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-10T15:00:00.0000000", "timeZone": "UTC"},
    "originalStartTimeZone": "W. Europe Standard Time",
    "originalEndTimeZone": "W. Europe Standard Time",
    "isAllDay": False,
    "isCancelled": False,
    "isOrganizer": True,
    "showAs": "busy",
    "sensitivity": "normal",
    "importance": "normal",
    "type": "singleInstance",
    "seriesMasterId": None,
    "recurrence": None,
    "location": {
        "displayName": "Room 4",
        "locationType": "default",
        "uniqueIdType": "private",
        "uniqueId": "Room 4",
    },
    "locations": [{"displayName": "Room 4", "locationType": "default", "uniqueIdType": "unknown"}],
    "organizer": {"emailAddress": {"name": "Ana Ruiz", "address": "ana@contoso.example"}},
    "attendees": [
        {
            "type": "required",
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {"name": "Bo Li", "address": "bo@contoso.example"},
        }
    ],
    "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
    "categories": ["Blue category"],
    "hasAttachments": False,
    "webLink": "https://outlook.office365.com/owa/?itemid=AAMkAD-emu-evt-0001%3D&exvsurl=1&path=/calendar/item",
}


def test_the_a1_example_maps_to_an_item() -> None:
    item = item_from_graph("ana@contoso.example", A1)
    assert item.id == "AAMkAD-emu-evt-0001=" and item.subject == "Quarterly review"
    assert item.start == datetime(2026, 3, 10, 14, tzinfo=UTC) and item.end.hour == 15
    assert item.start_time_zone == "W. Europe Standard Time"
    assert item.organizer == EmailAddress("ana@contoso.example", "Ana Ruiz")
    assert item.attendees == (Attendee(EmailAddress("bo@contoso.example", "Bo Li")),)
    assert item.my_response is ResponseType.ORGANIZER and item.show_as is ShowAs.BUSY
    assert item.categories == ("Blue category",) and item.location == "Room 4" and item.body_is_html
    assert item.created == datetime(2026, 3, 2, 9, 14, 11, 123456, tzinfo=UTC)
    assert item.is_meeting and item.web_link.startswith("https://outlook.office365.com/")
    assert item.salesforce_event_id is None


def test_prefer_timezone_answers_are_read_in_their_zone() -> None:
    obj = {
        **A1,
        "start": {"dateTime": "2026-03-10T07:00:00.0000000", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "America/Los_Angeles"},
    }
    item = item_from_graph("ana@contoso.example", obj)
    assert item.start == datetime(2026, 3, 10, 14, tzinfo=UTC) and item.end == datetime(
        2026, 3, 10, 15, tzinfo=UTC
    )


def test_salesforce_property_is_read_case_insensitively_on_type_and_guid() -> None:
    obj = {
        **A1,
        "singleValueExtendedProperties": [
            {
                "id": SALESFORCE_PROPERTY_ID.replace("String", "string")
                .upper()
                .replace("NAME CRMCALSALESFORCEEVENTID", "Name crmcalSalesforceEventId"),
                "value": "00U1",
            }
        ],
    }
    assert item_from_graph("a", obj).salesforce_event_id == "00U1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "no id"),
        ({"start": None}, "start"),
        ({"start": {"dateTime": "soon", "timeZone": "UTC"}}, "start.dateTime"),
        (
            {"end": {"dateTime": "2026-03-10T15:00:00", "timeZone": "Atlantis Standard Time"}},
            "end.timeZone",
        ),
        ({"end": {"dateTime": "2026-03-10T13:00:00", "timeZone": "UTC"}}, "end is before start"),
        ({"sensitivity": "secret"}, "sensitivity"),
        ({"type": "weird"}, "type"),
        ({"categories": "Blue"}, "categories"),
        ({"isAllDay": "yes"}, "isAllDay"),
        (
            {"attendees": [{"emailAddress": {"address": f"p{i}@x.example"}} for i in range(600)]},
            "attendees",
        ),
        ({"attendees": [{"type": "required"}]}, "emailAddress"),
        ({"reminderMinutesBeforeStart": "15"}, "reminderMinutesBeforeStart"),
        (
            {
                "recurrence": {
                    "pattern": {"type": "fortnightly"},
                    "range": {"type": "noEnd", "startDate": "2026-03-10"},
                }
            },
            "recurrence",
        ),
    ],
)
def test_Y3_malformed_input_is_a_per_item_error(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(MappingError) as ei:
        item_from_graph("ana@contoso.example", {**A1, **change})
    assert reason in ei.value.reason
    if change.get("id", "x") is not None:
        assert ei.value.item_id == A1["id"]


def test_recurrence_round_trip_and_placeholders() -> None:
    rec = Recurrence(
        pattern=RecurrencePattern(
            type=PatternType.RELATIVE_MONTHLY,
            days_of_week=(DayOfWeek.THURSDAY,),
            index=WeekIndex.SECOND,
        ),
        range=RecurrenceRange(
            type=RangeType.NUMBERED,
            start_date=date(2026, 4, 9),
            number_of_occurrences=12,
            time_zone="Europe/Paris",
        ),
    )
    out = recurrence_to_graph(rec, "UTC")
    assert out == {
        "pattern": {
            "type": "relativeMonthly",
            "interval": 1,
            "daysOfWeek": ["thursday"],
            "index": "second",
        },
        "range": {
            "type": "numbered",
            "startDate": "2026-04-09",
            "numberOfOccurrences": 12,
            "recurrenceTimeZone": "Romance Standard Time",
        },
    }
    read = recurrence_from_graph(
        {
            "pattern": {
                "type": "relativeMonthly",
                "interval": 1,
                "daysOfWeek": ["thursday"],
                "index": "second",
                "firstDayOfWeek": "sunday",
                "month": 0,
                "dayOfMonth": 0,
            },
            "range": {
                "type": "numbered",
                "startDate": "2026-04-09",
                "endDate": "0001-01-01",
                "numberOfOccurrences": 12,
                "recurrenceTimeZone": "Romance Standard Time",
            },
        }
    )
    assert (
        read is not None and read.range.end_date is None and read.pattern.index is WeekIndex.SECOND
    )
    assert read.range.time_zone == "Romance Standard Time" and read.pattern.month == 0


def test_drafts_and_patches_carry_windows_zones_and_only_changed_fields() -> None:
    d = ItemDraft(
        subject="x",
        start=datetime(2026, 7, 1, 12, tzinfo=UTC),
        end=datetime(2026, 7, 1, 13, tzinfo=UTC),
        time_zone="Europe/Berlin",
        attendees=(Attendee(EmailAddress("bo@contoso.example")),),
        sensitivity=Sensitivity.PRIVATE,
        salesforce_event_id="00U1",
    )
    body = draft_to_graph(d)
    assert body["start"] == {
        "dateTime": "2026-07-01T14:00:00",
        "timeZone": "W. Europe Standard Time",
    }
    assert body["sensitivity"] == "private"
    assert body["singleValueExtendedProperties"] == [
        {"id": SALESFORCE_PROPERTY_ID, "value": "00U1"}
    ]
    assert patch_to_graph(ItemPatch(subject="y")) == {"subject": "y"}
    assert patch_to_graph(ItemPatch(categories=())) == {"categories": []}
    assert patch_to_graph(ItemPatch()) == {}
    with pytest.raises(ValueError, match="IANA"):
        draft_to_graph(
            ItemDraft(subject="x", start=d.start, end=d.end, time_zone="tzone://Microsoft/Custom")
        )


@pytest.mark.parametrize(
    ("status", "code", "cls", "category"),
    [
        (404, "ErrorItemNotFound", GraphItemNotFound, NotFound),
        (410, "SyncStateNotFound", SyncStateNotFound, TransientError),
        (429, "TooManyRequests", GraphThrottled, LimitExceeded),
        (429, "ApplicationThrottled", GraphThrottled, LimitExceeded),
        (401, "InvalidAuthenticationToken", GraphAuthError, AuthError),
        (503, "serviceNotAvailable", GraphServiceError, TransientError),
        (409, "ErrorDuplicateCategory", GraphConflict, ItemError),
        (400, "ErrorInvalidRequest", GraphNotOrganizer, ItemError),
    ],
)
def test_error_codes_map_onto_the_tree(status: int, code: str, cls: type, category: type) -> None:
    msg = "You need to be an organizer to cancel a meeting." if status == 400 else "m"
    err = error_from_body(
        status, {"error": {"code": code, "message": msg, "innerError": {"request-id": "r1"}}}
    )
    assert isinstance(err, cls) and isinstance(err, category)
    assert err.status == status and err.code == code and err.request_id == "r1"


# -- issue 16: only what Graph always sends is required (E1); all-day dates as written (E2) ----


def test_Y3_E1_only_id_start_end_are_required() -> None:
    """Nothing is rejected for a missing optional field: a row with id, start and end parses."""
    row = {
        "id": "AAMkAocc=",
        "start": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T09:30:00.0000000", "timeZone": "UTC"},
    }
    item = item_from_graph("ana@contoso.example", row)
    assert (item.ical_uid, item.change_key, item.subject, item.categories) == ("", "", "", ())
    assert item.organizer is None and item.attendees == ()
    for drop in ("id", "start", "end"):
        with pytest.raises(MappingError):
            item_from_graph("ana@contoso.example", {k: v for k, v in row.items() if k != drop})


@pytest.mark.parametrize(
    "label", ["UTC", "Tokyo Standard Time", "Hawaiian Standard Time", "Line Islands Standard Time"]
)
def test_E2_all_day_bounds_are_the_dates_written_whatever_the_zone_label(label: str) -> None:
    row = {
        "id": "AAMkAallday=",
        "isAllDay": True,
        "start": {"dateTime": "2026-10-19T00:00:00.0000000", "timeZone": label},
        "end": {"dateTime": "2026-10-20T00:00:00.0000000", "timeZone": label},
    }
    item = item_from_graph("ana@contoso.example", row)
    assert item.start == datetime(2026, 10, 19, tzinfo=UTC)
    assert item.end == datetime(2026, 10, 20, tzinfo=UTC)
    for zone in ("America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Honolulu"):
        assert all_day_dates(item, ZoneInfo(zone)) == (date(2026, 10, 19), 1)
