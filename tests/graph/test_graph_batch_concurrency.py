"""`$batch` as Graph runs it (issue 16, api-facts E3, A8, A10; SPEC O2).

Inner requests not chained by `dependsOn` run together and count against the mailbox's 4
concurrent requests, so 20 to one mailbox give 16 inner 429s with their own `Retry-After`
(microsoft-graph-docs#2886; concepts/json-batching.md: requests "are evaluated individually
against the applicable throttling limits"). The emulator's reading (decision 0071): a wave of
simultaneous requests admits the first 4 in request order and throttles the rest. crmcal's
connector retries inner 429s, honouring `Retry-After`, until every write lands exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from crmcal.sandbox.graph import shapes


def _items(sandbox: Any, http: httpx.Client, n: int = 20) -> list[str]:
    out = []
    for i in range(n):
        ev = sandbox.event(f"e{i}", f"2026-03-10T{8 + i % 10:02d}:00:00",
                           f"2026-03-10T{8 + i % 10:02d}:30:00")  # fmt: skip
        out.append(str(http.post(f"/users/{sandbox.ANA}/events", json=ev).json()["id"]))
    return out


def _patches(sandbox: Any, ids: list[str], *, chained: bool = False) -> dict[str, Any]:
    reqs: list[dict[str, Any]] = []
    for i, item_id in enumerate(ids):
        r: dict[str, Any] = {
            "id": str(i),
            "method": "PATCH",
            "url": f"/users/{sandbox.ANA}/events/{item_id}",
            "headers": {"Content-Type": "application/json"},
            "body": {"categories": ["Salesforce"]},
        }
        if chained and i:
            r["dependsOn"] = [str(i - 1)]
        reqs.append(r)
    return {"requests": reqs}


@pytest.fixture
def patched(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each item was really updated by the emulator (a 429 runs nothing)."""
    count: Counter[str] = Counter()
    real = sandbox.state.update_event

    def update(mb_ref: str, item_id: str, body: object) -> Any:
        out = real(mb_ref, item_id, body)
        count[item_id] += 1
        return out

    monkeypatch.setattr(sandbox.state, "update_event", update)
    return count


def test_E3_twenty_parallel_inner_requests_to_one_mailbox_land_four(sandbox, patched) -> None:
    sandbox.state.faults.retry_after = 2.5
    with sandbox.http() as http:
        ids = _items(sandbox, http)
        r = http.post("/$batch", json=_patches(sandbox, ids))
    assert r.status_code == 200
    body = r.json()
    assert shapes.check_batch_response(body, [str(i) for i in range(20)]) == []
    status = {x["id"]: x["status"] for x in body["responses"]}
    assert sorted(k for k, v in status.items() if v == 200) == ["0", "1", "2", "3"]
    throttled = [x for x in body["responses"] if x["status"] == 429]
    assert len(throttled) == 16
    for x in throttled:
        assert x["headers"]["Retry-After"] == "2.5"
        assert x["body"]["error"]["code"] == "ApplicationThrottled"
    assert sorted(patched.values()) == [1] * 4
    assert sandbox.state.mailboxes[sandbox.ANA].in_flight == 0


def test_E3_dependsOn_chain_runs_one_at_a_time_and_failures_give_424(sandbox, patched) -> None:
    with sandbox.http() as http:
        ids = _items(sandbox, http)
        ok = http.post("/$batch", json=_patches(sandbox, ids, chained=True)).json()
        assert {x["status"] for x in ok["responses"]} == {200}
        bad = _patches(sandbox, ids[:5], chained=True)
        bad["requests"][2]["url"] = f"/users/{sandbox.ANA}/events/AAMkAnotthere"
        failed = http.post("/$batch", json=bad).json()
    status = {x["id"]: x["status"] for x in failed["responses"]}
    assert status["2"] >= 400  # a malformed id
    assert {k: v for k, v in status.items() if k != "2"} == {"0": 200, "1": 200, "3": 424, "4": 424}
    assert sum(patched.values()) == 22


def test_E3_emulator_told_otherwise_runs_inner_requests_one_by_one(sandbox) -> None:
    sandbox.state.faults.batch_parallel = False
    with sandbox.http() as http:
        ids = _items(sandbox, http)
        body = http.post("/$batch", json=_patches(sandbox, ids)).json()
    assert {x["status"] for x in body["responses"]} == {200}


def _inner_statuses(sink: list[int]) -> httpx.Client:
    def hook(response: httpx.Response) -> None:
        if response.url.path.endswith("/$batch"):
            response.read()
            sink.extend(x["status"] for x in json.loads(response.content)["responses"])

    return httpx.Client(event_hooks={"response": [hook]})


def test_E3_O2_twenty_category_writes_in_one_batch_finish_exactly_once(
    sandbox, patched, sleeps
) -> None:
    """Done-when: 20 category writes to one mailbox in one parallel `$batch` get inner 429s; the
    connector resends only those, after their `Retry-After`, until all 20 landed once each."""
    sandbox.state.faults.retry_after = 0.05
    with sandbox.http() as http:
        ids = _items(sandbox, http)
    statuses: list[int] = []
    client = sandbox.client(sleeps=sleeps, batch_mode="parallel", http=_inner_statuses(statuses))
    results = client.set_categories(sandbox.ANA, {i: ["Salesforce", "Customer"] for i in ids})
    assert all(r.ok for r in results) and {r.key for r in results} == set(ids)
    assert statuses.count(429) == 16 + 12 + 8 + 4  # the first call was the one $batch of 20
    assert client.calls["$batch"] == 5 and sleeps.waits == [0.05] * 4
    assert patched == Counter(dict.fromkeys(ids, 1))  # exactly once each
    events = sandbox.state.mailboxes[sandbox.ANA].events
    assert all(events[i].props["categories"] == ["Salesforce", "Customer"] for i in ids)


def test_E3_sequential_batches_chain_and_resend_what_a_429_held_back(
    sandbox, patched, sleeps
) -> None:
    """The default: one `$batch` of 20 chained by `dependsOn` (no concurrency 429s). An inner 429
    in the chain holds back the rest with 424; those are resent, each write still once."""
    with sandbox.http() as http:
        ids = _items(sandbox, http)
    statuses: list[int] = []
    client = sandbox.client(sleeps=sleeps, http=_inner_statuses(statuses))
    assert all(r.ok for r in client.set_categories(sandbox.ANA, {i: ["A"] for i in ids[:10]}))
    assert client.calls["$batch"] == 1 and set(statuses) == {200}
    sandbox.state.faults.throttle_next = 1
    statuses.clear()
    assert all(r.ok for r in client.set_categories(sandbox.ANA, {i: ["B"] for i in ids[10:]}))
    assert statuses.count(429) == 1 and statuses.count(424) == 9
    assert sleeps.waits == [0.05]
    assert patched == Counter(dict.fromkeys(ids, 1))
