"""Leases: at most one holder of a key at a time, across threads, processes and machines.

A lease is a row (`leases`: key, owner, expires_at). Taking it is one statement that the database
makes atomic on SQLite and PostgreSQL alike: insert the row, or, when it exists, take it over only
where it is expired or already ours (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`). No advisory
locks, so the same code serves both backends (docs/decisions/0030-session-leases.md).

A holder renews its leases every third of their life from a background thread while it works; a
worker that dies stops renewing, and its users are free again when the lease runs out.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crmcal.state import StateStore
from crmcal.state.models_ops import LeaseRow

log = logging.getLogger("crmcal.leases")

Clock = Callable[[], datetime]


def user_key(mailbox: str) -> str:
    return f"user:{mailbox.strip().lower()}"


CYCLE_KEY = "cycle:org"


def process_owner() -> str:
    """A name for this process that no other process shares (host, pid, random)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """The leases one process holds (thread-safe)."""

    def __init__(
        self,
        store: StateStore,
        *,
        ttl: timedelta = timedelta(minutes=10),
        owner: str | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.owner = owner or process_owner()
        self.clock = clock
        self._dialect = store.engine.dialect.name
        # Built once: every session takes and gives back its user's lease.
        ins = (pg_insert if self._dialect == "postgresql" else sqlite_insert)(LeaseRow)
        take = ins.values(
            key=bindparam("key"),
            owner=bindparam("owner"),
            acquired_at=bindparam("now"),
            expires_at=bindparam("until"),
        ).on_conflict_do_update(
            index_elements=[LeaseRow.key],
            set_={"owner": ins.excluded.owner, "acquired_at": ins.excluded.acquired_at,
                  "expires_at": ins.excluded.expires_at},
            where=(LeaseRow.expires_at < ins.excluded.acquired_at)
            | (LeaseRow.owner == ins.excluded.owner),
        )  # fmt: skip
        self._take = take.returning(LeaseRow.key)
        self._drop = delete(LeaseRow).where(
            LeaseRow.key == bindparam("key"), LeaseRow.owner == bindparam("owner")
        )
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, key: str) -> bool:
        """Take `key` if it is free (or expired, or ours). Never waits."""
        with self.store.session() as s:
            return self.acquire_in(s, key)

    def acquire_in(self, s: Session, key: str) -> bool:
        """`acquire` within the caller's transaction (a session's first one takes its user's lease).

        One statement: insert the row, or on conflict take it over only where it is expired or
        ours (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`, SQLite 3.24+ and PostgreSQL)."""
        now = self.clock()
        args = {"key": key, "owner": self.owner, "now": now, "until": now + self.ttl}
        got = s.connection().execute(self._take, args).first() is not None
        if got:
            with self._lock:
                self._held.add(key)
        return got

    def release(self, key: str) -> None:
        with self.store.session() as s:
            self.release_in(s, key)

    def release_in(self, s: Session, key: str) -> None:
        """`release` within the caller's transaction (a session's last one)."""
        with self._lock:
            self._held.discard(key)
        s.connection().execute(self._drop, {"key": key, "owner": self.owner})

    def claim(self, key: str) -> LeaseClaim:
        """The lease of `key` as a session's claim (taken and given back inside the session's
        own first and last transactions)."""
        return LeaseClaim(self, key)

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """`with leases.hold(key) as got:`; released on exit when it was taken."""
        got = self.acquire(key)
        try:
            yield got
        finally:
            if got:
                self.release(key)

    def holder(self, key: str) -> tuple[str, datetime] | None:
        """Who holds `key` and until when (None when free or expired)."""
        with self.store.session() as s:
            row = s.get(LeaseRow, key)
            if row is None or row.expires_at < self.clock():
                return None
            return row.owner, row.expires_at

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def renew(self) -> int:
        """Push the expiry of every lease this process holds; returns how many were renewed."""
        keys = sorted(self.held())
        if not keys:
            return 0
        until = self.clock() + self.ttl
        n = 0
        with self.store.session() as s:
            for i in range(0, len(keys), 500):
                res: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                    update(LeaseRow)
                    .where(LeaseRow.key.in_(keys[i : i + 500]), LeaseRow.owner == self.owner)
                    .values(expires_at=until)
                    .execution_options(synchronize_session=False)
                )
                n += res.rowcount
        lost = len(keys) - n - len(set(keys) - self.held())  # released meanwhile: not lost
        if lost > 0:
            log.warning("lost %d lease(s) before renewal (expired and taken)", lost)
        return n

    def start_heartbeat(self) -> None:
        """Renew held leases every third of their life, from a daemon thread."""
        if self._thread is not None:
            return
        every = max(self.ttl.total_seconds() / 3, 0.5)

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    self.renew()
                except Exception:  # the database may be briefly away; try again next beat
                    log.exception("lease renewal failed")

        self._thread = threading.Thread(target=beat, name="crmcal-lease-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def expired_rows(self) -> list[str]:
        """Keys whose lease ran out (for `crmcal doctor` and tests)."""
        now = self.clock()
        with self.store.session() as s:
            return list(s.scalars(select(LeaseRow.key).where(LeaseRow.expires_at < now)))


class LeaseClaim:
    """One user's lease as `crmcal.sync.session.Claim`."""

    def __init__(self, leases: Leases, key: str) -> None:
        self.leases = leases
        self.key = key

    def take(self, s: Session) -> bool:
        return self.leases.acquire_in(s, self.key)

    def give_back(self, s: Session, result: object) -> None:
        self.leases.release_in(s, self.key)
