"""Salesforce emulator throughput and connector calls per 1,000 records vs the floor.

Run: ``uv run python benchmarks/bench_salesforce.py [--latency-ms 30]``. Prints tables; not a test.
The floor is what the documented batch sizes allow: 200 records per sObject Collection call and
2,000 rows per query page (DESIGN "Performance model").
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain.crm import CrmEvent
from crmcal.sandbox.salesforce import SalesforceOrg, create_app
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

TLS = process_tls()  # the emulator is served over https, as Salesforce is

N = 1000
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def throughput(base: str, token: str, org: SalesforceOrg) -> list[list[str]]:
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(2000):
        org.add_contact(f"Bench{i}", email=f"bench{i}@example.org")
    ev = {"Subject": "b", "StartDateTime": "2026-03-10T14:00:00Z", "DurationInMinutes": 30}
    recs = [{"attributes": {"type": "Event"}, **ev} for _ in range(200)]
    cases: list[tuple[str, Callable[[httpx.Client], httpx.Response], int, int]] = [
        ("GET /limits", lambda c: c.get("/services/data/v62.0/limits"), 2000, 1),
        ("GET /limits (8 threads)", lambda c: c.get("/services/data/v62.0/limits"), 4000, 8),
        (
            "query by Email IN (50 addresses)",
            lambda c: c.get(
                "/services/data/v62.0/query",
                params={
                    "q": "SELECT Id, Email FROM Contact WHERE Email IN ("
                    + ",".join(f"'bench{i}@example.org'" for i in range(0, 2000, 40))
                    + ")"
                },
            ),
            500,
            1,
        ),
        (
            "query 2,000 rows (one page)",
            lambda c: c.get(
                "/services/data/v62.0/query", params={"q": "SELECT Id, Name, Email FROM Contact"}
            ),
            50,
            1,
        ),
        (
            "POST composite/sobjects (200 Events)",
            lambda c: c.post("/services/data/v62.0/composite/sobjects", json={"records": recs}),
            30,
            1,
        ),
    ]
    rows: list[list[str]] = []
    for name, fn, n, threads in cases:
        with httpx.Client(base_url=base, headers=headers, timeout=60, verify=TLS.context()) as c:
            fn(c).raise_for_status()
            t = time.perf_counter()
            if threads == 1:
                for _ in range(n):
                    fn(c)
            else:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(lambda _i, f=fn, cl=c: f(cl), range(n)))
            dt = time.perf_counter() - t
        rows.append([name, str(n), f"{n / dt:,.0f}", f"{1000 * dt / n:.2f}"])
    return rows


def connector_rows(
    client: SalesforceClient, org: SalesforceOrg, owner: str, latency: float
) -> list[list[str]]:
    org.faults.latency_ms = latency
    rows: list[list[str]] = []

    def measure(name: str, floor: int, fn: Callable[[], object]) -> None:
        before = client.total_calls - client.calls["oauth2/token"]
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        used = client.total_calls - client.calls["oauth2/token"] - before
        rows.append([name, str(used), str(floor), f"{used / floor:.2f}", f"{dt:.2f}"])

    events = [
        CrmEvent(id=None, owner_id=owner, subject=f"Bench {i}",
                 start=T0 + timedelta(minutes=30 * i), end=T0 + timedelta(minutes=30 * i + 25))
        for i in range(N)
    ]  # fmt: skip
    created: list[str] = []
    measure(
        "create 1,000 Events",
        math.ceil(N / 200),
        lambda: created.extend(r.id for r in client.create_events(events) if r.id),
    )
    measure("read 1,000 Events by id", math.ceil(N / 2000), lambda: client.events_by_ids(created))
    measure(
        "changed-since read (1,000 rows)",
        math.ceil(N / 2000),
        lambda: client.events_changed_since(None, [owner]),
    )
    current = client.events_by_ids(created)
    moved = [
        CrmEvent(id=e.id, owner_id=e.owner_id, subject=e.subject + "!", start=e.start, end=e.end)
        for e in current
    ]
    measure("update 1,000 Events", math.ceil(N / 200), lambda: client.update_events(moved))
    for i in range(N):
        org.add_contact(f"P{i}", email=f"person{i}@example.org")
    measure(
        "find people, 1,000 addresses",
        math.ceil(N / 2000),
        lambda: client.find_people([f"Person{i}@example.org" for i in range(N)]),
    )
    measure("delete 1,000 Events", math.ceil(N / 200), lambda: client.delete_events(created))
    org.faults.latency_ms = 0
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", type=float, default=30.0)
    args = ap.parse_args()
    org = SalesforceOrg(api_max=10_000_000)
    owner = org.add_user("bench@corp.example", first_name="Bench", last_name="User")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    org.add_client("bench-app", public_key_pem=pub.decode())
    with ServerThread(create_app(org), tls=TLS) as srv:
        other = org.add_user("throughput@corp.example")
        token = org.issue_token(other)  # its Events don't show in the connector's reads below
        table(
            "Emulator throughput (https on 127.0.0.1, no injected latency)",
            ["request", "n", "req/s", "ms/req"],
            throughput(srv.url, token, org),
        )
        with SalesforceClient(
            login_url=srv.url, client_id="bench-app", auth="jwt", username="bench@corp.example",
            private_key=pem, retry=RetryPolicy(),
            http=httpx.Client(timeout=60, verify=TLS.context()),
        ) as client:  # fmt: skip
            for latency in (0.0, args.latency_ms):
                table(
                    f"Connector API calls per {N:,} records (emulator latency {latency:g} ms)",
                    ["operation", "calls", "floor", "calls/floor", "wall s"],
                    connector_rows(client, org, owner, latency),
                )
    print(
        "\nFloor = ceil(records / 200) per collection call, ceil(rows / 2,000) per query page.\n"
        "Reads by id or address are also bounded by the URI length: 1,000 quoted 18-char ids are\n"
        "~27 KB URL-encoded, so the IN list is split under the 16 KB budget and the parts go in\n"
        "composite requests of 5 queries (one API call each). find_people needs a Contact and a\n"
        "Lead query per part (docs/decisions/salesforce-query-length.md)."
    )


if __name__ == "__main__":
    main()
