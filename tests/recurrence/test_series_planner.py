"""The pure series decisions (`crmcal.sync.series`; issue 7): SPEC R1-R6, N3, U5, X3-X5, X8,
without HTTP (the end-to-end proofs are in tests/integration/test_series.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmcal.domain import CrmEvent, Item, OrgSettings, RecurrenceFormat
from crmcal.domain.calendar import (
    ItemType,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
)
from crmcal.domain.crm import LightningRecurrence
from crmcal.rules.linking import SearchResults
from crmcal.rules.participants import Directory
from crmcal.rules.window import window
from crmcal.state.models import Origin, ShareMode
from crmcal.sync.actions import CreateEvent, CreateItem, DeleteEvent, DeleteItem, UpdateEvent
from crmcal.sync.plan import Context
from crmcal.sync.series import (
    CONVERSION_REASON,
    LinkSeries,
    SeriesCase,
    SeriesLink,
    SeriesPlanner,
    pattern_key,
    plan_downsync,
    sf_key,
)
from tests.factories import ANN, ANN_ID, NOW, item

from ._support import MON, WED

ORG = OrgSettings(internal_domains=("contoso.example",), recurring_sync=True)


def _ctx(org: OrgSettings = ORG) -> Context:
    from crmcal.domain import UserConfig

    u = UserConfig(mailbox=ANN, salesforce_user_id=ANN_ID)
    return Context(user=u, directory=Directory.of(org, [u]), now=NOW, window=window(NOW, org))


def _master(**kw: Any) -> Item:
    start = datetime(2026, 3, 16, 9, tzinfo=UTC)  # a Monday
    rec = kw.pop(
        "recurrence",
        Recurrence(
            RecurrencePattern(PatternType.WEEKLY, 1, (MON, WED)),
            RecurrenceRange(RangeType.NUMBERED, date(2026, 3, 16), number_of_occurrences=6,
                            time_zone="UTC"),
        ),
    )  # fmt: skip
    return item(
        start=start,
        type=ItemType.SERIES_MASTER,
        recurrence=rec,
        categories=("Salesforce",),
        start_time_zone="UTC",
        **kw,
    )


def _plan(case: SeriesCase, fmt: RecurrenceFormat = RecurrenceFormat.CLASSIC) -> list[Any]:
    p = SeriesPlanner(_ctx(), SearchResults.empty(), fmt)
    p.decide(case)
    return p.out


def test_R3_marked_series_goes_up_in_each_format() -> None:
    m = _master()
    for fmt in RecurrenceFormat:
        out = _plan(SeriesCase(m.id, m, marked=True), fmt)
        [create] = [a for a in out if isinstance(a, CreateEvent)]
        ev = create.event
        if fmt is RecurrenceFormat.CLASSIC:
            assert ev.classic_recurrence is not None and ev.lightning_recurrence is None
        else:
            assert ev.lightning_recurrence is not None and ev.classic_recurrence is None
        [link] = [a for a in out if isinstance(a, LinkSeries)]
        assert link.create_key == create.key and link.map_occurrences


def test_R6_N3_R4_refused_with_reason_and_nothing_created() -> None:
    long = _master(hours=25)
    custom = replace(_master(), start_time_zone="tzone://Microsoft/Custom")
    custom = replace(
        custom,
        recurrence=replace(
            custom.recurrence,  # type: ignore[arg-type]
            range=replace(custom.recurrence.range, time_zone=None),  # type: ignore[union-attr]
        ),
    )
    allday = replace(_master(), is_all_day=True)
    for m, code in (
        (long, "occurrence_too_long"),
        (custom, "zone_custom"),
        (allday, "recurring_all_day"),
    ):
        out = _plan(SeriesCase(m.id, m, marked=True))
        assert not [a for a in out if isinstance(a, CreateEvent)]
        [issue] = [a for a in out if type(a).__name__ == "RaiseIssue"]
        assert issue.reason == code
        if code == "zone_custom":
            assert "tzone://Microsoft/Custom" in issue.message


def test_U5_single_turned_into_series_is_refused() -> None:
    m = _master()
    out = _plan(SeriesCase(m.id, m, single_event="00U000000000001AAA", marked=True))
    assert [a.reason for a in out if type(a).__name__ == "RaiseIssue"] == [CONVERSION_REASON]
    assert not [a for a in out if isinstance(a, CreateEvent | UpdateEvent | DeleteEvent)]


def _link(m: Item, **kw: Any) -> SeriesLink:
    return SeriesLink(
        ANN, m.id, m.ical_uid, "00U00000000000SAAA", kw.pop("format", "classic"),
        kw.pop("origin", Origin.OUTLOOK), ShareMode.CATEGORY, pattern_key(m), **kw,
    )  # fmt: skip


def _row(n: int, start: datetime, subject: str) -> CrmEvent:
    return CrmEvent(f"00U0000000000{n:02d}AAA", ANN_ID, subject, start, start + timedelta(hours=1))


def test_R5_moved_exception_matched_by_original_start_and_cancelled_one_deleted() -> None:
    m = _master(subject="Sync")
    s0 = datetime(2026, 3, 16, 9, tzinfo=UTC)
    s1 = datetime(2026, 3, 18, 9, tzinfo=UTC)
    s2 = datetime(2026, 3, 23, 9, tzinfo=UTC)
    occ0 = replace(m, id="o0", type=ItemType.OCCURRENCE, recurrence=None, original_start=s0)
    moved = replace(
        occ0, id="o1", type=ItemType.EXCEPTION, start=s1 + timedelta(hours=3),
        end=s1 + timedelta(hours=4), original_start=s1,
    )  # fmt: skip
    rows = (_row(1, s0, "Sync"), _row(2, s1, "Sync"), _row(3, s2, "Sync"))
    case = SeriesCase(m.id, m, (occ0, moved), link=_link(m), rows=rows, instances_read=True)
    unread = _plan(replace(case, instances=(), instances_read=False))
    assert not [a for a in unread if isinstance(a, DeleteEvent)]  # unread is not cancelled
    out = _plan(case)
    head = "00U00000000000SAAA"  # the Classic series record takes series-level values
    [upd] = [a for a in out if isinstance(a, UpdateEvent) and a.event_id != head]
    assert upd.event_id == rows[1].id and upd.rules == ("R5",)
    assert set(upd.fields) == {"StartDateTime", "EndDateTime"}
    deleted = {a.event_id for a in out if isinstance(a, DeleteEvent)}
    assert deleted == {rows[2].id}  # s2 expected by the pattern, absent in Outlook: cancelled
    # once Salesforce has the move, nothing to write
    rows2 = (rows[0], replace(rows[1], start=moved.start, end=moved.end))
    out = _plan(replace(case, rows=rows2))
    assert not [a for a in out if isinstance(a, UpdateEvent) and a.event_id != head]


def test_X3_X5_series_deleted_on_either_side() -> None:
    m = _master()
    out = _plan(SeriesCase(m.id, None, link=_link(m)))
    assert [a.event_id for a in out if isinstance(a, DeleteEvent)] == ["00U00000000000SAAA"]
    out = _plan(SeriesCase(m.id, m, link=_link(m), sf_deleted=True))
    assert not [a for a in out if isinstance(a, DeleteItem | DeleteEvent)]
    out = _plan(SeriesCase(m.id, m, link=_link(m, origin=Origin.SALESFORCE), sf_deleted=True))
    assert [type(a).__name__ for a in out if isinstance(a, DeleteItem)] == ["DeleteItem"]


def test_X8_lightning_series_comes_down_once() -> None:
    start = datetime(2026, 3, 17, 8, tzinfo=UTC)
    lr = LightningRecurrence("RRULE:FREQ=WEEKLY;BYDAY=TU;INTERVAL=1;COUNT=4", "UTC", start)
    head = CrmEvent(
        "00U0000000000HAAA", ANN_ID, "From SF", start, start + timedelta(minutes=30),
        lightning_recurrence=lr,
    )  # fmt: skip
    rows = (head, replace(head, id="00U0000000000IAAA", start=start + timedelta(days=7)))
    out = plan_downsync(_ctx(), rows, frozenset(), {}, {})
    [create] = [a for a in out if isinstance(a, CreateItem)]
    assert create.draft.recurrence is not None
    assert create.draft.recurrence.pattern.type is PatternType.WEEKLY
    key = sf_key(ANN_ID, start)
    known = SeriesLink(
        ANN, "M", "", head.id or "", "lightning", Origin.OUTLOOK, ShareMode.AUTO, sf_key=key
    )
    assert plan_downsync(_ctx(), rows, frozenset(), {key: known}, {}) == []  # crmcal's own (R3)
    off = ORG.model_copy(update={"recurring_sync": False})
    assert plan_downsync(_ctx(off), rows, frozenset(), {}, {}) == []


def test_G3_salesforce_to_outlook_user_never_shares_series_up() -> None:
    """G3 `salesforce_to_outlook`: a marked Outlook series is refused with the reason."""
    from crmcal.domain import Direction, UserConfig, UserSettings

    u = UserConfig(
        mailbox=ANN,
        salesforce_user_id=ANN_ID,
        settings=UserSettings(direction=Direction.SALESFORCE_TO_OUTLOOK),
    )
    ctx = Context(user=u, directory=Directory.of(ORG, [u]), now=NOW, window=window(NOW, ORG))
    p = SeriesPlanner(ctx, SearchResults.empty(), RecurrenceFormat.CLASSIC)
    m = _master()
    p.decide(SeriesCase(m.id, m, marked=True))
    assert not [a for a in p.out if isinstance(a, CreateEvent)]
    assert [a.rules for a in p.out if type(a).__name__ == "RaiseIssue"] == [("G3", "N4", "I1")]
