"""Scale: whole-org cycles of `crmcal run` (the in-process scheduler) against the emulators.

    uv run python benchmarks/bench_scale.py                       # small: a few minutes
    uv run python benchmarks/bench_scale.py --users 1000,10000 --first-users 1000 \\
        --items 100 --changes-org 10000 --latency-ms 30    # the tables in docs/performance.md
    uv run python benchmarks/bench_scale.py --workers 2 ...      # Celery workers + PostgreSQL

The emulators run in their own process (as Microsoft 365 and Salesforce would be elsewhere), seeded
through their state APIs, with `--latency-ms` added to every API call through their
`/_sandbox/faults` control API. crmcal runs in this process with the scheduler's concurrency
(`--concurrency`), SQLite state by default (`--database-url` for PostgreSQL); or, with
`--workers N`, as N `crmcal worker` processes (Celery, `--broker-url`) on a fresh PostgreSQL
database, each with `--concurrency` threads.

1. No-change cycle for U users (each organizes one meeting with an external Contact that earlier
   cycles shared): the goal is one Graph call per user and one Salesforce read for the org.
2. First sync of F users x I items (meetings with an external Contact each).
3. 100 changes (subject edits of shared meetings of 100 users) in a C-user org.

Prints tables; asserts nothing (timing never goes into a test). "CPU per user" is this process's
CPU time (crmcal only; the emulators' CPU is not counted) divided by the users of the cycle.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
from pydantic import SecretStr

from crmcal.config import (
    Config,
    GraphConfig,
    SalesforceAuth,
    SalesforceConfig,
    SchedulerConfig,
    StorageConfig,
)
from crmcal.domain import OrgSettings, UserConfig, UserSettings
from crmcal.service.runner import build_calendar, build_crm
from crmcal.service.scheduler import Scheduler
from crmcal.state import StateStore

DOMAIN = "contoso.example"
FMT = "%Y-%m-%dT%H:%M:%S"


# -- the emulators, in a child process ----------------------------------------------------------


def _emulators(conn: Connection, users: int, items: int) -> None:
    from crmcal.sandbox.runtime import GRAPH_CLIENT_ID, Sandbox

    sb = Sandbox().start()
    # An Enterprise org's daily allowance: 100,000 calls + 1,000 per licence (the emulator's
    # default is a small org's; a 10,000-user first sync would rightly trip O2's back-off).
    sb.salesforce.api_max = 100_000 + 1_000 * users
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    acct = sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    people: list[tuple[str, str]] = []
    ids: dict[str, list[str]] = {}
    for c in range(100):
        sb.salesforce.add_contact(f"C{c}", email=f"c{c}@fabrikam.example", account_id=acct)
    for u in range(users):
        me = f"u{u:05d}@{DOMAIN}"
        sb.graph.add_user(me)
        uid = sb.salesforce.add_user(me, last_name=f"U{u:05d}")
        people.append((me, uid))
        for i in range(items):
            start = now + timedelta(days=1 + i % 50, hours=i % 9, minutes=(i * 7) % 60)
            rec = sb.graph.seed_event(
                me,
                {
                    "subject": f"Call {u}-{i}",
                    "body": {"contentType": "text", "content": "Agenda"},
                    "start": {"dateTime": start.strftime(FMT), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(minutes=30)).strftime(FMT),
                        "timeZone": "UTC",
                    },
                    "attendees": [
                        {
                            "type": "required",
                            "emailAddress": {"address": f"c{(u + i) % 100}@fabrikam.example"},
                        }
                    ],
                },
                created=now - timedelta(days=1),
            )
            ids.setdefault(me, []).append(str(rec.id))
    conn.send(
        {
            "graph_url": sb.graph_url,
            "tenant_id": sb.graph.tenant_id,
            "graph_client_id": GRAPH_CLIENT_ID,
            "graph_secret": sb.graph_secret,
            "salesforce_url": sb.salesforce_url,
            "sf_client_id": sb.sf_client_id,
            "sf_secret": sb.sf_secret,
            "ca_bundle": str(sb.tls.ca),  # both emulators are https, signed by this CA
            "users": people,
        }
    )
    while True:
        cmd = conn.recv()
        if cmd[0] == "change":  # subject edits of the first item of n users, as a person would
            n = int(cmd[1])
            step = max(len(people) // n, 1)
            for me, _uid in people[::step][:n]:
                sb.graph.update_event(me, ids[me][0], {"subject": f"Changed {me}"})
            conn.send(n)
        elif cmd[0] == "stop":
            sb.stop()
            conn.send("stopped")
            return


@dataclass
class Org:
    info: dict[str, Any]
    conn: Connection

    def latency(self, ms: float) -> None:
        v = self.verify()
        httpx.put(
            f"{self.info['graph_url']}/_sandbox/faults", json={"latency_ms": ms}, verify=v
        ).raise_for_status()
        httpx.post(
            f"{self.info['salesforce_url']}/_sandbox/faults", json={"latency_ms": ms}, verify=v
        ).raise_for_status()

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.info["ca_bundle"])

    def calls(self) -> tuple[int, int]:
        """API requests the emulators served so far (Graph, Salesforce), tokens left out."""
        v = self.verify()
        g = httpx.get(f"{self.info['graph_url']}/_sandbox/stats", verify=v).json()
        sf = httpx.get(f"{self.info['salesforce_url']}/_sandbox/stats", verify=v).json()
        sf_total = sum(int(v) for k, v in sf["requests"].items() if "token" not in k.lower())
        return int(g["total"]), sf_total

    def change(self, n: int) -> None:
        self.conn.send(("change", n))
        self.conn.recv()

    def config(self, data_dir: Path, database_url: str | None, concurrency: int) -> Config:
        i = self.info
        return Config(
            storage=StorageConfig(data_dir=data_dir, database_url=database_url),
            graph=GraphConfig(
                tenant_id=i["tenant_id"],
                client_id=i["graph_client_id"],
                client_secret=SecretStr(i["graph_secret"]),
                authority_url=i["graph_url"],
                graph_url=f"{i['graph_url']}/v1.0",
                ca_bundle=Path(i["ca_bundle"]),
            ),
            salesforce=SalesforceConfig(
                login_url=i["salesforce_url"],
                auth=SalesforceAuth.CLIENT_CREDENTIALS,
                client_id=i["sf_client_id"],
                client_secret=SecretStr(i["sf_secret"]),
                ca_bundle=Path(i["ca_bundle"]),
            ),
            scheduler=SchedulerConfig(global_concurrency=concurrency),
            org=OrgSettings(internal_domains=(DOMAIN,)),
            users=tuple(
                UserConfig(mailbox=m, salesforce_user_id=uid, settings=UserSettings())
                for m, uid in i["users"]
            ),
        )


@contextmanager
def emulators(users: int, items: int) -> Iterator[Org]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_emulators, args=(child, users, items), daemon=True)
    proc.start()
    try:
        yield Org(parent.recv(), parent)
    finally:
        try:
            parent.send(("stop",))
            parent.recv()
        except (EOFError, OSError):
            pass
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Measure:
    users: int
    wall: float
    cpu: float
    graph_calls: int
    sf_calls: int
    results: int
    failed: int
    created: int
    updated: int
    rss_mb: float


class Crmcal:
    """crmcal's side: state store, connectors and the scheduler, built from the configuration."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        # As `crmcal run` sizes it: a connection per session thread, plus a few.
        self.store = StateStore(cfg.storage.url(), pool_size=cfg.scheduler.global_concurrency + 4)
        self.store.migrate()
        self.calendar = build_calendar(cfg)
        self.crm = build_crm(cfg)
        self.scheduler = Scheduler(cfg, store=self.store, calendar=self.calendar, crm=self.crm)

    def cycle(self) -> Measure:
        g0, s0 = self.calendar.calls.total, self.crm.total_calls
        c0, t0 = time.process_time(), time.perf_counter()
        out = self.scheduler.run_cycle()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert out.report is not None, "backing off"
        rs = out.report.results
        return Measure(
            users=len(rs),
            wall=wall,
            cpu=cpu,
            graph_calls=self.calendar.calls.total - g0,
            sf_calls=self.crm.total_calls - s0,
            results=len(rs),
            failed=sum(1 for r in rs if r.status == "failed"),
            created=sum(r.outcome.as_dict().get("created", 0) for r in rs),
            updated=sum(r.outcome.as_dict().get("updated", 0) for r in rs),
            rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )

    def close(self) -> None:
        self.calendar.close()
        self.crm.close()
        self.store.dispose()


class CeleryCrmcal:
    """crmcal as `crmcal worker` processes on a broker with PostgreSQL state (the scale-out)."""

    def __init__(self, cfg: Config, org: Org, args: argparse.Namespace, tmp: Path) -> None:
        import os
        import subprocess
        import sys
        import uuid

        from celery import Celery

        from crmcal.sandbox.runtime import write_config_toml

        self.org = org
        self.cfg = cfg
        self.store = StateStore(cfg.storage.url())
        self.store.migrate()
        path = tmp / "crmcal.toml"
        write_config_toml(cfg, path)
        queue = f"crmcal-bench-{uuid.uuid4().hex[:6]}"
        env = {
            **os.environ,
            "CRMCAL_CONFIG": str(path),
            "CRMCAL_STORAGE__DATABASE_URL": cfg.storage.url(),
            "CRMCAL_CELERY__BROKER_URL": args.broker_url,
            "CRMCAL_CELERY__QUEUE": queue,
            "CRMCAL_LOGGING__LEVEL": "WARNING",
        }
        exe = str(Path(sys.executable).parent / "crmcal")
        self.workers = [
            subprocess.Popen(
                [exe, "worker", "--concurrency", str(args.concurrency), "--name", f"b{i}@{queue}"],
                env=env,
                stdout=(tmp / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for i in range(args.workers)
        ]
        self.queue = queue
        self.app = Celery("crmcal-bench", broker=args.broker_url)
        deadline = time.monotonic() + 60
        while len(self.app.control.ping(timeout=0.5) or []) < len(self.workers):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")

    def _cpu(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for w in self.workers:
            f = Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        return total

    def _hwm_mb(self) -> float:
        peak = 0.0
        for w in self.workers:
            for line in Path(f"/proc/{w.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        return peak

    def cycle(self) -> Measure:
        from sqlalchemy import func, select

        from crmcal.service.celery_app import CYCLE_TASK
        from crmcal.state.models import SessionRow
        from crmcal.state.models_ops import CycleMemberRow, CycleRow

        with self.store.session() as s:
            last = s.scalar(select(func.max(CycleRow.id))) or 0
        g0, s0 = self.org.calls()
        c0, t0 = self._cpu(), time.perf_counter()
        started = datetime.now(UTC)
        self.app.send_task(CYCLE_TASK, queue=self.queue)
        while True:
            time.sleep(0.25)
            with self.store.session() as s:
                row = s.scalar(select(CycleRow).where(CycleRow.id > last))
                if row is not None and row.status != "running":
                    cid = row.id
                    break
        wall, cpu = time.perf_counter() - t0, self._cpu() - c0
        g1, s1 = self.org.calls()
        with self.store.session() as s:
            members = dict(
                s.execute(
                    select(CycleMemberRow.status, func.count())
                    .where(CycleMemberRow.cycle_id == cid)
                    .group_by(CycleMemberRow.status)
                ).all()
            )
            stats = [
                r.stats or {}
                for r in s.scalars(select(SessionRow).where(SessionRow.started_at >= started))
            ]
        n = sum(members.values())
        return Measure(
            users=n,
            wall=wall,
            cpu=cpu,
            graph_calls=g1 - g0,
            sf_calls=s1 - s0,
            results=n,
            failed=n - members.get("succeeded", 0) - members.get("partial", 0),
            created=sum(int(x.get("created", 0)) for x in stats),
            updated=sum(int(x.get("updated", 0)) for x in stats),
            rss_mb=self._hwm_mb(),
        )

    def close(self) -> None:
        import signal

        for w in self.workers:
            w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(timeout=20)
            except Exception:
                w.kill()
        self.app.close()
        self.store.dispose()


def _in_flight(args: argparse.Namespace) -> int:
    """Sessions in flight at once: threads per process times worker processes."""
    return int(args.concurrency) * max(int(args.workers), 1)


def _table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    print(f"\n{title}\n")
    print("| measure | value | floor | |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def _n(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")


def rows_for(
    m: Measure,
    latency_ms: float,
    conc: int,
    graph_floor: int,
    sf_floor: int,
    trips: int,
    what: str,
    extra_trips: int = 0,
) -> list[tuple[str, str, str, str]]:
    """`trips`: sequential round trips of every session; `extra_trips`: of a few sessions only
    (they overlap the others' waves, so they add once)."""
    waves = math.ceil(m.users / conc)
    rt_floor = (waves * trips + 1 + extra_trips) * latency_ms / 1000
    return [
        ("sessions (failed)", f"{m.results:,} ({m.failed})", "", what),
        (
            "Graph calls",
            f"{m.graph_calls:,}",
            f"{graph_floor:,}",
            f"{m.graph_calls / max(graph_floor, 1):.2f}x",
        ),
        (
            "Salesforce calls",
            f"{m.sf_calls:,}",
            f"{sf_floor:,}",
            f"{m.sf_calls / max(sf_floor, 1):.2f}x",
        ),
        ("Events created / updated", f"{m.created:,} / {m.updated:,}", "", ""),
        (
            "wall time",
            f"{m.wall:.1f} s",
            f"{rt_floor:.1f} s",
            f"round-trip floor: {waves:,} waves of {conc} x {trips} trip(s)"
            + (f" + {extra_trips}" if extra_trips else "")
            + f" x {latency_ms:g} ms",
        ),
        (
            "crmcal CPU per user",
            f"{1000 * m.cpu / max(m.users, 1):.2f} ms",
            "",
            f"{m.cpu:.1f} s in all",
        ),
        ("peak memory (this process)", f"{m.rss_mb:,.0f} MB", "", "RSS: crmcal, connectors, state"),
    ]


def _crmcal(org: Org, tmp: Path, args: argparse.Namespace) -> Crmcal | CeleryCrmcal:
    cfg = org.config(tmp, args.database_url, args.concurrency)
    if args.workers:
        return CeleryCrmcal(cfg, org, args, tmp)
    return Crmcal(cfg)


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[None]:
    """Celery mode: a fresh PostgreSQL database unless --database-url names one."""
    if not args.workers or args.database_url:
        yield
        return
    import uuid

    from sqlalchemy import create_engine, text

    admin = create_engine(args.postgres_admin_url, isolation_level="AUTOCOMMIT")
    name = f"crmcal_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    args.database_url = args.postgres_admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield
    finally:
        args.database_url = None
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def no_change(sizes: list[int], args: argparse.Namespace, changes_org: int) -> None:
    for n in sorted(set(sizes) | ({changes_org} if changes_org else set())):
        with emulators(n, 1) as org, TemporaryDirectory() as tmp, _database(args):
            c = _crmcal(org, Path(tmp), args)
            try:
                t0 = time.perf_counter()
                first = c.cycle()  # shares every meeting (no latency: set-up)
                c.cycle()  # absorbs crmcal's own category writes
                setup = time.perf_counter() - t0
                print(
                    f"\n[{n:,} users] set-up: first sync {first.wall:.0f} s "
                    f"({first.created:,} Events), total {setup:.0f} s"
                )
                org.latency(args.latency_ms)
                if n in sizes:
                    m = c.cycle()
                    _table(
                        f"No-change cycle, {n:,} users, {args.latency_ms:g} ms per call, "
                        f"concurrency {args.concurrency}",
                        rows_for(m, args.latency_ms, _in_flight(args), n, 1, 1, "one per user"),
                    )
                if n == changes_org:
                    org.change(100)
                    m = c.cycle()
                    _table(
                        f"100 changes (subject edits) in a {n:,}-user org, "
                        f"{args.latency_ms:g} ms per call",
                        rows_for(
                            m,
                            args.latency_ms,
                            _in_flight(args),
                            n,
                            1 + 100,
                            1,
                            "Graph: a delta per user (the edits need no Outlook write); "
                            "Salesforce: the org read + one update per changed user",
                            extra_trips=2,
                        ),
                    )
            finally:
                c.close()


def first_sync(users: int, items: int, args: argparse.Namespace) -> None:
    with emulators(users, items) as org, TemporaryDirectory() as tmp, _database(args):
        c = _crmcal(org, Path(tmp), args)
        try:
            org.latency(args.latency_ms)
            m = c.cycle()
            pages = math.ceil(items / 100)
            graph_floor = users * (pages + math.ceil((items + 1) / 20) + 1)
            sf_floor = users * (math.ceil(items / 200) + 1) + 1
            _table(
                f"First sync, {users:,} users x {items} items, {args.latency_ms:g} ms per call, "
                f"concurrency {args.concurrency}",
                rows_for(
                    m,
                    args.latency_ms,
                    _in_flight(args),
                    graph_floor,
                    sf_floor,
                    6,
                    "Graph floor per user: delta pages + $batch of 20 + master list; "
                    "Salesforce: creates of 200 + one people lookup",
                ),
            )
        finally:
            c.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", default="1000", help="no-change cycle sizes, comma-separated")
    p.add_argument("--first-users", type=int, default=100, help="first sync: users (0: skip)")
    p.add_argument("--items", type=int, default=100, help="first sync: items per user")
    p.add_argument("--changes-org", type=int, default=1000, help="100 changes: org size (0: skip)")
    p.add_argument("--latency-ms", type=float, default=30.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Celery mode: this many `crmcal worker` processes (PostgreSQL + broker)",
    )
    p.add_argument("--broker-url", default="redis://127.0.0.1:6379/15")
    p.add_argument(
        "--postgres-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    p.add_argument("--json", action="store_true", help="also print the machine's facts as JSON")
    args = p.parse_args()
    sizes = [int(s) for s in args.users.split(",") if s.strip()]
    if args.json:
        import platform

        print(json.dumps({"cpus": os.cpu_count(), "python": platform.python_version()}))
    no_change(sizes, args, args.changes_org)
    if args.first_users:
        first_sync(args.first_users, args.items, args)


if __name__ == "__main__":
    main()
