"""Microsoft's documented Graph examples, replayed verbatim (issue 16; SPEC Y3).

Each fixture in tests/graph/fixtures/ carries its source URL (`_source`). Every example goes
through the emulator's shape checks (`crmcal.sandbox.graph.shapes`), which the emulator's own
answers must also pass, and through crmcal's parser: the documented responses are served with a
plain httpx `MockTransport` to the unmodified `GraphClient`, so the same code that talks to
Microsoft 365 reads them. Documented requests are sent to the emulator with plain httpx.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from crmcal.connectors.graph import GraphClient
from crmcal.connectors.graph.batch import BatchRequest, parse_batch_response
from crmcal.connectors.graph.mapping import item_from_graph
from crmcal.domain.calendar import ItemType
from crmcal.sandbox.graph import shapes

FIXTURES = Path(__file__).parent / "fixtures"
W0, W1 = datetime(2016, 12, 1, tzinfo=UTC), datetime(2016, 12, 30, tzinfo=UTC)


def _load(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data["_source"], "every fixture names its source"
    return data


def _replaying(pages: list[dict[str, Any]]) -> tuple[GraphClient, list[httpx.Request]]:
    """A GraphClient whose HTTP answers are the documented pages, in order."""
    seen: list[httpx.Request] = []
    queue = list(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=queue.pop(0))

    http = httpx.Client(transport=httpx.MockTransport(answer))
    client = GraphClient(
        tenant_id="t", client_id="c", client_secret="s", http=http, token_provider="tok"
    )
    return client, seen


def test_documented_delta_round_passes_the_shape_checks_and_the_parser() -> None:
    doc = _load("delta_query_events.json")
    for page in [*doc["pages"], *doc["next_round"]]:
        assert shapes.check_delta_page(page) == []
    client, seen = _replaying(doc["pages"])
    ch = client.delta("samanthab@contoso.onmicrosoft.com", W0, W1, None)
    assert ch.errors == ()
    assert [i.subject for i in ch.items] == [
        "Plan shopping list", "Pick up car", "Get food", "Prepare food", "Rest!"
    ]  # fmt: skip
    rest = ch.items[-1]
    assert rest.ical_uid == ""  # not in the documented rows: optional (E1)
    assert rest.change_key == "EZ9r3czxY0m2jz8c45czkwAALZu97g=="  # from @odata.etag
    assert rest.start == datetime(2016, 12, 12, 2, tzinfo=UTC) and rest.location == "Home"
    assert ch.cursor.endswith("$deltatoken=R0usmcMDNGg0J1E")
    assert [str(r.url) for r in seen[1:]] == [p["@odata.nextLink"] for p in doc["pages"][:2]]
    # The next round: a tombstone and a changed item.
    client2, _ = _replaying(doc["next_round"])
    ch2 = client2.delta("samanthab@contoso.onmicrosoft.com", W0, W1, ch.cursor)
    assert [r.id for r in ch2.removed] == [
        "AAMkADk0MGFkODE3LWE4MmYtNDRhOS04OGQLkRkXbBznTvAADb6ytyAAA="
    ]
    assert [i.subject for i in ch2.items] == ["Attend service"]


def test_event_delta_page_example_is_reported_per_item_not_a_crash_Y3() -> None:
    """The api/event-delta.md example prints placeholders and no id: Y3, one item error."""
    doc = _load("event_delta.json")
    assert shapes.check_delta_page(doc["response"], rows=False) == []
    last = {"@odata.deltaLink": "https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=x",
            "value": []}  # fmt: skip
    client, _ = _replaying([doc["response"], last])
    ch = client.delta("me@contoso.example", W0, W1, None)
    assert ch.items == () and len(ch.errors) == 1
    assert "no id" in ch.errors[0].reason


def test_sparse_occurrence_rows_E1_parse_and_pass_the_shape_checks() -> None:
    """E1: occurrences come with only the seven sparse keys; a missing iCalUId is no error."""
    doc = _load("sparse_occurrence.json")
    for row in doc["rows"]:
        assert set(row) == shapes.SPARSE_DELTA_KEYS
        assert shapes.check_delta_row(row) == []
        item = item_from_graph("ana@contoso.example", row)
        assert item.type is ItemType.OCCURRENCE and item.series_master_id == row["seriesMasterId"]
        assert item.ical_uid == "" and item.subject == ""
        assert item.change_key == row["@odata.etag"][3:-1]
    first = item_from_graph("ana@contoso.example", doc["rows"][0])
    assert first.start == datetime(2023, 7, 23, 10, 25, tzinfo=UTC)
    assert first.end == datetime(2023, 7, 23, 10, 55, tzinfo=UTC)
    # A full row claiming to be an occurrence is not the shape Graph sends (the checks say so).
    assert shapes.check_delta_row({**doc["rows"][0], "subject": "x"}) != []
    assert shapes.check_delta_row({**doc["rows"][0], "type": "seriesMaster"}) != []


def test_documented_event_get_parses() -> None:
    doc = _load("event_get.json")
    ev = doc["response"]
    assert shapes.check_event(ev) == []
    item = item_from_graph("engineering@M365x214355.onmicrosoft.com", ev)
    assert item.subject == "New Product Regulations Touchpoint"
    assert item.start == datetime(2014, 11, 3, 17, tzinfo=UTC)
    assert item.location == "Conf Room Rainier" and item.body_is_html
    assert [a.email.address for a in item.attendees] == [
        "engineering@M365x214355.onmicrosoft.com", "IrvinS@M365x214355.onmicrosoft.com"
    ]  # fmt: skip
    assert item.ical_uid == "" and item.type is ItemType.SINGLE_INSTANCE


def test_documented_batch_response_parses_and_request_is_accepted(sandbox) -> None:
    doc = _load("json_batching.json")
    ids = [r["id"] for r in doc["request"]["requests"]]
    assert shapes.check_batch_response(doc["response"], ids) == []
    sent = [BatchRequest(r["id"], r["method"], r["url"]) for r in doc["request"]["requests"]]
    got = parse_batch_response(doc["response"], sent)
    assert {k: v.status for k, v in got.items()} == {
        "1": 200,
        "2": 403,
        "3": 403,
        "4": 405,
        "5": 200,
    }
    assert got["3"].error().code == "Authorization_RequestDenied"
    # The emulator takes the documented request as Graph does: outer 200, one answer per id
    # (it emulates none of these directory/planner endpoints, so each fails on its own).
    with sandbox.http() as http:
        r = http.post("/$batch", json=doc["request"])
    assert r.status_code == 200
    assert shapes.check_batch_response(r.json(), ids) == []
    assert all(x["status"] >= 400 for x in r.json()["responses"])


def test_documented_category_post_on_the_emulator(sandbox) -> None:
    doc = _load("outlookcategory_post.json")
    assert shapes.check_category(doc["response"]) == []
    with sandbox.http() as http:
        r = http.post(f"/users/{sandbox.ANA}/outlook/masterCategories", json=doc["request"])
    assert r.status_code == doc["status"]
    body = r.json()
    assert set(body) == set(doc["response"])
    assert shapes.check_category(body) == []
    assert {k: body[k] for k in ("displayName", "color")} == doc["request"]


def test_documented_attachment_response_parses_and_emulator_matches_its_keys(sandbox) -> None:
    doc = _load("attachment_post.json")
    assert shapes.check_attachment(doc["response"]) == []
    att_id = doc["response"]["id"]
    listing = {"value": [{k: v for k, v in doc["response"].items() if k != "contentBytes"}]}
    client, _ = _replaying([listing])
    [info] = client.list_attachments("me@contoso.example", "AAMkAGI1AAAt9AHjAAA=")
    assert (info.id, info.name, info.size, info.kind) == (att_id, "menu.txt", 178, "file")
    # The emulator's answer to a valid file attachment POST has the documented keys.
    with sandbox.http() as http:
        ev = http.post(f"/users/{sandbox.ANA}/events", json=sandbox.event(
            "a", "2026-03-10T09:00:00", "2026-03-10T10:00:00")).json()  # fmt: skip
        body = {**doc["request"], "contentBytes": doc["response"]["contentBytes"]}
        r = http.post(f"/users/{sandbox.ANA}/events/{ev['id']}/attachments", json=body)
    assert r.status_code == doc["status"]
    assert set(r.json()) == set(doc["response"])
    assert shapes.check_attachment(r.json()) == []
