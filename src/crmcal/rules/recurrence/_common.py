"""Shared pieces of the recurrence conversions: the result type, day/month tables, zone lookup.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from crmcal.domain.calendar import DayOfWeek, WeekIndex


class Reason(StrEnum):
    """Why a series cannot be converted. The value is the stable code stored with a sync error."""

    INVALID_PATTERN = "invalid_pattern"
    """The Graph pattern breaks Graph's own rules (e.g. weekly without days)."""
    EMPTY_SERIES = "empty_series"
    """The range leaves no occurrence at all."""
    UNSUPPORTED_RULE = "unsupported_rule"
    """An RRULE (or Lightning rule) that no Graph pattern expresses exactly."""
    YEARLY_INTERVAL = "yearly_interval"
    """R4: yearly with interval above 1 (Classic has no yearly interval; LEX needs INTERVAL=1)."""
    OCCURRENCE_CAP = "classic_occurrence_cap"
    """R4: more occurrences than a Classic series may have."""
    TOO_LONG = "occurrence_too_long"
    """R4: an occurrence longer than 24 hours."""
    ALL_DAY_SERIES = "recurring_all_day"
    """R6: recurring all-day items are not synced."""
    ZONE_CUSTOM = "zone_custom"
    """N3: `tzone://Microsoft/Custom` (or another custom zone)."""
    ZONE_NOT_EXACT = "zone_not_exact"
    """N3: a Windows zone whose rules have no exact IANA equivalent."""
    ZONE_UNKNOWN = "zone_unknown"
    """N3: a zone name that is neither a known Windows name nor an IANA id."""
    NO_END = "classic_no_end"
    """A Classic series needs an end date; a never-ending pattern needs a horizon."""
    WEEK_START = "classic_week_start"
    """Weekly every n>1 weeks whose days group differently with Classic's Sunday weeks."""
    MONTH_DAY = "classic_month_day"
    """Day 29-31 while Classic month-end clamping is not assumed (see CLASSIC_MONTH_END_CLAMPS)."""
    LIGHTNING_LIMIT = "lightning_limit"
    """Outside the LEX RRULE subset (interval ranges)."""
    START_IN_GAP = "start_in_dst_gap"
    """The first occurrence's wall time does not exist that day (DST gap): Salesforce keeps the
    series' time as an instant and would move every occurrence."""


@dataclass(frozen=True, slots=True)
class Inexpressible:
    """A series that cannot be converted exactly; reported as a sync error, never approximated."""

    reason_code: Reason
    reason_text: str

    def __str__(self) -> str:
        return f"{self.reason_code.value}: {self.reason_text}"


# ---- days -----------------------------------------------------------------------------------

WEEK_SUNDAY_FIRST: tuple[DayOfWeek, ...] = (
    DayOfWeek.SUNDAY,
    DayOfWeek.MONDAY,
    DayOfWeek.TUESDAY,
    DayOfWeek.WEDNESDAY,
    DayOfWeek.THURSDAY,
    DayOfWeek.FRIDAY,
    DayOfWeek.SATURDAY,
)

PY_WEEKDAY: dict[DayOfWeek, int] = {
    DayOfWeek.MONDAY: 0,
    DayOfWeek.TUESDAY: 1,
    DayOfWeek.WEDNESDAY: 2,
    DayOfWeek.THURSDAY: 3,
    DayOfWeek.FRIDAY: 4,
    DayOfWeek.SATURDAY: 5,
    DayOfWeek.SUNDAY: 6,
}
"""`date.weekday()` numbers (Monday=0)."""
DAY_OF_PY: dict[int, DayOfWeek] = {v: k for k, v in PY_WEEKDAY.items()}

RFC_DAY: dict[DayOfWeek, str] = {
    DayOfWeek.SUNDAY: "SU",
    DayOfWeek.MONDAY: "MO",
    DayOfWeek.TUESDAY: "TU",
    DayOfWeek.WEDNESDAY: "WE",
    DayOfWeek.THURSDAY: "TH",
    DayOfWeek.FRIDAY: "FR",
    DayOfWeek.SATURDAY: "SA",
}
DAY_OF_RFC: dict[str, DayOfWeek] = {v: k for k, v in RFC_DAY.items()}

CLASSIC_DAY_BIT: dict[DayOfWeek, int] = {d: 1 << i for i, d in enumerate(WEEK_SUNDAY_FIRST)}
"""RecurrenceDayOfWeekMask bits: Sun=1, Mon=2, Tue=4, Wed=8, Thu=16, Fri=32, Sat=64."""

WEEKDAYS: tuple[DayOfWeek, ...] = WEEK_SUNDAY_FIRST[1:6]
WEEKDAY_MASK = 62

INDEX_SETPOS: dict[WeekIndex, int] = {
    WeekIndex.FIRST: 1,
    WeekIndex.SECOND: 2,
    WeekIndex.THIRD: 3,
    WeekIndex.FOURTH: 4,
    WeekIndex.LAST: -1,
}
SETPOS_INDEX: dict[int, WeekIndex] = {v: k for k, v in INDEX_SETPOS.items()}

CLASSIC_INSTANCE: dict[WeekIndex, str] = {
    WeekIndex.FIRST: "First",
    WeekIndex.SECOND: "Second",
    WeekIndex.THIRD: "Third",
    WeekIndex.FOURTH: "Fourth",
    WeekIndex.LAST: "Last",
}
INSTANCE_OF_CLASSIC: dict[str, WeekIndex] = {v: k for k, v in CLASSIC_INSTANCE.items()}

MONTH_NAMES: tuple[str, ...] = (
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
)
MONTH_OF_NAME: dict[str, int] = {n: i + 1 for i, n in enumerate(MONTH_NAMES)}

MAX_MONTH_DAYS: tuple[int, ...] = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""The longest each month gets (February 29 in leap years)."""


def sort_days(days: tuple[DayOfWeek, ...] | list[DayOfWeek]) -> tuple[DayOfWeek, ...]:
    """Deduplicated, in Sunday-first order."""
    present = set(days)
    return tuple(d for d in WEEK_SUNDAY_FIRST if d in present)


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def day_mask(days: tuple[DayOfWeek, ...]) -> int:
    mask = 0
    for d in days:
        mask |= CLASSIC_DAY_BIT[d]
    return mask


def days_of_mask(mask: int) -> tuple[DayOfWeek, ...]:
    return tuple(d for d in WEEK_SUNDAY_FIRST if mask & CLASSIC_DAY_BIT[d])


# ---- time -----------------------------------------------------------------------------------


def localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    Wall times in a DST gap move forward by the gap (fold=0 takes the offset before the change);
    ambiguous wall times take the first of the two instants. All expanders use this one rule.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an aware instant (naive input is taken as wall time)."""
    if instant.tzinfo is None:
        return instant
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive wall time occurs in the zone (False inside a DST gap)."""
    return local_wall(localize(wall, zone), zone) == wall.replace(fold=0)


def first_start(first: date, at: time, zone: ZoneInfo) -> datetime | Inexpressible:
    """The first occurrence as an instant whose wall time is the series' wall time, or why not."""
    wall = datetime.combine(first, at)
    if not exists(wall, zone):
        return Inexpressible(
            Reason.START_IN_GAP,
            f"the first occurrence ({wall:%Y-%m-%d %H:%M}) falls in a DST gap of {zone.key}; "
            "start the series on another day",
        )
    return localize(wall, zone)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59))


ONE_DAY = timedelta(days=1)


# ---- zones (SPEC N3) ------------------------------------------------------------------------

NOT_EXACT_WINDOWS_ZONES: frozenset[str] = frozenset(
    {
        "Dateline Standard Time",
        "Mid-Atlantic Standard Time",
        "Kamchatka Standard Time",
        "Mexico Standard Time",
        "Mexico Standard Time 2",
        "Customized Time Zone",
    }
)
"""Windows zones with no exact IANA equivalent or whose DST rules differ from it (SPEC N3 names
Mid-Atlantic and Dateline; the others are retired Windows zones that kept DST rules IANA dropped).
A series in one of them is not synced. Extend this set when another difference is found."""

_WIN_LOWER: dict[str, str] = {k.lower(): k for k in win_tz}
_UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "coordinated universal time"})


@dataclass(frozen=True, slots=True)
class ResolvedZone:
    iana: str
    zone: ZoneInfo


def resolve_zone(name: str | None) -> ResolvedZone | Inexpressible:
    """An IANA zone for a Windows or IANA name (CLDR table, territory 001), or why not (N3)."""
    raw = (name or "").strip()
    if not raw:
        return Inexpressible(Reason.ZONE_UNKNOWN, "the series has no time zone")
    low = raw.lower()
    if low.startswith("tzone://"):
        return Inexpressible(
            Reason.ZONE_CUSTOM, f"time zone {raw!r} is a custom zone with no IANA equivalent"
        )
    win = _WIN_LOWER.get(low)
    for blocked in NOT_EXACT_WINDOWS_ZONES:
        if low == blocked.lower():
            return Inexpressible(
                Reason.ZONE_NOT_EXACT,
                f"time zone {raw!r} has no IANA equivalent with the same rules",
            )
    if low in _UTC_NAMES:
        return ResolvedZone("UTC", ZoneInfo("UTC"))
    iana = win_tz[win] if win is not None else raw
    if "/" not in iana and iana != "UTC":
        # Bare words (EST, CET, ...) are ambiguous legacy names, not IANA ids.
        return Inexpressible(Reason.ZONE_UNKNOWN, f"unknown time zone {raw!r}")
    try:
        return ResolvedZone(iana, ZoneInfo(iana))
    except (ZoneInfoNotFoundError, ValueError):
        return Inexpressible(Reason.ZONE_UNKNOWN, f"unknown time zone {raw!r}")


def zone_of(zone: ZoneInfo | str) -> ZoneInfo:
    """A ZoneInfo for an IANA id or Windows name; raises ValueError when N3 forbids it."""
    if isinstance(zone, ZoneInfo):
        return zone
    res = resolve_zone(zone)
    if isinstance(res, Inexpressible):
        raise ValueError(str(res))
    return res.zone
