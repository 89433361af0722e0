"""O1/O2/O3 in one process (`crmcal run`): concurrent sessions, one org read, pause, force-sync,
the shared Salesforce back-off, and users another worker holds."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crmcal.service import allowance
from crmcal.service.leases import Leases, user_key
from crmcal.service.runner import SALESFORCE_MODSTAMP
from crmcal.service.scheduler import Scheduler, pending_requests, request_sync
from crmcal.state import StateStore
from crmcal.state.models import SessionRow, UserHealthRow
from tests.integration.conftest import World

N = 12


def _org(world: World, n: int = N) -> list[str]:
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    users = []
    for i in range(n):
        me = f"u{i:02d}@contoso.example"
        world.person(me)
        world.contact(f"c{i}@fabrikam.example", f"C{i}", account=acct)
        world.meeting(me, f"Fabrikam call {i}", (f"c{i}@fabrikam.example",), days=1 + i % 5)
        users.append(me)
    return users


def _scheduler(world: World, concurrency: int = 6, **leases_kw: object) -> Scheduler:
    cfg = world.config()
    cfg = cfg.model_copy(
        update={"scheduler": cfg.scheduler.model_copy(update={"global_concurrency": concurrency})}
    )
    if world.store is None:
        world.store = StateStore(cfg.storage.url())
        world.store.migrate()
    return Scheduler(cfg, store=world.store, calendar=world.calendar, crm=world.crm)


def test_o1_cycle_runs_users_concurrently_with_one_org_read(world: World) -> None:
    """O1: a cycle syncs every user, several at a time, after ONE Salesforce read for the org;
    O3: no mailbox ever has more than 4 Graph requests in flight (the connector's limit)."""
    users = _org(world)
    sched = _scheduler(world)
    out = sched.run_cycle()
    assert out.report is not None and out.backoff_until is None
    assert sorted(r.mailbox for r in out.report.results) == users
    assert all(r.status == "succeeded" for r in out.report.results)
    assert len(world.events()) == N
    assert world.calendar.max_concurrency_per_mailbox == 4
    # Sessions overlapped in time: the cycle really ran them concurrently.
    with world.store.session() as s:  # type: ignore[union-attr]
        rows = list(s.scalars(select(SessionRow)))
    spans = sorted((r.started_at, r.finished_at) for r in rows)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans) if a[1] is not None)
    # A second cycle with nothing changed: one delta call per user, no writes, one org read.
    g0, s0 = world.calendar.calls.total, world.crm.total_calls
    out2 = sched.run_cycle()
    assert out2.report is not None
    assert world.calendar.calls.total - g0 == N
    assert world.crm.total_calls - s0 == 1  # the org-level read, shared by every session
    assert out2.report.cursor_advanced  # it saw crmcal's own Events: the high-water mark moves
    assert len(world.events()) == N


def test_o1_paused_users_are_skipped_and_force_sync_runs_one_user(world: World) -> None:
    """O1: a user paused from the dashboard gets no session; a force-sync request runs a session
    for that user alone, and does not move the org's Salesforce cursor."""
    users = _org(world, 4)
    sched = _scheduler(world)
    store = world.store
    assert store is not None
    with store.session() as s:
        s.add(UserHealthRow(mailbox=users[0], paused=True))
    out = sched.run_cycle()
    assert out.report is not None
    assert sorted(r.mailbox for r in out.report.results) == users[1:]
    sched.run_cycle()
    cursor = store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert cursor is not None

    world.meeting(users[2], "New call", ("c2@fabrikam.example",), days=3)
    request_sync(store, users[2], by=users[2])
    request_sync(store, users[0])  # paused: dropped
    assert pending_requests(store) == [users[2], users[0]]
    forced = sched.run_requests()
    assert forced is not None and forced.report is not None
    assert [(r.mailbox, r.status) for r in forced.report.results] == [(users[2], "succeeded")]
    assert not forced.report.cursor_advanced
    after = store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert after is not None and after.value == cursor.value
    assert pending_requests(store) == []
    assert len(world.events()) == 4
    assert sched.run_requests() is None


def test_o1_user_held_by_another_worker_is_skipped_and_the_cursor_kept(world: World) -> None:
    """O1: while another worker holds a user's lease, this process skips that user, and the org
    cursor stays where it was so that the skipped user's share of the read is not lost."""
    users = _org(world, 3)
    sched = _scheduler(world)
    assert world.store is not None
    sched.run_cycle()
    sched.run_cycle()  # reads crmcal's own Events: the cursor is set
    before = world.store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert before is not None
    ev = next(e for e in world.events() if e.owner_id == world.sf_ids[users[1]])
    [ok] = world.crm.update_events([replace(ev, subject="Renamed in Salesforce")])
    assert ok.ok
    other = Leases(world.store, owner="other-worker", ttl=timedelta(minutes=5))
    assert other.acquire(user_key(users[1]))
    out = sched.run_cycle()
    assert out.report is not None
    assert out.report.skipped == [users[1]]
    assert not out.report.cursor_advanced
    kept = world.store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert kept is not None and kept.value == before.value
    other.release(user_key(users[1]))
    out = sched.run_cycle()
    assert out.report is not None and out.report.skipped == [] and out.report.cursor_advanced
    assert len(world.events()) == 3


def test_o2_low_salesforce_allowance_backs_off_every_session(world: World) -> None:
    """O2: the allowance read from Sforce-Limit-Info falls under api_reserve_percent: sessions
    stop for 30 minutes (no API call at all), recorded in the state store for every worker and
    for the dashboard; the back-off lengthens to 2.5 h if it is still low after that."""
    _org(world, 2)
    world.sb.salesforce.api_max = 10_000
    world.sb.salesforce.api_used = 8_500  # 15% left, under the 20% reserve
    t = [datetime.now(UTC)]
    sched = _scheduler(world)
    sched.clock = lambda: t[0]
    out = sched.run_cycle()  # this cycle's own calls show the low allowance
    assert out.backoff_until is not None
    assert out.backoff_until - t[0] <= timedelta(minutes=30)
    assert out.backoff_until - t[0] > timedelta(minutes=29)
    g0, s0 = world.calendar.calls.total, world.crm.total_calls
    t[0] += timedelta(minutes=10)
    held = sched.run_cycle()
    assert held.report is None and held.backoff_until == out.backoff_until
    assert (world.calendar.calls.total, world.crm.total_calls) == (g0, s0)
    status = allowance.allowance_status(world.store).as_dict(t[0])  # type: ignore[arg-type]
    assert status["backing_off"] is True and status["backoff_level"] == 1
    t[0] += timedelta(minutes=25)  # past the 30 minutes, still low
    again = sched.run_cycle()
    assert again.report is not None and again.backoff_until is not None
    assert again.backoff_until - t[0] > timedelta(hours=2, minutes=29)


def test_o1_serve_runs_a_cycle_per_interval_and_requests_between(world: World) -> None:
    """O1: `crmcal run`'s loop: a cycle when one is due, force-sync requests in between (they do
    not postpone the next scheduled cycle)."""
    import threading

    users = _org(world, 2)
    sched = _scheduler(world)
    assert sched.serve(threading.Event(), max_cycles=1) == 1
    first = sched.last_cycle_at
    assert first is not None and not sched.due()
    assert world.store is not None
    request_sync(world.store, users[0])
    out = sched.run_requests()
    assert out is not None and out.report is not None
    assert [r.mailbox for r in out.report.results] == [users[0]]
    assert sched.last_cycle_at == first
    t = [first + sched.interval]
    sched.clock = lambda: t[0]
    assert sched.due()


def test_o1_crmcal_run_once_from_the_command_line(world: World) -> None:
    """`crmcal run --once` runs one cycle of the configured org and exits."""
    from typer.testing import CliRunner

    from crmcal.cli import app
    from crmcal.sandbox.runtime import write_config_toml

    _org(world, 2)
    path = world.tmp / "crmcal.toml"
    write_config_toml(world.sb.config(data_dir=world.tmp, org=world.org,
                                      users=tuple(world.users.values())), path)  # fmt: skip
    res = CliRunner().invoke(app, ["run", "--once", "--config", str(path)])
    assert res.exit_code == 0, res.output
    assert "1 cycle(s) run" in res.output
    assert len(world.events()) == 2


def test_o1_serve_survives_a_failed_cycle(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crmcal run` is safe to leave running: a cycle that ends in an exception (here the state
    store is locked) is logged and counted; the next cycle runs and syncs."""
    import threading

    from sqlalchemy.exc import OperationalError

    from crmcal.service import scheduler as sched_mod

    users = _org(world, 2)
    sched = _scheduler(world)
    real = sched_mod.run_cycle
    calls = {"n": 0}

    def once_locked(*a: object, **kw: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE sessions ...", {}, Exception("database is locked"))
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sched_mod, "run_cycle", once_locked)
    t = [datetime.now(UTC)]
    sched.clock = lambda: t[0]
    sched.cfg = sched.cfg.model_copy(
        update={"scheduler": sched.cfg.scheduler.model_copy(update={"poll_seconds": 0.01})}
    )
    stop = threading.Event()

    def advance(*_a: object) -> None:
        t[0] += sched.interval

    real_wait = stop.wait
    monkeypatch.setattr(stop, "wait", lambda s: (advance(), real_wait(0))[1])
    assert sched.serve(stop, max_cycles=2) == 2
    assert sched.failed_cycles == 1
    assert len(world.events()) == len(users)
