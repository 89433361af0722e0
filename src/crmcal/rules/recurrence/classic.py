"""Graph patterns <-> Salesforce Classic series fields (api-facts B1, D9), and their expansion.

Classic has no occurrence count and no open end: a numbered Graph range becomes the date of its
last occurrence, and a noEnd range needs a `horizon` (the Classic series then ends at the last
occurrence on or before it; the caller extends it as the window slides). Classic weekly series are
taken to count weeks from Sunday, and Classic day 29-31 to fall on the last day of shorter months
like Outlook (docs/decisions/recurrence-classic.md).

`expand_classic` reads the fields with python-dateutil, independently of the Graph expander.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday
from dateutil.rrule import weekdays as du_weekdays

from crmcal.domain.calendar import (
    DayOfWeek,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
)
from crmcal.domain.crm import ClassicRecurrence, ClassicRecurrenceType

from ._common import (
    CLASSIC_INSTANCE,
    INDEX_SETPOS,
    INSTANCE_OF_CLASSIC,
    MONTH_NAMES,
    MONTH_OF_NAME,
    PY_WEEKDAY,
    WEEKDAY_MASK,
    WEEKDAYS,
    Inexpressible,
    Reason,
    day_mask,
    days_of_mask,
    end_of_day,
    first_start,
    local_wall,
    localize,
    resolve_zone,
    sort_days,
)
from .checks import DEFAULT_CLASSIC_CAPS, ClassicCaps, check_common
from .graph import (
    count_dates,
    first_date,
    last_date,
    normalise_graph,
    pattern_dates,
    validate_graph,
)

CLASSIC_MONTH_END_CLAMPS = True
"""Assumed: a Classic monthly/yearly day 29-31 falls on the last day of shorter months, as in
Outlook and in LEX (api-facts B1 says so for BYMONTHDAY=31). If a real org shows otherwise, set
False and such series are reported instead of converted."""

CLASSIC_WEEK_START = DayOfWeek.SUNDAY
"""Assumed: Classic weekly series with an interval count weeks from Sunday (Classic has no week
start field)."""


def _cap_for(t: ClassicRecurrenceType, caps: ClassicCaps) -> tuple[int, str]:
    if t in (ClassicRecurrenceType.DAILY, ClassicRecurrenceType.EVERY_WEEKDAY):
        return caps.daily, "daily"
    if t is ClassicRecurrenceType.WEEKLY:
        return caps.weekly, "weekly"
    if t in (ClassicRecurrenceType.MONTHLY, ClassicRecurrenceType.MONTHLY_NTH):
        return caps.monthly, "monthly"
    return caps.yearly, "yearly"


def _same_as_classic_weeks(rec: Recurrence, first: date) -> bool:
    """Whether a weekly pattern gives the same dates with Classic's week start, from `first`."""
    p = rec.pattern
    if p.interval == 1 or p.first_day_of_week is CLASSIC_WEEK_START:
        return True
    period_end = first + timedelta(days=7 * p.interval + 7)

    def upto(pattern: RecurrencePattern, start: date) -> list[date]:
        out: list[date] = []
        for d in pattern_dates(pattern, start):
            if d >= period_end:
                break
            out.append(d)
        return out

    classic = replace(p, first_day_of_week=CLASSIC_WEEK_START)
    return upto(p, rec.range.start_date) == upto(classic, first)


def to_classic(
    rec: Recurrence,
    start: datetime,
    duration: timedelta,
    tz_name: str,
    *,
    horizon: date | None = None,
    caps: ClassicCaps | None = DEFAULT_CLASSIC_CAPS,
    is_all_day: bool = False,
) -> ClassicRecurrence | Inexpressible:
    """The Classic series fields for an Outlook series, or why it cannot be one.

    `start` is the series' start: aware, or a naive wall time in the zone (use the wall time when
    it may fall in a DST gap); its wall time is every occurrence's time.
    `duration` one occurrence's length, `tz_name` the series' zone (Windows name or IANA id).
    The result's `start` is the first occurrence (UTC) and `time_zone` the IANA id. `caps=None`
    skips the occurrence caps (tests of the conversion itself).
    """
    common = check_common(rec, duration, tz_name, is_all_day=is_all_day)
    if isinstance(common, Inexpressible):
        return common
    rec = normalise_graph(rec)
    p, r = rec.pattern, rec.range
    first = first_date(rec)
    if first is None:
        return Inexpressible(Reason.EMPTY_SERIES, "the series has no occurrence")
    if r.type is RangeType.END_DATE and r.end_date is not None:
        end = r.end_date
    elif r.type is RangeType.NUMBERED:
        last = last_date(rec)
        assert last is not None
        end = last
    else:
        if horizon is None:
            return Inexpressible(
                Reason.NO_END,
                "the series never ends; Classic series need an end date",
            )
        last = last_date(rec, horizon)
        if last is None:
            return Inexpressible(Reason.EMPTY_SERIES, "no occurrence before the horizon")
        end = last

    mask = day_mask(p.days_of_week)
    ctype: ClassicRecurrenceType
    fields: dict[str, int | str | None] = {}
    if p.type is PatternType.DAILY:
        ctype = ClassicRecurrenceType.DAILY
        fields["interval"] = p.interval
    elif p.type is PatternType.WEEKLY:
        if p.interval == 1 and p.days_of_week == WEEKDAYS:
            ctype = ClassicRecurrenceType.EVERY_WEEKDAY
            fields["day_of_week_mask"] = WEEKDAY_MASK
        else:
            if not _same_as_classic_weeks(rec, first):
                return Inexpressible(
                    Reason.WEEK_START,
                    f"every {p.interval} weeks with weeks starting on "
                    f"{p.first_day_of_week.value}; Classic weeks start on Sunday",
                )
            ctype = ClassicRecurrenceType.WEEKLY
            fields["interval"] = p.interval
            fields["day_of_week_mask"] = mask
    elif p.type in (PatternType.ABSOLUTE_MONTHLY, PatternType.ABSOLUTE_YEARLY):
        if p.day_of_month > 28 and not CLASSIC_MONTH_END_CLAMPS:
            return Inexpressible(
                Reason.MONTH_DAY, f"day {p.day_of_month} does not exist in every month"
            )
        fields["day_of_month"] = p.day_of_month
        if p.type is PatternType.ABSOLUTE_MONTHLY:
            ctype = ClassicRecurrenceType.MONTHLY
            fields["interval"] = p.interval
        else:
            ctype = ClassicRecurrenceType.YEARLY
            fields["month_of_year"] = MONTH_NAMES[p.month - 1]
    else:
        fields["day_of_week_mask"] = mask
        fields["instance"] = CLASSIC_INSTANCE[p.index]
        if p.type is PatternType.RELATIVE_MONTHLY:
            ctype = ClassicRecurrenceType.MONTHLY_NTH
            fields["interval"] = p.interval
        else:
            ctype = ClassicRecurrenceType.YEARLY_NTH
            fields["month_of_year"] = MONTH_NAMES[p.month - 1]

    if caps is not None:
        cap, freq = _cap_for(ctype, caps)
        bounded = Recurrence(p, RecurrenceRange(RangeType.END_DATE, r.start_date, end_date=end))
        n = count_dates(bounded, cap)
        if n > cap:
            return Inexpressible(
                Reason.OCCURRENCE_CAP,
                f"more than {cap} occurrences; Classic {freq} series allow at most {cap}",
            )

    begin = first_start(first, local_wall(start, common.zone).time(), common.zone)
    if isinstance(begin, Inexpressible):
        return begin

    def _int(key: str) -> int | None:
        v = fields.get(key)
        return v if isinstance(v, int) else None

    def _str(key: str) -> str | None:
        v = fields.get(key)
        return v if isinstance(v, str) else None

    return ClassicRecurrence(
        type=ctype,
        start=begin,
        end_date=end,
        time_zone=common.iana,
        interval=_int("interval"),
        day_of_week_mask=_int("day_of_week_mask"),
        day_of_month=_int("day_of_month"),
        instance=_str("instance"),
        month_of_year=_str("month_of_year"),
    )


def _need(name: str, ctype: ClassicRecurrenceType) -> Inexpressible:
    return Inexpressible(Reason.INVALID_PATTERN, f"{ctype.value} needs {name}")


def from_classic(c: ClassicRecurrence) -> Recurrence | Inexpressible:
    """The Graph recurrence for Classic series fields (an endDate range in the series' zone)."""
    zone = resolve_zone(c.time_zone)
    if isinstance(zone, Inexpressible):
        return zone
    start = local_wall(c.start, zone.zone).date()
    t = c.type
    interval = c.interval if c.interval is not None else 1
    if interval < 1:
        return Inexpressible(Reason.INVALID_PATTERN, "RecurrenceInterval must be positive")
    days = days_of_mask(c.day_of_week_mask or 0)
    month = MONTH_OF_NAME.get(c.month_of_year or "", 0)
    index = INSTANCE_OF_CLASSIC.get(c.instance or "")
    pattern: RecurrencePattern
    if t is ClassicRecurrenceType.DAILY:
        pattern = RecurrencePattern(PatternType.DAILY, interval)
    elif t is ClassicRecurrenceType.EVERY_WEEKDAY:
        if not days or (c.day_of_week_mask or 0) & ~WEEKDAY_MASK:
            return _need("a Monday-Friday day mask", t)
        pattern = RecurrencePattern(PatternType.WEEKLY, 1, sort_days(days))
    elif t is ClassicRecurrenceType.WEEKLY:
        if not days:
            return _need("RecurrenceDayOfWeekMask", t)
        pattern = RecurrencePattern(
            PatternType.WEEKLY, interval, days, first_day_of_week=CLASSIC_WEEK_START
        )
    elif t in (ClassicRecurrenceType.MONTHLY, ClassicRecurrenceType.YEARLY):
        if not c.day_of_month:
            return _need("RecurrenceDayOfMonth", t)
        if t is ClassicRecurrenceType.MONTHLY:
            pattern = RecurrencePattern(
                PatternType.ABSOLUTE_MONTHLY, interval, day_of_month=c.day_of_month
            )
        else:
            if not month:
                return _need("RecurrenceMonthOfYear", t)
            pattern = RecurrencePattern(
                PatternType.ABSOLUTE_YEARLY, 1, day_of_month=c.day_of_month, month=month
            )
    else:
        if not days or index is None:
            return _need("RecurrenceDayOfWeekMask and RecurrenceInstance", t)
        if t is ClassicRecurrenceType.MONTHLY_NTH:
            pattern = RecurrencePattern(PatternType.RELATIVE_MONTHLY, interval, days, index=index)
        else:
            if not month:
                return _need("RecurrenceMonthOfYear", t)
            pattern = RecurrencePattern(
                PatternType.RELATIVE_YEARLY, 1, days, month=month, index=index
            )
    if not CLASSIC_MONTH_END_CLAMPS and pattern.day_of_month > 28:
        return Inexpressible(
            Reason.MONTH_DAY, f"day {pattern.day_of_month} does not exist in every month"
        )
    rec = Recurrence(
        pattern,
        RecurrenceRange(RangeType.END_DATE, start, end_date=c.end_date, time_zone=zone.iana),
    )
    problem = validate_graph(rec)
    return problem if problem is not None else rec


_DU_DAY: dict[DayOfWeek, weekday] = {d: du_weekdays[PY_WEEKDAY[d]] for d in PY_WEEKDAY}


def expand_classic(
    c: ClassicRecurrence, window_start: datetime, window_end: datetime
) -> list[datetime]:
    """Occurrence starts (aware UTC) of a Classic series in `[window_start, window_end)`.

    Reads the fields directly with python-dateutil: wall-clock time in `time_zone`, occurrences
    from `start` through `end_date` (inclusive, local), weeks from Sunday, day 29-31 clamped.
    """
    zone = resolve_zone(c.time_zone)
    if isinstance(zone, Inexpressible):
        raise ValueError(str(zone))
    tz = zone.zone
    wall0 = local_wall(c.start, tz)
    byweekday = [_DU_DAY[d] for d in days_of_mask(c.day_of_week_mask or 0)] or None
    setpos = INDEX_SETPOS[INSTANCE_OF_CLASSIC[c.instance]] if c.instance else None
    month = MONTH_OF_NAME[c.month_of_year] if c.month_of_year else None
    interval = c.interval or 1

    def monthdays(day: int) -> tuple[list[int], int | None]:
        if day > 28 and CLASSIC_MONTH_END_CLAMPS:
            return list(range(28, day + 1)), -1
        return [day], None

    t = c.type
    until = end_of_day(c.end_date)
    rule: rrule
    if t is ClassicRecurrenceType.DAILY:
        rule = rrule(DAILY, dtstart=wall0, interval=interval, until=until)
    elif t is ClassicRecurrenceType.EVERY_WEEKDAY:
        rule = rrule(DAILY, dtstart=wall0, byweekday=byweekday, until=until)
    elif t is ClassicRecurrenceType.WEEKLY:
        rule = rrule(
            WEEKLY,
            dtstart=wall0,
            interval=interval,
            byweekday=byweekday,
            wkst=_DU_DAY[CLASSIC_WEEK_START],
            until=until,
        )
    elif t is ClassicRecurrenceType.MONTHLY:
        mdays, sp = monthdays(c.day_of_month or 0)
        rule = rrule(
            MONTHLY, dtstart=wall0, interval=interval, bymonthday=mdays, bysetpos=sp, until=until
        )
    elif t is ClassicRecurrenceType.MONTHLY_NTH:
        rule = rrule(
            MONTHLY,
            dtstart=wall0,
            interval=interval,
            byweekday=byweekday,
            bysetpos=setpos,
            until=until,
        )
    elif t is ClassicRecurrenceType.YEARLY:
        mdays, sp = monthdays(c.day_of_month or 0)
        rule = rrule(
            YEARLY, dtstart=wall0, bymonth=month, bymonthday=mdays, bysetpos=sp, until=until
        )
    else:
        rule = rrule(
            YEARLY, dtstart=wall0, bymonth=month, byweekday=byweekday, bysetpos=setpos, until=until
        )
    out: list[datetime] = []
    for wall in rule:
        inst = localize(wall, tz)
        if inst >= window_end:
            break
        if inst >= window_start:
            out.append(inst.astimezone(UTC))
    return out
