"""Graph `patternedRecurrence` semantics (api-facts A2): validation and expansion.

The expander here is written from Graph's documented rules and does not use an RRULE library, so
that comparing it with the dateutil-based expansions of the Classic fields and the Lightning rule
is a real check:

- occurrences are the dates on or after `range.startDate` that match the pattern, at the series'
  wall-clock time in the recurrence zone (DST changes keep the wall time; see `localize`);
- `interval` counts days, weeks, months or years from the period that holds the start date;
- weekly periods begin on `firstDayOfWeek`;
- a relative pattern with several days picks, per period, the `index`-th (or last) day of the month
  that falls on any of those days (`first` + Mon-Fri = the first working day);
- absolute monthly/yearly days past the month's end fall on its last day (Outlook behaviour, see
  docs/decisions/recurrence-month-end.md);
- `numbered` counts occurrences, `endDate` keeps dates up to and including it, `noEnd` never ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
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

from ._common import (
    MAX_MONTH_DAYS,
    PY_WEEKDAY,
    Inexpressible,
    Reason,
    days_in_month,
    local_wall,
    localize,
    sort_days,
    zone_of,
)

_MAX_YEAR = 9000
"""Expansion stops here, so a noEnd pattern with an empty window can't loop forever."""


class InvalidPattern(ValueError):
    """A Graph pattern that Graph itself would reject."""


def normalise_graph(rec: Recurrence) -> Recurrence:
    """The same recurrence with fields its type ignores reset (Graph fills them with placeholders
    on read: `month: 0`, `index: first`, `endDate: 0001-01-01`...) and days deduplicated/sorted."""
    p = rec.pattern
    t = p.type
    days = sort_days(p.days_of_week) if t not in (PatternType.DAILY,) else ()
    pattern = RecurrencePattern(
        type=t,
        interval=p.interval,
        days_of_week=days
        if t in (PatternType.WEEKLY, PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY)
        else (),
        day_of_month=p.day_of_month
        if t in (PatternType.ABSOLUTE_MONTHLY, PatternType.ABSOLUTE_YEARLY)
        else 0,
        month=p.month if t in (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY) else 0,
        index=p.index
        if t in (PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY)
        else WeekIndex.FIRST,
        first_day_of_week=p.first_day_of_week if t is PatternType.WEEKLY else DayOfWeek.SUNDAY,
    )
    r = rec.range
    rng = RecurrenceRange(
        type=r.type,
        start_date=r.start_date,
        end_date=r.end_date if r.type is RangeType.END_DATE else None,
        number_of_occurrences=r.number_of_occurrences if r.type is RangeType.NUMBERED else 0,
        time_zone=r.time_zone,
    )
    return Recurrence(pattern=pattern, range=rng)


def validate_graph(rec: Recurrence) -> Inexpressible | None:
    """Why Graph would reject this recurrence, or None."""
    p, r = rec.pattern, rec.range

    def bad(text: str) -> Inexpressible:
        return Inexpressible(Reason.INVALID_PATTERN, text)

    if p.interval < 1:
        return bad(f"interval must be at least 1, not {p.interval}")
    relative = (PatternType.WEEKLY, PatternType.RELATIVE_MONTHLY, PatternType.RELATIVE_YEARLY)
    if p.type in relative and not p.days_of_week:
        return bad(f"a {p.type.value} pattern needs daysOfWeek")
    yearly = (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY)
    if p.type in yearly and not 1 <= p.month <= 12:
        return bad(f"month must be 1-12, not {p.month}")
    if p.type is PatternType.ABSOLUTE_MONTHLY and not 1 <= p.day_of_month <= 31:
        return bad(f"dayOfMonth must be 1-31, not {p.day_of_month}")
    if (
        p.type is PatternType.ABSOLUTE_YEARLY
        and not 1 <= p.day_of_month <= MAX_MONTH_DAYS[p.month - 1]
    ):
        return bad(f"month {p.month} has no day {p.day_of_month}")
    if r.type is RangeType.NUMBERED and r.number_of_occurrences < 1:
        return bad("a numbered range needs numberOfOccurrences >= 1")
    if r.type is RangeType.END_DATE:
        if r.end_date is None:
            return bad("an endDate range needs endDate")
        if r.end_date < r.start_date:
            return bad("endDate is before startDate")
    return None


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    y, m0 = divmod(year * 12 + (month - 1) + months, 12)
    return y, m0 + 1


def _relative_day(
    year: int, month: int, days: tuple[DayOfWeek, ...], index: WeekIndex
) -> date | None:
    wanted = {PY_WEEKDAY[d] for d in days}
    matches = [
        date(year, month, n)
        for n in range(1, days_in_month(year, month) + 1)
        if date(year, month, n).weekday() in wanted
    ]
    if not matches:
        return None
    pos = {
        WeekIndex.FIRST: 0,
        WeekIndex.SECOND: 1,
        WeekIndex.THIRD: 2,
        WeekIndex.FOURTH: 3,
        WeekIndex.LAST: -1,
    }[index]
    return matches[pos] if pos < len(matches) else None


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, days_in_month(year, month)))


def pattern_dates(pattern: RecurrencePattern, start: date) -> Iterator[date]:
    """Every date on or after `start` that the pattern gives, ascending, without end."""
    p = pattern
    n = p.interval
    if n < 1:
        raise InvalidPattern("interval must be at least 1")
    if p.type is PatternType.DAILY:
        day = start
        while day.year < _MAX_YEAR:
            yield day
            day += timedelta(days=n)
        return
    if p.type is PatternType.WEEKLY:
        first = PY_WEEKDAY[p.first_day_of_week]
        week0 = start - timedelta(days=(start.weekday() - first) % 7)
        offsets = sorted({(PY_WEEKDAY[d] - first) % 7 for d in p.days_of_week})
        if not offsets:
            raise InvalidPattern("weekly pattern without days")
        w = 0
        while week0.year < _MAX_YEAR:
            base = week0 + timedelta(days=7 * n * w)
            if base.year >= _MAX_YEAR:
                return
            for off in offsets:
                wd = base + timedelta(days=off)
                if wd >= start:
                    yield wd
            w += 1
        return
    monthly = p.type in (PatternType.ABSOLUTE_MONTHLY, PatternType.RELATIVE_MONTHLY)
    step = n if monthly else 12 * n
    y0, m0 = (start.year, start.month) if monthly else (start.year, p.month)
    if not monthly and not 1 <= p.month <= 12:
        raise InvalidPattern("yearly pattern without a month")
    k = 0
    while True:
        y, m = _add_months(y0, m0, k * step)
        if y >= _MAX_YEAR:
            return
        if p.type in (PatternType.ABSOLUTE_MONTHLY, PatternType.ABSOLUTE_YEARLY):
            if p.day_of_month < 1:
                raise InvalidPattern("absolute pattern without dayOfMonth")
            d: date | None = _clamped(y, m, p.day_of_month)
        else:
            if not p.days_of_week:
                raise InvalidPattern("relative pattern without days")
            d = _relative_day(y, m, p.days_of_week, p.index)
        if d is not None and d >= start:
            yield d
        k += 1


def occurrence_dates(rec: Recurrence) -> Iterator[date]:
    """The series' occurrence dates with the range applied (endless for noEnd)."""
    r = rec.range
    for count, d in enumerate(pattern_dates(rec.pattern, r.start_date), start=1):
        if r.type is RangeType.END_DATE and r.end_date is not None and d > r.end_date:
            return
        yield d
        if r.type is RangeType.NUMBERED and count >= r.number_of_occurrences:
            return


def first_date(rec: Recurrence) -> date | None:
    return next(iter(occurrence_dates(rec)), None)


def last_date(rec: Recurrence, horizon: date | None = None) -> date | None:
    """The last occurrence date (not after `horizon`, which noEnd needs)."""
    if rec.range.type is RangeType.NO_END and horizon is None:
        raise ValueError("a noEnd series has no last date without a horizon")
    last: date | None = None
    for d in occurrence_dates(rec):
        if horizon is not None and d > horizon:
            break
        last = d
    return last


def count_dates(rec: Recurrence, limit: int, horizon: date | None = None) -> int:
    """How many occurrences (up to `horizon`), counting at most `limit + 1`."""
    n = 0
    for d in occurrence_dates(rec):
        if horizon is not None and d > horizon:
            break
        n += 1
        if n > limit:
            break
    return n


def expand_graph(
    rec: Recurrence,
    start_local: datetime,
    zone: ZoneInfo | str,
    window_start: datetime,
    window_end: datetime,
) -> list[datetime]:
    """Occurrence starts (aware, UTC) with `window_start <= start < window_end`.

    `start_local` gives the series' wall-clock time (naive wall time in `zone`, or aware); its date
    is not used: occurrences start from `rec.range.start_date`. `zone` is an IANA id, a Windows
    name, or a ZoneInfo.
    """
    problem = validate_graph(rec)
    if problem is not None:
        raise InvalidPattern(problem.reason_text)
    tz = zone_of(zone)
    at = local_wall(start_local, tz).time()
    out: list[datetime] = []
    for d in occurrence_dates(rec):
        inst = localize(datetime.combine(d, at), tz)
        if inst >= window_end:
            break
        if inst >= window_start:
            out.append(inst)
    return out


def with_start(rec: Recurrence, start: date) -> Recurrence:
    return replace(rec, range=replace(rec.range, start_date=start))
