"""The emulator answers in the shapes the real service uses (issue 16, api-facts E1; SPEC O3).

calendarView/delta: single items with their properties, occurrences and exceptions with only the
seven sparse keys (microsoft-graph-docs #7632, #22197, #2182; docs-contrib #34, #5602), no series
master rows, `@odata.type` on every row, `@removed` for a deleted occurrence. The other reads
(/events, /calendarView, /instances, GET one) return full events. Every answer passes the same
shape checks the documented examples pass (test_graph_documented_examples.py).
"""

from __future__ import annotations

from typing import Any

import httpx

from crmcal.sandbox.graph import shapes

W = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-30T00:00:00Z"}


def _series(sandbox: Any, http: httpx.Client) -> str:
    body = sandbox.event(
        "Standup", "2026-03-02T09:00:00", "2026-03-02T09:15:00", "W. Europe Standard Time",
        categories=["Salesforce"],
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 4},
        },
    )  # fmt: skip
    r = http.post(f"/users/{sandbox.ANA}/events", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _round(http: httpx.Client, url: str, params: dict[str, str] | None = None) -> tuple[
        list[dict[str, Any]], str]:  # fmt: skip
    rows: list[dict[str, Any]] = []
    while True:
        r = http.get(url, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert shapes.check_delta_page(body) == []
        rows += body["value"]
        if "@odata.nextLink" in body:
            url, params = body["@odata.nextLink"], None
            continue
        return rows, body["@odata.deltaLink"]


def test_E1_delta_rows_are_sparse_for_series_and_full_for_singles(sandbox) -> None:
    with sandbox.http() as http:
        mid = _series(sandbox, http)
        single = http.post(f"/users/{sandbox.ANA}/events", json=sandbox.event(
            "One-off", "2026-03-03T10:00:00", "2026-03-03T11:00:00")).json()  # fmt: skip
        rows, link = _round(http, f"/users/{sandbox.ANA}/calendarView/delta", W)
        occ = [r for r in rows if r.get("type") == "occurrence"]
        assert len(occ) == 4 and all(set(r) == shapes.SPARSE_DELTA_KEYS for r in occ)
        assert {r["seriesMasterId"] for r in occ} == {mid}
        assert all(r["@odata.etag"].startswith('W/"') for r in occ)
        assert not [r for r in rows if r.get("type") == "seriesMaster" or r["id"] == mid]
        [one] = [r for r in rows if r["id"] == single["id"]]
        assert one["@odata.type"] == "#microsoft.graph.event"
        assert one["subject"] == "One-off" and "organizer" in one and "iCalUId" in one
        # An edited occurrence comes back as a sparse exception; a deleted one as @removed.
        http.patch(f"/users/{sandbox.ANA}/events/{occ[1]['id']}", json={"subject": "Moved"})
        http.delete(f"/users/{sandbox.ANA}/events/{occ[2]['id']}")
        rows2, _ = _round(http, link)
        exc = [r for r in rows2 if r.get("type") == "exception"]
        assert len(exc) == 1 and set(exc[0]) == shapes.SPARSE_DELTA_KEYS
        assert {"@odata.type": "#microsoft.graph.event", "id": occ[2]["id"],
                "@removed": {"reason": "deleted"}} in rows2  # fmt: skip
        assert all(r["@odata.type"] == "#microsoft.graph.event" for r in rows2)


def test_E1_other_reads_return_full_events_in_the_documented_shape(sandbox) -> None:
    """/events, /calendarView, /instances and GET by id: full events, documented enums."""
    with sandbox.http() as http:
        mid = _series(sandbox, http)
        answers = [
            http.get(f"/users/{sandbox.ANA}/events").json()["value"],
            http.get(f"/users/{sandbox.ANA}/calendarView", params=W).json()["value"],
            http.get(f"/users/{sandbox.ANA}/events/{mid}/instances", params=W).json()["value"],
            [http.get(f"/users/{sandbox.ANA}/events/{mid}").json()],
        ]
    for rows in answers:
        assert rows
        for row in rows:
            assert shapes.check_event(row) == [], row
            assert {"subject", "organizer", "iCalUId", "changeKey", "isAllDay"} <= set(row)
    masters = [r for r in answers[0] if r["type"] == "seriesMaster"]
    assert len(masters) == 1 and masters[0]["recurrence"]["pattern"]["type"] == "weekly"
    assert {r["type"] for r in answers[1]} == {"occurrence"}
    assert all(r["recurrence"] is None for r in answers[2])
