"""The emulator's own expansion of Graph `patternedRecurrence` (api-facts A2), written plainly.

Dates are computed in the series' zone; the caller puts the master's local start time on each date
and converts to UTC. Deliberately independent of crmcal's rules code, so tests that compare the two
compare two implementations.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

PATTERN_TYPES = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)
RANGE_TYPES = ("endDate", "noEnd", "numbered")
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
INDEXES = ("first", "second", "third", "fourth", "last")
# Python's weekday(): Monday=0 … Sunday=6
_PY_WEEKDAY = {d: (i - 1) % 7 for i, d in enumerate(DAYS)}
MAX_OCCURRENCES = 100_000


class RecurrenceError(ValueError):
    """The recurrence JSON is missing a required field or has an unsupported value."""


@dataclass(frozen=True)
class Spec:
    type: str
    interval: int
    days_of_week: tuple[str, ...]
    day_of_month: int
    month: int
    index: str
    first_day_of_week: str
    range_type: str
    start_date: date
    end_date: date | None
    count: int
    time_zone: str | None


def _int(v: object, name: str, default: int = 0) -> int:
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise RecurrenceError(f"recurrence {name} must be an integer")
    return v


def _date(v: object, name: str) -> date:
    if not isinstance(v, str):
        raise RecurrenceError(f"recurrence range {name} is required")
    try:
        return date.fromisoformat(v[:10])
    except ValueError as e:
        raise RecurrenceError(f"recurrence range {name} is not a date: {v!r}") from e


def parse(obj: object) -> Spec:
    """Validate a `patternedRecurrence` JSON object as Graph does on write."""
    if not isinstance(obj, dict):
        raise RecurrenceError("recurrence must be an object with pattern and range")
    pat: Any = obj.get("pattern")
    rng: Any = obj.get("range")
    if not isinstance(pat, dict) or not isinstance(rng, dict):
        raise RecurrenceError("recurrence needs both pattern and range")
    ptype = pat.get("type")
    if ptype not in PATTERN_TYPES:
        raise RecurrenceError(f"unsupported recurrence pattern type {ptype!r}")
    interval = _int(pat.get("interval"), "interval", 0)
    if interval < 1 or interval > 99:
        raise RecurrenceError("recurrence pattern interval must be between 1 and 99")
    days_raw = pat.get("daysOfWeek") or []
    if not isinstance(days_raw, list) or any(d not in DAYS for d in days_raw):
        raise RecurrenceError(f"unsupported daysOfWeek {days_raw!r}")
    days = tuple(str(d) for d in days_raw)
    dom = _int(pat.get("dayOfMonth"), "dayOfMonth")
    month = _int(pat.get("month"), "month")
    index = pat.get("index") or "first"
    if index not in INDEXES:
        raise RecurrenceError(f"unsupported index {index!r}")
    fdow = pat.get("firstDayOfWeek") or "sunday"
    if fdow not in DAYS:
        raise RecurrenceError(f"unsupported firstDayOfWeek {fdow!r}")
    if ptype in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise RecurrenceError(f"{ptype} recurrence needs daysOfWeek")
    if ptype in ("absoluteMonthly", "absoluteYearly") and not 1 <= dom <= 31:
        raise RecurrenceError(f"{ptype} recurrence needs dayOfMonth 1-31")
    if ptype in ("absoluteYearly", "relativeYearly") and not 1 <= month <= 12:
        raise RecurrenceError(f"{ptype} recurrence needs month 1-12")
    rtype = rng.get("type")
    if rtype not in RANGE_TYPES:
        raise RecurrenceError(f"unsupported recurrence range type {rtype!r}")
    start = _date(rng.get("startDate"), "startDate")
    end: date | None = None
    count = 0
    if rtype == "endDate":
        end = _date(rng.get("endDate"), "endDate")
        if end < start:
            raise RecurrenceError("recurrence range endDate is before startDate")
    if rtype == "numbered":
        count = _int(rng.get("numberOfOccurrences"), "numberOfOccurrences")
        if count < 1:
            raise RecurrenceError("numbered recurrence needs a positive numberOfOccurrences")
    tz = rng.get("recurrenceTimeZone")
    return Spec(
        type=str(ptype),
        interval=interval,
        days_of_week=days,
        day_of_month=dom,
        month=month,
        index=str(index),
        first_day_of_week=str(fdow),
        range_type=str(rtype),
        start_date=start,
        end_date=end,
        count=count,
        time_zone=str(tz) if isinstance(tz, str) and tz else None,
    )


def to_json(spec: Spec, time_zone: str) -> dict[str, Any]:
    """The recurrence as Graph returns it on read: unused fields filled with placeholders."""
    uses_days = spec.type in ("weekly", "relativeMonthly", "relativeYearly")
    uses_dom = spec.type in ("absoluteMonthly", "absoluteYearly")
    uses_month = spec.type in ("absoluteYearly", "relativeYearly")
    return {
        "pattern": {
            "type": spec.type,
            "interval": spec.interval,
            "month": spec.month if uses_month else 0,
            "dayOfMonth": spec.day_of_month if uses_dom else 0,
            "daysOfWeek": list(spec.days_of_week) if uses_days else [],
            "firstDayOfWeek": spec.first_day_of_week,
            "index": spec.index,
        },
        "range": {
            "type": spec.range_type,
            "startDate": spec.start_date.isoformat(),
            "endDate": spec.end_date.isoformat() if spec.end_date else "0001-01-01",
            "recurrenceTimeZone": spec.time_zone or time_zone,
            "numberOfOccurrences": spec.count,
        },
    }


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    m = month - 1 + n
    return year + m // 12, m % 12 + 1


def _nth_in_month(year: int, month: int, days: tuple[str, ...], index: str) -> date:
    """The `index`-th day of the month that is one of `days` (several days: the first that fits)."""
    wanted = {_PY_WEEKDAY[d] for d in days}
    n = calendar.monthrange(year, month)[1]
    matches = [
        date(year, month, d) for d in range(1, n + 1) if date(year, month, d).weekday() in wanted
    ]
    if index == "last":
        return matches[-1]
    return matches[min(INDEXES.index(index), len(matches) - 1)]


def _clamped(year: int, month: int, day: int) -> date:
    """`day` of that month, or the month's last day when it is shorter (Outlook's behaviour)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _candidates(spec: Spec) -> Iterator[date]:
    """Pattern dates from the range start on, without the range's end applied."""
    start = spec.start_date
    if spec.type == "daily":
        d = start
        while True:
            yield d
            d += timedelta(days=spec.interval)
    elif spec.type == "weekly":
        fdow = _PY_WEEKDAY[spec.first_day_of_week]
        week = start - timedelta(days=(start.weekday() - fdow) % 7)
        wanted = {_PY_WEEKDAY[d] for d in spec.days_of_week}
        while True:
            for i in range(7):
                d = week + timedelta(days=i)
                if d.weekday() in wanted and d >= start:
                    yield d
            week += timedelta(weeks=spec.interval)
    elif spec.type in ("absoluteMonthly", "relativeMonthly"):
        k = 0
        while True:
            y, m = _add_months(start.year, start.month, k * spec.interval)
            if spec.type == "absoluteMonthly":
                d = _clamped(y, m, spec.day_of_month)
            else:
                d = _nth_in_month(y, m, spec.days_of_week, spec.index)
            if d >= start:
                yield d
            k += 1
    else:
        k = 0
        while True:
            y = start.year + k * spec.interval
            if spec.type == "absoluteYearly":
                d = _clamped(y, spec.month, spec.day_of_month)
            else:
                d = _nth_in_month(y, spec.month, spec.days_of_week, spec.index)
            if d >= start:
                yield d
            k += 1


def occurrence_dates(spec: Spec, until: date) -> Iterator[date]:
    """The series' dates in order, up to and including `until` (and the range's own end)."""
    for n, d in enumerate(_candidates(spec)):
        if d > until or d.year > 9998:
            return
        if spec.range_type == "endDate" and spec.end_date is not None and d > spec.end_date:
            return
        if spec.range_type == "numbered" and n >= spec.count:
            return
        if n >= MAX_OCCURRENCES and spec.range_type != "numbered":
            return
        yield d
