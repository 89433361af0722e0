"""O1: at most one session per user at a time, across processes: leases on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from crmcal.service.leases import Leases, user_key
from crmcal.state import StateStore


def _store(url: str) -> StateStore:
    s = StateStore(url)
    s.migrate()
    return s


def test_o1_two_workers_racing_for_one_user_one_wins(db_url: str) -> None:
    """O1: many threads of two 'workers' race for the same user's lease; exactly one holds it."""
    store = _store(db_url)
    try:
        a, b = Leases(store, owner="worker-a"), Leases(store, owner="worker-b")
        key = user_key("Ana@Contoso.example")
        start = threading.Barrier(8)
        wins: list[str] = []
        lock = threading.Lock()

        def race(leases: Leases) -> None:
            start.wait()
            if leases.acquire(key):
                with lock:
                    wins.append(leases.owner)

        threads = [threading.Thread(target=race, args=(w,)) for w in (a, b) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(wins)) == 1, wins  # one worker (its own threads may re-take their lease)
        winner, loser = (a, b) if wins[0] == "worker-a" else (b, a)
        assert not loser.acquire(key)
        winner.release(key)
        assert loser.acquire(key)
        assert not winner.acquire(key)
    finally:
        store.dispose()


def test_o1_a_dead_workers_lease_runs_out(db_url: str) -> None:
    """O1/O5: a worker that dies stops renewing; its user is free once the lease expires."""
    store = _store(db_url)
    t = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    try:
        dead = Leases(store, owner="dead", ttl=timedelta(seconds=30), clock=lambda: t[0])
        alive = Leases(store, owner="alive", ttl=timedelta(seconds=30), clock=lambda: t[0])
        key = user_key("bo@contoso.example")
        assert dead.acquire(key)
        t[0] += timedelta(seconds=29)
        assert not alive.acquire(key)
        assert alive.holder(key) == ("dead", datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC))
        t[0] += timedelta(seconds=2)
        assert alive.holder(key) is None
        assert alive.acquire(key)
        assert dead.renew() == 0  # the dead worker's lease is gone; renewal cannot steal it back
    finally:
        store.dispose()


def test_o1_held_leases_are_renewed(db_url: str) -> None:
    """A long session keeps its lease: the holder renews before it runs out."""
    store = _store(db_url)
    t = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    try:
        mine = Leases(store, owner="mine", ttl=timedelta(seconds=30), clock=lambda: t[0])
        other = Leases(store, owner="other", ttl=timedelta(seconds=30), clock=lambda: t[0])
        keys = [user_key(f"u{i}@contoso.example") for i in range(3)]
        for k in keys:
            assert mine.acquire(k)
        t[0] += timedelta(seconds=20)
        assert mine.renew() == 3
        t[0] += timedelta(seconds=20)  # 40 s after taking it, 20 s after renewing
        assert not any(other.acquire(k) for k in keys)
    finally:
        store.dispose()
