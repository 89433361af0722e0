"""The emulator's own pattern expansion (api-facts A2) and the CLDR zone table (A13, SPEC N3).

The expansion is checked against hand-computed calendars and, property-based, against
python-dateutil's rrule, an independent implementation of the same semantics.
"""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.rrule import (
    DAILY,
    FR,
    MO,
    MONTHLY,
    SA,
    SU,
    TH,
    TU,
    WE,
    WEEKLY,
    YEARLY,
    rrule,
    weekday,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcal import timezones
from crmcal.sandbox.graph import recurrence as r

DAYS = r.DAYS
RR_DAY: dict[str, weekday] = dict(zip(DAYS, (SU, MO, TU, WE, TH, FR, SA), strict=True))
INDEX_POS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def spec(pattern: dict, rng: dict) -> r.Spec:
    return r.parse({"pattern": pattern, "range": rng})


def dates(s: r.Spec, until: date = date(2030, 1, 1)) -> list[date]:
    return list(r.occurrence_dates(s, until))


def test_weekly_with_several_days_and_interval() -> None:
    s = spec(
        {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["monday", "thursday"],
            "firstDayOfWeek": "sunday",
        },
        {"type": "numbered", "startDate": "2026-03-05", "numberOfOccurrences": 5},
    )
    # starts on Thursday 5 March; every other week (weeks start on Sunday)
    assert dates(s) == [
        date(2026, 3, 5),
        date(2026, 3, 16),
        date(2026, 3, 19),
        date(2026, 3, 30),
        date(2026, 4, 2),
    ]


def test_first_day_of_week_changes_which_weeks_count() -> None:
    base = {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"]}
    rng = {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 3}  # a Monday
    sunday_weeks = dates(spec({**base, "firstDayOfWeek": "sunday"}, rng))
    monday_weeks = dates(spec({**base, "firstDayOfWeek": "monday"}, rng))
    assert sunday_weeks == [date(2026, 3, 2), date(2026, 3, 15), date(2026, 3, 16)]
    assert monday_weeks == [date(2026, 3, 2), date(2026, 3, 8), date(2026, 3, 16)]


def test_relative_monthly_matches_the_a2_example() -> None:
    s = spec(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "second"},
        {"type": "numbered", "startDate": "2026-04-09", "numberOfOccurrences": 12},
    )
    got = dates(s)
    assert len(got) == 12 and got[0] == date(2026, 4, 9) and got[-1] == date(2027, 3, 11)
    assert all(d.weekday() == 3 and 8 <= d.day <= 14 for d in got)


def test_last_weekday_of_month_uses_the_first_day_that_fits() -> None:
    s = spec(
        {
            "type": "relativeMonthly",
            "interval": 1,
            "index": "last",
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        },
        {"type": "endDate", "startDate": "2026-01-01", "endDate": "2026-05-31"},
    )
    assert dates(s) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 29),
    ]


def test_absolute_monthly_on_the_31st_falls_on_the_last_day_of_short_months() -> None:
    s = spec(
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 4},
    )
    assert dates(s) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_yearly_patterns_and_end_dates() -> None:
    a = spec(
        {"type": "absoluteYearly", "interval": 2, "dayOfMonth": 29, "month": 2},
        {"type": "endDate", "startDate": "2024-02-29", "endDate": "2031-01-01"},
    )
    assert dates(a, date(2032, 1, 1)) == [
        date(2024, 2, 29),
        date(2026, 2, 28),
        date(2028, 2, 29),
        date(2030, 2, 28),
    ]
    rel = spec(
        {
            "type": "relativeYearly",
            "interval": 1,
            "daysOfWeek": ["thursday"],
            "index": "fourth",
            "month": 11,
        },
        {"type": "noEnd", "startDate": "2026-11-26"},
    )
    assert dates(rel, date(2028, 12, 31)) == [
        date(2026, 11, 26),
        date(2027, 11, 25),
        date(2028, 11, 23),
    ]


def test_start_date_that_does_not_fit_is_not_an_occurrence() -> None:
    s = spec(
        {"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]},
        {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 2},
    )
    assert dates(s) == [date(2026, 3, 6), date(2026, 3, 13)]


@pytest.mark.parametrize(
    ("pattern", "rng", "message"),
    [
        (
            {"type": "hourly", "interval": 1},
            {"type": "noEnd", "startDate": "2026-01-01"},
            "pattern type",
        ),
        (
            {"type": "daily", "interval": 0},
            {"type": "noEnd", "startDate": "2026-01-01"},
            "interval",
        ),
        (
            {"type": "weekly", "interval": 1},
            {"type": "noEnd", "startDate": "2026-01-01"},
            "daysOfWeek",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3},
            {"type": "noEnd", "startDate": "2026-01-01"},
            "month",
        ),
        (
            {"type": "daily", "interval": 1},
            {"type": "numbered", "startDate": "2026-01-01"},
            "numberOfOccurrences",
        ),
        (
            {"type": "daily", "interval": 1},
            {"type": "endDate", "startDate": "2026-01-01"},
            "endDate",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["funday"]},
            {"type": "noEnd", "startDate": "2026-01-01"},
            "daysOfWeek",
        ),
    ],
)
def test_invalid_patterns_are_refused(pattern: dict, rng: dict, message: str) -> None:
    with pytest.raises(r.RecurrenceError, match=message):
        spec(pattern, rng)


def test_read_side_placeholders() -> None:
    s = spec({"type": "daily", "interval": 3}, {"type": "noEnd", "startDate": "2026-01-01"})
    out = r.to_json(s, "Eastern Standard Time")
    assert out["pattern"] == {
        "type": "daily",
        "interval": 3,
        "month": 0,
        "dayOfMonth": 0,
        "daysOfWeek": [],
        "firstDayOfWeek": "sunday",
        "index": "first",
    }
    assert out["range"] == {
        "type": "noEnd",
        "startDate": "2026-01-01",
        "endDate": "0001-01-01",
        "recurrenceTimeZone": "Eastern Standard Time",
        "numberOfOccurrences": 0,
    }


patterns = st.one_of(
    st.fixed_dictionaries({"type": st.just("daily")}),
    st.fixed_dictionaries(
        {
            "type": st.just("weekly"),
            "daysOfWeek": st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
            "firstDayOfWeek": st.sampled_from(DAYS),
        }
    ),
    st.fixed_dictionaries({"type": st.just("absoluteMonthly"), "dayOfMonth": st.integers(1, 28)}),
    st.fixed_dictionaries(
        {
            "type": st.just("relativeMonthly"),
            "daysOfWeek": st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True),
            "index": st.sampled_from(list(INDEX_POS)),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("absoluteYearly"),
            "dayOfMonth": st.integers(1, 28),
            "month": st.integers(1, 12),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("relativeYearly"),
            "daysOfWeek": st.lists(st.sampled_from(DAYS), min_size=1, max_size=2, unique=True),
            "index": st.sampled_from(list(INDEX_POS)),
            "month": st.integers(1, 12),
        }
    ),
)


def _rrule(p: dict, start: date, count: int) -> list[date]:
    freq = {
        "daily": DAILY,
        "weekly": WEEKLY,
        "absoluteMonthly": MONTHLY,
        "relativeMonthly": MONTHLY,
        "absoluteYearly": YEARLY,
        "relativeYearly": YEARLY,
    }[p["type"]]
    kw: dict = {"interval": p["interval"], "count": count, "dtstart": start}
    if p["type"] == "weekly":
        kw["byweekday"] = [RR_DAY[d] for d in p["daysOfWeek"]]
        kw["wkst"] = RR_DAY[p["firstDayOfWeek"]]
    if p["type"] in ("relativeMonthly", "relativeYearly"):
        kw["byweekday"] = [RR_DAY[d] for d in p["daysOfWeek"]]
        kw["bysetpos"] = INDEX_POS[p["index"]]
    if p["type"] in ("absoluteMonthly", "absoluteYearly"):
        kw["bymonthday"] = p["dayOfMonth"]
    if p["type"] in ("absoluteYearly", "relativeYearly"):
        kw["bymonth"] = p["month"]
    return [d.date() for d in rrule(freq, **kw)]


@settings(max_examples=150, deadline=None)
@given(
    pattern=patterns,
    interval=st.integers(1, 4),
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    count=st.integers(1, 15),
)
def test_expansion_agrees_with_dateutil_rrule(
    pattern: dict, interval: int, start: date, count: int
) -> None:
    p = {**pattern, "interval": interval}
    s = spec(p, {"type": "numbered", "startDate": start.isoformat(), "numberOfOccurrences": count})
    assert dates(s, date(2100, 1, 1)) == _rrule(p, start, count)


# -- time zones (SPEC N3) ----------------------------------------------------------------------------


def test_N3_windows_names_map_through_cldr() -> None:
    assert timezones.windows_to_iana("W. Europe Standard Time") == "Europe/Berlin"
    assert timezones.windows_to_iana("pacific standard time") == "America/Los_Angeles"
    assert timezones.windows_to_iana("UTC") == "UTC"
    assert timezones.windows_to_iana("Europe/Paris") == "Europe/Paris"  # IANA passes through
    assert timezones.iana_to_windows("Europe/Paris") == "Romance Standard Time"
    assert timezones.iana_to_windows("America/New_York") == "Eastern Standard Time"
    assert timezones.iana_to_windows("Eastern Standard Time") == "Eastern Standard Time"


def test_N3_custom_and_unknown_zones_are_unknown() -> None:
    assert timezones.is_custom("tzone://Microsoft/Custom")
    assert timezones.windows_to_iana("tzone://Microsoft/Custom") is None
    assert timezones.windows_to_iana("Mid-Atlantic Standard Time") is None  # no CLDR entry
    assert timezones.windows_to_iana("Not A Zone") is None
    assert timezones.zoneinfo_for("tzone://Microsoft/Custom") is None
    assert not timezones.is_custom("UTC") and not timezones.is_custom(None)


def test_the_table_is_the_cldr_one_from_tzlocal() -> None:
    from tzlocal.windows_tz import win_tz

    assert len(win_tz) > 130
    # the table itself, except that "UTC" is spelt "UTC" rather than CLDR's "Etc/UTC"
    assert all(timezones.windows_to_iana(k) == v for k, v in win_tz.items() if k != "UTC")
