"""R3/R4 against instances someone else computed: libical's `icalrecur_test.txt` (146 rules).

Every rule `from_rrule` accepts must expand, as a Graph pattern, to exactly libical's instances
(and so must its Lightning and Classic conversions where Salesforce can hold it); every other rule
must be `Inexpressible` with a reason. The file's INSTANCES list the whole series from DTSTART
(START-AT only moves libical's iterator), so they are compared in full.

Inexpressible kinds in this file: sub-daily FREQ (SECONDLY, MINUTELY, HOURLY) and BYHOUR /
BYMINUTE / BYSECOND lists; BYYEARDAY and BYWEEKNO; several BYMONTH values, and BYMONTH limits on
DAILY or MONTHLY rules; several occurrences per period (several BYMONTHDAY values, unnumbered BYDAY
in MONTHLY/YEARLY rules, several numbered BYDAY, BYDAY with BYMONTHDAY, BYSETPOS lists); positions
Graph lacks (-2MO, BYSETPOS=-2, BYMONTHDAY=-3, 20MO of the year); month days RFC 5545 skips in
shorter months (Feb 29 yearly, day 31 monthly) where Graph would use the month's last day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmcal.domain.calendar import Recurrence
from crmcal.domain.crm import ClassicRecurrence, LightningRecurrence
from crmcal.rules.recurrence import (
    Inexpressible,
    Reason,
    expand_classic,
    expand_graph,
    expand_lightning,
    expand_rrule,
    from_rrule,
    to_classic,
    to_lightning,
    to_rrule,
)

from ._libical import DATA, Case, load

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"libical test data missing: {DATA}")

MIN_EXPRESSIBLE = 25
"""27 of the 146 rules are expressible today; fewer means the conversion regressed."""


def _cases() -> list[Case]:
    return load() if DATA.exists() else []


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _expected(case: Case) -> list[datetime]:
    assert case.instances is not None
    return [_aware(i) for i in case.instances]


def _window(case: Case) -> tuple[datetime, datetime]:
    """From DTSTART to well past the last listed instance (noEnd rules are cut to the count)."""
    exp = _expected(case)
    return _aware(case.dtstart), exp[-1] + timedelta(days=400 * 12)


def _take(got: list[datetime], case: Case, rec: Recurrence | None = None) -> list[datetime]:
    """Listed instances of an endless rule are its first N; bounded rules compare in full."""
    if rec is not None and rec.range.type.value == "noEnd":
        return got[: len(_expected(case))]
    return got


def test_R3_libical_file_is_read_completely() -> None:
    cases = _cases()
    assert len(cases) == 146
    assert sum(c.instances is None for c in cases) == 1  # one `*** UNIMPLEMENTED` entry


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"line{c.line}")
def test_R3_R4_libical_rule_round_trips_or_is_inexpressible(case: Case) -> None:
    rec = from_rrule(case.rrule, case.dtstart)
    if isinstance(rec, Inexpressible):
        assert rec.reason_code in (Reason.UNSUPPORTED_RULE, Reason.EMPTY_SERIES)
        assert rec.reason_text
        return
    assert case.instances is not None, "libical lists no instances for an expressible rule"
    zone = "UTC"  # floating DTSTARTs are read as UTC wall time; Z ones are UTC
    window = _window(case)
    got = expand_graph(rec, case.dtstart, zone, *window)
    assert _take(got, case, rec) == _expected(case)

    # The Graph pattern written back as RFC 5545 gives the same instances again.
    again = expand_rrule(to_rrule(rec, zone=zone), _aware(case.dtstart), zone, *window)
    assert _take(again, case, rec) == _expected(case)

    # Where Salesforce can hold the series, its formats give them too (R3); otherwise it says
    # why (R4), e.g. every other year.
    start = _aware(case.dtstart)
    lx = to_lightning(rec, start, timedelta(hours=1), zone)
    if isinstance(lx, LightningRecurrence):
        assert _take(expand_lightning(lx, *window), case, rec) == _expected(case)
    else:
        assert lx.reason_code in (Reason.YEARLY_INTERVAL, Reason.LIGHTNING_LIMIT), lx
    horizon = _expected(case)[-1].date()
    cl = to_classic(rec, start, timedelta(hours=1), zone, horizon=horizon, caps=None)
    if isinstance(cl, ClassicRecurrence):
        assert _take(expand_classic(cl, *window), case, rec) == _expected(case)
    else:
        assert cl.reason_code in (Reason.YEARLY_INTERVAL, Reason.WEEK_START), cl


def test_R3_libical_meaningful_number_of_rules_are_expressible() -> None:
    cases = _cases()
    expressible = [
        c for c in cases if not isinstance(from_rrule(c.rrule, c.dtstart), Inexpressible)
    ]
    assert len(expressible) >= MIN_EXPRESSIBLE
    kinds = {c.rrule.split("FREQ=")[1].split(";")[0] for c in expressible}
    assert kinds == {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
