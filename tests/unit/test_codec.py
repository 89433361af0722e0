"""Item snapshots survive the state store unchanged (round trip, including recurrence)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from crmcal.domain import (
    DayOfWeek,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    ResponseType,
    Sensitivity,
    WeekIndex,
)
from crmcal.sync.codec import item_from_json, item_to_json
from tests.factories import att, item


def test_round_trip_plain_and_recurring() -> None:
    it = item(attendees=("a@x.example",), categories=("Salesforce", "Mine"), body="<p>x</p>",
              body_is_html=True, sensitivity=Sensitivity.PRIVATE, reminder_on=True, reminder_minutes=5)  # fmt: skip
    rec = Recurrence(
        RecurrencePattern(
            PatternType.RELATIVE_MONTHLY, 2, (DayOfWeek.THURSDAY,), index=WeekIndex.SECOND
        ),
        RecurrenceRange(RangeType.NUMBERED, date(2026, 4, 9), None, 12, "Romance Standard Time"),
    )
    for x in (
        it,
        replace(it, recurrence=rec, attendees=(att("b@y.example", ResponseType.DECLINED, "B"),)),
    ):
        assert item_from_json(json.loads(json.dumps(item_to_json(x)))) == x


@given(subject=st.text(max_size=300), body=st.text(max_size=500), loc=st.text(max_size=50))
def test_round_trip_any_text(subject: str, body: str, loc: str) -> None:
    it = item(subject=subject, body=body, location=loc)
    assert item_from_json(json.loads(json.dumps(item_to_json(it)))) == it
