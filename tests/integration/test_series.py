"""Recurring series both ways over HTTP against both emulators (issue 7; SPEC R1-R6, X8, N3, U5).

Outlook series go up as Classic or Lightning series (R2, R3); their occurrences in Salesforce
are the occurrences Outlook shows; exceptions reach the matching Salesforce occurrence (R5);
master edits reach the series; cancelling either side follows X3-X5; what Salesforce cannot
express is reported, never synced wrong (R4, R6, N3); single <-> series conversion is refused
(U5); Lightning series made in Salesforce come down as Outlook series (X8). After each, a second
session writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crmcal.domain import CrmEvent, Item, RecurrenceFormat
from crmcal.domain.calendar import ItemType
from crmcal.sync.session import SessionResult
from tests.integration.conftest import World

BOTH_BACKENDS = (  # issue 20: these also run on EWS (Exchange Server)
    "test_R2_R3_series_shared_from_an_occurrence_in_the_org_format",
    "test_R1_series_auto_shared_only_with_recurring_sync",
    "test_R5_moved_edited_and_cancelled_occurrences_reach_salesforce",
    "test_R2_master_edits_reach_salesforce",
    "test_X5_series_deleted_in_outlook_goes_from_salesforce",
    "test_X3_series_deleted_in_salesforce_unlinks_the_outlook_series",
    "test_R4_classic_cap_yearly_interval_and_long_occurrences_refused",
    "test_R6_recurring_all_day_refused",
    "test_U5_single_to_series_and_back_refused",
    "test_X8_lightning_series_made_in_salesforce_comes_down_as_a_series",
    "test_R5_lightning_past_exceptions_and_cancellations_reach_salesforce",
    "test_R2_save_action_on_an_occurrence_shares_the_series_with_the_chosen_links",
    "test_X7_series_deleted_in_outlook_counts_its_occurrences_and_waits_for_confirmation",
    "test_X7_a_series_under_the_guard_is_deleted_at_once",
    "test_X7_cancelled_occurrences_count_one_each",
    "test_N3_series_in_zone_without_exact_iana_equivalent_refused",
)

ANA = "ana@contoso.example"
BERLIN = ZoneInfo("Europe/Berlin")
SF_CAT = "Salesforce"
TRACKED = "Status: Tracked successfully."


def _on(world: World, fmt: RecurrenceFormat = RecurrenceFormat.CLASSIC) -> None:
    world.org = world.org.model_copy(update={"recurring_sync": True, "recurrence_format": fmt})


def _start(world: World, days: int = 2, hour: int = 10) -> datetime:
    d = (world.now + timedelta(days=days)).astimezone(BERLIN).date()
    return datetime(d.year, d.month, d.day, hour, 0, tzinfo=BERLIN)


def _series(
    world: World,
    subject: str,
    pattern: dict[str, Any],
    *,
    count: int = 8,
    start: datetime | None = None,
    minutes: int = 60,
    zone: str = "W. Europe Standard Time",
    categories: tuple[str, ...] = (SF_CAT,),
    all_day: bool = False,
) -> str:
    """A series in Ana's calendar, as she would make it in Outlook."""
    s = start or _start(world)
    e = s + timedelta(minutes=minutes)
    fmt = "%Y-%m-%dT%H:%M:%S"
    body: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Series notes"},
        "start": {"dateTime": s.strftime(fmt), "timeZone": zone},
        "end": {"dateTime": e.strftime(fmt), "timeZone": zone},
        "categories": list(categories),
        "isAllDay": all_day,
        "recurrence": {
            "pattern": {"interval": 1, **pattern},
            "range": {
                "type": "numbered",
                "startDate": s.strftime("%Y-%m-%d"),
                "numberOfOccurrences": count,
            },
        },
    }
    rec = world.sb.graph.seed_event(ANA, body, created=world.now - timedelta(days=1))
    return str(rec.id)


def _occurrences(world: World, master_id: str) -> list[Item]:
    w0, w1 = world.now - timedelta(days=40), world.now + timedelta(days=200)
    return sorted(world.calendar.instances(ANA, master_id, w0, w1), key=lambda i: i.start)


def _sf_rows(world: World) -> list[CrmEvent]:
    """Salesforce occurrence Events (not the Classic series record), by start."""
    rows = [e for e in world.events() if e.classic_recurrence is None and e.start is not None]
    return sorted(rows, key=lambda e: e.start or datetime.min.replace(tzinfo=UTC))


def _quiet(r: SessionResult) -> None:
    """A second session writes nothing."""
    o = r.outcome
    writes = (o.created, o.updated, o.deleted, o.created_items, o.updated_items, o.deleted_items)
    assert writes == (0, 0, 0, 0, 0, 0), o.log


WEEKLY = {"type": "weekly", "daysOfWeek": ["monday", "wednesday", "friday"]}


@pytest.mark.parametrize("fmt", [RecurrenceFormat.CLASSIC, RecurrenceFormat.LIGHTNING])
def test_R2_R3_series_shared_from_an_occurrence_in_the_org_format(
    world: World, fmt: RecurrenceFormat
) -> None:
    """R2: the category on one occurrence shares the series; R3: it goes up in the org's format
    and Salesforce's occurrences are Outlook's occurrences."""
    world.person(ANA)
    _on(world, fmt)
    mid = _series(world, "Weekly sync", WEEKLY, categories=())
    occ = _occurrences(world, mid)
    assert len(occ) == 8
    world.set_categories(ANA, occ[2].id, (SF_CAT,))  # the user marks one occurrence
    [r] = world.sync()
    assert r.outcome.created == 1, r.outcome.log
    events = world.events()
    if fmt is RecurrenceFormat.CLASSIC:
        [head] = [e for e in events if e.classic_recurrence is not None]
        assert head.classic_recurrence is not None
        assert head.classic_recurrence.type.value == "RecursWeekly"
    else:
        heads = [e for e in events if e.lightning_recurrence is not None]
        assert len(heads) == 8
        lr = heads[0].lightning_recurrence
        assert lr is not None and lr.pattern_text.startswith("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR")
    rows = _sf_rows(world)
    assert [e.start for e in rows] == [o.start for o in _occurrences(world, mid)]
    assert {e.subject for e in rows} == {"Weekly sync"}
    master = world.item(ANA, mid)
    assert SF_CAT in master.categories and TRACKED in master.categories
    [r2] = world.sync()
    _quiet(r2)


def test_R1_series_auto_shared_only_with_recurring_sync(world: World) -> None:
    """R1: without `recurring_sync`, auto-share passes a series by; with it, auto-share covers
    series."""
    world.person(ANA, autoshare_appointments=True)
    world.org = world.org.model_copy(update={"share_unlinked": True})
    _series(world, "Team standup", {"type": "daily"}, count=5, categories=())
    world.sync()
    assert world.events() == []
    _on(world)
    world.sync()
    world.sb.graph.update_event(ANA, _occurrences_master(world), {"subject": "Team standup"})
    world.sync()
    assert len(_sf_rows(world)) == 5


def _occurrences_master(world: World) -> str:
    items = world.calendar.calendar_view(
        ANA, world.now - timedelta(days=1), world.now + timedelta(days=60)
    )
    mids = {i.series_master_id for i in items if i.series_master_id}
    assert len(mids) == 1
    return str(mids.pop())


def test_R5_moved_edited_and_cancelled_occurrences_reach_salesforce(world: World) -> None:
    """R5: one occurrence moved, one edited, one cancelled in Outlook: each reaches the matching
    Salesforce occurrence of the Classic series (matched by original start); the others stay as
    they were."""
    world.person(ANA)
    _on(world)
    mid = _series(world, "Review", WEEKLY)
    world.sync()
    occ = _occurrences(world, mid)
    moved, edited, cancelled = occ[1], occ[3], occ[5]
    new_start = moved.start + timedelta(hours=2)
    fmt_s = "%Y-%m-%dT%H:%M:%S"
    world.sb.graph.update_event(
        ANA,
        moved.id,
        {
            "start": {"dateTime": new_start.strftime(fmt_s), "timeZone": "UTC"},
            "end": {
                "dateTime": (new_start + timedelta(hours=1)).strftime(fmt_s),
                "timeZone": "UTC",
            },
        },
    )
    world.sb.graph.update_event(ANA, edited.id, {"subject": "Review (special)"})
    world.sb.graph.delete_event(ANA, cancelled.id)
    [r] = world.sync()
    assert r.outcome.deleted == 1, r.outcome.log
    rows = _sf_rows(world)
    assert [e.start for e in rows] == [o.start for o in _occurrences(world, mid)]
    by_start = {e.start: e for e in rows}
    assert by_start[new_start].end == new_start + timedelta(hours=1)
    assert by_start[edited.start].subject == "Review (special)"
    assert cancelled.start not in by_start
    assert by_start[occ[0].start].subject == "Review"
    [r2] = world.sync()
    _quiet(r2)


def test_R2_master_edits_reach_salesforce(world: World) -> None:
    """Master edits: the subject reaches every occurrence (and the Classic series record); a new
    time for all occurrences or a new pattern replaces the Salesforce series."""
    world.person(ANA)
    _on(world)
    mid = _series(world, "Planning", WEEKLY)
    world.sync()
    world.sb.graph.update_event(
        ANA, mid, {"subject": "Planning v2", "location": {"displayName": "Room 4"}}
    )
    [r] = world.sync()
    assert r.outcome.created == 0 and r.outcome.updated >= 8, r.outcome.log
    assert {(e.subject, e.location) for e in world.events()} == {("Planning v2", "Room 4")}
    # Every occurrence an hour later: the series is replaced (Classic series fields are create-only).
    master = world.item(ANA, mid)
    first = _occurrences(world, mid)[0].start
    s = master.start + timedelta(hours=1)
    fmt_s = "%Y-%m-%dT%H:%M:%S"
    world.sb.graph.update_event(
        ANA,
        mid,
        {
            "start": {"dateTime": s.strftime(fmt_s), "timeZone": "UTC"},
            "end": {"dateTime": (s + timedelta(hours=1)).strftime(fmt_s), "timeZone": "UTC"},
        },
    )
    [r] = world.sync()
    assert r.outcome.created == 1 and r.outcome.deleted == 1, r.outcome.log
    rows = _sf_rows(world)
    assert [e.start for e in rows] == [o.start for o in _occurrences(world, mid)]
    assert rows[0].start == first + timedelta(hours=1)
    # A new pattern: the same.
    world.sb.graph.update_event(
        ANA,
        mid,
        {
            "recurrence": {
                "pattern": {"type": "daily", "interval": 2},
                "range": {
                    "type": "numbered",
                    "startDate": s.astimezone(BERLIN).strftime("%Y-%m-%d"),
                    "numberOfOccurrences": 4,
                },
            }
        },
    )
    world.sync()
    rows = _sf_rows(world)
    assert len(rows) == 4
    assert [e.start for e in rows] == [o.start for o in _occurrences(world, mid)]
    [r2] = world.sync()
    _quiet(r2)


@pytest.mark.parametrize("fmt", [RecurrenceFormat.CLASSIC, RecurrenceFormat.LIGHTNING])
def test_X5_series_deleted_in_outlook_goes_from_salesforce(
    world: World, fmt: RecurrenceFormat
) -> None:
    """X4/X5 for a whole series: the series deleted in Outlook deletes the Salesforce series."""
    world.person(ANA)
    _on(world, fmt)
    mid = _series(world, "To be cancelled", WEEKLY)
    world.sync()
    assert world.events()
    world.sb.graph.delete_event(ANA, mid)
    [r] = world.sync()
    assert world.events() == [], r.outcome.log
    [r2] = world.sync()
    _quiet(r2)


def test_X3_series_deleted_in_salesforce_unlinks_the_outlook_series(world: World) -> None:
    """X3 for a whole series: deleting the Salesforce series leaves the Outlook series, without
    crmcal's categories, and auto-share does not share it back."""
    world.person(ANA, autoshare_appointments=True)
    _on(world)
    world.org = world.org.model_copy(update={"share_unlinked": True})
    mid = _series(world, "Outlook-born", WEEKLY, categories=())
    world.sync()
    [head] = [e for e in world.events() if e.classic_recurrence is not None]
    assert head.id is not None
    world.sb.salesforce.delete("Event", head.id)
    world.sync()
    master = world.item(ANA, mid)
    assert SF_CAT not in master.categories and TRACKED not in master.categories
    assert len(_occurrences(world, mid)) == 8  # the Outlook series stays
    [r2] = world.sync()
    _quiet(r2)
    assert world.events() == []


def _refused(world: World, mid: str, words: str) -> None:
    master = world.item(ANA, mid)
    assert "Sync Error" in master.categories, master.categories
    status = [c for c in master.categories if c.startswith("Status: Not synced")]
    assert status and words in status[0], status
    assert world.events() == []
    assert world.store is not None
    issues = [i for i in world.store.open_issues(ANA) if i.item_id == mid]
    assert issues and words in issues[0].message


def test_R4_classic_cap_yearly_interval_and_long_occurrences_refused(world: World) -> None:
    """R4: more occurrences than a Classic series may have, yearly every 2 years, and
    occurrences over 24 hours: a sync error with the reason, nothing synced (N4)."""
    world.person(ANA)
    _on(world)
    capped = _series(world, "Daily for ever", {"type": "daily"}, count=150)
    world.sync()
    _refused(world, capped, "at most 100")
    world.sb.graph.delete_event(ANA, capped)
    s = _start(world, 3)
    biennial = _series(
        world, "Every other year", {"type": "absoluteYearly", "dayOfMonth": s.day, "month": s.month},
        count=3, start=s,
    )  # fmt: skip
    world.sb.graph.update_event(
        ANA,
        biennial,
        {
            "recurrence": {
                "pattern": {
                    "type": "absoluteYearly", "interval": 2, "dayOfMonth": s.day,
                    "month": s.month,
                },
                "range": {"type": "numbered", "startDate": s.strftime("%Y-%m-%d"),
                          "numberOfOccurrences": 3},
            }
        },
    )  # fmt: skip
    world.sync()
    _refused(world, biennial, "every 2 years")
    world.sb.graph.delete_event(ANA, biennial)
    long = _series(world, "Offsite", {"type": "weekly", "daysOfWeek": ["monday"]}, minutes=25 * 60,
                   start=_start(world, 4))  # fmt: skip
    world.sync()
    _refused(world, long, "24 hours")
    [r2] = world.sync()
    _quiet(r2)


def test_R6_recurring_all_day_refused(world: World) -> None:
    """R6: a recurring all-day item is not synced (sync error with reason)."""
    world.person(ANA)
    _on(world)
    s = _start(world, 3, hour=0)
    mid = _series(world, "Holiday", {"type": "weekly", "daysOfWeek": [s.strftime("%A").lower()]},
                  start=s, minutes=24 * 60, all_day=True, count=3)  # fmt: skip
    world.sync()
    _refused(world, mid, "all-day")


@pytest.mark.parametrize("zone", ["Mid-Atlantic Standard Time", "tzone://Microsoft/Custom"])
def test_N3_series_in_zone_without_exact_iana_equivalent_refused(world: World, zone: str) -> None:
    """N3: a series in a zone with no exact IANA equivalent is refused, naming the zone."""
    world.person(ANA)
    _on(world)
    mid = _series(world, "Odd zone", WEEKLY)
    # As Exchange reports a series made in such a zone (the emulator cannot be asked for one).
    world.sb.graph.mailbox(ANA).events[mid].start_tz = zone
    world.sync()
    _refused(world, mid, zone)


def test_U5_single_to_series_and_back_refused(world: World) -> None:
    """U5: a shared single item turned into a series (or a shared series into a single item) is
    not synced: a sync error with a clear reason; the Event stays as it was."""
    world.person(ANA)
    _on(world)
    start = _start(world, 2)
    fmt_s = "%Y-%m-%dT%H:%M:%S"
    rec = world.sb.graph.seed_event(
        ANA,
        {
            "subject": "One-off",
            "start": {"dateTime": start.strftime(fmt_s), "timeZone": "W. Europe Standard Time"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime(fmt_s),
                "timeZone": "W. Europe Standard Time",
            },
            "categories": [SF_CAT],
        },
    )
    world.sync()
    [ev] = world.events()
    world.sb.graph.update_event(
        ANA,
        rec.id,
        {
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": start.strftime("%Y-%m-%d"),
                          "numberOfOccurrences": 3},
            }
        },
    )  # fmt: skip
    world.sync()
    master = world.item(ANA, rec.id)
    assert master.type is ItemType.SERIES_MASTER
    assert "Sync Error" in master.categories
    assert any("turned into a series" in c for c in master.categories)
    assert [(e.id, e.start, e.classic_recurrence) for e in world.events()] == [
        (ev.id, ev.start, None)
    ]
    [r2] = world.sync()
    _quiet(r2)
    # and back: a shared series turned into a single item
    mid = _series(world, "Series to single", WEEKLY, start=_start(world, 5))
    world.sync()
    before = sorted((e.id or "") for e in world.events())
    world.sb.graph.update_event(ANA, mid, {"recurrence": None})
    world.sync()
    master = world.item(ANA, mid)
    assert master.type is ItemType.SINGLE_INSTANCE
    assert any("turned into a single item" in c for c in master.categories)
    assert sorted((e.id or "") for e in world.events()) == before


def test_X8_lightning_series_made_in_salesforce_comes_down_as_a_series(world: World) -> None:
    """X8: a Lightning series owned by a user comes down as an Outlook series with the
    `Salesforce` category; its edits follow (X2) and its deletion deletes it (X3)."""
    world.person(ANA)
    _on(world)
    uid = world.sf_ids[ANA]
    start = _start(world, 2, hour=9)
    start = (start + timedelta(days=(1 - start.weekday()) % 7)).astimezone(UTC)  # a Tuesday
    sf = world.sb.salesforce
    head = sf.create(
        "Event",
        {
            "OwnerId": uid,
            "Subject": "Pipeline review",
            "StartDateTime": start.isoformat(),
            "DurationInMinutes": 30,
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=TU,TH;INTERVAL=1;COUNT=6",
            "Recurrence2PatternTimeZone": "Europe/Berlin",
        },
        user_id=uid,
    )
    [r] = world.sync()
    assert r.outcome.created_items == 1, r.outcome.log
    items = world.calendar.calendar_view(
        ANA, world.now - timedelta(days=1), world.now + timedelta(days=60)
    )
    mids = {i.series_master_id for i in items if i.series_master_id}
    assert len(mids) == 1
    mid = str(mids.pop())
    master = world.item(ANA, mid)
    assert master.type is ItemType.SERIES_MASTER and master.recurrence is not None
    assert master.categories == (SF_CAT, TRACKED)
    sf_starts = sorted(
        r["StartDateTime"] for r in sf.tables["Event"].values()
        if r.get("_SeriesId") == head and not r.get("IsDeleted")
    )  # fmt: skip
    assert [o.start for o in _occurrences(world, mid)] == sf_starts, (
        master.recurrence,
        master.start,
    )
    for _ in range(2):
        [r2] = world.sync()
        _quiet(r2)
    assert len(world.events()) == 6  # nothing went back up
    # X2: the series edited in Salesforce
    sf.update("Event", head, {"Subject": "Pipeline review (new)"}, user_id=uid)
    [r] = world.sync()
    assert r.outcome.updated_items == 1, r.outcome.log
    assert world.item(ANA, mid).subject == "Pipeline review (new)"
    [r2] = world.sync()
    _quiet(r2)
    # X3: the series deleted in Salesforce
    sf.delete("Event", head)
    world.sync()
    assert world.calendar.get_items(ANA, [mid]) == []


def test_R5_lightning_past_exceptions_and_cancellations_reach_salesforce(world: World) -> None:
    """R5 in the Lightning format: a cancelled occurrence deletes its Salesforce occurrence and a
    changed past one updates its own (it becomes `IsRecurrence2Exception`); a changed future
    occurrence is refused on that occurrence with the reason (Salesforce would apply the change
    to the whole series: R4), and Salesforce keeps the series as it was."""
    world.person(ANA)
    _on(world, RecurrenceFormat.LIGHTNING)
    start = _start(world, -14)
    mid = _series(world, "Lightning review", WEEKLY, count=12, start=start)
    world.sync()
    occ = _occurrences(world, mid)
    past = [o for o in occ if o.start < world.now]
    future = [o for o in occ if o.start > world.now + timedelta(hours=2)]
    world.sb.graph.update_event(ANA, past[1].id, {"subject": "Looked back"})
    world.sb.graph.update_event(ANA, future[1].id, {"subject": "Only this one"})
    world.sb.graph.delete_event(ANA, future[3].id)
    [r] = world.sync()
    assert r.outcome.deleted == 1, r.outcome.log
    by_start = {e.start: e for e in _sf_rows(world)}
    assert future[3].start not in by_start
    assert by_start[past[1].start].subject == "Looked back"
    assert {e.subject for s, e in by_start.items() if s != past[1].start} == {"Lightning review"}
    row = world.sb.salesforce.get("Event", str(by_start[past[1].start].id))
    assert row["IsRecurrence2Exception"] is True
    refused = world.item(ANA, future[1].id)
    assert "Sync Error" in refused.categories
    assert any("Lightning series" in c for c in refused.categories)
    [r2] = world.sync()
    _quiet(r2)


def test_R2_save_action_on_an_occurrence_shares_the_series_with_the_chosen_links(
    world: World,
) -> None:
    """R2, M2: the Save action on one occurrence shares the whole series at the next session,
    with the Name chosen there; the Save mark is then forgotten."""
    from crmcal.state.models import LinkRow
    from crmcal.web.service import WebService

    world.person(ANA)
    _on(world)
    who = world.contact("pat@fabrikam.example", "Pat")
    mid = _series(world, "Account check-in", WEEKLY, categories=())
    world.sync()
    assert world.events() == []
    occ = _occurrences(world, mid)
    assert world.store is not None
    svc = WebService(world.config(), world.store, calendar=world.calendar, crm=world.crm)
    assert svc.save(ANA, occ[4].id, who, None).status == "queued"
    [r] = world.sync()
    assert r.outcome.created == 1, r.outcome.log
    assert {e.who_id for e in world.events()} == {who}
    assert len(_sf_rows(world)) == 8
    with world.store.session() as s:
        rows = list(s.scalars(select(LinkRow).where(LinkRow.mailbox == ANA)))
    assert [(x.item_id, x.event_id is not None) for x in rows] == [(mid, True)]
    [r2] = world.sync()
    _quiet(r2)


# -- X7 for series (decision 0036) ---------------------------------------------------------------


def _confirmed(world: World) -> SessionResult:
    from crmcal.service.runner import run_sync

    assert world.store is not None
    [r] = run_sync(world.config(), store=world.store, calendar=world.calendar, crm=world.crm,
                   now=world.now, users=[ANA], allow_mass_delete=True)  # fmt: skip
    return r


def _series_guard_issues(world: World) -> list[str]:
    assert world.store is not None
    return [
        i.message for i in world.store.open_issues(ANA) if i.reason == "mass_delete_guard_series"
    ]


@pytest.mark.parametrize("fmt", [RecurrenceFormat.CLASSIC, RecurrenceFormat.LIGHTNING])
def test_X7_series_deleted_in_outlook_counts_its_occurrences_and_waits_for_confirmation(
    world: World, fmt: RecurrenceFormat
) -> None:
    """X7: a whole series deleted in Outlook counts as the Salesforce Events it would take with
    it; over the guard, nothing goes, an issue explains, later sessions keep holding; confirmed,
    the series goes."""
    world.person(ANA)
    _on(world, fmt)
    world.org = world.org.model_copy(update={"mass_delete_guard": 5})
    mid = _series(world, "Daily standup", {"type": "daily"}, count=8)
    world.sync()
    before = len(world.events())
    assert len(_sf_rows(world)) == 8
    world.sb.graph.delete_event(ANA, mid)
    [r] = world.sync()
    assert r.outcome.deleted == 0, r.outcome.log
    assert len(world.events()) == before
    [msg] = _series_guard_issues(world)
    assert "8 Salesforce Events" in msg and "Daily standup" in msg
    assert "--allow-mass-delete" in msg
    [r] = world.sync()  # no tombstone this time: the held series stays in play, still held
    assert r.outcome.deleted == 0 and len(world.events()) == before
    assert len(_series_guard_issues(world)) == 1
    r = _confirmed(world)
    assert world.events() == [], r.outcome.log
    assert _series_guard_issues(world) == []  # settled: the issue closed
    [r2] = world.sync()
    _quiet(r2)


def test_X7_a_series_under_the_guard_is_deleted_at_once(world: World) -> None:
    """X7: a series with fewer occurrences than the guard goes at once (X5), no issue."""
    world.person(ANA)
    _on(world)
    world.org = world.org.model_copy(update={"mass_delete_guard": 10})
    mid = _series(world, "Short series", {"type": "daily"}, count=4)
    world.sync()
    world.sb.graph.delete_event(ANA, mid)
    world.sync()
    assert world.events() == []
    assert _series_guard_issues(world) == []


def test_X7_cancelled_occurrences_count_one_each(world: World) -> None:
    """X7 with R5: occurrences cancelled in Outlook count one Event each; over the guard they
    are held (the series itself lives on), then confirmed."""
    world.person(ANA)
    _on(world)
    world.org = world.org.model_copy(update={"mass_delete_guard": 2})
    mid = _series(world, "Weekly review", WEEKLY, count=8)
    world.sync()
    occ = _occurrences(world, mid)
    for o in occ[1:4]:
        world.sb.graph.delete_event(ANA, o.id)
    [r] = world.sync()
    assert r.outcome.deleted == 0, r.outcome.log
    assert len(_sf_rows(world)) == 8
    [msg] = _series_guard_issues(world)
    assert "3 occurrences cancelled" in msg
    _confirmed(world)
    assert [e.start for e in _sf_rows(world)] == [o.start for o in _occurrences(world, mid)]
    assert len(_sf_rows(world)) == 5
    [r2] = world.sync()
    _quiet(r2)
    assert world.store is not None
    assert _series_guard_issues(world) == []  # settled: the issue closed


@pytest.mark.parametrize(
    ("items", "series", "guard", "extra"),
    [(15, 15, 20, 0), (3, 3, 5, 10)],
    ids=["15+15", "count-not-half"],
)
def test_X7_one_count_over_items_and_series_holds_the_whole_plan(
    world: World, items: int, series: int, guard: int, extra: int
) -> None:
    """X7, decision 0036 as promised (issue 18): item deletions and series deletions of one
    session are weighed together, before anything is written. Over the guard, none of them
    happens, neither the items' (which before ran first, under their own count) nor the
    series'. In `count-not-half`, only the count is over (the extra linked items keep the
    "half" rule quiet), so the verdict is the one count over both."""
    world.person(ANA)
    world.contact("maria@fabrikam.example", "Gomez")
    _on(world)
    world.org = world.org.model_copy(update={"mass_delete_guard": guard})
    singles = [
        world.meeting(ANA, f"Single {i}", ("maria@fabrikam.example",), days=1 + i % 20)
        for i in range(items + extra)
    ]
    masters = [
        _series(world, f"Series {i}", {"type": "daily"}, count=2, start=_start(world, 3 + i))
        for i in range(series)
    ]
    world.sync()
    before = len(world.events())
    assert before == items + extra + series * 3  # Classic: the series record and 2 occurrences
    for rec in singles[:items]:
        world.sb.graph.delete_event(ANA, rec.id)
    for mid in masters:
        world.sb.graph.delete_event(ANA, mid)
    [r] = world.sync()
    assert r.outcome.deleted == 0, r.outcome.log
    assert len(world.events()) == before
    assert world.store is not None
    reasons = sorted(i.reason for i in world.store.open_issues(ANA))
    assert reasons == ["mass_delete_guard", "mass_delete_guard_series"]
    total = items + 2 * series
    for msg in (i.message for i in world.store.open_issues(ANA)):
        assert f"would delete {total} Salesforce Events" in msg, msg
    [r] = world.sync()  # still held
    assert r.outcome.deleted == 0 and len(world.events()) == before
    r = _confirmed(world)
    assert len(world.events()) == extra, r.outcome.log
    assert world.store.open_issues(ANA) == []


@pytest.mark.parametrize("fmt", [RecurrenceFormat.CLASSIC, RecurrenceFormat.LIGHTNING])
@pytest.mark.parametrize("on", ["occurrence", "master"])
def test_R2_M2_save_on_a_linked_series_updates_it_at_once(
    world: World, fmt: RecurrenceFormat, on: str
) -> None:
    """R2, M2 (issue 18): Save on any occurrence or on the master of a series already shared
    updates the Salesforce series at once (a session limited to that series): every
    occurrence Event in the window gets the chosen Name; a later session writes nothing."""
    from crmcal.web.service import WebService

    world.person(ANA)
    _on(world, fmt)
    who = world.contact("pat@fabrikam.example", "Pat")
    mid = _series(world, "Linked check-in", WEEKLY)
    world.sync()
    rows = _sf_rows(world)
    assert len(rows) == 8 and {e.who_id for e in rows} == {None}
    target = _occurrences(world, mid)[3].id if on == "occurrence" else mid
    assert world.store is not None
    svc = WebService(world.config(), world.store, calendar=world.calendar, crm=world.crm)
    out = svc.save(ANA, target, who, None)
    assert out.status == "updated", out.message
    assert {e.who_id for e in _sf_rows(world)} == {who}
    assert len(_sf_rows(world)) == 8
    [r2] = world.sync()
    _quiet(r2)
    assert {e.who_id for e in _sf_rows(world)} == {who}
