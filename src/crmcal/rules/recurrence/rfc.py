"""RFC 5545 RRULE text <-> Graph patterns, and RRULE expansion (python-dateutil).

`to_rrule` writes the exact RFC 5545 equivalent of a Graph pattern. Graph's month-end behaviour
(day 29-31 falls on the last day of shorter months) is spelled with BYSETPOS, e.g. day 30 is
`BYMONTHDAY=28,29,30;BYSETPOS=-1` and day 31 is `BYMONTHDAY=-1`.

`from_rrule` accepts only rules whose RFC 5545 occurrences a Graph pattern reproduces exactly;
everything else is `Inexpressible` (never approximated). Inexpressible kinds: sub-daily
frequencies and BYHOUR/BYMINUTE/BYSECOND lists, BYYEARDAY, BYWEEKNO, several months, several
occurrences per month or year (several BYMONTHDAY values, unnumbered BYDAY in monthly/yearly rules,
several numbered BYDAY), positions other than 1-4 and -1, BYSETPOS outside a relative pattern,
month days 29-31 that RFC skips in shorter months (Graph moves them to the last day), BYMONTH or
BYMONTHDAY limits on daily rules, and rules with no occurrence at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

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
    DAY_OF_PY,
    DAY_OF_RFC,
    INDEX_SETPOS,
    MAX_MONTH_DAYS,
    RFC_DAY,
    SETPOS_INDEX,
    Inexpressible,
    Reason,
    end_of_day,
    local_wall,
    localize,
    sort_days,
    zone_of,
)
from .graph import InvalidPattern, first_date, normalise_graph, validate_graph

Semantics = Literal["rfc", "salesforce"]
"""`rfc`: RFC 5545 (BYMONTHDAY past the month's end is skipped). `salesforce`: LEX's reading
(BYMONTHDAY=31 in shorter months falls on the last day, api-facts B1)."""

PART_ORDER: tuple[str, ...] = (
    "FREQ",
    "BYMONTH",
    "BYMONTHDAY",
    "BYDAY",
    "WKST",
    "BYSETPOS",
    "INTERVAL",
    "UNTIL",
    "COUNT",
)
"""The order Salesforce writes RRULE parts in (api-facts B1); `to_rrule` uses it too."""

_KNOWN = frozenset(
    {
        *PART_ORDER,
        "BYYEARDAY",
        "BYWEEKNO",
        "BYHOUR",
        "BYMINUTE",
        "BYSECOND",
    }
)
_FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_BYDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL_RE = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


class RuleSyntaxError(ValueError):
    """RRULE text that is not a valid rule."""


@dataclass(frozen=True, slots=True)
class Until:
    """An UNTIL value: a date, a floating date-time, or a UTC date-time."""

    value: datetime
    is_date: bool = False
    is_utc: bool = False

    def text(self) -> str:
        if self.is_date:
            return self.value.strftime("%Y%m%d")
        return self.value.strftime("%Y%m%dT%H%M%S") + ("Z" if self.is_utc else "")


@dataclass(frozen=True, slots=True)
class RuleParts:
    """A parsed RRULE. Lists keep the order written; duplicates are removed."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: Until | None = None
    byday: tuple[tuple[int | None, DayOfWeek], ...] = ()
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: DayOfWeek | None = None
    other: tuple[tuple[str, str], ...] = field(default=())
    """BYYEARDAY, BYWEEKNO, BYHOUR, BYMINUTE, BYSECOND as written."""
    interval_given: bool = False


def _ints(key: str, value: str) -> tuple[int, ...]:
    out: list[int] = []
    for piece in value.split(","):
        try:
            n = int(piece)
        except ValueError:
            raise RuleSyntaxError(f"{key}: {piece!r} is not a number") from None
        if n not in out:
            out.append(n)
    return tuple(out)


def parse_rule(text: str) -> RuleParts:  # noqa: C901 - one branch per RFC 5545 rule part
    """Parse RRULE text (with or without the `RRULE:` prefix; a trailing `;` is allowed)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    seen: dict[str, str] = {}
    for chunk in body.split(";"):
        if not chunk.strip():
            continue
        key, sep, value = chunk.partition("=")
        key = key.strip().upper()
        value = value.strip().upper()
        if not sep or not value:
            raise RuleSyntaxError(f"malformed part {chunk!r}")
        if key not in _KNOWN:
            raise RuleSyntaxError(f"unknown part {key}")
        if key in seen:
            raise RuleSyntaxError(f"{key} given twice")
        seen[key] = value
    freq = seen.get("FREQ")
    if freq not in _FREQS:
        raise RuleSyntaxError(f"FREQ must be one of {', '.join(_FREQS)}")
    interval = 1
    if "INTERVAL" in seen:
        (interval,) = _ints("INTERVAL", seen["INTERVAL"])[:1]
        if interval < 1:
            raise RuleSyntaxError("INTERVAL must be positive")
    count = None
    if "COUNT" in seen:
        (count,) = _ints("COUNT", seen["COUNT"])[:1]
        if count < 1:
            raise RuleSyntaxError("COUNT must be positive")
    until = None
    if "UNTIL" in seen:
        m = _UNTIL_RE.match(seen["UNTIL"])
        if not m:
            raise RuleSyntaxError(f"bad UNTIL {seen['UNTIL']!r}")
        try:
            if m.group(2) is None:
                until = Until(datetime.strptime(m.group(1), "%Y%m%d"), is_date=True)
            else:
                until = Until(
                    datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S"),
                    is_utc=m.group(3) == "Z",
                )
        except ValueError:
            raise RuleSyntaxError(f"bad UNTIL {seen['UNTIL']!r}") from None
    if count is not None and until is not None:
        raise RuleSyntaxError("COUNT and UNTIL are mutually exclusive")
    byday: list[tuple[int | None, DayOfWeek]] = []
    if "BYDAY" in seen:
        for piece in seen["BYDAY"].split(","):
            bm = _BYDAY_RE.match(piece.strip())
            if not bm:
                raise RuleSyntaxError(f"bad BYDAY {piece!r}")
            num = int(bm.group(1)) if bm.group(1) else None
            if num == 0:
                raise RuleSyntaxError("BYDAY position 0")
            entry = (num, DAY_OF_RFC[bm.group(2)])
            if entry not in byday:
                byday.append(entry)
    bymonthday = _ints("BYMONTHDAY", seen["BYMONTHDAY"]) if "BYMONTHDAY" in seen else ()
    if any(n == 0 or abs(n) > 31 for n in bymonthday):
        raise RuleSyntaxError("BYMONTHDAY out of range")
    bymonth = _ints("BYMONTH", seen["BYMONTH"]) if "BYMONTH" in seen else ()
    if any(not 1 <= n <= 12 for n in bymonth):
        raise RuleSyntaxError("BYMONTH out of range")
    bysetpos = _ints("BYSETPOS", seen["BYSETPOS"]) if "BYSETPOS" in seen else ()
    if any(n == 0 or abs(n) > 366 for n in bysetpos):
        raise RuleSyntaxError("BYSETPOS out of range")
    wkst = None
    if "WKST" in seen:
        if seen["WKST"] not in DAY_OF_RFC:
            raise RuleSyntaxError(f"bad WKST {seen['WKST']!r}")
        wkst = DAY_OF_RFC[seen["WKST"]]
    other = tuple(
        (k, seen[k])
        for k in ("BYYEARDAY", "BYWEEKNO", "BYHOUR", "BYMINUTE", "BYSECOND")
        if k in seen
    )
    return RuleParts(
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        byday=tuple(byday),
        bymonthday=bymonthday,
        bymonth=bymonth,
        bysetpos=bysetpos,
        wkst=wkst,
        other=other,
        interval_given="INTERVAL" in seen,
    )


def format_rule(parts: RuleParts, *, prefix: bool = False) -> str:
    """RRULE text in Salesforce's part order, with INTERVAL always written."""
    values: dict[str, str] = {"FREQ": parts.freq}
    if parts.bymonth:
        values["BYMONTH"] = ",".join(str(n) for n in parts.bymonth)
    if parts.bymonthday:
        values["BYMONTHDAY"] = ",".join(str(n) for n in parts.bymonthday)
    if parts.byday:
        values["BYDAY"] = ",".join(f"{n if n else ''}{RFC_DAY[d]}" for n, d in parts.byday)
    if parts.wkst is not None:
        values["WKST"] = RFC_DAY[parts.wkst]
    if parts.bysetpos:
        values["BYSETPOS"] = ",".join(str(n) for n in parts.bysetpos)
    values["INTERVAL"] = str(parts.interval)
    if parts.until is not None:
        values["UNTIL"] = parts.until.text()
    if parts.count is not None:
        values["COUNT"] = str(parts.count)
    text = ";".join(f"{k}={values[k]}" for k in PART_ORDER if k in values)
    text += "".join(f";{k}={v}" for k, v in parts.other)
    return ("RRULE:" if prefix else "") + text


# ---- Graph -> RRULE -------------------------------------------------------------------------


def graph_rule_parts(
    rec: Recurrence,
    *,
    semantics: Semantics,
    until: Until | None = None,
) -> RuleParts:
    """The RRULE parts for a (valid, normalised) Graph pattern, without the range's UNTIL, which
    the caller computes because it depends on the zone and the wall time."""
    p = rec.pattern
    t = p.type
    days = tuple((None, d) for d in sort_days(p.days_of_week))
    count = rec.range.number_of_occurrences if rec.range.type is RangeType.NUMBERED else None
    setpos = (INDEX_SETPOS[p.index],)
    if t is PatternType.DAILY:
        return RuleParts("DAILY", p.interval, count, until)
    if t is PatternType.WEEKLY:
        return RuleParts("WEEKLY", p.interval, count, until, byday=days, wkst=p.first_day_of_week)
    if t is PatternType.RELATIVE_MONTHLY:
        return RuleParts("MONTHLY", p.interval, count, until, byday=days, bysetpos=setpos)
    if t is PatternType.RELATIVE_YEARLY:
        return RuleParts(
            "YEARLY", p.interval, count, until, byday=days, bymonth=(p.month,), bysetpos=setpos
        )
    yearly = t is PatternType.ABSOLUTE_YEARLY
    bymonth = (p.month,) if yearly else ()
    dom = p.day_of_month
    # The shortest length the month(s) can have: below it the day always exists.
    shortest = (28 if p.month == 2 else MAX_MONTH_DAYS[p.month - 1]) if yearly else 28
    if semantics == "salesforce" or dom <= shortest:
        return RuleParts(
            "YEARLY" if yearly else "MONTHLY",
            p.interval,
            count,
            until,
            bymonthday=(dom,),
            bymonth=bymonth,
        )
    longest = MAX_MONTH_DAYS[p.month - 1] if yearly else 31
    if dom >= longest:
        mdays: tuple[int, ...] = (-1,)
        setp: tuple[int, ...] = ()
    else:
        mdays = tuple(range(shortest, dom + 1))
        setp = (-1,)
    return RuleParts(
        "YEARLY" if yearly else "MONTHLY",
        p.interval,
        count,
        until,
        bymonthday=mdays,
        bymonth=bymonth,
        bysetpos=setp,
    )


def utc_until(end: date, zone: ZoneInfo) -> Until:
    """UNTIL for Graph's inclusive endDate: the end of that local day, in UTC."""
    return Until(localize(end_of_day(end), zone).replace(tzinfo=None), is_utc=True)


def to_rrule(rec: Recurrence, *, zone: ZoneInfo | str | None = None) -> str:
    """The RFC 5545 RRULE value (no `RRULE:` prefix, no DTSTART) for a Graph recurrence.

    An endDate range becomes UNTIL at the end of that day: floating local time without `zone`
    (for a floating DTSTART), UTC with it (for a DTSTART with TZID). Raises `InvalidPattern` for a
    pattern Graph itself rejects; every valid Graph pattern has an exact RRULE.
    """
    problem = validate_graph(rec)
    if problem is not None:
        raise InvalidPattern(problem.reason_text)
    rec = normalise_graph(rec)
    until = None
    if rec.range.type is RangeType.END_DATE and rec.range.end_date is not None:
        if zone is None:
            until = Until(end_of_day(rec.range.end_date))
        else:
            until = utc_until(rec.range.end_date, zone_of(zone))
    return format_rule(graph_rule_parts(rec, semantics="rfc", until=until))


# ---- RRULE -> Graph -------------------------------------------------------------------------


def _no(text: str) -> Inexpressible:
    return Inexpressible(Reason.UNSUPPORTED_RULE, text)


def _relative(
    parts: RuleParts, allowed_setpos: frozenset[int]
) -> tuple[tuple[DayOfWeek, ...], WeekIndex] | Inexpressible:
    """Days and index from numbered BYDAY (one day) or plain BYDAY + one BYSETPOS."""
    nums = {n for n, _ in parts.byday}
    if nums == {None}:
        if len(parts.bysetpos) != 1:
            return _no("BYDAY without a position gives every such day, not one per period")
        pos = parts.bysetpos[0]
        if pos not in allowed_setpos:
            return _no(f"BYSETPOS={pos}: Graph has only first-fourth and last")
        return sort_days([d for _, d in parts.byday]), SETPOS_INDEX[pos]
    if None in nums or len(parts.byday) != 1:
        return _no("several numbered BYDAY values give several occurrences per period")
    if parts.bysetpos:
        return _no("numbered BYDAY combined with BYSETPOS")
    num, day = parts.byday[0]
    assert num is not None
    if num not in allowed_setpos:
        return _no(f"BYDAY={num}{RFC_DAY[day]}: Graph has only first-fourth and last")
    return (day,), SETPOS_INDEX[num]


def _absolute_day(parts: RuleParts, month: int | None, semantics: Semantics) -> int | Inexpressible:
    """The Graph dayOfMonth for BYMONTHDAY (+ BYSETPOS=-1 month-end shapes); month=None: any."""
    mdays, setpos = parts.bymonthday, parts.bysetpos
    longest = MAX_MONTH_DAYS[month - 1] if month else 31
    shortest = (28 if month == 2 else longest) if month else 28
    if setpos:
        # BYMONTHDAY=s..d;BYSETPOS=-1 = day d, or the month's last day when shorter.
        if (
            setpos == (-1,)
            and sorted(mdays) == list(range(min(mdays), max(mdays) + 1))
            and min(mdays) <= shortest
            and max(mdays) > shortest
        ):
            return min(max(mdays), longest)
        return _no("BYSETPOS with BYMONTHDAY other than a month-end shape")
    if len(mdays) != 1:
        return _no("several BYMONTHDAY values give several occurrences per period")
    d = mdays[0]
    if d == -1:
        return longest
    if d < 0:
        return _no(f"BYMONTHDAY={d}: Graph counts days only from the start of the month")
    if d > longest:
        return _no(f"BYMONTHDAY={d} never occurs in that month")
    if d > shortest and semantics == "rfc":
        return _no(
            f"BYMONTHDAY={d} skips shorter months in RFC 5545; Graph moves it to the last day"
        )
    return d


def rule_to_graph(  # noqa: C901 - one branch per RFC 5545 FREQ/BY* combination Graph can hold
    parts: RuleParts,
    dtstart: datetime,
    *,
    semantics: Semantics,
    zone: ZoneInfo | None = None,
    time_zone: str | None = None,
) -> Recurrence | Inexpressible:
    """A Graph recurrence giving exactly the rule's occurrences from `dtstart`.

    `dtstart` is a wall time (naive) in `zone`, or floating when `zone` is None.
    """
    if parts.freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        return _no(f"FREQ={parts.freq}: Graph repeats at most daily")
    for key, value in parts.other:
        if key in ("BYYEARDAY", "BYWEEKNO"):
            return _no(f"{key}: Graph has no day-of-year or week-number patterns")
        wanted = {"BYHOUR": dtstart.hour, "BYMINUTE": dtstart.minute, "BYSECOND": dtstart.second}
        if _ints(key, value) != (wanted[key],):
            return _no(f"{key}={value}: Graph has one occurrence per day at the start time")
    n = parts.interval
    f = parts.freq
    pattern: RecurrencePattern
    if f == "DAILY":
        if parts.bymonth or parts.bymonthday or parts.bysetpos:
            return _no("DAILY with BYMONTH, BYMONTHDAY or BYSETPOS limits")
        if parts.byday:
            if any(num is not None for num, _ in parts.byday):
                return _no("numbered BYDAY in a DAILY rule")
            if n != 1:
                return _no("DAILY with BYDAY and INTERVAL above 1")
            pattern = RecurrencePattern(
                PatternType.WEEKLY,
                1,
                sort_days([d for _, d in parts.byday]),
                first_day_of_week=DayOfWeek.SUNDAY,
            )
        else:
            pattern = RecurrencePattern(PatternType.DAILY, n)
    elif f == "WEEKLY":
        if parts.bymonth or parts.bymonthday or parts.bysetpos:
            return _no("WEEKLY with BYMONTH, BYMONTHDAY or BYSETPOS")
        if any(num is not None for num, _ in parts.byday):
            return _no("numbered BYDAY in a WEEKLY rule")
        days = sort_days([d for _, d in parts.byday]) or (DAY_OF_PY[dtstart.weekday()],)
        pattern = RecurrencePattern(
            PatternType.WEEKLY, n, days, first_day_of_week=parts.wkst or DayOfWeek.MONDAY
        )
    elif f == "MONTHLY":
        if parts.bymonth:
            return _no("MONTHLY with BYMONTH limits some months out")
        if parts.byday and parts.bymonthday:
            return _no("BYDAY combined with BYMONTHDAY")
        if parts.byday:
            rel = _relative(parts, frozenset(SETPOS_INDEX))
            if isinstance(rel, Inexpressible):
                return rel
            pattern = RecurrencePattern(PatternType.RELATIVE_MONTHLY, n, rel[0], index=rel[1])
        else:
            if not parts.bymonthday and parts.bysetpos:
                return _no("BYSETPOS without BYDAY or BYMONTHDAY")
            # A day taken from DTSTART follows RFC 5545 in every reader (LEX's month-end rule is
            # documented for an explicit BYMONTHDAY only).
            if parts.bymonthday:
                dom = _absolute_day(parts, None, semantics)
            else:
                dom = _absolute_day(_with_monthday(parts, dtstart.day), None, "rfc")
            if isinstance(dom, Inexpressible):
                return dom
            pattern = RecurrencePattern(PatternType.ABSOLUTE_MONTHLY, n, day_of_month=dom)
    else:  # YEARLY
        if len(parts.bymonth) > 1:
            return _no("several BYMONTH values give several occurrences per year")
        if parts.byday and parts.bymonthday:
            return _no("BYDAY combined with BYMONTHDAY")
        if (parts.byday or parts.bymonthday) and not parts.bymonth:
            return _no("YEARLY with BYDAY or BYMONTHDAY but no BYMONTH (every month)")
        month = parts.bymonth[0] if parts.bymonth else dtstart.month
        if parts.byday:
            rel = _relative(parts, frozenset(SETPOS_INDEX))
            if isinstance(rel, Inexpressible):
                return rel
            pattern = RecurrencePattern(
                PatternType.RELATIVE_YEARLY, n, rel[0], month=month, index=rel[1]
            )
        else:
            if parts.bysetpos and not parts.bymonthday:
                return _no("BYSETPOS without BYDAY or BYMONTHDAY")
            if parts.bymonthday:
                dom = _absolute_day(parts, month, semantics)
            else:
                dom = _absolute_day(_with_monthday(parts, dtstart.day), month, "rfc")
            if isinstance(dom, Inexpressible):
                return dom
            pattern = RecurrencePattern(
                PatternType.ABSOLUTE_YEARLY, n, day_of_month=dom, month=month
            )
    start = dtstart.date()
    if parts.count is not None:
        rng = RecurrenceRange(
            RangeType.NUMBERED, start, number_of_occurrences=parts.count, time_zone=time_zone
        )
    elif parts.until is not None:
        end = _end_date(parts.until, dtstart, zone)
        if end < start:
            return Inexpressible(Reason.EMPTY_SERIES, "UNTIL is before the first occurrence")
        rng = RecurrenceRange(RangeType.END_DATE, start, end_date=end, time_zone=time_zone)
    else:
        rng = RecurrenceRange(RangeType.NO_END, start, time_zone=time_zone)
    rec = Recurrence(pattern, rng)
    problem = validate_graph(rec)
    if problem is not None:
        return _no(problem.reason_text)
    if first_date(rec) is None:
        return Inexpressible(Reason.EMPTY_SERIES, "the rule gives no occurrence")
    return rec


def _with_monthday(parts: RuleParts, day: int) -> RuleParts:
    return RuleParts(
        parts.freq,
        parts.interval,
        parts.count,
        parts.until,
        bymonthday=(day,),
        bymonth=parts.bymonth,
        bysetpos=parts.bysetpos,
    )


def _end_date(until: Until, dtstart: datetime, zone: ZoneInfo | None) -> date:
    """Graph's inclusive endDate: the last date whose occurrence starts no later than UNTIL."""
    at = dtstart.time()
    if until.is_date:
        limit_wall = until.value  # midnight of the UNTIL date, in the series' frame
        return limit_wall.date() if at <= time(0) else limit_wall.date() - timedelta(days=1)
    if zone is None or not until.is_utc:
        # Floating DTSTART (a UTC UNTIL is read in the same floating frame, as libical does),
        # or a floating UNTIL read in the series' zone.
        candidate = until.value.date()
        if datetime.combine(candidate, at) > until.value:
            candidate -= timedelta(days=1)
        return candidate
    limit = until.value.replace(tzinfo=UTC)
    candidate = limit.astimezone(zone).date()
    if localize(datetime.combine(candidate, at), zone) > limit:
        candidate -= timedelta(days=1)
    return candidate


def from_rrule(text: str, dtstart: datetime) -> Recurrence | Inexpressible:
    """The Graph recurrence with exactly the RFC 5545 occurrences of `text` from `dtstart`.

    `dtstart` may be naive (floating) or aware; an aware DTSTART's zone becomes the range's
    `time_zone` (IANA id). Raises `RuleSyntaxError` for text that is not an RRULE at all.
    """
    parts = parse_rule(text)
    zone: ZoneInfo | None = None
    tz_name: str | None = None
    if dtstart.tzinfo is not None:
        key = getattr(dtstart.tzinfo, "key", None)
        if isinstance(dtstart.tzinfo, ZoneInfo) and key:
            # DTSTART;TZID=...: its wall time is the series' time, even inside a DST gap.
            zone, tz_name = dtstart.tzinfo, str(key)
            dtstart = dtstart.replace(tzinfo=None, fold=0)
        elif dtstart.utcoffset() == timedelta(0):
            zone, tz_name = ZoneInfo("UTC"), "UTC"
            dtstart = local_wall(dtstart, zone)
        else:
            return _no("DTSTART has a fixed offset, not a named time zone")
    return rule_to_graph(parts, dtstart, semantics="rfc", zone=zone, time_zone=tz_name)


# ---- expansion ------------------------------------------------------------------------------


def iter_rule(
    text: str,
    dtstart_wall: datetime,
    *,
    semantics: Semantics = "rfc",
) -> Iterator[datetime]:
    """Naive wall times of the rule's occurrences from `dtstart_wall` (dateutil), ignoring UNTIL
    (callers compare UNTIL as an instant). `salesforce` semantics move BYMONTHDAY past a month's
    end to its last day."""
    parts = parse_rule(text)
    if semantics == "salesforce":
        parts = _salesforce_clamp(parts)
    bare = RuleParts(
        parts.freq,
        parts.interval,
        parts.count,
        None,
        parts.byday,
        parts.bymonthday,
        parts.bymonth,
        parts.bysetpos,
        parts.wkst,
        parts.other,
    )
    rule = rrulestr(format_rule(bare), dtstart=dtstart_wall.replace(tzinfo=None))
    assert isinstance(rule, rrule)
    return iter(rule)


def _salesforce_clamp(parts: RuleParts) -> RuleParts:
    if (
        len(parts.bymonthday) == 1
        and parts.bymonthday[0] > 28
        and not parts.bysetpos
        and not parts.byday
        and parts.freq in ("MONTHLY", "YEARLY")
    ):
        d = parts.bymonthday[0]
        return RuleParts(
            parts.freq,
            parts.interval,
            parts.count,
            parts.until,
            (),
            tuple(range(28, d + 1)),
            parts.bymonth,
            (-1,),
            parts.wkst,
            parts.other,
        )
    return parts


def until_instant(until: Until, zone: ZoneInfo) -> datetime:
    """UNTIL as an aware instant (a date or floating value is read in the series' zone)."""
    if until.is_utc:
        return until.value.replace(tzinfo=UTC)
    return localize(until.value, zone)


def expand_rule(
    text: str,
    dtstart: datetime,
    zone: ZoneInfo | str,
    window_start: datetime,
    window_end: datetime,
    *,
    semantics: Semantics = "rfc",
) -> list[datetime]:
    """Occurrence starts (aware UTC) of an RRULE within `[window_start, window_end)`."""
    tz = zone_of(zone)
    wall0 = local_wall(dtstart, tz)
    parts = parse_rule(text)
    limit = until_instant(parts.until, tz) if parts.until is not None else None
    out: list[datetime] = []
    for wall in iter_rule(text, wall0, semantics=semantics):
        inst = localize(wall, tz)
        if limit is not None and inst > limit:
            break
        if inst >= window_end:
            break
        if inst >= window_start:
            out.append(inst)
    return out
