"""The EWS connector's calls per no-change session and per 1,000 items read and written, against
the floor the batch sizes allow (issue 20).

Run: `uv run python benchmarks/bench_ews.py [--quick]`. Not a test; prints a table.

Floors: a no-change session is one SyncFolderItems per mailbox; reading N changed single items is
ceil(N / 512) SyncFolderItems pages (MaxChangesReturned's ceiling) plus ceil(N / batch) GetItem;
writing N items is ceil(N / batch) CreateItem, UpdateItem or DeleteItem calls.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from crmcal.connectors.ews import EwsClient
from crmcal.connectors.ews.client import MAX_SYNC_CHANGES
from crmcal.domain.calendar import ItemDraft, ItemPatch
from crmcal.sandbox.ews import EwsState, create_app
from crmcal.sandbox.graph.state import GraphState
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

W0 = datetime(2026, 3, 1, tzinfo=UTC)
W1 = datetime(2026, 4, 1, tzinfo=UTC)
MAILBOX = "ana@contoso.example"


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "+".join("-" * (w + 2) for w in widths)
    print(line)
    for r in cells:
        print("|".join(f" {c:<{widths[i]}} " for i, c in enumerate(r)))
        if r is cells[0]:
            print(line)
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 items instead of 1,000")
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    n = 200 if args.quick else 1000
    tls = process_tls()
    st = EwsState(GraphState())
    st.add_account("CONTOSO\\svc", "pw", "svc@contoso.example")
    st.add_mailbox(MAILBOX)
    srv = ServerThread(create_app(st), ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key))
    srv.start()
    c = EwsClient(
        username="CONTOSO\\svc",
        password="pw",
        ews_url=srv.url + "/EWS/Exchange.asmx",
        auth_type="basic",
        ca_bundle=str(tls.ca),
        batch_size=args.batch,
    )
    rows: list[list[Any]] = []
    drafts = [
        ItemDraft(
            f"item {i}", W0 + timedelta(hours=i % 600), W0 + timedelta(hours=i % 600, minutes=30)
        )
        for i in range(n)
    ]

    def step(name: str, fn: Any, floor: int) -> Any:
        c.calls.reset()
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        rows.append([name, c.calls.total, floor, f"{dt:.2f}s", dict(c.calls.snapshot())])
        return out

    batches = math.ceil(n / args.batch)
    created = step(f"create {n}", lambda: c.create_items(MAILBOX, drafts), batches)
    ids = [str(r.id) for r in created]
    first = step(
        f"read {n} (first session)",
        lambda: c.delta(MAILBOX, W0, W1, None),
        math.ceil(n / MAX_SYNC_CHANGES) + batches,
    )
    idle = step("no-change session", lambda: c.delta(MAILBOX, W0, W1, first.cursor), 1)
    step(
        f"update {n}",
        lambda: c.update_items(MAILBOX, [(i, ItemPatch(subject="x")) for i in ids]),
        batches,
    )
    step(
        f"read {n} changed",
        lambda: c.delta(MAILBOX, W0, W1, idle.cursor),
        math.ceil(n / MAX_SYNC_CHANGES) + batches,
    )
    step(f"delete {n}", lambda: c.delete_items(MAILBOX, ids), batches)
    table(
        f"EWS calls (batch {args.batch}, MaxChangesReturned {MAX_SYNC_CHANGES})",
        ["operation", "calls", "floor", "time", "by operation"],
        rows,
    )
    c.close()
    srv._server.force_exit = True
    srv.stop()


if __name__ == "__main__":
    main()
