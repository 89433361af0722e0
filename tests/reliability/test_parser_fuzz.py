"""Y3: a Hypothesis fuzz test over the JSON -> domain parsers of both connectors
(`connectors/graph/mapping.py`, `connectors/salesforce/mapping.py`). Any input gives a domain
object or the documented per-item error (`MappingError`), never another exception.

Inputs are realistic records with each field kept, dropped, or replaced by arbitrary JSON
(wrong types, nested garbage, huge strings, unpaired surrogates, odd dates and zones), so the
fuzzer spends its time past the first checks rather than on dicts with no `id`."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcal.connectors.graph import mapping as gm
from crmcal.connectors.salesforce import mapping as sm
from crmcal.domain import Item
from crmcal.domain.crm import CrmEvent

EXAMPLES = 2000 if os.environ.get("CRMCAL_HYPOTHESIS_PROFILE") == "nightly" else 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RUNS = {"graph": 0, "salesforce": 0, "salesforce_other": 0}

GRAPH_EVENT: dict[str, Any] = {
    "id": "AAMkAD-emu-evt-0001=",
    "iCalUId": "040000008200E00074C5B7101A82E00800000000A1B2C3D4",
    "changeKey": "Qk1xY2hhbmdla2V5MDAx",
    "createdDateTime": "2026-03-02T09:14:11.1234567Z",
    "lastModifiedDateTime": "2026-03-02T09:20:40.7654321Z",
    "subject": "Quarterly review",
    "body": {"contentType": "html", "content": "<html><body>Agenda</body></html>"},
    "start": {"dateTime": "2026-03-10T14:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-10T15:00:00.0000000", "timeZone": "UTC"},
    "originalStartTimeZone": "W. Europe Standard Time",
    "originalEndTimeZone": "W. Europe Standard Time",
    "isAllDay": False,
    "isCancelled": False,
    "isOrganizer": True,
    "showAs": "busy",
    "sensitivity": "normal",
    "type": "singleInstance",
    "seriesMasterId": None,
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                    "firstDayOfWeek": "sunday", "index": "first", "dayOfMonth": 0, "month": 0},
        "range": {"type": "endDate", "startDate": "2026-03-10", "endDate": "2026-06-10",
                  "recurrenceTimeZone": "UTC", "numberOfOccurrences": 0},
    },
    "location": {"displayName": "Room 4"},
    "organizer": {"emailAddress": {"name": "Ana Ruiz", "address": "ana@contoso.example"}},
    "attendees": [
        {"type": "required", "status": {"response": "accepted", "time": "2026-03-02T10:00:00Z"},
         "emailAddress": {"name": "Maria", "address": "maria@fabrikam.example"}},
    ],
    "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
    "categories": ["Salesforce"],
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "webLink": "https://outlook.office365.com/owa/?itemid=x",
    "singleValueExtendedProperties": [{"id": gm.SALESFORCE_PROPERTY_ID, "value": "00U5g0000000001"}],
}  # fmt: skip

SF_EVENT: dict[str, Any] = {
    "attributes": {"type": "Event"}, "Id": "00U5g000000000AEAA", "OwnerId": "0055g000000000AAAA",
    "Subject": "Call", "StartDateTime": "2026-03-10T14:00:00.000+0000",
    "EndDateTime": "2026-03-10T15:00:00.000+0000", "IsAllDayEvent": False,
    "ActivityDate": "2026-03-10", "DurationInMinutes": 60, "Location": "Room",
    "Description": "Notes", "ShowAs": "Busy", "IsPrivate": False, "WhoId": "0035g000000000AAAA",
    "WhatId": "0015g000000000AAAA", "IsReminderSet": True,
    "ReminderDateTime": "2026-03-10T13:45:00.000+0000", "IsChild": False, "IsGroupEvent": False,
    "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
    "RecurrenceDayOfWeekMask": 2, "RecurrenceStartDateTime": "2026-03-10T14:00:00.000+0000",
    "RecurrenceEndDateOnly": "2026-06-10", "RecurrenceTimeZoneSidKey": "Europe/Berlin",
    "IsRecurrence2": False, "CreatedById": "0055g000000000AAAA",
    "CreatedDate": "2026-03-01T10:00:00.000+0000", "SystemModstamp": "2026-03-01T10:00:00.000+0000",
    "IsDeleted": False, "ClientGuid": "040000008200E00074C5B7101A82E00800000000A1B2C3D4",
}  # fmt: skip

SF_OTHER: dict[str, Any] = {
    "attributes": {"type": "Contact"}, "Id": "0035g000000000AAAA", "Email": "maria@fabrikam.example",
    "Name": "Maria Gomez", "AccountId": "0015g000000000AAAA", "RelationId": "0035g000000000AAAA",
    "EventId": "00U5g000000000AEAA", "IsInvitee": True, "Status": "Accepted", "IsActive": True,
    "Username": "ana@contoso.example", "StageName": "Prospecting", "IsClosed": False,
    "CloseDate": "2026-04-01", "LastModifiedDate": "2026-03-01T10:00:00.000+0000",
}  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from([
        "", "\ud800", "2026-02-30T25:61:00", "0000-00-00", "9999-12-31T23:59:59.9999999Z",
        "2026-03-10T14:00:00.000+0000", "2026-03-10", "tzone://Microsoft/Custom", "Mars/Olympus",
        "W. Europe Standard Time", "x" * 40_000, "' OR 1=1 --", "00U5g000000000AEAA",
    ]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _variant(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each top-level field kept, dropped, replaced, or (for objects) mutated one level down."""

    def field(key: str, value: Any) -> st.SearchStrategy[Any]:
        options: list[st.SearchStrategy[Any]] = [st.just(value), st.just(_DROP), json_values]
        if isinstance(value, dict):
            options.append(
                st.fixed_dictionaries(
                    {k: st.one_of(st.just(v), json_values) for k, v in value.items()}
                )
            )
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner = value[0]
            options.append(
                st.lists(
                    st.fixed_dictionaries(
                        {k: st.one_of(st.just(v), json_values) for k, v in inner.items()}
                    ),
                    max_size=3,
                )
            )
        return st.one_of(*options)

    return st.fixed_dictionaries({k: field(k, v) for k, v in base.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not _DROP}
    )


_DROP = object()


@FUZZ
@given(_variant(GRAPH_EVENT))
def test_Y3_graph_parser_gives_an_item_or_a_mapping_error(obj: dict[str, Any]) -> None:
    RUNS["graph"] += 1
    try:
        item = gm.item_from_graph("ana@contoso.example", obj)
    except gm.MappingError as e:
        reason = e.reason
        assert reason, "a per-item error always says why"
        return
    assert isinstance(item, Item)
    assert item.end >= item.start
    item.subject.encode("utf-8")  # text that reached the domain can be written anywhere
    item.body.encode("utf-8")


@FUZZ
@given(_variant(SF_EVENT), st.sampled_from([None, "ClientGuid"]))
def test_Y3_salesforce_event_parser_gives_an_event_or_a_mapping_error(
    rec: dict[str, Any], guid_field: str | None
) -> None:
    RUNS["salesforce"] += 1
    try:
        ev = sm.event_from_json(rec, guid_field=guid_field)
    except sm.MappingError:
        return
    assert isinstance(ev, CrmEvent)
    ev.subject.encode("utf-8")
    ev.description.encode("utf-8")


@FUZZ
@given(
    _variant(SF_OTHER),
    st.sampled_from(["relation", "contact", "lead", "account", "user", "opportunity"]),
)
def test_Y3_salesforce_record_parsers_give_a_record_or_a_mapping_error(
    rec: dict[str, Any], kind: str
) -> None:
    RUNS["salesforce_other"] += 1
    parse = {
        "relation": sm.relation_from_json,
        "contact": lambda r: sm.ref_from_json(r, "Contact"),
        "lead": lambda r: sm.ref_from_json(r, "Lead"),
        "account": lambda r: sm.ref_from_json(r, "Account"),
        "user": sm.user_from_json,
        "opportunity": sm.opportunity_from_json,
    }[kind]
    try:
        parse(rec)
    except sm.MappingError:
        return
