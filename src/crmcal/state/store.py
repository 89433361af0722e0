"""The state store: one object that owns the database engine, migrations and small repositories.

SQLite (a file under the data directory) by default; PostgreSQL by URL. The schema only ever
changes through Alembic migrations (`migrate()`), never through `create_all`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, bindparam, create_engine, event, insert, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crmcal.state.models import (
    CursorRow,
    IntentRow,
    IntentStatus,
    IssueRow,
    SessionRow,
    SessionStatus,
    UserHealthRow,
    utcnow,
)


def _alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    script_dir = resources.files("crmcal.state") / "migrations"
    cfg.set_main_option("script_location", str(script_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # Durable across a crash of the process (what O5 is about); a power cut may lose the last
    # commit, which the next session re-reads (the Graph delta link advances after the writes).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


SQLITE_CONNECTIONS = 8
"""At most this many pooled connections to a SQLite file (one writer at a time anyway)."""


def make_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """`pool_size`: connections kept open; size it to the sessions that run at once (plus a
    few), or every session beyond it opens and closes a connection of its own (a PostgreSQL
    backend started and stopped per session)."""
    parsed = make_url(url)
    pool: dict[str, Any] = {}
    if pool_size is not None:
        pool = {"pool_size": pool_size, "max_overflow": max(pool_size // 2, 5)}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
            if pool:
                # SQLite lets one writer in at a time and its busy handler is not a queue: with
                # 32 threads contending, some waited past the busy timeout in a first sync of
                # 100 items each. A few connections, handed out in turn by the pool, keep the
                # rest waiting in order instead.
                pool = {"pool_size": min(pool_size or 1, SQLITE_CONNECTIONS), "max_overflow": 0}
        else:
            pool = {}  # one in-memory database per connection: no pool to size
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


# Statements of every session's closing transaction, built once.
_CURSOR_MOVE = (
    update(CursorRow)
    .where(
        CursorRow.kind == bindparam("k"),
        CursorRow.scope == bindparam("sc"),
        or_(CursorRow.value != bindparam("v"), CursorRow.window != bindparam("w")),
    )
    .values(value=bindparam("v"), window=bindparam("w"), updated_at=bindparam("t"))
    .execution_options(synchronize_session=False)
)
_HEALTH_OK = (
    update(UserHealthRow)
    .where(UserHealthRow.mailbox == bindparam("m"))
    .values(
        last_success_at=bindparam("t"),
        consecutive_failures=0,
        unhealthy=False,
        unhealthy_reason=None,
        notified_at=None,  # I3: the incident is over; a new one gets its own mail
    )
    .execution_options(synchronize_session=False)
)
_SESSION_START = (
    insert(SessionRow)
    .values(mailbox=bindparam("m"), trigger=bindparam("tr"))
    .returning(SessionRow.id)
)
_SESSION_END = (
    update(SessionRow)
    .where(SessionRow.id == bindparam("sid"))
    .values(
        status=bindparam("st"),
        stats=bindparam("stats"),
        error=bindparam("err"),
        finished_at=bindparam("t"),
    )
    .execution_options(synchronize_session=False)
)


class StateStore:
    """Owns the engine; hands out ORM sessions; migrates the schema."""

    def __init__(
        self, url: str, *, engine: Engine | None = None, pool_size: int | None = None
    ) -> None:
        self.url = url
        self.engine = engine or make_engine(url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._postgres = self.engine.dialect.name == "postgresql"

    # -- schema -------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision` (default: the newest)."""
        cfg = _alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def downgrade(self, revision: str = "base") -> None:
        cfg = _alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    # -- sessions -----------------------------------------------------------------------------

    @contextmanager
    def session(self, *, relaxed: bool = False) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error.

        `relaxed`: bookkeeping that a database crash may lose without harm, because the next
        session re-derives it (a session's start and end: the lease, the session record, the
        delta cursor, health). On PostgreSQL its commit does not wait for the WAL to reach the
        disk (`synchronous_commit = off` for this transaction only): the database stays
        consistent, and many sessions closing at once are not queued behind one disk flush each.
        The intent journal (O5) and every write the executor records stay fully durable."""
        with self._sessions() as s, s.begin():
            if relaxed and self._postgres:
                s.connection().exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield s

    # -- cursors ------------------------------------------------------------------------------

    def get_cursor(self, kind: str, scope: str) -> CursorRow | None:
        with self.session() as s:
            return s.get(CursorRow, (kind, scope))

    def set_cursor(self, kind: str, scope: str, value: str, window: str = "") -> None:
        with self.session() as s:
            self.set_cursor_in(s, kind, scope, value, window)

    @staticmethod
    def set_cursor_in(s: Session, kind: str, scope: str, value: str, window: str = "") -> None:
        """Within an open unit of work; writes nothing when the cursor is unchanged. One
        statement when it changed (every session moves its delta cursor)."""
        args = {"k": kind, "sc": scope, "v": value, "w": window, "t": utcnow()}
        if s.connection().execute(_CURSOR_MOVE, args).rowcount:
            return
        row = s.get(CursorRow, (kind, scope))
        if row is None:
            s.add(CursorRow(kind=kind, scope=scope, value=value, window=window))

    def clear_cursor(self, kind: str, scope: str) -> None:
        with self.session() as s:
            row = s.get(CursorRow, (kind, scope))
            if row is not None:
                s.delete(row)

    # -- intent journal (O5) ------------------------------------------------------------------

    def open_intent(
        self,
        *,
        side: str,
        action: str,
        key: str,
        payload: dict[str, Any],
        mailbox: str | None = None,
        session_id: int | None = None,
    ) -> int:
        with self.session() as s:
            row = IntentRow(
                side=side,
                action=action,
                key=key,
                payload=payload,
                mailbox=mailbox,
                session_id=session_id,
            )
            s.add(row)
            s.flush()
            return row.id

    def close_intent(self, intent_id: int, *, ok: bool, result: dict[str, Any]) -> None:
        with self.session() as s:
            row = s.get(IntentRow, intent_id)
            if row is None:
                raise KeyError(intent_id)
            row.status = IntentStatus.DONE if ok else IntentStatus.FAILED
            row.result = result
            row.closed_at = utcnow()

    def open_intents(self, mailbox: str | None = None) -> list[IntentRow]:
        with self.session() as s:
            q = select(IntentRow).where(IntentRow.status == IntentStatus.OPEN)
            if mailbox is not None:
                q = q.where(IntentRow.mailbox == mailbox)
            return list(s.scalars(q.order_by(IntentRow.id)))

    # -- session records (I2) -----------------------------------------------------------------

    def start_session(self, mailbox: str | None, trigger: str = "schedule") -> int:
        with self.session() as s:
            return self.start_session_in(s, mailbox, trigger)

    @staticmethod
    def start_session_in(s: Session, mailbox: str | None, trigger: str = "schedule") -> int:
        res = s.connection().execute(_SESSION_START, {"m": mailbox, "tr": trigger})
        return int(res.scalar_one())

    def finish_session(
        self,
        session_id: int,
        *,
        status: SessionStatus,
        stats: dict[str, Any],
        error: str | None = None,
    ) -> None:
        with self.session() as s:
            self.finish_session_in(s, session_id, status=status, stats=stats, error=error)

    @staticmethod
    def finish_session_in(
        s: Session,
        session_id: int,
        *,
        status: SessionStatus,
        stats: dict[str, Any],
        error: str | None = None,
    ) -> None:
        res = s.connection().execute(  # one statement, no read first (once per session)
            _SESSION_END,
            {"sid": session_id, "st": status, "stats": stats, "err": error, "t": utcnow()},
        )
        if not res.rowcount:
            raise KeyError(session_id)

    def recent_sessions(self, mailbox: str | None = None, limit: int = 20) -> list[SessionRow]:
        with self.session() as s:
            q = select(SessionRow)
            if mailbox is not None:
                q = q.where(SessionRow.mailbox == mailbox)
            return list(s.scalars(q.order_by(SessionRow.id.desc()).limit(limit)))

    # -- issues (I1) --------------------------------------------------------------------------

    def raise_issue(
        self,
        *,
        mailbox: str,
        reason: str,
        message: str,
        item_id: str | None = None,
        event_id: str | None = None,
        subject: str = "",
        item_start: datetime | None = None,
        web_link: str | None = None,
        actions: list[str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Open an issue, or refresh the open one for the same (mailbox, item, reason)."""
        seen = now or utcnow()
        with self.session() as s:
            row = s.scalars(
                select(IssueRow).where(
                    IssueRow.mailbox == mailbox,
                    IssueRow.item_id == item_id
                    if item_id is not None
                    else IssueRow.item_id.is_(None),
                    IssueRow.reason == reason,
                    IssueRow.resolved_at.is_(None),
                )
            ).first()
            if row is None:
                row = IssueRow(
                    mailbox=mailbox,
                    item_id=item_id,
                    reason=reason,
                    first_seen=seen,
                )
                s.add(row)
            row.message = message
            row.event_id = event_id
            row.subject = subject[:512]
            row.item_start = item_start
            row.web_link = web_link
            row.actions = list(actions or [])
            row.last_seen = seen
            s.flush()
            return row.id

    def resolve_issues(self, mailbox: str, item_id: str, except_reason: str | None = None) -> int:
        """Close the open issues of an item (all, or all but one reason); returns how many."""
        with self.session() as s:
            q = select(IssueRow).where(
                IssueRow.mailbox == mailbox,
                IssueRow.item_id == item_id,
                IssueRow.resolved_at.is_(None),
            )
            rows = [r for r in s.scalars(q) if r.reason != except_reason]
            for r in rows:
                r.resolved_at = utcnow()
            return len(rows)

    @staticmethod
    def resolve_reason_in(s: Session, mailbox: str, reason: str, now: datetime) -> None:
        """Close the mailbox's open issues of one reason (the mailbox-wide ones: D4, X7)."""
        for row in s.scalars(
            select(IssueRow).where(
                IssueRow.mailbox == mailbox,
                IssueRow.reason == reason,
                IssueRow.resolved_at.is_(None),
            )
        ):
            row.resolved_at = now

    def resolve_issues_many(self, mailbox: str, item_ids: list[str]) -> int:
        """Close every open issue of these items of one mailbox (one UPDATE per 500 items)."""
        from sqlalchemy import update

        n = 0
        now = utcnow()
        uniq = sorted(set(item_ids))
        with self.session() as s:
            for i in range(0, len(uniq), 500):
                res = s.execute(
                    update(IssueRow)
                    .where(
                        IssueRow.mailbox == mailbox,
                        IssueRow.item_id.in_(uniq[i : i + 500]),
                        IssueRow.resolved_at.is_(None),
                    )
                    .values(resolved_at=now)
                )
                n += int(getattr(res, "rowcount", 0) or 0)
        return n

    def open_issues(self, mailbox: str | None = None) -> list[IssueRow]:
        with self.session() as s:
            q = select(IssueRow).where(
                IssueRow.resolved_at.is_(None), IssueRow.dismissed.is_(False)
            )
            if mailbox is not None:
                q = q.where(IssueRow.mailbox == mailbox)
            return list(s.scalars(q.order_by(IssueRow.last_seen.desc())))

    # -- user health (I3) ---------------------------------------------------------------------

    def health(self, mailbox: str) -> UserHealthRow | None:
        with self.session() as s:
            return s.get(UserHealthRow, mailbox)

    def unhealthy_to_notify(self) -> list[UserHealthRow]:
        """I3: users marked unhealthy whose incident has had no mail yet."""
        with self.session() as s:
            q = select(UserHealthRow).where(
                UserHealthRow.unhealthy.is_(True), UserHealthRow.notified_at.is_(None)
            )
            rows = list(s.scalars(q.order_by(UserHealthRow.mailbox)))
            s.expunge_all()
            return rows

    def mark_unhealthy_notified(self, mailbox: str, at: datetime | None = None) -> bool:
        """I3: the incident's mail went out; False when the user recovered meanwhile."""
        with self.session() as s:
            row = s.get(UserHealthRow, mailbox)
            if row is None or not row.unhealthy:
                return False
            row.notified_at = at or utcnow()
            return True

    def record_outcome(
        self,
        mailbox: str,
        *,
        ok: bool,
        unhealthy_after: int,
        reason: str | None = None,
        credentials_expired: bool = False,
    ) -> UserHealthRow:
        """Count a session's outcome; mark the user unhealthy after `unhealthy_after` failures in a
        row or at once when credentials expired (I3). Returns the updated row."""
        with self.session() as s:
            return self.record_outcome_in(
                s,
                mailbox,
                ok=ok,
                unhealthy_after=unhealthy_after,
                reason=reason,
                credentials_expired=credentials_expired,
            )

    @staticmethod
    def record_success_in(s: Session, mailbox: str, *, enabled_at: datetime | None = None) -> None:
        """`record_outcome_in(ok=True)` in one statement for a user already known (I3)."""
        args = {"m": mailbox, "t": utcnow()}
        if not s.connection().execute(_HEALTH_OK, args).rowcount:
            StateStore.record_outcome_in(
                s, mailbox, ok=True, unhealthy_after=1, enabled_at=enabled_at
            )

    @staticmethod
    def record_outcome_in(
        s: Session,
        mailbox: str,
        *,
        ok: bool,
        unhealthy_after: int,
        reason: str | None = None,
        credentials_expired: bool = False,
        enabled_at: datetime | None = None,
    ) -> UserHealthRow:
        now = utcnow()
        row = s.get(UserHealthRow, mailbox)
        if row is None:
            row = UserHealthRow(
                mailbox=mailbox, enabled_at=enabled_at or now, consecutive_failures=0
            )
            s.add(row)
        if ok:
            row.last_success_at = now
            row.consecutive_failures = 0
            row.unhealthy = False
            row.unhealthy_reason = None
            row.notified_at = None
        else:
            row.last_failure_at = now
            row.consecutive_failures = (row.consecutive_failures or 0) + 1
            if credentials_expired or row.consecutive_failures >= unhealthy_after:
                row.unhealthy = True
                row.unhealthy_reason = reason
        s.flush()
        return row
