"""R4, R6, N3: series Salesforce cannot hold are reported with the reason, never synced wrong."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmcal.domain.calendar import PatternType, Recurrence, WeekIndex
from crmcal.domain.crm import ClassicRecurrence, LightningRecurrence
from crmcal.rules.recurrence import (
    CLASSIC_CAP_DAILY,
    CLASSIC_CAP_MONTHLY,
    CLASSIC_CAP_WEEKLY,
    CLASSIC_CAP_YEARLY,
    NOT_EXACT_WINDOWS_ZONES,
    ClassicCaps,
    Inexpressible,
    InvalidPattern,
    Reason,
    check_series,
    expand_graph,
    from_rrule,
    resolve_zone,
    to_classic,
    to_lightning,
    to_rrule,
)

from ._support import FRI, MON, SUN, THU, TUE, WED, rec

NY = "America/New_York"
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(NY))
D0 = START.date()
HOUR = timedelta(hours=1)


def _reason(x: object) -> Reason:
    assert isinstance(x, Inexpressible), x
    assert x.reason_text
    return x.reason_code


# ---- R4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ptype", [PatternType.ABSOLUTE_YEARLY, PatternType.RELATIVE_YEARLY])
def test_R4_yearly_with_interval_above_1_is_a_sync_error(ptype: PatternType) -> None:
    r = rec(ptype, D0, interval=2, dom=2, month=3, days=(MON,), count=5)
    assert _reason(to_classic(r, START, HOUR, NY)) is Reason.YEARLY_INTERVAL
    assert _reason(to_lightning(r, START, HOUR, NY)) is Reason.YEARLY_INTERVAL
    assert _reason(check_series(r, START, START + HOUR, NY)) is Reason.YEARLY_INTERVAL
    for target in ("classic", "lightning"):
        assert _reason(check_series(r, START, START + HOUR, NY, target=target)) is (
            Reason.YEARLY_INTERVAL
        )
    # Graph and RFC 5545 can still say it exactly; only Salesforce cannot.
    assert "INTERVAL=2" in to_rrule(r)
    ok = rec(ptype, D0, interval=1, dom=2, month=3, days=(MON,), count=5)
    assert check_series(ok, START, START + HOUR, NY, target="classic") is None
    assert check_series(ok, START, START + HOUR, NY, target="lightning") is None


@pytest.mark.parametrize(
    ("r", "cap"),
    [
        (rec(PatternType.DAILY, D0, count=1), CLASSIC_CAP_DAILY),
        (rec(PatternType.WEEKLY, D0, days=(MON, TUE, WED, THU, FRI), count=1), CLASSIC_CAP_DAILY),
        (rec(PatternType.WEEKLY, D0, days=(MON, WED), count=1), CLASSIC_CAP_WEEKLY),
        (rec(PatternType.ABSOLUTE_MONTHLY, D0, dom=2, count=1), CLASSIC_CAP_MONTHLY),
        (rec(PatternType.RELATIVE_MONTHLY, D0, days=(MON,), count=1), CLASSIC_CAP_MONTHLY),
        (rec(PatternType.ABSOLUTE_YEARLY, D0, dom=2, month=3, count=1), CLASSIC_CAP_YEARLY),
        (rec(PatternType.RELATIVE_YEARLY, D0, days=(MON,), month=3, count=1), CLASSIC_CAP_YEARLY),
    ],
    ids=["daily", "weekday", "weekly", "monthly", "monthlyNth", "yearly", "yearlyNth"],
)
def test_R4_classic_occurrence_caps(r: Recurrence, cap: int) -> None:
    def with_count(n: int) -> Recurrence:
        return Recurrence(r.pattern, type(r.range)(r.range.type, D0, None, n))

    assert isinstance(to_classic(with_count(cap), START, HOUR, NY), ClassicRecurrence)
    over = to_classic(with_count(cap + 1), START, HOUR, NY)
    assert _reason(over) is Reason.OCCURRENCE_CAP
    assert str(cap) in over.reason_text  # type: ignore[union-attr]
    assert (
        _reason(check_series(with_count(cap + 1), START, START + HOUR, NY, target="classic"))
        is Reason.OCCURRENCE_CAP
    )
    # Lightning has no such cap (COUNT up to 999), and the caps are settable constants.
    assert isinstance(to_lightning(with_count(cap + 1), START, HOUR, NY), LightningRecurrence)
    looser = ClassicCaps(daily=cap + 1, weekly=cap + 1, monthly=cap + 1, yearly=cap + 1)
    assert isinstance(
        to_classic(with_count(cap + 1), START, HOUR, NY, caps=looser), ClassicRecurrence
    )


def test_R4_caps_are_the_documented_numbers() -> None:
    assert (CLASSIC_CAP_DAILY, CLASSIC_CAP_WEEKLY, CLASSIC_CAP_MONTHLY, CLASSIC_CAP_YEARLY) == (
        100,
        53,
        59,
        9,
    )


def test_R4_caps_count_up_to_an_end_date_too() -> None:
    r = rec(PatternType.DAILY, D0, end=D0 + timedelta(days=99))
    assert isinstance(to_classic(r, START, HOUR, NY), ClassicRecurrence)
    r2 = rec(PatternType.DAILY, D0, end=D0 + timedelta(days=100))
    assert _reason(to_classic(r2, START, HOUR, NY)) is Reason.OCCURRENCE_CAP


def test_R4_occurrences_longer_than_24_hours_are_a_sync_error() -> None:
    r = rec(PatternType.DAILY, D0, count=3)
    day = timedelta(hours=24)
    assert isinstance(to_classic(r, START, day, NY), ClassicRecurrence)
    assert isinstance(to_lightning(r, START, day, NY), LightningRecurrence)
    longer = day + timedelta(minutes=1)
    assert _reason(to_classic(r, START, longer, NY)) is Reason.TOO_LONG
    assert _reason(to_lightning(r, START, longer, NY)) is Reason.TOO_LONG
    err = check_series(r, START, START + longer, NY)
    assert _reason(err) is Reason.TOO_LONG
    assert "24 hours" in err.reason_text  # type: ignore[union-attr]


def test_R4_classic_needs_an_end_for_a_never_ending_series() -> None:
    r = rec(PatternType.WEEKLY, D0, days=(MON,))
    assert _reason(to_classic(r, START, HOUR, NY)) is Reason.NO_END
    c = to_classic(r, START, HOUR, NY, horizon=date(2026, 5, 1))
    assert isinstance(c, ClassicRecurrence)
    assert c.end_date == date(2026, 4, 27)
    assert isinstance(to_lightning(r, START, HOUR, NY), LightningRecurrence)


def test_R4_classic_week_start_mismatch_is_reported_not_shifted() -> None:
    # Every 2 weeks on Sunday and Monday with Monday weeks: Sunday closes Monday's week, which
    # Sunday-based Classic weeks cannot say.
    r = rec(PatternType.WEEKLY, D0, interval=2, days=(SUN, MON), fdow=MON, count=6)
    assert _reason(to_classic(r, START, HOUR, NY)) is Reason.WEEK_START
    assert isinstance(to_lightning(r, START, HOUR, NY), LightningRecurrence)  # WKST says it
    # Monday + Wednesday group the same way with either week start: accepted.
    same = rec(PatternType.WEEKLY, D0, interval=2, days=(MON, WED), fdow=MON, count=6)
    assert isinstance(to_classic(same, START, HOUR, NY), ClassicRecurrence)


def test_R4_first_occurrence_in_a_dst_gap_is_reported() -> None:
    # 02:30 on Sunday 2026-03-08 does not exist in New York; Salesforce stores the series' start
    # as an instant, so every later occurrence would move to 03:30.
    wall = datetime(2026, 3, 8, 2, 30)
    r = rec(PatternType.WEEKLY, wall.date(), days=(SUN,), count=4)
    assert _reason(to_classic(r, wall, HOUR, NY)) is Reason.START_IN_GAP
    err = to_lightning(r, wall, HOUR, NY)
    assert _reason(err) is Reason.START_IN_GAP
    assert "America/New_York" in err.reason_text  # type: ignore[union-attr]
    # A week earlier the wall time exists, and the gap day's occurrence is just shifted.
    ok = rec(PatternType.WEEKLY, date(2026, 3, 1), days=(SUN,), count=4)
    assert isinstance(to_classic(ok, datetime(2026, 3, 1, 2, 30), HOUR, NY), ClassicRecurrence)


def test_R4_lightning_interval_limits() -> None:
    assert isinstance(
        to_lightning(rec(PatternType.DAILY, D0, interval=999, count=2), START, HOUR, NY),
        LightningRecurrence,
    )
    assert (
        _reason(to_lightning(rec(PatternType.DAILY, D0, interval=1000, count=2), START, HOUR, NY))
        is Reason.LIGHTNING_LIMIT
    )
    assert (
        _reason(
            to_lightning(
                rec(PatternType.WEEKLY, D0, days=(MON,), interval=100, count=2), START, HOUR, NY
            )
        )
        is Reason.LIGHTNING_LIMIT
    )
    assert (
        _reason(
            to_lightning(
                rec(
                    PatternType.RELATIVE_MONTHLY,
                    D0,
                    days=(MON,),
                    index=WeekIndex.LAST,
                    interval=100,
                    count=2,
                ),
                START,
                HOUR,
                NY,
            )
        )
        is Reason.LIGHTNING_LIMIT
    )


def test_R4_invalid_graph_patterns_are_reported() -> None:
    bad = rec(PatternType.WEEKLY, D0, count=3)  # no days
    assert _reason(to_classic(bad, START, HOUR, NY)) is Reason.INVALID_PATTERN
    assert _reason(to_lightning(bad, START, HOUR, NY)) is Reason.INVALID_PATTERN
    with pytest.raises(InvalidPattern):
        to_rrule(bad)
    feb30 = rec(PatternType.ABSOLUTE_YEARLY, D0, dom=30, month=2, count=3)
    assert _reason(check_series(feb30, START, START + HOUR, NY)) is Reason.INVALID_PATTERN


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("FREQ=MONTHLY;BYMONTHDAY=31", "skips shorter months"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2", "BYSETPOS=-2"),
        ("FREQ=MONTHLY;BYDAY=-2MO", "-2MO"),
        ("FREQ=YEARLY;BYMONTH=6,7", "several BYMONTH"),
        ("FREQ=HOURLY;INTERVAL=3", "HOURLY"),
        ("FREQ=DAILY;BYHOUR=9,12", "BYHOUR"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "BYWEEKNO"),
        ("FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=1", "BYSETPOS"),
    ],
)
def test_R4_rrules_graph_cannot_express_are_reported_never_approximated(
    rule: str, why: str
) -> None:
    out = from_rrule(rule, datetime(2026, 3, 2, 9, 0))
    assert _reason(out) is Reason.UNSUPPORTED_RULE
    assert why in out.reason_text  # type: ignore[union-attr]


def test_R4_rfc_month_end_shapes_are_read_back_exactly() -> None:
    wall = datetime(2026, 1, 30, 9, 0)
    for dom, rule in [
        (31, "FREQ=MONTHLY;BYMONTHDAY=-1"),
        (30, "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1"),
        (29, "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1"),
    ]:
        r = from_rrule(rule + ";COUNT=14", wall)
        assert isinstance(r, Recurrence), r
        assert (r.pattern.type, r.pattern.day_of_month) == (PatternType.ABSOLUTE_MONTHLY, dom)


# ---- R6 ---------------------------------------------------------------------------------------


def test_R6_recurring_all_day_items_are_not_synced() -> None:
    r = rec(PatternType.DAILY, D0, count=3)
    midnight = datetime(2026, 3, 2, tzinfo=ZoneInfo(NY))
    err = check_series(r, midnight, midnight + timedelta(days=1), NY, is_all_day=True)
    assert _reason(err) is Reason.ALL_DAY_SERIES
    assert _reason(to_classic(r, midnight, timedelta(days=1), NY, is_all_day=True)) is (
        Reason.ALL_DAY_SERIES
    )
    assert _reason(to_lightning(r, midnight, timedelta(days=1), NY, is_all_day=True)) is (
        Reason.ALL_DAY_SERIES
    )
    assert check_series(r, START, START + HOUR, NY) is None


# ---- N3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ("tzone://Microsoft/Custom", Reason.ZONE_CUSTOM),
        ("Mid-Atlantic Standard Time", Reason.ZONE_NOT_EXACT),
        ("Dateline Standard Time", Reason.ZONE_NOT_EXACT),
        ("Kamchatka Standard Time", Reason.ZONE_NOT_EXACT),
        ("Customized Time Zone", Reason.ZONE_NOT_EXACT),
        ("Atlantis Standard Time", Reason.ZONE_UNKNOWN),
        ("Nowhere/Atlantis", Reason.ZONE_UNKNOWN),
        ("EST", Reason.ZONE_UNKNOWN),
        ("", Reason.ZONE_UNKNOWN),
    ],
)
def test_N3_series_in_zones_without_exact_iana_equivalent_are_not_synced(
    zone: str, reason: Reason
) -> None:
    r = rec(PatternType.WEEKLY, D0, days=(MON,), count=4)
    err = check_series(r, START, START + HOUR, zone)
    assert _reason(err) is reason
    if zone:
        assert zone in err.reason_text  # type: ignore[union-attr]  # the error names the zone
    assert _reason(to_classic(r, START, HOUR, zone)) is reason
    assert _reason(to_lightning(r, START, HOUR, zone)) is reason


def test_N3_the_spec_examples_are_in_the_named_set() -> None:
    assert {"Mid-Atlantic Standard Time", "Dateline Standard Time"} <= NOT_EXACT_WINDOWS_ZONES


@pytest.mark.parametrize(
    ("zone", "iana"),
    [
        ("Eastern Standard Time", "America/New_York"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("India Standard Time", "Asia/Calcutta"),
        ("UTC", "UTC"),
        ("America/Sao_Paulo", "America/Sao_Paulo"),
    ],
)
def test_N3_windows_and_iana_names_resolve(zone: str, iana: str) -> None:
    res = resolve_zone(zone)
    assert not isinstance(res, Inexpressible), res
    assert res.iana == iana
    r = rec(PatternType.WEEKLY, D0, days=(MON,), count=4)
    assert check_series(r, START, START + HOUR, zone) is None
    lx = to_lightning(r, START, HOUR, zone)
    assert isinstance(lx, LightningRecurrence)
    assert lx.time_zone == iana


def test_N3_expanders_refuse_unknown_zones() -> None:
    r = rec(PatternType.DAILY, D0, count=2)
    with pytest.raises(ValueError, match="Mid-Atlantic"):
        expand_graph(r, START, "Mid-Atlantic Standard Time", START, START + timedelta(days=9))
