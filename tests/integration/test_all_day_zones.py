"""All-day items in any zone, both ways, series included (issue 16, api-facts E2; SPEC U3, X1, R6).

Graph returns an all-day event as midnight to midnight in the zone of the request
(`Prefer: outlook.timezone`, else UTC), labelled with that zone, whatever zone it was made in;
the date is the date written, never an instant to convert (Microsoft in microsoft-graph-docs#1802;
docs-contrib #471, #6459). Proved for six zones from UTC-10 to UTC+14, with the session's
`Prefer: outlook.timezone` set and not set: the emulator's answers, the `ActivityDate` that goes
up, the Outlook date that comes down, and the dates of an all-day series' occurrences.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmcal import timezones
from crmcal.rules.mapping import all_day_dates
from crmcal.sandbox.runtime import GRAPH_CLIENT_ID
from tests.integration.conftest import World

ANA = "ana@contoso.example"
ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Pacific/Honolulu",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
]
PREFER = [None, "Tokyo Standard Time", "Hawaiian Standard Time"]
"""The session's `Prefer: outlook.timezone`: not set, or a zone far east or far west."""


def _win(zone: str) -> str:
    name = timezones.iana_to_windows(zone)
    assert name is not None
    return name


def _http(world: World) -> httpx.Client:
    token = world.sb.graph.issue_token(GRAPH_CLIENT_ID)
    return httpx.Client(
        base_url=f"{world.sb.graph_url}/v1.0", headers={"Authorization": f"Bearer {token}"}
    )


def _all_day(day: date, zone: str, **extra: Any) -> dict[str, Any]:
    nxt = day + timedelta(days=1)
    return {
        "subject": "Offsite",
        "isAllDay": True,
        "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": _win(zone)},
        "end": {"dateTime": f"{nxt.isoformat()}T00:00:00", "timeZone": _win(zone)},
        **extra,
    }


def _prefer(tz: str | None) -> dict[str, str]:
    return {"Prefer": f'outlook.timezone="{tz}"'} if tz else {}


def _day(world: World) -> date:
    return (world.now + timedelta(days=6)).date()


@pytest.mark.parametrize("prefer", PREFER)
@pytest.mark.parametrize("zone", ZONES)
def test_E2_U3_all_day_goes_up_with_the_written_date(world: World, zone: str, prefer: str | None) -> None:  # fmt: skip
    """U3/E2: an all-day item made through the API in `zone` reads as midnight to midnight in
    the request's zone on the written date, and goes up with that `ActivityDate`."""
    world.person(ANA)
    day = _day(world)
    with _http(world) as http:
        made = http.post(
            f"/users/{ANA}/events", json=_all_day(day, zone, categories=["Salesforce"])
        )
        assert made.status_code == 201, made.text
        got = http.get(f"/users/{ANA}/events/{made.json()['id']}", headers=_prefer(prefer)).json()
    assert got["start"] == {"dateTime": f"{day}T00:00:00.0000000", "timeZone": prefer or "UTC"}
    assert got["end"] == {
        "dateTime": f"{day + timedelta(days=1)}T00:00:00.0000000",
        "timeZone": prefer or "UTC",
    }
    world.calendar.prefer_timezone = prefer  # the session's Prefer header
    [item] = world.calendar.get_items(ANA, [made.json()["id"]])
    assert all_day_dates(item, timezones.zoneinfo_for(zone)) == (day, 1)
    world.sync()
    [ev] = world.events()
    assert ev.is_all_day and ev.activity_date == day and ev.duration_minutes == 1440
    world.quiet()


@pytest.mark.parametrize("prefer", PREFER)
@pytest.mark.parametrize("zone", ZONES)
def test_E2_X1_all_day_event_comes_down_on_its_date(world: World, zone: str, prefer: str | None) -> None:  # fmt: skip
    """X1/E2: a Salesforce all-day Event comes down as an Outlook all-day item on its
    `ActivityDate`, read on that date in any zone (the mailbox user's, or the session's)."""
    world.person(ANA)
    world.calendar.prefer_timezone = prefer
    day = _day(world)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    world.sb.salesforce.add_event(world.sf_ids[ANA], "Trade fair", midnight,
                                  midnight + timedelta(days=1), IsAllDayEvent=True,
                                  ActivityDate=day.isoformat(), DurationInMinutes=1440)  # fmt: skip
    [r] = world.sync()
    assert r.outcome.created_items == 1, r.outcome.log
    with _http(world) as http:
        for tz in (_win(zone), prefer, None):
            rows = http.get(f"/users/{ANA}/events", headers=_prefer(tz)).json()["value"]
            [row] = [x for x in rows if x["subject"] == "Trade fair"]
            assert row["isAllDay"] is True
            assert row["start"] == {"dateTime": f"{day}T00:00:00.0000000", "timeZone": tz or "UTC"}
    world.quiet()
    [ev] = world.events()
    assert ev.activity_date == day  # nothing shifted on the way back


@pytest.mark.parametrize("prefer", [None, "Line Islands Standard Time"])
@pytest.mark.parametrize("zone", ZONES)
def test_E2_R6_all_day_series_occurrences_keep_their_dates(world: World, zone: str, prefer: str | None) -> None:  # fmt: skip
    """Series included: an all-day weekly series made in `zone` reads, through /instances and
    through sparse delta rows, with the written dates in the request's zone; R6 still refuses it
    (recurring all-day items are not synced) rather than syncing it on wrong dates."""
    world.person(ANA)
    world.org = world.org.model_copy(update={"recurring_sync": True})
    day = _day(world)
    weekday = day.strftime("%A").lower()
    body = _all_day(day, zone, categories=["Salesforce"], recurrence={
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [weekday]},
        "range": {"type": "numbered", "startDate": day.isoformat(), "numberOfOccurrences": 3},
    })  # fmt: skip
    want = [day + timedelta(weeks=k) for k in range(3)]
    with _http(world) as http:
        mid = http.post(f"/users/{ANA}/events", json=body).json()["id"]
        w = {"startDateTime": (world.now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "endDateTime": (world.now + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        occ = http.get(f"/users/{ANA}/events/{mid}/instances", params=w, headers=_prefer(prefer))
        delta = http.get(f"/users/{ANA}/calendarView/delta", params=w, headers=_prefer(prefer))
    rows = occ.json()["value"]
    assert [x["start"]["dateTime"][:10] for x in rows] == [d.isoformat() for d in want]
    assert {x["start"]["timeZone"] for x in rows} == {prefer or "UTC"}
    assert {x["start"]["dateTime"][10:] for x in rows} == {"T00:00:00.0000000"}
    sparse = [x for x in delta.json()["value"] if x.get("type") == "occurrence"]
    assert sorted(x["start"]["dateTime"][:10] for x in sparse) == [d.isoformat() for d in want]
    world.calendar.prefer_timezone = prefer
    items = world.calendar.instances(ANA, mid, world.now - timedelta(days=2),
                                     world.now + timedelta(days=60))  # fmt: skip
    tz = timezones.zoneinfo_for(zone)
    assert [all_day_dates(i, tz) for i in items] == [(d, 1) for d in want]
    world.sync()
    assert world.events() == []  # R6
    [master] = world.calendar.get_items(ANA, [mid])
    assert "Status: Not synced: recurring all-day items are not synced" in master.categories
