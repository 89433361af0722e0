"""Sync engine cost: API calls against the floor the batch sizes allow, time, planner CPU, memory.

    uv run python benchmarks/bench_sync.py [--items 1000] [--users 1000] [--latency-ms 0]

1. First session of one user with N eligible items (meetings with an external Contact each).
2. A no-change session for U users (each has a shared meeting; the run before absorbed crmcal's
   own category writes): the goal is exactly one Graph call per user and no Salesforce call.
3. Series read only through sparse delta rounds (issue 16, E1): S weekly series made through the
   Graph API, then one occurrence of each edited, then one of each cancelled. Delta carries no
   masters and only the times of occurrences, so crmcal reads masters by id, the changed
   exceptions by id and the occurrences with `/instances`, all in `$batch`; the table prints
   those extra calls against their floor (one `$batch` per 20 series or exceptions).
Prints tables; asserts nothing (timing never goes into a test).
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from crmcal.domain import OrgSettings, UserConfig
from crmcal.sandbox.runtime import Sandbox
from crmcal.service.runner import build_calendar, build_crm, run_sync
from crmcal.state import StateStore
from crmcal.sync import session as session_mod

DOMAIN = "contoso.example"
PAGE = 100  # the Graph connector's delta page size
GRAPH_BATCH = 20
SF_COLLECTION = 200


def _meeting(start: datetime, subject: str, attendee: str) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M:%S"
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": "Agenda"},
        "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
        "attendees": [{"type": "required", "emailAddress": {"address": attendee}}],
    }


class PlanTimer:
    """Wraps the pure planner to measure its CPU time alone."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.items = 0
        self._orig: Callable[..., Any] = session_mod.plan

    def __enter__(self) -> PlanTimer:
        def timed(inputs: Any) -> Any:
            t = time.process_time()
            out = self._orig(inputs)
            self.cpu += time.process_time() - t
            self.items += len(inputs.items) + len(inputs.tracked)
            return out

        session_mod.plan = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        session_mod.plan = self._orig  # type: ignore[assignment]


def first_session(n: int, latency_ms: int) -> list[tuple[str, str, str, str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    with Sandbox() as sb, TemporaryDirectory() as tmp:
        mailbox = f"ana@{DOMAIN}"
        sb.graph.add_user(mailbox)
        uid = sb.salesforce.add_user(mailbox)
        acct = sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
        contacts = [f"c{i}@fabrikam.example" for i in range(100)]
        for c in contacts:
            sb.salesforce.add_contact(c.split("@")[0], email=c, account_id=acct)
        for i in range(n):
            start = (now + timedelta(days=1 + i % 50, hours=i % 9)).replace(minute=(i * 7) % 60)
            sb.graph.seed_event(mailbox, _meeting(start, f"Meeting {i}", contacts[i % 100]))
        sb.graph.faults.latency_ms = latency_ms
        sb.salesforce.faults.latency_ms = latency_ms
        users = (UserConfig(mailbox=mailbox, salesforce_user_id=uid),)
        cfg = sb.config(
            data_dir=Path(tmp), org=OrgSettings(internal_domains=(DOMAIN,)), users=users
        )
        store = StateStore(cfg.storage.url())
        store.migrate()
        cal, crm = build_calendar(cfg), build_crm(cfg)
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        with PlanTimer() as pt:
            [r] = run_sync(cfg, store=store, calendar=cal, crm=crm, now=now)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        g = cal.calls.snapshot()
        s = dict(crm.calls)
        cal.close()
        crm.close()
        store.dispose()
    assert r.outcome.created == n, r.outcome.log[:5]
    graph_floor = (
        math.ceil(n / PAGE) + math.ceil(n / GRAPH_BATCH) + 2
    )  # delta, categories, master list
    sf_floor = math.ceil(n / SF_COLLECTION) + 3  # creates; people, opportunities, D2 lookups
    g_total, s_total = sum(g.values()), sum(s.values())
    return [
        ("items shared", str(r.outcome.created), "", ""),
        ("Graph calls", str(g_total), str(graph_floor), f"{g_total / graph_floor:.2f}x"),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted(g.items())), "", ""),
        ("Salesforce calls", str(s_total), str(sf_floor), f"{s_total / sf_floor:.2f}x"),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted(s.items())), "", ""),
        ("wall time", f"{wall:.2f} s", "", f"latency {latency_ms} ms/call"),
        ("crmcal CPU per item", f"{1000 * cpu / n:.2f} ms", "", "whole session, this process"),
        ("planner CPU per item", f"{1000 * pt.cpu / max(pt.items, 1):.3f} ms", "", "pure plan()"),
        ("peak memory (traced)", f"{peak / 1e6:.1f} MB", "", ""),
    ]


def no_change(users: int, latency_ms: int) -> list[tuple[str, str, str, str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    with Sandbox() as sb, TemporaryDirectory() as tmp:
        sb.salesforce.add_contact("Buyer", email="buyer@fabrikam.example")
        cfg_users = []
        for i in range(users):
            mb = f"user{i:05d}@{DOMAIN}"
            sb.graph.add_user(mb)
            uid = sb.salesforce.add_user(mb)
            cfg_users.append(UserConfig(mailbox=mb, salesforce_user_id=uid))
            sb.graph.seed_event(
                mb, _meeting(now + timedelta(days=2), f"M{i}", "buyer@fabrikam.example")
            )
        cfg = sb.config(
            data_dir=Path(tmp), org=OrgSettings(internal_domains=(DOMAIN,)), users=tuple(cfg_users)
        )
        store = StateStore(cfg.storage.url())
        store.migrate()
        cal, crm = build_calendar(cfg), build_crm(cfg)
        run_sync(cfg, store=store, calendar=cal, crm=crm, now=now)  # first share
        run_sync(cfg, store=store, calendar=cal, crm=crm, now=now)  # sees its own category writes
        cal.calls.reset()
        crm.calls.clear()
        sb.graph.faults.latency_ms = latency_ms
        sb.salesforce.faults.latency_ms = latency_ms
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        results = run_sync(cfg, store=store, calendar=cal, crm=crm, now=now)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        g, s = cal.calls.snapshot(), dict(crm.calls)
        cal.close()
        crm.close()
        store.dispose()
    writes = sum(r.outcome.created + r.outcome.updated + r.outcome.categories for r in results)
    g_total, s_total = sum(g.values()), sum(s.values())
    return [
        ("users", str(users), "", ""),
        ("writes", str(writes), "0", ""),
        ("Graph calls", str(g_total), str(users), f"{g_total / users:.2f} per user"),
        ("Salesforce calls", str(s_total), "0", "org-level read arrives with down-sync (#6)"),
        ("wall time", f"{wall:.2f} s", "", f"sequential; latency {latency_ms} ms/call"),
        ("crmcal CPU per user", f"{1000 * cpu / users:.2f} ms", "", ""),
        ("peak memory (traced)", f"{peak / 1e6:.1f} MB", "", ""),
    ]


def _series_body(start: datetime, i: int) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M:%S"
    return {
        "subject": f"Series {i}",
        "body": {"contentType": "text", "content": "Weekly"},
        "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
        "categories": ["Salesforce"],
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1,
                        "daysOfWeek": [start.strftime("%A").lower()]},
            "range": {"type": "numbered", "startDate": start.strftime("%Y-%m-%d"),
                      "numberOfOccurrences": 8},
        },
    }  # fmt: skip


EXTRA_KINDS = ("$batch/masters", "$batch/exceptions", "$batch/instances", "instances")


def sparse_series(n: int, latency_ms: int) -> list[tuple[str, str, str, str]]:
    """Three sessions over S series read only through sparse delta rows (E1)."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows: list[tuple[str, str, str, str]] = [("series", str(n), "", "weekly, 8 occurrences")]
    with Sandbox() as sb, TemporaryDirectory() as tmp:
        mailbox = f"ana@{DOMAIN}"
        sb.graph.add_user(mailbox)
        uid = sb.salesforce.add_user(mailbox)
        day = (now + timedelta(days=2)).replace(hour=9, minute=0, second=0)
        masters = [
            sb.graph.create_event(mailbox, _series_body(day + timedelta(minutes=40 * i), i)).id
            for i in range(n)
        ]
        # X7's guard would hold the S cancellations for confirmation: lifted for the benchmark.
        org = OrgSettings(internal_domains=(DOMAIN,), recurring_sync=True, mass_delete_guard=10**6)
        users = (UserConfig(mailbox=mailbox, salesforce_user_id=uid),)
        cfg = sb.config(data_dir=Path(tmp), org=org, users=users)
        store = StateStore(cfg.storage.url())
        store.migrate()
        cal, crm = build_calendar(cfg), build_crm(cfg)
        sb.graph.faults.latency_ms = latency_ms
        sb.salesforce.faults.latency_ms = latency_ms
        w0, w1 = now - timedelta(days=1), now + timedelta(days=90)

        def occurrence(mid: str, k: int) -> str:
            return cal.instances(mailbox, mid, w0, w1)[k].id

        steps: list[tuple[str, Callable[[], None]]] = [
            ("first session (share)", lambda: None),
            ("one occurrence edited in each", lambda: [
                sb.graph.update_event(mailbox, occurrence(m, 2), {"subject": "Edited"})
                for m in masters]),
            ("one occurrence cancelled in each", lambda: [
                sb.graph.delete_event(mailbox, occurrence(m, 4)) for m in masters]),
        ]  # fmt: skip
        for label, act in steps:
            act()
            cal.calls.reset()
            inner0 = sb.graph.stats["$batch> GET /users/{id}/events/{id}"]
            t0 = time.perf_counter()
            [r] = run_sync(cfg, store=store, calendar=cal, crm=crm, now=now)
            wall = time.perf_counter() - t0
            g = cal.calls.snapshot()
            extra = sum(g.get(k, 0) for k in ("$batch/exceptions", "$batch/instances",
                                              "instances"))  # fmt: skip
            reads = sb.graph.stats["$batch> GET /users/{id}/events/{id}"] - inner0
            exc = n if "edited" in label else 0  # exceptions read by id (the rest: masters)
            master_calls = math.ceil((reads - exc) / GRAPH_BATCH)
            floor = 2 * math.ceil(n / GRAPH_BATCH) + math.ceil(exc / GRAPH_BATCH)
            changed = 8 * n if label.startswith("first") else n
            rows.append((label, f"{wall:.2f} s", "", (
                f"created {r.outcome.created}, updated {r.outcome.updated}, "
                f"deleted {r.outcome.deleted}")))  # fmt: skip
            rows.append(
                ("  delta calls", str(g.get("delta", 0)), str(math.ceil(changed / PAGE)), "")
            )
            rows.append(("  series reads (extra calls)", str(extra + master_calls),
                         str(floor), "masters + exceptions + /instances, in $batch"))  # fmt: skip
            rows.append(("    by kind", ", ".join(
                f"{k} {v}" for k, v in sorted(g.items()) if k in EXTRA_KINDS or k == "delta")
                + f", $batch of masters {master_calls}", "", ""))  # fmt: skip
        cal.close()
        crm.close()
        store.dispose()
    return rows


def table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    print(f"\n{title}")
    w = max(len(r[0]) for r in rows)
    print(f" {'measure'.ljust(w)} | {'value':>14} | {'floor':>6} | note")
    print(f"-{'-' * w}-+-{'-' * 14}-+-{'-' * 6}-+-----")
    for a, b, c, d in rows:
        if len(b) > 14:
            print(f" {a.ljust(w)} | {b}")
        else:
            print(f" {a.ljust(w)} | {b:>14} | {c:>6} | {d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--series", type=int, default=40)
    a = ap.parse_args()
    table(f"First session: 1 user, {a.items} eligible items", first_session(a.items, a.latency_ms))
    table(f"No-change session: {a.users} users", no_change(a.users, a.latency_ms))
    table(
        f"Series from sparse delta rounds: {a.series} series", sparse_series(a.series, a.latency_ms)
    )


if __name__ == "__main__":
    main()
