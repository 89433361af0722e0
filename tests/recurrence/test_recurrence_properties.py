"""R3 proved by expansion: Hypothesis generates Graph patterns (every type, range type, interval
and day set) in 14 IANA zones; the Graph expansion, its RFC 5545 RRULE, its Classic fields and its
Lightning rule (and their conversions back) give the same instants within the window, across DST
changes. A deterministic test also puts a series on each zone's DST changes of 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcal.domain.calendar import (
    DayOfWeek,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    WeekIndex,
)
from crmcal.rules.recurrence import (
    Inexpressible,
    Reason,
    from_rrule,
    localize,
    to_rrule,
)
from crmcal.rules.recurrence._common import DAY_OF_PY, MAX_MONTH_DAYS

from ._support import ZONES, expand_all, rec

PROFILE = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DAYS = list(DayOfWeek)


@st.composite
def patterns(draw: st.DrawFn) -> RecurrencePattern:
    ptype = draw(st.sampled_from(list(PatternType)))
    yearly = ptype in (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY)
    interval = draw(st.integers(1, 3) if yearly else st.integers(1, 6))
    days: tuple[DayOfWeek, ...] = ()
    if ptype in (PatternType.WEEKLY, PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY):
        days = tuple(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)))
    month = draw(st.integers(1, 12)) if yearly else 0
    dom = 0
    if ptype is PatternType.ABSOLUTE_MONTHLY:
        dom = draw(st.integers(1, 31))
    elif ptype is PatternType.ABSOLUTE_YEARLY:
        dom = draw(st.integers(1, MAX_MONTH_DAYS[month - 1]))
    index = draw(st.sampled_from(list(WeekIndex)))
    fdow = draw(st.sampled_from(DAYS))
    return RecurrencePattern(ptype, interval, days, dom, month, index, fdow)


@st.composite
def series(draw: st.DrawFn) -> tuple[Recurrence, datetime, str]:
    pattern = draw(patterns())
    zone = draw(st.sampled_from(ZONES))
    start = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    at = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    rtype = draw(st.sampled_from(list(RangeType)))
    end = start + timedelta(days=draw(st.integers(0, 900))) if rtype is RangeType.END_DATE else None
    count = draw(st.integers(1, 60)) if rtype is RangeType.NUMBERED else 0
    rng = RecurrenceRange(rtype, start, end, count, draw(st.sampled_from([None, zone])))
    return Recurrence(pattern, rng), datetime.combine(start, at), zone


ALLOWED_CLASSIC = {
    Reason.YEARLY_INTERVAL,
    Reason.WEEK_START,
    Reason.EMPTY_SERIES,
    Reason.START_IN_GAP,
}
ALLOWED_LIGHTNING = {Reason.YEARLY_INTERVAL, Reason.EMPTY_SERIES, Reason.START_IN_GAP}


def _window(wall: datetime, zone: str) -> tuple[datetime, datetime]:
    start = localize(wall, ZoneInfo(zone))
    return start - timedelta(days=3), start + timedelta(days=3 * 366)


def _check(r: Recurrence, wall: datetime, zone: str, window: tuple[datetime, datetime]) -> None:
    got = expand_all(r, wall, zone, *window)
    assert got.rrule == got.graph
    if isinstance(got.classic, Inexpressible):
        assert got.classic.reason_code in ALLOWED_CLASSIC, got.classic
        if got.classic.reason_code is Reason.EMPTY_SERIES:
            assert got.graph == []
    else:
        assert got.classic == got.graph
        assert got.classic_back == got.graph
    if isinstance(got.lightning, Inexpressible):
        assert got.lightning.reason_code in ALLOWED_LIGHTNING, got.lightning
        if got.lightning.reason_code is Reason.EMPTY_SERIES:
            assert got.graph == []
    else:
        assert got.lightning == got.graph
        assert got.lightning_back == got.graph


@PROFILE
@given(series())
def test_R3_graph_classic_lightning_and_rrule_give_the_same_instants(
    s: tuple[Recurrence, datetime, str],
) -> None:
    r, wall, zone = s
    _check(r, wall, zone, _window(wall, zone))


@PROFILE
@given(series())
def test_R3_rrule_round_trip_keeps_the_instants(s: tuple[Recurrence, datetime, str]) -> None:
    r, wall, zone = s
    tz = ZoneInfo(zone)
    window = _window(wall, zone)
    back = from_rrule(to_rrule(r, zone=zone), wall.replace(tzinfo=tz))
    first = expand_all(r, wall, zone, *window).graph
    if isinstance(back, Inexpressible):
        assert back.reason_code is Reason.EMPTY_SERIES and first == []
        return
    assert back.range.time_zone == zone
    assert expand_all(back, wall, zone, *window).graph == first


def _transitions(zone: str, year: int) -> list[datetime]:
    """Local wall times just after each UTC-offset change of the year (hour steps)."""
    tz = ZoneInfo(zone)
    out: list[datetime] = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(tz).utcoffset()
    while t.year == year:
        t += timedelta(minutes=30)
        off = t.astimezone(tz).utcoffset()
        if off != prev:
            out.append(t.astimezone(tz).replace(tzinfo=None))
            prev = off
    return out


DST_ZONES = [z for z in ZONES if _transitions(z, 2026)]


def test_R3_enough_zones_have_dst() -> None:
    assert len(ZONES) >= 10
    assert len(DST_ZONES) >= 9


@pytest.mark.parametrize("zone", DST_ZONES)
def test_R3_series_across_each_dst_change_agree(zone: str) -> None:
    """Daily, weekly and monthly series whose wall time falls in the skipped or repeated hour of
    each 2026 DST change (and just around it), in every format."""
    tz = ZoneInfo(zone)
    for change in _transitions(zone, 2026):
        day = change.date()
        weekday = DAY_OF_PY[day.weekday()]
        for shift in (0, -30, -60, 30):
            at = (change + timedelta(minutes=shift)).time()
            for r in (
                rec(PatternType.DAILY, day - timedelta(days=7), count=10),
                rec(
                    PatternType.WEEKLY,
                    day - timedelta(days=7),
                    days=(weekday,),
                    end=day + timedelta(days=20),
                ),
                rec(PatternType.ABSOLUTE_MONTHLY, day - timedelta(days=40), dom=day.day),
            ):
                wall = datetime.combine(r.range.start_date, at)
                first = localize(wall, tz)
                window = (first - timedelta(days=1), first + timedelta(days=80))
                got = expand_all(r, wall, zone, *window)
                assert any(g.astimezone(tz).date() == day for g in got.graph), (zone, at, r)
                assert isinstance(got.classic, list), got.classic
                assert isinstance(got.lightning, list), got.lightning
                _check(r, wall, zone, window)


def test_R3_gap_wall_time_moves_forward_in_every_format() -> None:
    """02:30 on 2026-03-08 does not exist in New York: all formats give 03:30 EDT (07:30Z)."""
    zone = "America/New_York"
    wall = datetime(2026, 3, 6, 2, 30)
    r = rec(PatternType.DAILY, wall.date(), count=4)
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    got = expand_all(r, wall, zone, *window)
    assert got.graph[2] == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert got.graph[3] == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    assert got.rrule == got.classic == got.lightning == got.graph
