"""What a no-change session costs the state store: two transactions, its claim included, in
`crmcal run` and in a Celery member alike (docs/decisions/0035-two-transaction-sessions.md).

Counted as the difference between a cycle of three users and a cycle of one, so that the cycle's
own work (configuration, the org read, the cursor) cancels out. A count, not a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from crmcal.service import celery_app as ca
from crmcal.service.leases import Leases
from crmcal.service.scheduler import Scheduler
from crmcal.state import StateStore
from crmcal.state.models import SessionRow
from crmcal.state.models_ops import LeaseRow
from tests.integration.conftest import World
from tests.scale.conftest import eager_runtime
from tests.scale.test_scheduler import _org


@contextmanager
def _transactions(store: StateStore) -> Iterator[list[int]]:
    seen = [0]

    def begin(_conn: object) -> None:
        seen[0] += 1

    event.listen(store.engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(store.engine, "begin", begin)


def _per_user(store: StateStore, one: Callable[[], object], three: Callable[[], object]) -> float:
    with _transactions(store) as t1:
        one()
    with _transactions(store) as t3:
        three()
    return (t3[0] - t1[0]) / 2


def test_o1_no_change_session_is_two_transactions_lease_included(world: World) -> None:
    """O1 under `crmcal run`: the user's lease is taken in the session's first transaction and
    given back in its last; a session with nothing to do opens no other."""
    users = _org(world, 3)
    cfg = world.config()
    world.store = StateStore(cfg.storage.url())
    world.store.migrate()
    sched = Scheduler(cfg, store=world.store, calendar=world.calendar, crm=world.crm)
    sched.run_cycle()
    sched.run_cycle()  # absorbs crmcal's own writes: from here on nothing changes
    per_user = _per_user(
        world.store,
        lambda: sched.run_cycle(users=users[:1]),
        lambda: sched.run_cycle(users=users),
    )
    assert per_user == 2
    with world.store.session() as s:  # the leases were given back; every session is recorded
        assert list(s.scalars(select(LeaseRow.key).where(LeaseRow.key.like("user:%")))) == []
        rows = list(s.scalars(select(SessionRow).order_by(SessionRow.id.desc()).limit(4)))
    assert [r.status for r in rows] == ["succeeded"] * 4
    assert all(r.finished_at is not None for r in rows)


def test_o1_celery_member_is_two_transactions_count_down_included(world: World) -> None:
    """O1 under Celery: the member check, the O2 back-off check and the lease share the
    session's first transaction; the count-down its last."""
    users = _org(world, 3)
    with eager_runtime(world) as rt:
        ca.start_cycle(rt)
        ca.start_cycle(rt)
        per_user = _per_user(
            rt.store,
            lambda: ca.start_cycle(rt, users=users[:1]),
            lambda: ca.start_cycle(rt, users=users),
        )
        assert per_user == 2
        c = ca.start_cycle(rt)
        assert c is not None and ca.cycle_status(rt.store, c) == {
            "cycle": "complete",
            "succeeded": 3,
        }


def test_o1_a_held_user_records_no_session(world: World) -> None:
    """O1: a session whose claim fails leaves no trace: no session record, no lease taken."""
    users = _org(world, 1)
    cfg = world.config()
    world.store = StateStore(cfg.storage.url())
    world.store.migrate()
    sched = Scheduler(cfg, store=world.store, calendar=world.calendar, crm=world.crm)
    other = Leases(world.store, owner="other-worker")
    assert other.acquire(f"user:{users[0]}")
    g0 = world.calendar.calls.total
    out = sched.run_cycle()
    assert out.report is not None and out.report.skipped == users and out.report.results == []
    assert world.calendar.calls.total == g0
    with world.store.session() as s:
        assert list(s.scalars(select(SessionRow))) == []
        assert [r.owner for r in s.scalars(select(LeaseRow))] == ["other-worker"]
