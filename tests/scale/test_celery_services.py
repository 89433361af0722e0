"""O1/O5 at scale: two Celery workers (real processes) on a real broker (Redis, then RabbitMQ) with
PostgreSQL state, 200 users in the emulators, one worker killed (SIGKILL) in the middle of a cycle.
Afterwards: every meeting has its Event, no Event twice, and no user ever had two sessions at once.

Skipped with the reason when PostgreSQL or the broker is unreachable, unless
CRMCAL_REQUIRE_SERVICES=1 (then they fail)."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from crmcal.domain import OrgSettings, UserConfig, UserSettings
from crmcal.sandbox.runtime import Sandbox, write_config_toml
from crmcal.service import celery_app as ca
from crmcal.service.runner import SALESFORCE_MODSTAMP
from crmcal.state import StateStore
from crmcal.state.models import SessionRow
from crmcal.state.models_ops import CycleMemberRow, CycleRow
from tests.conftest import need_service

USERS = 200
DOMAIN = "contoso.example"
BROKERS = {
    "redis": ("Redis", 6379, "redis://127.0.0.1:6379/{db}"),
    "rabbitmq": ("RabbitMQ", 5672, "amqp://guest:guest@127.0.0.1:5672//"),
}


def _seed(sb: Sandbox) -> tuple[UserConfig, ...]:
    """200 users, each organizing one meeting with an external Contact (through the emulators'
    state APIs, as `crmcal.sandbox.seed_org` does)."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    acct = sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    users = []
    for i in range(USERS):
        me = f"u{i:03d}@{DOMAIN}"
        sb.graph.add_user(me)
        uid = sb.salesforce.add_user(me, last_name=f"U{i:03d}")
        contact = f"c{i:03d}@fabrikam.example"
        sb.salesforce.add_contact(f"C{i:03d}", email=contact, account_id=acct)
        start = now + timedelta(days=1 + i % 20, hours=i % 8)
        fmt = "%Y-%m-%dT%H:%M:%S"
        sb.graph.seed_event(
            me,
            {
                "subject": f"Call {i:03d}",
                "body": {"contentType": "text", "content": "Agenda"},
                "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
                "end": {
                    "dateTime": (start + timedelta(minutes=30)).strftime(fmt),
                    "timeZone": "UTC",
                },
                "attendees": [{"type": "required", "emailAddress": {"address": contact}}],
            },
            created=now - timedelta(days=1),
        )
        users.append(UserConfig(mailbox=me, salesforce_user_id=uid, settings=UserSettings()))
    return tuple(users)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _wait(pred: object, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.postgres
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_o1_o5_two_workers_200_users_one_killed_mid_cycle(
    broker: str, sandbox: Sandbox, postgres_url: str, tmp_path: Path
) -> None:
    """O1 (one task per user session, one org read per cycle, at most one session per user across
    workers) and O5 (a worker killed mid-cycle: no duplicate and no lost Event)."""
    name, port, url = BROKERS[broker]
    need_service(name, "127.0.0.1", port)
    broker_url = url.format(db=int(uuid.uuid4().int % 14) + 1)
    queue = f"crmcal-test-{uuid.uuid4().hex[:8]}"
    users = _seed(sandbox)
    cfg = sandbox.config(
        data_dir=tmp_path,
        org=OrgSettings(internal_domains=(DOMAIN,)),
        users=users,
        database_url=postgres_url,
    )
    path = tmp_path / "crmcal.toml"
    write_config_toml(cfg, path)
    env = {
        **os.environ,
        "CRMCAL_CONFIG": str(path),
        "CRMCAL_STORAGE__DATABASE_URL": postgres_url,
        "CRMCAL_CELERY__BROKER_URL": broker_url,
        "CRMCAL_CELERY__QUEUE": queue,
        "CRMCAL_CELERY__VISIBILITY_TIMEOUT_SECONDS": "8",
        "CRMCAL_SCHEDULER__LEASE_SECONDS": "4",
        "CRMCAL_LOGGING__LEVEL": "WARNING",
    }
    store = StateStore(postgres_url)
    store.migrate()
    # The test's own client of the broker (a fresh app: Celery keeps its first connection).
    app = Celery("crmcal-test", broker=broker_url)
    crmcal_bin = str(Path(sys.executable).parent / "crmcal")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(2):
            log = (tmp_path / f"worker{i}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    [crmcal_bin, "worker", "--concurrency", "4", "--name", f"w{i}@{queue}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait(lambda: len(app.control.ping(timeout=0.5) or []) >= 2, 30, "two workers")

        # Cycle 1: kill worker 0 once a fifth of the sessions finished.
        app.send_task(ca.CYCLE_TASK, queue=queue)
        _wait(lambda: _cycle_ids(store), 20, "cycle 1 to start")
        [c1] = _cycle_ids(store)
        _wait(lambda: _done(store, c1) >= USERS // 5, 60, "a fifth of cycle 1")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_at = _done(store, c1)
        assert killed_at < USERS, "the kill came after the cycle: not mid-cycle"
        # The survivor finishes what it can; the killed worker's tasks come back (RabbitMQ at
        # once, Redis after the visibility timeout) and find the dead worker's lease.
        time.sleep(5)  # > lease_seconds: the dead worker's leases have run out

        # Cycle 2 (the next beat): every user again, on the surviving worker.
        app.send_task(ca.CYCLE_TASK, queue=queue)
        _wait(
            lambda: len(_cycle_ids(store)) == 2, 120, "cycle 2 to start"
        )  # behind cycle 1's tasks
        c2 = _cycle_ids(store)[-1]
        _wait(lambda: _status(store, c2) != "running", 120, "cycle 2 to finish")
        assert _status(store, c2) == "complete", ca.cycle_status(store, c2)
        assert store.get_cursor(SALESFORCE_MODSTAMP, "org") is not None

        # No lost and no duplicate Event: exactly one per meeting, owned by its organizer.
        owners = {u.salesforce_user_id: u.mailbox for u in users}
        with sandbox.salesforce.lock:
            events = [
                dict(e)
                for e in sandbox.salesforce.tables["Event"].values()
                if not e.get("IsChild") and not e.get("IsDeleted")
            ]
        per_owner = Counter(str(e["OwnerId"]) for e in events)
        assert set(per_owner) == set(owners)
        assert set(per_owner.values()) == {1}
        guids = Counter((str(e["OwnerId"]), e.get("Subject")) for e in events)
        assert max(guids.values()) == 1
        # At most one session per user at a time, across both workers.
        with store.session() as s:
            rows = list(s.scalars(select(SessionRow).order_by(SessionRow.started_at)))
        by_user: dict[str, list[SessionRow]] = {}
        for r in rows:
            by_user.setdefault(str(r.mailbox), []).append(r)
        for mailbox, sessions in by_user.items():
            for a, b in itertools.pairwise(sessions):
                if a.finished_at is not None:  # the killed worker's sessions never finished
                    assert b.started_at >= a.finished_at, f"{mailbox}: overlapping sessions"
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
        with app.connection_for_write() as conn:
            ch = conn.default_channel
            with contextlib.suppress(Exception):
                ch.queue_delete(queue)
        app.close()
        store.dispose()


def _cycle_ids(store: StateStore) -> list[int]:
    with store.session() as s:
        return list(s.scalars(select(CycleRow.id).order_by(CycleRow.id)))


def _status(store: StateStore, cycle_id: int) -> str:
    with store.session() as s:
        row = s.get(CycleRow, cycle_id)
        return row.status if row else "unknown"


def _done(store: StateStore, cycle_id: int) -> int:
    with store.session() as s:
        return int(
            s.scalar(
                select(func.count()).where(
                    CycleMemberRow.cycle_id == cycle_id, CycleMemberRow.status != "pending"
                )
            )
            or 0
        )
