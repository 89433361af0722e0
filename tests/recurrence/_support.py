"""Shared helpers for the recurrence tests: build patterns, expand every format, compare."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

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
    expand_classic,
    expand_graph,
    expand_lightning,
    expand_rrule,
    from_classic,
    from_lightning,
    to_classic,
    to_lightning,
    to_rrule,
)

ZONES: tuple[str, ...] = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Europe/London",
    "Pacific/Auckland",
    "America/Los_Angeles",
    "Europe/Moscow",
    "Asia/Kolkata",
    "Africa/Cairo",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
)
"""14 IANA zones: most with DST (Lord Howe's is 30 minutes), some without, half-hour offsets,
southern hemisphere, zones whose DST rules changed recently (Sao Paulo, Tehran, Cairo)."""

MON, TUE, WED, THU, FRI, SAT, SUN = (
    DayOfWeek.MONDAY,
    DayOfWeek.TUESDAY,
    DayOfWeek.WEDNESDAY,
    DayOfWeek.THURSDAY,
    DayOfWeek.FRIDAY,
    DayOfWeek.SATURDAY,
    DayOfWeek.SUNDAY,
)


def rec(
    ptype: PatternType,
    start: date,
    *,
    interval: int = 1,
    days: tuple[DayOfWeek, ...] = (),
    dom: int = 0,
    month: int = 0,
    index: WeekIndex = WeekIndex.FIRST,
    fdow: DayOfWeek = DayOfWeek.SUNDAY,
    end: date | None = None,
    count: int = 0,
    tz: str | None = None,
) -> Recurrence:
    rtype = RangeType.END_DATE if end else RangeType.NUMBERED if count else RangeType.NO_END
    return Recurrence(
        RecurrencePattern(ptype, interval, days, dom, month, index, fdow),
        RecurrenceRange(rtype, start, end, count, tz),
    )


@dataclass(frozen=True)
class Expansions:
    graph: list[datetime]
    rrule: list[datetime]
    classic: list[datetime] | Inexpressible
    lightning: list[datetime] | Inexpressible
    classic_back: list[datetime] | Inexpressible
    lightning_back: list[datetime] | Inexpressible


def expand_all(
    r: Recurrence,
    wall: datetime,
    zone: str,
    window_start: datetime,
    window_end: datetime,
    duration: timedelta = timedelta(hours=1),
) -> Expansions:
    """Expand the Graph pattern and each conversion of it over the same window.

    `wall` is the naive local start (date = range start). A noEnd series goes to Classic with the
    window's last local day as horizon.
    """
    tz = ZoneInfo(zone)
    graph = expand_graph(r, wall, zone, window_start, window_end)
    rrule = expand_rrule(to_rrule(r, zone=zone), wall, zone, window_start, window_end)
    horizon = window_end.astimezone(tz).date()
    classic_rec = to_classic(r, wall, duration, zone, horizon=horizon, caps=None)
    classic: list[datetime] | Inexpressible
    classic_back: list[datetime] | Inexpressible
    if isinstance(classic_rec, Inexpressible):
        classic = classic_back = classic_rec
    else:
        classic = expand_classic(classic_rec, window_start, window_end)
        back = from_classic(classic_rec)
        classic_back = (
            back
            if isinstance(back, Inexpressible)
            else expand_graph(back, classic_rec.start, zone, window_start, window_end)
        )
    light_rec = to_lightning(r, wall, duration, zone)
    lightning: list[datetime] | Inexpressible
    lightning_back: list[datetime] | Inexpressible
    if isinstance(light_rec, Inexpressible):
        lightning = lightning_back = light_rec
    else:
        lightning = expand_lightning(light_rec, window_start, window_end)
        lback = from_lightning(light_rec)
        lightning_back = (
            lback
            if isinstance(lback, Inexpressible)
            else expand_graph(lback, light_rec.start_date or wall, zone, window_start, window_end)
        )
    return Expansions(graph, rrule, classic, lightning, classic_back, lightning_back)
