"""Whether a series may sync at all: SPEC R4, R6, N3 (and the Classic occurrence caps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from crmcal.domain.calendar import PatternType, Recurrence

from ._common import Inexpressible, Reason, ResolvedZone, resolve_zone
from .graph import validate_graph

MAX_OCCURRENCE = timedelta(hours=24)
"""R4: a Classic series needs every occurrence to last 24 h or less (api-facts B1)."""

CLASSIC_CAP_DAILY = 100
CLASSIC_CAP_WEEKLY = 53
CLASSIC_CAP_MONTHLY = 59
CLASSIC_CAP_YEARLY = 9
"""Classic occurrence caps by frequency (api-facts B1, SECONDARY: from an old Salesforce for
Outlook knowledge article). Counted as occurrences; see docs/decisions/recurrence-classic.md."""

LIGHTNING_MAX_INTERVAL: dict[PatternType, int] = {
    PatternType.DAILY: 999,
    PatternType.WEEKLY: 99,
    PatternType.ABSOLUTE_MONTHLY: 99,
    PatternType.RELATIVE_MONTHLY: 99,
    PatternType.ABSOLUTE_YEARLY: 1,
    PatternType.RELATIVE_YEARLY: 1,
}
"""LEX RRULE INTERVAL ranges (api-facts B1, VERIFIED)."""
LIGHTNING_MAX_COUNT = 999

Target = Literal["classic", "lightning"]


@dataclass(frozen=True, slots=True)
class ClassicCaps:
    daily: int = CLASSIC_CAP_DAILY
    weekly: int = CLASSIC_CAP_WEEKLY
    monthly: int = CLASSIC_CAP_MONTHLY
    yearly: int = CLASSIC_CAP_YEARLY


DEFAULT_CLASSIC_CAPS = ClassicCaps()


def check_common(
    rec: Recurrence,
    duration: timedelta,
    zone_name: str | None,
    *,
    is_all_day: bool = False,
) -> ResolvedZone | Inexpressible:
    """The checks every target shares; the resolved zone when they pass."""
    if is_all_day:
        return Inexpressible(Reason.ALL_DAY_SERIES, "recurring all-day items are not synced")
    zone = resolve_zone(zone_name)
    if isinstance(zone, Inexpressible):
        return zone
    problem = validate_graph(rec)
    if problem is not None:
        return problem
    if duration > MAX_OCCURRENCE:
        return Inexpressible(
            Reason.TOO_LONG,
            f"occurrences last {_hours(duration)}; Salesforce series allow at most 24 hours",
        )
    if duration < timedelta(0):
        return Inexpressible(Reason.INVALID_PATTERN, "the occurrence ends before it starts")
    if (
        rec.pattern.type in (PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY)
        and rec.pattern.interval > 1
    ):
        return Inexpressible(
            Reason.YEARLY_INTERVAL,
            f"repeats every {rec.pattern.interval} years; Salesforce series repeat yearly only "
            "every year",
        )
    return zone


def _hours(d: timedelta) -> str:
    h = d.total_seconds() / 3600
    return f"{h:g} hours"


def check_series(
    rec: Recurrence,
    start: datetime,
    end: datetime,
    zone_name: str | None,
    *,
    is_all_day: bool = False,
    target: Target | None = None,
    horizon: date | None = None,
    caps: ClassicCaps | None = DEFAULT_CLASSIC_CAPS,
) -> Inexpressible | None:
    """Why this Outlook series cannot go to Salesforce (R4, R6, N3), or None.

    `start`/`end` are the first occurrence's start and end (aware); `zone_name` is the series' zone
    (Windows name or IANA id). With `target`, the format's own limits are checked too by
    converting (Classic caps and end date, LEX interval ranges); `horizon` ends a noEnd series for
    Classic (see `to_classic`).
    """
    common = check_common(rec, end - start, zone_name, is_all_day=is_all_day)
    if isinstance(common, Inexpressible):
        return common
    if target is None:
        return None
    from .classic import to_classic
    from .lightning import to_lightning

    result: object
    if target == "classic":
        result = to_classic(
            rec,
            start,
            end - start,
            zone_name or "",
            horizon=horizon,
            caps=caps,
        )
    else:
        result = to_lightning(rec, start, end - start, zone_name or "")
    return result if isinstance(result, Inexpressible) else None
