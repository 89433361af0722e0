"""R3: table-driven conversions of every pattern type x range type into the Classic fields, the
Lightning text (normalised as Salesforce stores it) and RFC 5545, each proved by expansion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmcal.domain.calendar import (
    DayOfWeek,
    PatternType,
    RangeType,
    Recurrence,
    WeekIndex,
)
from crmcal.domain.crm import ClassicRecurrence, ClassicRecurrenceType, LightningRecurrence
from crmcal.rules.recurrence import (
    Inexpressible,
    Reason,
    expand_graph,
    expand_lightning,
    from_classic,
    from_lightning,
    from_rrule,
    normalise_graph,
    normalise_lightning,
    to_classic,
    to_lightning,
    to_rrule,
)

from ._support import FRI, MON, SAT, SUN, THU, TUE, WED, expand_all, rec

BERLIN = "Europe/Berlin"
WALL = datetime(2026, 3, 2, 9, 30)  # a Monday
START = WALL.replace(tzinfo=ZoneInfo(BERLIN))
D0 = WALL.date()
HOUR = timedelta(hours=1)
WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))

# (id, recurrence, Classic fields, Lightning text, RFC 5545 RRULE with a UTC UNTIL)
CASES: list[tuple[str, Recurrence, dict[str, object], str, str]] = [
    (
        "daily-endDate",
        rec(PatternType.DAILY, D0, interval=2, end=date(2026, 3, 20)),
        dict(type=ClassicRecurrenceType.DAILY, interval=2, end_date=date(2026, 3, 20)),
        "RRULE:FREQ=DAILY;INTERVAL=2;UNTIL=20260320T225959Z",
        "FREQ=DAILY;INTERVAL=2;UNTIL=20260320T225959Z",
    ),
    (
        "daily-numbered",
        rec(PatternType.DAILY, D0, count=5),
        dict(type=ClassicRecurrenceType.DAILY, interval=1, end_date=date(2026, 3, 6)),
        "RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5",
        "FREQ=DAILY;INTERVAL=1;COUNT=5",
    ),
    (
        "daily-noEnd",
        rec(PatternType.DAILY, D0, interval=3),
        dict(type=ClassicRecurrenceType.DAILY, interval=3, end_date=date(2026, 4, 28)),
        "RRULE:FREQ=DAILY;INTERVAL=3",
        "FREQ=DAILY;INTERVAL=3",
    ),
    (
        "weekdays-numbered",
        rec(PatternType.WEEKLY, D0, days=(MON, TUE, WED, THU, FRI), count=10),
        dict(
            type=ClassicRecurrenceType.EVERY_WEEKDAY,
            day_of_week_mask=62,
            end_date=date(2026, 3, 13),
        ),
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;WKST=SU;INTERVAL=1;COUNT=10",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;WKST=SU;INTERVAL=1;COUNT=10",
    ),
    (
        "weekly-days-noEnd",
        rec(PatternType.WEEKLY, D0, interval=2, days=(WED, MON)),
        dict(
            type=ClassicRecurrenceType.WEEKLY,
            interval=2,
            day_of_week_mask=2 + 8,
            end_date=date(2026, 4, 29),
        ),
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;WKST=SU;INTERVAL=2",
        "FREQ=WEEKLY;BYDAY=MO,WE;WKST=SU;INTERVAL=2",
    ),
    (
        "weekly-weekend-endDate",
        rec(PatternType.WEEKLY, D0, days=(SAT, SUN), end=date(2026, 3, 31)),
        dict(
            type=ClassicRecurrenceType.WEEKLY,
            interval=1,
            day_of_week_mask=1 + 64,
            end_date=date(2026, 3, 31),
        ),
        "RRULE:FREQ=WEEKLY;BYDAY=SU,SA;WKST=SU;INTERVAL=1;UNTIL=20260331T215959Z",
        "FREQ=WEEKLY;BYDAY=SU,SA;WKST=SU;INTERVAL=1;UNTIL=20260331T215959Z",
    ),
    (
        "absoluteMonthly-endDate",
        rec(PatternType.ABSOLUTE_MONTHLY, D0, dom=2, end=date(2026, 12, 31)),
        dict(
            type=ClassicRecurrenceType.MONTHLY,
            interval=1,
            day_of_month=2,
            end_date=date(2026, 12, 31),
        ),
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=2;INTERVAL=1;UNTIL=20261231T225959Z",
        "FREQ=MONTHLY;BYMONTHDAY=2;INTERVAL=1;UNTIL=20261231T225959Z",
    ),
    (
        "absoluteMonthly-31-numbered",
        rec(PatternType.ABSOLUTE_MONTHLY, D0, dom=31, count=5),
        dict(
            type=ClassicRecurrenceType.MONTHLY,
            interval=1,
            day_of_month=31,
            end_date=date(2026, 7, 31),
        ),
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;INTERVAL=1;COUNT=5",
        "FREQ=MONTHLY;BYMONTHDAY=-1;INTERVAL=1;COUNT=5",
    ),
    (
        "absoluteMonthly-30-noEnd",
        rec(PatternType.ABSOLUTE_MONTHLY, D0, dom=30, interval=2),
        dict(
            type=ClassicRecurrenceType.MONTHLY,
            interval=2,
            day_of_month=30,
            end_date=date(2026, 3, 30),
        ),
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=30;INTERVAL=2",
        "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1;INTERVAL=2",
    ),
    (
        "relativeMonthly-numbered",
        rec(PatternType.RELATIVE_MONTHLY, D0, days=(MON,), count=3),
        dict(
            type=ClassicRecurrenceType.MONTHLY_NTH,
            interval=1,
            day_of_week_mask=2,
            instance="First",
            end_date=date(2026, 5, 4),
        ),
        "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1;INTERVAL=1;COUNT=3",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1;INTERVAL=1;COUNT=3",
    ),
    (
        "relativeMonthly-weekend-last-endDate",
        rec(
            PatternType.RELATIVE_MONTHLY,
            D0,
            interval=3,
            days=(SUN, SAT),
            index=WeekIndex.LAST,
            end=date(2026, 12, 31),
        ),
        dict(
            type=ClassicRecurrenceType.MONTHLY_NTH,
            interval=3,
            day_of_week_mask=65,
            instance="Last",
            end_date=date(2026, 12, 31),
        ),
        "RRULE:FREQ=MONTHLY;BYDAY=SU,SA;BYSETPOS=-1;INTERVAL=3;UNTIL=20261231T225959Z",
        "FREQ=MONTHLY;BYDAY=SU,SA;BYSETPOS=-1;INTERVAL=3;UNTIL=20261231T225959Z",
    ),
    (
        "relativeMonthly-weekday-second-noEnd",
        rec(
            PatternType.RELATIVE_MONTHLY, D0, days=(MON, TUE, WED, THU, FRI), index=WeekIndex.SECOND
        ),
        dict(
            type=ClassicRecurrenceType.MONTHLY_NTH,
            interval=1,
            day_of_week_mask=62,
            instance="Second",
            end_date=date(2026, 4, 2),
        ),
        "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2;INTERVAL=1",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2;INTERVAL=1",
    ),
    (
        "absoluteYearly-numbered",
        rec(PatternType.ABSOLUTE_YEARLY, D0, dom=2, month=3, count=4),
        dict(
            type=ClassicRecurrenceType.YEARLY,
            day_of_month=2,
            month_of_year="March",
            end_date=date(2029, 3, 2),
        ),
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2;INTERVAL=1;COUNT=4",
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2;INTERVAL=1;COUNT=4",
    ),
    (
        "absoluteYearly-feb29-endDate",
        rec(PatternType.ABSOLUTE_YEARLY, D0, dom=29, month=2, end=date(2030, 12, 31)),
        dict(
            type=ClassicRecurrenceType.YEARLY,
            day_of_month=29,
            month_of_year="February",
            end_date=date(2030, 12, 31),
        ),
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;INTERVAL=1;UNTIL=20301231T225959Z",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;INTERVAL=1;UNTIL=20301231T225959Z",
    ),
    (
        "relativeYearly-noEnd",
        rec(PatternType.RELATIVE_YEARLY, D0, days=(THU,), month=11, index=WeekIndex.FOURTH),
        dict(
            type=ClassicRecurrenceType.YEARLY_NTH,
            day_of_week_mask=16,
            instance="Fourth",
            month_of_year="November",
            end_date=date(2027, 11, 25),
            horizon=date(2028, 1, 1),
        ),
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4;INTERVAL=1",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4;INTERVAL=1",
    ),
    (
        "relativeYearly-endDate",
        rec(
            PatternType.RELATIVE_YEARLY,
            D0,
            days=(MON,),
            month=5,
            index=WeekIndex.LAST,
            end=date(2028, 6, 1),
        ),
        dict(
            type=ClassicRecurrenceType.YEARLY_NTH,
            day_of_week_mask=2,
            instance="Last",
            month_of_year="May",
            end_date=date(2028, 6, 1),
        ),
        "RRULE:FREQ=YEARLY;BYMONTH=5;BYDAY=MO;BYSETPOS=-1;INTERVAL=1;UNTIL=20280601T215959Z",
        "FREQ=YEARLY;BYMONTH=5;BYDAY=MO;BYSETPOS=-1;INTERVAL=1;UNTIL=20280601T215959Z",
    ),
]
HORIZON = date(2026, 4, 30)
"""Where noEnd cases end their Classic series."""

CLASSIC_FIELDS = ("interval", "day_of_week_mask", "day_of_month", "instance", "month_of_year")


def test_R3_table_covers_every_pattern_type_and_range_type() -> None:
    combos = {(r.pattern.type, r.range.type) for _, r, _, _, _ in CASES}
    assert {t for t, _ in combos} == set(PatternType)
    assert {rt for _, rt in combos} == set(RangeType)
    for t in PatternType:
        if t is not PatternType.DAILY:
            assert len({rt for tt, rt in combos if tt is t}) >= 2, t


@pytest.mark.parametrize(
    ("case", "r", "classic", "lightning", "rfc"), CASES, ids=[c[0] for c in CASES]
)
def test_R3_conversion_table(
    case: str, r: Recurrence, classic: dict[str, object], lightning: str, rfc: str
) -> None:
    horizon = classic.get("horizon", HORIZON)
    assert isinstance(horizon, date)
    c = to_classic(r, START, HOUR, BERLIN, horizon=horizon)
    assert isinstance(c, ClassicRecurrence), c
    assert c.type is classic["type"]
    assert c.end_date == classic["end_date"]
    for name in CLASSIC_FIELDS:
        assert getattr(c, name) == classic.get(name), name  # unused fields must be None
    assert c.time_zone == BERLIN
    first = expand_graph(r, WALL, BERLIN, *WINDOW)[0]
    assert c.start == first

    lx = to_lightning(r, START, HOUR, "W. Europe Standard Time")
    assert isinstance(lx, LightningRecurrence), lx
    assert lx.pattern_text == lightning
    assert normalise_lightning(lx.pattern_text) == lightning
    assert lx.time_zone == BERLIN
    assert lx.start_date == first

    assert to_rrule(r, zone=BERLIN) == rfc


@pytest.mark.parametrize(("case", "r"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_R3_conversion_table_expands_to_same_instants(case: str, r: Recurrence) -> None:
    got = expand_all(r, WALL, BERLIN, *WINDOW)
    assert got.graph, "the case must have occurrences in the window"
    assert got.rrule == got.graph
    assert got.lightning == got.graph
    assert got.lightning_back == got.graph
    if r.range.type is RangeType.NO_END:  # Classic ends at the horizon (window end here)
        assert isinstance(got.classic, list)
    assert got.classic == got.graph
    assert got.classic_back == got.graph


@pytest.mark.parametrize(("case", "r"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_R3_round_trips_give_the_same_pattern(case: str, r: Recurrence) -> None:
    lx = to_lightning(r, START, HOUR, BERLIN)
    assert isinstance(lx, LightningRecurrence)
    back = from_lightning(lx)
    assert isinstance(back, Recurrence), back
    assert normalise_graph(back).pattern == normalise_graph(r).pattern
    assert back.range.type is r.range.type
    assert back.range.number_of_occurrences == r.range.number_of_occurrences
    assert back.range.end_date == r.range.end_date

    again = from_rrule(to_rrule(r, zone=BERLIN), START)
    assert isinstance(again, Recurrence), again
    expected = normalise_graph(r).pattern
    if expected.type is PatternType.WEEKLY and expected.interval == 1:
        again = normalise_graph(again)  # WKST is irrelevant for interval 1; compare the rest
        assert again.pattern.days_of_week == expected.days_of_week
    else:
        assert normalise_graph(again).pattern == expected
    assert again.range.end_date == r.range.end_date

    c = to_classic(r, START, HOUR, BERLIN, horizon=date(2028, 1, 1), caps=None)
    assert isinstance(c, ClassicRecurrence), c
    cback = from_classic(c)
    assert isinstance(cback, Recurrence), cback
    assert cback.range.type is RangeType.END_DATE  # Classic has no count and no open end
    assert cback.range.end_date == c.end_date
    assert normalise_graph(cback).pattern == expected


# ---- the field tables (api-facts B1, D9) ------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "bit"),
    [(SUN, 1), (MON, 2), (TUE, 4), (WED, 8), (THU, 16), (FRI, 32), (SAT, 64)],
)
def test_R3_day_mask_sunday_1_to_saturday_64(day: DayOfWeek, bit: int) -> None:
    r = rec(PatternType.WEEKLY, D0, days=(day,), interval=2, count=3)
    c = to_classic(r, START, HOUR, BERLIN)
    assert isinstance(c, ClassicRecurrence)
    assert c.type is ClassicRecurrenceType.WEEKLY
    assert c.day_of_week_mask == bit
    back = from_classic(c)
    assert isinstance(back, Recurrence)
    assert back.pattern.days_of_week == (day,)


def test_R3_weekdays_only_with_interval_1_is_every_weekday() -> None:
    five = (MON, TUE, WED, THU, FRI)
    every = to_classic(rec(PatternType.WEEKLY, D0, days=five, count=20), START, HOUR, BERLIN)
    assert isinstance(every, ClassicRecurrence)
    assert every.type is ClassicRecurrenceType.EVERY_WEEKDAY
    assert (every.day_of_week_mask, every.interval) == (62, None)
    other = to_classic(
        rec(PatternType.WEEKLY, D0, days=five, interval=2, count=20), START, HOUR, BERLIN
    )
    assert isinstance(other, ClassicRecurrence)
    assert (other.type, other.day_of_week_mask, other.interval) == (
        ClassicRecurrenceType.WEEKLY,
        62,
        2,
    )
    six = to_classic(rec(PatternType.WEEKLY, D0, days=(*five, SAT), count=20), START, HOUR, BERLIN)
    assert isinstance(six, ClassicRecurrence)
    assert six.type is ClassicRecurrenceType.WEEKLY


@pytest.mark.parametrize(
    ("index", "instance", "setpos"),
    [
        (WeekIndex.FIRST, "First", "1"),
        (WeekIndex.SECOND, "Second", "2"),
        (WeekIndex.THIRD, "Third", "3"),
        (WeekIndex.FOURTH, "Fourth", "4"),
        (WeekIndex.LAST, "Last", "-1"),
    ],
)
def test_R3_index_first_to_last_maps_to_instance(
    index: WeekIndex, instance: str, setpos: str
) -> None:
    r = rec(PatternType.RELATIVE_MONTHLY, D0, days=(TUE,), index=index, count=6)
    c = to_classic(r, START, HOUR, BERLIN)
    assert isinstance(c, ClassicRecurrence)
    assert c.instance == instance
    lx = to_lightning(r, START, HOUR, BERLIN)
    assert isinstance(lx, LightningRecurrence)
    assert f";BYSETPOS={setpos};" in lx.pattern_text
    got = expand_all(r, WALL, BERLIN, *WINDOW)
    assert got.classic == got.lightning == got.graph


@pytest.mark.parametrize("month", range(1, 13))
def test_R3_month_numbers_map_to_month_names(month: int) -> None:
    names = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    r = rec(PatternType.ABSOLUTE_YEARLY, D0, dom=15, month=month, count=3)
    c = to_classic(r, START, HOUR, BERLIN)
    assert isinstance(c, ClassicRecurrence)
    assert c.month_of_year == names[month - 1]
    rel = to_classic(
        rec(PatternType.RELATIVE_YEARLY, D0, days=(FRI,), month=month, count=3), START, HOUR, BERLIN
    )
    assert isinstance(rel, ClassicRecurrence)
    assert rel.month_of_year == names[month - 1]
    back = from_classic(c)
    assert isinstance(back, Recurrence)
    assert back.pattern.month == month


# ---- Lightning text -------------------------------------------------------------------------


def test_R3_lightning_text_is_normalised_like_salesforce() -> None:
    assert (
        normalise_lightning("COUNT=3;BYDAY=MO;INTERVAL=1;WKST=SU;FREQ=WEEKLY")
        == "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=3"
    )
    assert (
        normalise_lightning("RRULE:FREQ=MONTHLY;BYSETPOS=2;BYDAY=TU;UNTIL=20261231T225959Z")
        == "RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2;INTERVAL=1;UNTIL=20261231T225959Z"
    )
    assert (
        normalise_lightning("FREQ=YEARLY;BYMONTHDAY=4;BYMONTH=7")
        == "RRULE:FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=4;INTERVAL=1"
    )


def test_R3_lightning_numbered_byday_reads_like_bysetpos() -> None:
    a = LightningRecurrence("RRULE:FREQ=MONTHLY;BYDAY=2TH;INTERVAL=1;COUNT=4", BERLIN, START)
    b = LightningRecurrence(
        "RRULE:FREQ=MONTHLY;BYDAY=TH;BYSETPOS=2;INTERVAL=1;COUNT=4", BERLIN, START
    )
    ra, rb = from_lightning(a), from_lightning(b)
    assert isinstance(ra, Recurrence) and isinstance(rb, Recurrence)
    assert ra == rb
    assert ra.pattern.index is WeekIndex.SECOND
    assert (
        expand_lightning(a, *WINDOW)
        == expand_lightning(b, *WINDOW)
        == expand_graph(ra, WALL, BERLIN, *WINDOW)
    )


def test_R3_lightning_monthday_31_falls_on_last_day() -> None:
    lx = LightningRecurrence("RRULE:FREQ=MONTHLY;BYMONTHDAY=31;INTERVAL=1;COUNT=4", BERLIN, START)
    days = [d.astimezone(ZoneInfo(BERLIN)).date() for d in expand_lightning(lx, *WINDOW)]
    assert days == [date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)]


def test_R3_numbered_above_lightning_count_limit_uses_until() -> None:
    r = rec(PatternType.DAILY, D0, count=1200)
    lx = to_lightning(r, START, HOUR, BERLIN)
    assert isinstance(lx, LightningRecurrence)
    assert "COUNT" not in lx.pattern_text and "UNTIL=" in lx.pattern_text
    far = (WINDOW[0], datetime(2030, 1, 1, tzinfo=UTC))
    assert expand_lightning(lx, *far) == expand_graph(r, WALL, BERLIN, *far)
    assert len(expand_graph(r, WALL, BERLIN, *far)) == 1200


def test_R3_unreadable_lightning_text_is_inexpressible() -> None:
    bad = LightningRecurrence("RRULE:FREQ=FORTNIGHTLY", BERLIN, START)
    out = from_lightning(bad)
    assert isinstance(out, Inexpressible)
    assert out.reason_code is Reason.UNSUPPORTED_RULE


def test_R3_lightning_monthly_without_monthday_follows_rfc_not_clamp() -> None:
    """A LEX rule with the day taken from its start (no BYMONTHDAY) gets no month-end rule: a
    start on the 31st is reported rather than guessed."""
    start = datetime(2026, 1, 31, 9, 0, tzinfo=ZoneInfo(BERLIN))
    lx = LightningRecurrence("RRULE:FREQ=MONTHLY;INTERVAL=1;COUNT=3", BERLIN, start)
    out = from_lightning(lx)
    assert isinstance(out, Inexpressible)
    assert out.reason_code is Reason.UNSUPPORTED_RULE
    ok = LightningRecurrence("RRULE:FREQ=MONTHLY;INTERVAL=1;COUNT=3", BERLIN, START)
    rec_ok = from_lightning(ok)
    assert isinstance(rec_ok, Recurrence)
    assert rec_ok.pattern.day_of_month == 2
    assert expand_lightning(ok, *WINDOW) == expand_graph(rec_ok, WALL, BERLIN, *WINDOW)


def test_R3_to_rrule_without_zone_writes_a_floating_until() -> None:
    r = rec(PatternType.DAILY, D0, interval=2, end=date(2026, 3, 20))
    assert to_rrule(r) == "FREQ=DAILY;INTERVAL=2;UNTIL=20260320T235959"
    back = from_rrule(to_rrule(r), WALL)
    assert isinstance(back, Recurrence)
    assert back.range.end_date == date(2026, 3, 20)
    assert back.range.time_zone is None
