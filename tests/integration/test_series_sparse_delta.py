"""Outlook series made through the Graph API and read only through sparse delta rounds (issue 16,
E1; SPEC R2, R3, R5).

Real `calendarView/delta` sends each occurrence and exception with only `@odata.type`,
`@odata.etag`, `id`, `seriesMasterId`, `type`, `start`, `end` and no series master at all
(microsoft-graph-docs #7632, #22197, #2182; docs-contrib #34, #5602). Everything here is done with
plain httpx against the emulator's Graph API, as a person's Outlook would; crmcal sees the series
only through delta, and every delta page it read is checked to be in that sparse shape. A weekly
series, an edit of one occurrence and a cancellation of one occurrence each reach Salesforce and
stay correct over later sessions; the extra reads per session stay bounded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmcal.domain import CrmEvent
from crmcal.sandbox.graph import shapes
from crmcal.sandbox.runtime import GRAPH_CLIENT_ID
from crmcal.sync.session import SessionResult
from tests.integration.conftest import World

ANA = "ana@contoso.example"
SF_CAT = "Salesforce"
FMT = "%Y-%m-%dT%H:%M:%S"


class Outlook:
    """Ana's Outlook: plain httpx on the emulator's Graph API with an app token."""

    def __init__(self, world: World) -> None:
        token = world.sb.graph.issue_token(GRAPH_CLIENT_ID)
        self.http = httpx.Client(
            base_url=f"{world.sb.graph_url}/v1.0", headers={"Authorization": f"Bearer {token}"}
        )

    def post_series(self, start: datetime, *, categories: list[str]) -> str:
        body = {
            "subject": "Weekly pipeline review",
            "body": {"contentType": "text", "content": "Pipeline"},
            "start": {"dateTime": start.strftime(FMT), "timeZone": "Pacific Standard Time"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime(FMT),
                "timeZone": "Pacific Standard Time",
            },
            "categories": categories,
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [
                    start.strftime("%A").lower()]},
                "range": {"type": "numbered", "startDate": start.strftime("%Y-%m-%d"),
                          "numberOfOccurrences": 6},
            },
        }  # fmt: skip
        r = self.http.post(f"/users/{ANA}/events", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def instances(self, master_id: str, w0: datetime, w1: datetime) -> list[dict[str, Any]]:
        r = self.http.get(
            f"/users/{ANA}/events/{master_id}/instances",
            params={"startDateTime": w0.strftime(FMT), "endDateTime": w1.strftime(FMT)},
        )
        assert r.status_code == 200, r.text
        return list(r.json()["value"])

    def patch(self, item_id: str, body: dict[str, Any]) -> None:
        r = self.http.patch(f"/users/{ANA}/events/{item_id}", json=body)
        assert r.status_code == 200, r.text

    def delete(self, item_id: str) -> None:
        assert self.http.delete(f"/users/{ANA}/events/{item_id}").status_code == 204


def _spy(world: World) -> list[dict[str, Any]]:
    """Every delta page crmcal's client reads, as JSON."""
    pages: list[dict[str, Any]] = []

    def hook(response: httpx.Response) -> None:
        if "/calendarView/delta" in response.url.path and response.status_code == 200:
            response.read()
            pages.append(json.loads(response.content))

    world.calendar._http.event_hooks["response"].append(hook)
    return pages


def _sf_occurrences(world: World) -> list[CrmEvent]:
    rows = [e for e in world.events() if e.classic_recurrence is None and e.start is not None]
    return sorted(rows, key=lambda e: e.start or datetime.min.replace(tzinfo=UTC))


GET_ONE = "$batch> GET /users/{id}/events/{id}"


def _session(world: World, pages: list[dict[str, Any]], by_id: int = 2) -> SessionResult:
    before = world.calendar.calls.snapshot()
    reads = world.sb.graph.stats[GET_ONE]
    first = len(pages)
    [r] = world.sync()
    after = world.calendar.calls.snapshot()
    extra = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    for page in pages[first:]:  # crmcal saw the series only in the real, sparse shape
        assert shapes.check_delta_page(page) == []
    # Bounded extra reads for the one series: its master (and a changed exception) by id in
    # `$batch`, exceptions in at most one `$batch`, `/instances` over the window in one `$batch`.
    assert world.sb.graph.stats[GET_ONE] - reads <= by_id, extra
    assert extra.get("$batch/exceptions", 0) <= 1, extra
    assert extra.get("$batch/instances", 0) <= 1 and extra.get("instances", 0) == 0, extra
    return r


def _quiet(world: World, pages: list[dict[str, Any]]) -> None:
    for _ in range(2):
        o = _session(world, pages).outcome
        writes = (o.created, o.updated, o.deleted, o.created_items, o.updated_items,
                  o.deleted_items)  # fmt: skip
        assert writes == (0, 0, 0, 0, 0, 0), o.log


@pytest.fixture
def ana(world: World) -> tuple[World, Outlook, list[dict[str, Any]], datetime]:
    world.person(ANA)
    world.org = world.org.model_copy(update={"recurring_sync": True})
    d = (world.now + timedelta(days=2)).date()
    start = datetime(d.year, d.month, d.day, 9, 30)
    return world, Outlook(world), _spy(world), start


def _occurrence_rows(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for p in pages for r in p["value"] if r.get("type") in ("occurrence", "exception")]


def test_R2_R3_weekly_series_from_sparse_delta_reaches_salesforce_and_stays(ana) -> None:
    """R2/R3: a weekly series made through the API, seen only as sparse occurrence rows (no
    master row), goes up with all its occurrences; later sessions write nothing."""
    world, outlook, pages, start = ana
    outlook.post_series(start, categories=[SF_CAT])
    r = _session(world, pages)
    assert r.outcome.created == 1, r.outcome.log
    rows = _occurrence_rows(pages)
    assert len(rows) == 6 and all(set(x) == shapes.SPARSE_DELTA_KEYS for x in rows)
    assert not any(x.get("type") == "seriesMaster" for p in pages for x in p["value"])
    sf = _sf_occurrences(world)
    assert len(sf) == 6 and {e.subject for e in sf} == {"Weekly pipeline review"}
    assert [e.start for e in sf] == sorted(
        datetime.fromisoformat(x["start"]["dateTime"][:19]).replace(tzinfo=UTC) for x in rows
    )
    _quiet(world, pages)


def test_R2_category_on_one_occurrence_made_through_the_api_shares_the_series(ana) -> None:
    """R2: the category set on one occurrence (an exception, sent sparse) shares the series."""
    world, outlook, pages, start = ana
    mid = outlook.post_series(start, categories=[])
    _session(world, pages)
    assert world.events() == []
    occ = outlook.instances(mid, world.now, world.now + timedelta(days=60))
    outlook.patch(occ[2]["id"], {"categories": [SF_CAT]})
    r = _session(world, pages)
    assert r.outcome.created == 1, r.outcome.log
    assert len(_sf_occurrences(world)) == 6
    _quiet(world, pages)


def test_R5_edit_of_one_occurrence_from_sparse_delta_reaches_salesforce(ana) -> None:
    """R5: one occurrence edited through the API arrives as a sparse exception row; its new
    subject and time reach the matching Salesforce occurrence; the others stay."""
    world, outlook, pages, start = ana
    mid = outlook.post_series(start, categories=[SF_CAT])
    _session(world, pages)
    occ = outlook.instances(mid, world.now, world.now + timedelta(days=60))
    target = occ[3]
    new_start = datetime.fromisoformat(target["start"]["dateTime"][:19]) + timedelta(hours=2)
    outlook.patch(target["id"], {
        "subject": "Pipeline review (board week)",
        "start": {"dateTime": new_start.strftime(FMT), "timeZone": "UTC"},
        "end": {"dateTime": (new_start + timedelta(hours=1)).strftime(FMT), "timeZone": "UTC"},
    })  # fmt: skip
    first = len(pages)
    r = _session(world, pages)
    assert r.outcome.updated >= 1, r.outcome.log
    [row] = [x for p in pages[first:] for x in p["value"] if x.get("type") == "exception"]
    assert set(row) == shapes.SPARSE_DELTA_KEYS
    sf = _sf_occurrences(world)
    assert len(sf) == 6
    by_start = {e.start: e for e in sf}
    moved = by_start[new_start.replace(tzinfo=UTC)]
    assert moved.subject == "Pipeline review (board week)"
    assert moved.end == new_start.replace(tzinfo=UTC) + timedelta(hours=1)
    assert sum(e.subject == "Weekly pipeline review" for e in sf) == 5
    _quiet(world, pages)


def test_R5_cancellation_of_one_occurrence_from_sparse_delta_reaches_salesforce(ana) -> None:
    """R5: one occurrence deleted through the API arrives as an `@removed` tombstone; its
    Salesforce occurrence goes, the other five stay."""
    world, outlook, pages, start = ana
    mid = outlook.post_series(start, categories=[SF_CAT])
    _session(world, pages)
    occ = outlook.instances(mid, world.now, world.now + timedelta(days=60))
    gone = datetime.fromisoformat(occ[1]["start"]["dateTime"][:19]).replace(tzinfo=UTC)
    outlook.delete(occ[1]["id"])
    first = len(pages)
    r = _session(world, pages)
    assert r.outcome.deleted == 1, r.outcome.log
    tombs = [x for p in pages[first:] for x in p["value"] if "@removed" in x]
    assert [t["id"] for t in tombs] == [occ[1]["id"]]
    sf = _sf_occurrences(world)
    assert len(sf) == 5 and gone not in {e.start for e in sf}
    _quiet(world, pages)


def test_X5_whole_series_deleted_through_the_api_goes_from_salesforce(ana) -> None:
    """X5 for a series seen only through sparse rows: deleting it in Outlook sends only its
    occurrences' tombstones (there is no master row to remove); the Salesforce series goes."""
    world, outlook, pages, start = ana
    mid = outlook.post_series(start, categories=[SF_CAT])
    _session(world, pages)
    assert len(_sf_occurrences(world)) == 6
    outlook.delete(mid)
    first = len(pages)
    # The gone master is read by id three times, one `$batch` each: the X3 re-read of items
    # whose Event changed, the check of tracked items that left, and the series engine's.
    _session(world, pages, by_id=3)
    rows = [x for p in pages[first:] for x in p["value"]]
    # Only tombstones: the six occurrences' (and the master's: event-delta.md reports items
    # changed or deleted outside the view as removed too).
    assert all("@removed" in x for x in rows) and len(rows) in (6, 7)
    assert world.events() == []
    _quiet(world, pages)
