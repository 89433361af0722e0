"""Graph emulator throughput and the Graph connector's API calls per 1,000 items vs the floor.

Run: `uv run python benchmarks/bench_graph.py [--quick]`. Not a test; prints tables.

The floor is the fewest calls the documented sizes allow: one delta page per `page_size` items
(the last page carries the deltaLink), one `$batch` per 20 writes or reads by id, one call for a
round with no changes.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crmcal.connectors.graph import GraphClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.domain.calendar import ItemDraft, ItemPatch
from crmcal.sandbox.graph import GraphState, create_app
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

W0 = datetime(2026, 3, 1, tzinfo=UTC)
W1 = datetime(2026, 4, 1, tzinfo=UTC)


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "+".join("-" * (w + 2) for w in widths)
    print(line)
    for j, r in enumerate(cells):
        print(
            "|".join(
                f" {c:<{widths[i]}} " if i == 0 else f" {c:>{widths[i]}} " for i, c in enumerate(r)
            )
        )
        if j == 0:
            print(line)
    print(line)


def event(i: int) -> dict[str, Any]:
    start = W0 + timedelta(days=i % 30, hours=8 + i % 9, minutes=(i * 7) % 60)
    return {
        "subject": f"Item {i}",
        "body": {"contentType": "text", "content": f"Body {i}"},
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {
            "dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": "UTC",
        },
        "location": {"displayName": "Room"},
        "categories": ["Salesforce"],
    }


TLS = process_tls()  # the emulator is served over https, as Graph is (api-facts E5)


def token(url: str, st: GraphState) -> str:
    r = httpx.post(
        f"{url}/{st.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": st.client_id,
            "client_secret": st.client_secret,
            "scope": "https://graph.microsoft.com/.default",
            "grant_type": "client_credentials",
        },
        verify=TLS.context(),
    )
    return str(r.json()["access_token"])


# -- emulator throughput ---------------------------------------------------------------------------


def throughput(quick: bool) -> None:
    n_mailboxes, per_mailbox = 200, 20
    st = GraphState()
    st.faults.rate_limit = 10**9
    boxes = [st.add_user(f"user{i}@contoso.example").address for i in range(n_mailboxes)]
    ids: dict[str, list[str]] = {
        b: [st.seed_event(b, event(i)).id for i in range(per_mailbox)] for b in boxes
    }
    requests = 1500 if quick else 6000
    threads = 16
    rows: list[list[Any]] = []
    with ServerThread(create_app(st), tls=TLS) as srv:
        tok = token(srv.url, st)
        local = [
            httpx.Client(
                base_url=srv.url + "/v1.0",
                headers={"Authorization": "Bearer " + tok},
                verify=TLS.context(),
            )
            for _ in range(threads)
        ]
        links: dict[str, str] = {}
        for b in boxes:
            r = local[0].get(
                f"/users/{b}/calendarView/delta",
                params={
                    "startDateTime": "2026-03-01T00:00:00Z",
                    "endDateTime": "2026-04-01T00:00:00Z",
                },
                headers={"Prefer": "odata.maxpagesize=100"},
            )
            links[b] = r.json()["@odata.deltaLink"]

        def run(
            name: str, call: Callable[[httpx.Client, int], httpx.Response], inner: int = 1
        ) -> None:
            def worker(t: int) -> int:
                c = local[t]
                bad = 0
                for k in range(t, requests, threads):
                    if call(c, k).status_code >= 400:
                        bad += 1
                return bad

            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                failures = sum(pool.map(worker, range(threads)))
            dt = time.perf_counter() - t0
            rows.append(
                [name, requests, f"{requests / dt:,.0f}", f"{requests * inner / dt:,.0f}", failures]
            )

        def get_one(c: httpx.Client, k: int) -> httpx.Response:
            b = boxes[k % n_mailboxes]
            return c.get(f"/users/{b}/events/{ids[b][k % per_mailbox]}")

        def delta_nochange(c: httpx.Client, k: int) -> httpx.Response:
            return c.get(links[boxes[k % n_mailboxes]])

        def view(c: httpx.Client, k: int) -> httpx.Response:
            return c.get(
                f"/users/{boxes[k % n_mailboxes]}/calendarView",
                params={
                    "startDateTime": "2026-03-01T00:00:00Z",
                    "endDateTime": "2026-04-01T00:00:00Z",
                },
            )

        def batch(c: httpx.Client, k: int) -> httpx.Response:
            b = boxes[k % n_mailboxes]
            reqs = [
                {
                    "id": str(j),
                    "method": "PATCH",
                    "url": f"/users/{b}/events/{ids[b][j]}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"subject": f"s{k}"},
                    # Chained, as crmcal sends them: 20 unchained requests to one mailbox would
                    # run together and 16 would get 429 (E3, the 4-per-mailbox limit).
                    **({"dependsOn": [str(j - 1)]} if j else {}),
                }
                for j in range(20)
            ]
            return c.post("/$batch", json={"requests": reqs})

        run("GET /users/{id}/events/{id}", get_one)
        run("calendarView/delta, no change", delta_nochange)
        run("calendarView (page of 10)", view)
        requests //= 5
        run("$batch of 20 PATCH (chained)", batch, inner=20)
        for c in local:
            c.close()
    table(
        f"Emulator throughput ({threads} client threads in the same process, "
        f"{n_mailboxes} mailboxes)",
        ["request", "requests", "HTTP req/s", "API ops/s", "errors"],
        rows,
    )


# -- connector calls per 1,000 items ---------------------------------------------------------------


def _one_setting(
    page_size: int, latency_ms: int, rows: list[list[Any]], timing: list[list[Any]]
) -> None:
    n = 1000
    st = GraphState()
    st.faults.latency_ms = latency_ms
    mb = st.add_user("ana@contoso.example").address
    with ServerThread(create_app(st), tls=TLS) as srv:
        client = GraphClient(
            tenant_id=st.tenant_id,
            client_id=st.client_id,
            client_secret=st.client_secret,
            authority_url=srv.url,
            graph_url=srv.url + "/v1.0",
            verify=str(TLS.ca),
            page_size=page_size,
            retry=RetryPolicy(max_attempts=10, max_total_wait=600),
        )
        label = f"page {page_size}" + (f", {latency_ms} ms latency" if latency_ms else "")

        def measure(what: str, floor: int, fn: Callable[[], object]) -> None:
            client.calls.reset()
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            used = client.calls.total
            if latency_ms:
                timing.append([what, used, f"{dt:.2f} s", f"{dt / n * 1000:.2f} ms"])
            else:
                rows.append([label, what, used, floor, f"{used / floor:.2f}"])

        drafts = [
            ItemDraft(
                subject=f"Item {i}",
                start=W0 + timedelta(days=i % 30, hours=9),
                end=W0 + timedelta(days=i % 30, hours=10),
                categories=("Salesforce",),
            )
            for i in range(n)
        ]
        created: list[str] = []

        def create() -> None:
            created.extend(r.id or "" for r in client.create_items(mb, drafts))

        measure("create 1,000 ($batch)", math.ceil(n / 20), create)
        cursor = {"c": ""}

        def full_read() -> None:
            ch = client.delta(mb, W0, W1, None)
            assert len(ch.items) == n, len(ch.items)
            cursor["c"] = ch.cursor

        measure("read 1,000 (full delta round)", math.ceil(n / page_size), full_read)
        measure("no-change delta round", 1, lambda: client.delta(mb, W0, W1, cursor["c"]))
        measure(
            "get 1,000 by id ($batch)", math.ceil(n / 20), lambda: client.get_items(mb, created)
        )
        measure(
            "update 1,000 (PATCH changed fields)",
            math.ceil(n / 20),
            lambda: client.update_items(mb, [(i, ItemPatch(subject="changed")) for i in created]),
        )

        def incremental() -> None:
            ch = client.delta(mb, W0, W1, cursor["c"])
            assert len(ch.items) == n, len(ch.items)
            cursor["c"] = ch.cursor

        measure("read 1,000 changed (incremental delta)", math.ceil(n / page_size), incremental)
        measure(
            "set categories on 1,000",
            math.ceil(n / 20),
            lambda: client.set_categories(mb, {i: ["Salesforce", "Sync Error"] for i in created}),
        )
        if not latency_ms and page_size == 100:
            st.faults.throttle_next = 25
            st.faults.retry_after = 0.05
            measure(
                "update 1,000 with 25 inner 429s",
                math.ceil(n / 20),
                lambda: client.update_items(mb, [(i, ItemPatch(subject="again")) for i in created]),
            )
        measure(
            "delete 1,000 ($batch)", math.ceil(n / 20), lambda: client.delete_items(mb, created)
        )
        client.close()


def calls_per_1000(quick: bool) -> None:
    rows: list[list[Any]] = []
    timing: list[list[Any]] = []
    for page_size, latency_ms in ((10, 0), (100, 0), (100, 30)):
        if quick and latency_ms:
            break
        _one_setting(page_size, latency_ms, rows, timing)
    table(
        "Connector HTTP calls per 1,000 items vs floor "
        "(floor: one delta page per page size, one $batch per 20)",
        ["setting", "operation", "calls", "floor", "calls/floor"],
        rows,
    )
    if timing:
        table(
            "Connector wall time with 30 ms injected latency per HTTP call (page 100)",
            ["operation", "calls", "wall", "per item"],
            timing,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer requests, skip the latency run")
    args = ap.parse_args()
    throughput(args.quick)
    calls_per_1000(args.quick)


if __name__ == "__main__":
    main()
