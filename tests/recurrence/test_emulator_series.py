"""The Salesforce emulator's series rows are the occurrences `crmcal.rules.recurrence` computes
(issue 7: the emulators' series behaviour is covered by the same expansion checks; SPEC R3).

Classic: the series record plus one child Event per occurrence (`RecurrenceActivityId`).
Lightning: the Event created is the first occurrence, one more Event per further occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmcal.domain.calendar import (
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    WeekIndex,
)
from crmcal.domain.crm import ClassicRecurrence, LightningRecurrence
from crmcal.rules.recurrence import expand_classic, expand_lightning, to_classic, to_lightning
from crmcal.sandbox.salesforce.state import SalesforceOrg

from ._support import FRI, MON, SAT, SUN, THU, TUE, WED

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata")
START = date(2026, 1, 5)  # a Monday

PATTERNS: dict[str, RecurrencePattern] = {
    "daily": RecurrencePattern(PatternType.DAILY, 3),
    "weekdays": RecurrencePattern(PatternType.WEEKLY, 1, (MON, TUE, WED, THU, FRI)),
    "weekly-2": RecurrencePattern(PatternType.WEEKLY, 2, (MON, THU)),
    "weekly-sun": RecurrencePattern(PatternType.WEEKLY, 1, (SUN, WED)),
    "abs-monthly-31": RecurrencePattern(PatternType.ABSOLUTE_MONTHLY, 1, day_of_month=31),
    "abs-monthly-2": RecurrencePattern(PatternType.ABSOLUTE_MONTHLY, 2, day_of_month=15),
    "rel-monthly": RecurrencePattern(
        PatternType.RELATIVE_MONTHLY, 1, (TUE,), index=WeekIndex.SECOND
    ),
    "rel-monthly-last-weekend": RecurrencePattern(
        PatternType.RELATIVE_MONTHLY, 1, (SAT, SUN), index=WeekIndex.LAST
    ),
    "abs-yearly": RecurrencePattern(PatternType.ABSOLUTE_YEARLY, 1, day_of_month=29, month=2),
    "rel-yearly": RecurrencePattern(
        PatternType.RELATIVE_YEARLY, 1, (MON,), month=3, index=WeekIndex.FIRST
    ),
}


def _series(p: RecurrencePattern, kind: str) -> Recurrence:
    yearly = p.type in (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY)
    if kind == "numbered":
        rng = RecurrenceRange(RangeType.NUMBERED, START, number_of_occurrences=5 if yearly else 12)
    else:
        end = START + timedelta(days=365 * 5 if yearly else 120)
        rng = RecurrenceRange(RangeType.END_DATE, START, end_date=end)
    return Recurrence(p, rng)


def _org() -> tuple[SalesforceOrg, str]:
    org = SalesforceOrg()
    uid = org.add_user("series@contoso.example")
    return org, uid


def _rows(org: SalesforceOrg, pred: object) -> list[datetime]:
    rows = [
        r
        for r in org.tables["Event"].values()
        if not r.get("IsDeleted") and pred(r)  # type: ignore[operator]
    ]
    return sorted(r["StartDateTime"] for r in rows)  # type: ignore[misc]


WIDE = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2033, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("kind", ["numbered", "endDate"])
def test_R3_emulator_classic_children_are_the_classic_expansion(
    zone: str, name: str, kind: str
) -> None:
    """R3: the emulator's Classic child Events are the occurrences of the Classic fields."""
    rec = _series(PATTERNS[name], kind)
    wall = datetime.combine(START, datetime.min.time()).replace(hour=9, minute=30)
    c = to_classic(rec, wall, timedelta(minutes=45), zone)
    assert isinstance(c, ClassicRecurrence), c
    org, uid = _org()
    body: dict[str, object] = {
        "OwnerId": uid,
        "Subject": "S",
        "StartDateTime": c.start.isoformat(),
        "DurationInMinutes": 45,
        "IsRecurrence": True,
        "RecurrenceType": c.type.value,
        "RecurrenceStartDateTime": c.start.isoformat(),
        "RecurrenceEndDateOnly": c.end_date.isoformat(),
        "RecurrenceTimeZoneSidKey": c.time_zone,
    }
    for key, val in (
        ("RecurrenceInterval", c.interval),
        ("RecurrenceDayOfWeekMask", c.day_of_week_mask),
        ("RecurrenceDayOfMonth", c.day_of_month),
        ("RecurrenceInstance", c.instance),
        ("RecurrenceMonthOfYear", c.month_of_year),
    ):
        if val is not None:
            body[key] = val
    sid = org.create("Event", body)
    got = _rows(org, lambda r: r.get("RecurrenceActivityId") == sid)
    assert got == expand_classic(c, *WIDE)
    assert got and got[0] == c.start.astimezone(UTC)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("kind", ["numbered", "endDate"])
def test_R3_emulator_lightning_events_are_the_rule_expansion(
    zone: str, name: str, kind: str
) -> None:
    """R3: the emulator's Lightning occurrence Events are the occurrences of the rule."""
    rec = _series(PATTERNS[name], kind)
    wall = datetime.combine(START, datetime.min.time()).replace(hour=9, minute=30)
    lr = to_lightning(rec, wall, timedelta(minutes=45), zone)
    assert isinstance(lr, LightningRecurrence), lr
    assert lr.start_date is not None
    org, uid = _org()
    sid = org.create(
        "Event",
        {
            "OwnerId": uid,
            "Subject": "S",
            "StartDateTime": lr.start_date.isoformat(),
            "DurationInMinutes": 45,
            "Recurrence2PatternText": lr.pattern_text,
            "Recurrence2PatternTimeZone": lr.time_zone,
        },
    )
    head = org.get("Event", sid)
    assert head["IsRecurrence2"] and head["Recurrence2PatternText"] == lr.pattern_text
    got = _rows(org, lambda r: r.get("_SeriesId") == sid)
    assert got == expand_lightning(lr, *WIDE)
    org.delete("Event", sid)  # deleting the first Event deletes the series
    assert _rows(org, lambda r: r.get("_SeriesId") == sid) == []


def test_R4_emulator_refuses_classic_over_the_cap() -> None:
    """R4: Salesforce refuses a Classic daily series of more than 100 occurrences."""
    from crmcal.sandbox.salesforce.state import ApiError

    org, uid = _org()
    start = datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    with pytest.raises(ApiError, match="100 occurrences"):
        org.create(
            "Event",
            {
                "OwnerId": uid,
                "Subject": "S",
                "StartDateTime": start.isoformat(),
                "DurationInMinutes": 30,
                "IsRecurrence": True,
                "RecurrenceType": "RecursDaily",
                "RecurrenceInterval": 1,
                "RecurrenceStartDateTime": start.isoformat(),
                "RecurrenceEndDateOnly": "2026-06-01",
                "RecurrenceTimeZoneSidKey": "Europe/Berlin",
            },
        )


def test_R5_emulator_lightning_future_edit_changes_the_series_past_one_is_an_exception() -> None:
    """api-facts B1 (API 58+): changing a future LEX occurrence changes the whole series;
    changing a past one marks it `IsRecurrence2Exception`."""
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    org = SalesforceOrg(now=lambda: now)
    uid = org.add_user("series@contoso.example")
    start = datetime(2026, 2, 16, 9, tzinfo=UTC)  # a Monday, two weeks before `now`
    sid = org.create(
        "Event",
        {
            "OwnerId": uid,
            "Subject": "Weekly",
            "StartDateTime": start.isoformat(),
            "DurationInMinutes": 30,
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
            "Recurrence2PatternTimeZone": "UTC",
        },
    )
    rows = sorted(
        (r for r in org.tables["Event"].values() if r.get("_SeriesId") == sid),
        key=lambda r: r["StartDateTime"],  # type: ignore[arg-type,return-value]
    )
    assert len(rows) == 6
    org.update("Event", str(rows[0]["Id"]), {"Subject": "Past one"})
    org.update("Event", str(rows[3]["Id"]), {"Subject": "Future", "Location": "Room 1"})
    got = sorted(
        (r for r in org.tables["Event"].values() if r.get("_SeriesId") == sid),
        key=lambda r: r["StartDateTime"],  # type: ignore[arg-type,return-value]
    )
    assert [r["Subject"] for r in got] == [
        "Past one",
        "Weekly",
        "Future",
        "Future",
        "Future",
        "Future",
    ]
    assert got[0]["IsRecurrence2Exception"] is True
    assert not got[2]["IsRecurrence2Exception"]
    later = datetime.fromisoformat(str(got[3]["StartDateTime"])) + timedelta(hours=1)
    org.update("Event", str(got[3]["Id"]), {"StartDateTime": later.isoformat()})
    moved = sorted(
        r["StartDateTime"]  # type: ignore[misc]
        for r in org.tables["Event"].values()
        if r.get("_SeriesId") == sid
    )
    assert [m.hour for m in moved] == [9, 9, 10, 10, 10, 10]  # type: ignore[attr-defined]
