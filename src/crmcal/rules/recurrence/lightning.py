"""Graph patterns <-> Salesforce Lightning `Recurrence2PatternText` (api-facts B1).

The text is written the way Salesforce stores it after save: parts in the order FREQ, BYMONTH,
BYMONTHDAY, BYDAY, WKST, BYSETPOS, INTERVAL, UNTIL, COUNT; `INTERVAL` always present; `RRULE:`
prefix. Relative patterns use plain BYDAY + BYSETPOS (also for one day), weekly patterns always
carry WKST, UNTIL is the end of the last day in the series' zone, in UTC
(docs/decisions/recurrence-lightning.md). LEX reads BYMONTHDAY past a month's end as its last
day, like Outlook, so absolute day 29-31 is written as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crmcal.domain.calendar import RangeType, Recurrence, RecurrenceRange
from crmcal.domain.crm import LightningRecurrence

from ._common import Inexpressible, Reason, first_start, local_wall, resolve_zone
from .checks import LIGHTNING_MAX_COUNT, LIGHTNING_MAX_INTERVAL, check_common
from .graph import first_date, last_date, normalise_graph
from .rfc import (
    RuleSyntaxError,
    expand_rule,
    format_rule,
    graph_rule_parts,
    parse_rule,
    rule_to_graph,
    utc_until,
)


def normalise_lightning(text: str) -> str:
    """RRULE text as Salesforce stores it (part order, `INTERVAL=1`, `RRULE:` prefix)."""
    return format_rule(parse_rule(text), prefix=True)


def to_lightning(
    rec: Recurrence,
    start: datetime,
    duration: timedelta,
    tz_name: str,
    *,
    is_all_day: bool = False,
) -> LightningRecurrence | Inexpressible:
    """The LEX series for an Outlook series, or why it cannot be one.

    `start` is the series' start (aware, or a naive wall time in the zone; its wall time is every
    occurrence's time), `duration` one occurrence's length, `tz_name` the
    series' zone (Windows name or IANA id). The result's `start_date` is the first occurrence
    (UTC) and `time_zone` the IANA id.
    """
    common = check_common(rec, duration, tz_name, is_all_day=is_all_day)
    if isinstance(common, Inexpressible):
        return common
    rec = normalise_graph(rec)
    p, r = rec.pattern, rec.range
    limit = LIGHTNING_MAX_INTERVAL[p.type]
    if p.interval > limit:
        return Inexpressible(
            Reason.LIGHTNING_LIMIT,
            f"interval {p.interval} is above {limit}, the Lightning limit for this pattern",
        )
    first = first_date(rec)
    if first is None:
        return Inexpressible(Reason.EMPTY_SERIES, "the series has no occurrence")
    until = None
    if r.type is RangeType.END_DATE and r.end_date is not None:
        until = utc_until(r.end_date, common.zone)
    elif r.type is RangeType.NUMBERED and r.number_of_occurrences > LIGHTNING_MAX_COUNT:
        last = last_date(rec)
        assert last is not None
        until = utc_until(last, common.zone)
        rec = Recurrence(p, RecurrenceRange(RangeType.END_DATE, r.start_date, end_date=last))
    parts = graph_rule_parts(rec, semantics="salesforce", until=until)
    begin = first_start(first, local_wall(start, common.zone).time(), common.zone)
    if isinstance(begin, Inexpressible):
        return begin
    return LightningRecurrence(
        pattern_text=format_rule(parts, prefix=True),
        time_zone=common.iana,
        start_date=begin,
    )


def from_lightning(
    lr: LightningRecurrence, start: datetime | None = None
) -> Recurrence | Inexpressible:
    """The Graph recurrence for a LEX series (its start: `start`, else `lr.start_date`)."""
    zone = resolve_zone(lr.time_zone)
    if isinstance(zone, Inexpressible):
        return zone
    begin = start or lr.start_date
    if begin is None:
        return Inexpressible(Reason.INVALID_PATTERN, "the Lightning series has no start")
    try:
        parts = parse_rule(lr.pattern_text)
    except RuleSyntaxError as exc:
        return Inexpressible(Reason.UNSUPPORTED_RULE, f"unreadable rule: {exc}")
    return rule_to_graph(
        parts,
        local_wall(begin, zone.zone),
        semantics="salesforce",
        zone=zone.zone,
        time_zone=zone.iana,
    )


def expand_lightning(
    lr: LightningRecurrence,
    window_start: datetime,
    window_end: datetime,
    start: datetime | None = None,
) -> list[datetime]:
    """Occurrence starts (aware UTC) of a LEX series in `[window_start, window_end)`, read with
    python-dateutil plus LEX's month-end rule."""
    zone = resolve_zone(lr.time_zone)
    if isinstance(zone, Inexpressible):
        raise ValueError(str(zone))
    begin = start or lr.start_date
    if begin is None:
        raise ValueError("the Lightning series has no start")
    return expand_rule(
        lr.pattern_text, begin, zone.zone, window_start, window_end, semantics="salesforce"
    )
