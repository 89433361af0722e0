"""`crmcal worker` and `crmcal beat`: the same cycle as `crmcal run`, spread over Celery workers.

- `crmcal.cycle` (beat, every `interval_minutes`): reads Salesforce changes for the whole org once,
  records the cycle (`cycles`, one `cycle_members` row per user) and sends one `crmcal.session`
  task per user with that user's share of the read (JSON, never pickle).
- `crmcal.session`: one user session (`run_user_session`, the code `crmcal run` uses), under the
  user's lease so that at most one session per user runs at a time across all workers. It marks
  its member row; the session that finishes a cycle in which every member succeeded moves the
  Salesforce cursor (the rule runner.run_cycle keeps in one process).
- `crmcal.requests` (beat, every `poll_seconds`): force-sync requests (O1) as a small cycle that
  never moves the cursor.

Tasks are acknowledged late and rejected when their worker is lost, so a killed worker's tasks go
back to the queue (RabbitMQ at once; Redis after `visibility_timeout_seconds`). A task that finds
its user's lease held (by a live worker, or by a dead one whose lease has not run out yet) marks
its member `skipped`; the cycle then keeps the cursor and the next cycle reads those changes again
(docs/decisions/0031-celery-cycles.md). Every session is resumable (O5), so nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from celery import Celery, Task
from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from crmcal.config import Config, load_config
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.rules.participants import Directory
from crmcal.rules.window import window
from crmcal.service import allowance
from crmcal.service.codec import event_from_json, event_to_json
from crmcal.service.groups import run_configured_groups
from crmcal.service.leases import CYCLE_KEY, Leases, user_key
from crmcal.service.runner import (
    SALESFORCE_MODSTAMP,
    SALESFORCE_SEEN,
    CalendarClient,
    OrgRead,
    build_calendar,
    build_crm,
    chosen_users,
    read_org,
    shared_activities,
)
from crmcal.service.scheduler import _take_requests
from crmcal.state import StateStore
from crmcal.state.models import CursorRow
from crmcal.state.models_ops import CycleMemberRow, CycleRow
from crmcal.sync.feeds import commit_cursors_in, read_feeds, share_from_json
from crmcal.sync.invitations import RELATIONS_CURSOR, read_invitee_changes
from crmcal.sync.session import Held, SessionResult, run_user_session
from crmcal.timezones import zoneinfo_for

log = logging.getLogger("crmcal.celery")

CYCLE_TASK = "crmcal.cycle"
SESSION_TASK = "crmcal.session"
REQUESTS_TASK = "crmcal.requests"
KEEP_CYCLES = 20
"""Finished cycles kept in the state store (with their members) for the dashboard."""

app = Celery("crmcal")


def configure(cfg: Config, *, threads: int | None = None) -> Celery:
    """Point the Celery app at the configured broker and crmcal's queue and schedule.
    `threads`: the worker's task threads (the state store keeps a connection for each)."""
    c = cfg.celery
    app.conf.update(
        broker_url=c.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": c.visibility_timeout_seconds},
        task_default_queue=c.queue,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        beat_schedule={
            "crmcal-cycle": {
                "task": CYCLE_TASK,
                "schedule": timedelta(minutes=cfg.org.interval_minutes),
            },
            "crmcal-requests": {
                "task": REQUESTS_TASK,
                "schedule": timedelta(seconds=cfg.scheduler.poll_seconds),
            },
        },
    )
    _Runtime.configured = cfg
    _Runtime.threads = threads
    return app


@dataclass(frozen=True)
class _CycleFacts:
    now: datetime
    deleted: frozenset[str]
    invitee_events: frozenset[str]
    feeds: Any


@dataclass
class _Runtime:
    """What one worker process builds once and shares between its task threads."""

    cfg: Config
    store: StateStore
    calendar: CalendarClient
    crm: SalesforceClient
    leases: Leases
    shared_activities: bool | None = None
    _dir: tuple[int, Directory] | None = None
    _cfg: tuple[int, Config] | None = None
    _facts: tuple[int, _CycleFacts] | None = None
    _dir_lock: threading.Lock = field(default_factory=threading.Lock)

    configured: ClassVar[Config | None] = None
    """The Config given to configure(), read by get()."""
    threads: ClassVar[int | None] = None
    """The worker's task threads, as `crmcal worker --concurrency` set them."""
    _instance: ClassVar[_Runtime | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def get(cls) -> _Runtime:
        with cls._lock:
            if cls._instance is None:
                cfg: Config = cls.configured or load_config()
                threads = cls.threads or cfg.scheduler.global_concurrency
                store = StateStore(cfg.storage.url(), pool_size=threads + 4)
                if not store.is_current():
                    store.migrate()
                leases = Leases(store, ttl=timedelta(seconds=cfg.scheduler.lease_seconds))
                leases.start_heartbeat()
                cls._instance = _Runtime(cfg, store, build_calendar(cfg), build_crm(cfg), leases)
            return cls._instance

    def config(self) -> Config:
        """The configuration with the dashboard's overrides and pause switches applied."""
        from crmcal.service.overrides import effective_config

        return effective_config(self.cfg, self.store)

    def config_for(self, cycle_id: int) -> Config:
        """`config()` read once per cycle in each worker (pause switches included)."""
        with self._dir_lock:
            if self._cfg is None or self._cfg[0] != cycle_id:
                self._cfg = (cycle_id, self.config())
            return self._cfg[1]

    def cycle_facts(self, cycle_id: int) -> _CycleFacts | None:
        """What every member of a cycle shares (its clock, deletions, feeds), read once per cycle
        in each worker; None when the cycle is gone."""
        with self._dir_lock:
            if self._facts is not None and self._facts[0] == cycle_id:
                return self._facts[1]
        with self.store.session() as s:
            cycle = s.get(CycleRow, cycle_id)
            if cycle is None:
                return None
            extras = cycle.extras or {}
            facts = _CycleFacts(
                now=cycle.now,
                deleted=frozenset(str(d) for d in cycle.deleted_ids or ()),
                invitee_events=frozenset(str(e) for e in extras.get("invitee_events", ())),
                feeds=extras.get("feeds"),
            )
        with self._dir_lock:
            self._facts = (cycle_id, facts)
        return facts

    def directory(self, cycle_id: int, cfg: Config) -> Directory:
        """Built once per cycle in each worker (10,000 users make it worth keeping)."""
        with self._dir_lock:
            if self._dir is None or self._dir[0] != cycle_id:
                self._dir = (cycle_id, Directory.of(cfg.org, list(cfg.users)))
            return self._dir[1]

    def sa(self) -> bool:
        if self.shared_activities is None:
            self.shared_activities = shared_activities(self.crm)
        return self.shared_activities

    def observe_usage(self, now: datetime, *, force: bool = False) -> None:
        usage = self.crm.usage
        if usage is None:
            return
        low = allowance.below_reserve(usage, self.cfg.org.api_reserve_percent)
        if force or low:
            allowance.observe(
                self.store, usage, reserve_percent=self.cfg.org.api_reserve_percent, now=now
            )


def start_cycle(
    rt: _Runtime, *, users: list[str] | None = None, trigger: str = "schedule"
) -> int | None:
    """Read Salesforce once, record the cycle and its members, send one task per user."""
    now = datetime.now(UTC)
    if allowance.backing_off(rt.store, now) is not None:
        log.warning("Salesforce allowance low: cycle not started (O2)")
        return None
    if users is None and not rt.leases.acquire(CYCLE_KEY):
        log.info("another cycle is being started elsewhere; this one is dropped")
        return None
    try:
        cfg = rt.config()
        chosen = chosen_users(cfg, rt.store, users)
        read = read_org(cfg, rt.store, rt.crm, chosen) if chosen else OrgRead()
        rt.observe_usage(datetime.now(UTC), force=True)
        invitees = (
            read_invitee_changes(cfg.org, rt.crm, rt.store, server_mark=read.new_cursor, now=now)
            if chosen
            else None
        )
        extras: dict[str, Any] = {}
        if chosen and (cfg.org.public_calendars or cfg.org.calendar_objects):
            # G1, G4: the feeds, read once per cycle like the Events; shares travel as JSON.
            enabled = [u for u in cfg.users if u.enabled]
            fc = read_feeds(cfg.org, enabled, rt.crm, rt.store, window(now, cfg.org))
            extras["feeds"] = fc.to_json()
            if users is None:
                extras["feed_cursors"] = fc.cursor_json()
        if invitees is not None:
            extras["invitee_events"] = sorted(invitees.event_ids)
            if invitees.cursor is not None and users is None:
                extras["invitee_cursor"] = invitees.cursor.isoformat()
        if users is None and cfg.org.group_calendars:  # G2, once per cycle, as runner does
            run_configured_groups(
                cfg,
                store=rt.store,
                crm=rt.crm,
                directory=Directory.of(cfg.org, list(cfg.users)),
                now=now,
                zone=zoneinfo_for,
            )
        with rt.store.session() as s:
            old = s.scalars(
                select(CycleRow.id).order_by(CycleRow.id.desc()).offset(KEEP_CYCLES)
            ).all()
            if old:
                s.execute(delete(CycleMemberRow).where(CycleMemberRow.cycle_id.in_(old)))
                s.execute(delete(CycleRow).where(CycleRow.id.in_(old)))
            cycle = CycleRow(
                started_at=now,
                now=now,
                status="running",
                new_cursor=(
                    read.new_cursor.isoformat() if read.new_cursor and users is None else None
                ),
                deleted_ids=sorted(read.deleted),
                seen=read.seen if users is None else {},
                extras=extras,
                total=len(chosen),
                pending=len(chosen),
                unfinished=0,
            )
            s.add(cycle)
            s.flush()
            cycle_id = cycle.id
            if chosen:
                s.execute(
                    insert(CycleMemberRow),
                    [
                        {"cycle_id": cycle_id, "mailbox": u.mailbox, "status": "pending"}
                        for u in chosen
                    ],
                )
        for u in chosen:
            events = [event_to_json(e) for e in read.by_owner.get(u.salesforce_user_id, ())]
            session_task.apply_async(args=(cycle_id, u.mailbox, events, trigger))
        if not chosen:
            _maybe_complete(rt.store, cycle_id)
        return cycle_id
    finally:
        if users is None:
            rt.leases.release(CYCLE_KEY)


def _mark(store: StateStore, cycle_id: int, mailbox: str, status: str) -> bool:
    """Record a member's end once (a redelivered task finds it done) and count it down."""
    with store.session() as s:
        return _mark_in(s, cycle_id, mailbox, status)


_MEMBER_END = (
    update(CycleMemberRow)
    .where(
        CycleMemberRow.cycle_id == bindparam("c"),
        CycleMemberRow.mailbox == bindparam("m"),
        CycleMemberRow.status == "pending",
    )
    .values(status=bindparam("st"), finished_at=bindparam("t"))
)
_COUNT_DOWN = (
    update(CycleRow)
    .where(CycleRow.id == bindparam("c"))
    .values(pending=CycleRow.pending - 1, unfinished=CycleRow.unfinished + bindparam("bad"))
)


_CYCLE_END = (
    update(CycleRow)
    .where(CycleRow.id == bindparam("c"), CycleRow.status == "running", CycleRow.pending <= 0)
    .values(
        status=case((CycleRow.unfinished == 0, "complete"), else_="incomplete"),
        finished_at=bindparam("t"),
    )
)


def _mark_in(s: Session, cycle_id: int, mailbox: str, status: str) -> bool:
    """`_mark` within the caller's transaction (the member session's closing one). Core
    statements on the session's connection: this runs once per member."""
    db = s.connection()
    args = {"c": cycle_id, "m": mailbox, "st": status, "t": datetime.now(UTC)}
    if not db.execute(_MEMBER_END, args).rowcount:
        return False
    bad = 0 if status in ("succeeded", "partial") else 1
    db.execute(_COUNT_DOWN, {"c": cycle_id, "bad": bad})
    # In the same transaction: the row lock taken by the count-down orders the finishers,
    # so exactly the one that brings it to zero closes the cycle.
    _complete_in(s, cycle_id)
    return True


class _MemberClaim:
    """A cycle member's hold on its user (`crmcal.sync.session.Claim`). In the session's first
    transaction: the member must still be pending (a redelivered task finds it done), the O2
    back-off must not hold, and the user's lease must be free. In its last: the lease given back
    and the member's end counted down. A member's session is then two transactions in all."""

    def __init__(self, leases: Leases, cycle_id: int, mailbox: str) -> None:
        self.leases, self.cycle_id, self.mailbox = leases, cycle_id, mailbox
        self.status: str | None = None
        """The member's end, once counted down by `give_back`."""
        self.done: str | None = None
        """Set when the member was no longer pending (a redelivery): its recorded status."""
        self.backing_off = False

    def take(self, s: Session) -> bool:
        found = (
            s.connection()
            .execute(_MEMBER_STATUS, {"c": self.cycle_id, "m": self.mailbox})
            .scalar_one_or_none()
        )
        if found != "pending":
            self.done = found or "unknown"
            return False
        if allowance.backing_off_in(s, datetime.now(UTC)) is not None:
            self.backing_off = True  # O2
            return False
        return self.leases.acquire_in(s, user_key(self.mailbox))

    def give_back(self, s: Session, result: SessionResult) -> None:
        self.leases.release_in(s, user_key(self.mailbox))
        status = str(result.status)
        if result.stopped:
            status = "partial"  # D4 holds no cursor
        elif status not in ("succeeded", "partial"):
            status = "failed"
        self.status = status
        _mark_in(s, self.cycle_id, self.mailbox, status)


_MEMBER_STATUS = select(CycleMemberRow.status).where(
    CycleMemberRow.cycle_id == bindparam("c"), CycleMemberRow.mailbox == bindparam("m")
)


def _maybe_complete(store: StateStore, cycle_id: int) -> str | None:
    with store.session() as s:
        return _complete_in(s, cycle_id)


def _complete_in(s: Session, cycle_id: int) -> str | None:
    """When no member is pending: `complete` (cursor moved) if every member ran without a
    systemic failure, else `incomplete`. Only one finisher wins the conditional update."""
    res = s.connection().execute(_CYCLE_END, {"c": cycle_id, "t": datetime.now(UTC)})
    if not res.rowcount:
        return None
    cycle = s.get(CycleRow, cycle_id)
    if cycle is None:
        return None
    if cycle.status == "complete" and cycle.new_cursor:
        cur = s.get(CursorRow, (SALESFORCE_MODSTAMP, "org"))
        # Cycles may finish out of order: the cursor never moves back.
        if cur is None or datetime.fromisoformat(cur.value) < datetime.fromisoformat(
            cycle.new_cursor
        ):
            StateStore.set_cursor_in(s, SALESFORCE_MODSTAMP, "org", cycle.new_cursor)
            StateStore.set_cursor_in(s, SALESFORCE_SEEN, "org", json.dumps(cycle.seen or {}))
        mark = (cycle.extras or {}).get("invitee_cursor")
        if mark:
            StateStore.set_cursor_in(s, RELATIONS_CURSOR, "org", str(mark))
    feed_marks = (cycle.extras or {}).get("feed_cursors")
    if cycle.status == "complete" and feed_marks:  # G1, G4: every member took its share
        commit_cursors_in(s, feed_marks)
    return cycle.status


def run_member(
    rt: _Runtime, cycle_id: int, mailbox: str, events: list[dict[str, Any]], trigger: str
) -> str:
    """One user's session of a cycle; returns the member's final status."""
    facts = rt.cycle_facts(cycle_id)
    if facts is None:
        return "unknown"
    cfg = rt.config_for(cycle_id)
    user = cfg.user(mailbox)
    status: str
    if user is None:
        status = "failed"
    elif user.settings.paused:
        status = "skipped"  # paused since the cycle started (O1)
    else:
        claim = _MemberClaim(rt.leases, cycle_id, mailbox)
        try:
            run_user_session(
                user,
                directory=rt.directory(cycle_id, cfg),
                calendar=rt.calendar,
                crm=rt.crm,
                store=rt.store,
                now=facts.now,
                zone=zoneinfo_for,
                trigger=trigger,
                shared_activities=rt.sa(),
                crm_events=tuple(event_from_json(e) for e in events),
                crm_deleted=facts.deleted,
                invitee_events=facts.invitee_events,
                feeds=share_from_json(facts.feeds, mailbox) if facts.feeds is not None else None,
                claim=claim,
            )
        except Held:
            if claim.done is not None:
                return claim.done  # a redelivery: the member already ended
            status = "skipped"  # O2 back-off, or another worker is syncing this user (O1)
        if claim.status is not None:  # counted down in the session's closing transaction
            rt.observe_usage(datetime.now(UTC))
            return claim.status
    _mark(rt.store, cycle_id, mailbox, status)
    rt.observe_usage(datetime.now(UTC))
    return status


@app.task(name=CYCLE_TASK, acks_late=False)  # type: ignore[untyped-decorator]
def cycle_task() -> int | None:
    return start_cycle(_Runtime.get())


@app.task(name=REQUESTS_TASK, acks_late=False)  # type: ignore[untyped-decorator]
def requests_task() -> int | None:
    rt = _Runtime.get()
    wanted = _take_requests(rt.store)
    runnable = [u.mailbox for u in chosen_users(rt.config(), rt.store, wanted)] if wanted else []
    if not runnable:
        return None
    return start_cycle(rt, users=runnable, trigger="manual")


@app.task(  # type: ignore[untyped-decorator]
    name=SESSION_TASK, bind=True, acks_late=True, reject_on_worker_lost=True
)
def session_task(
    self: Task[Any, Any], cycle_id: int, mailbox: str, events: list[dict[str, Any]], trigger: str
) -> str:
    return run_member(_Runtime.get(), cycle_id, mailbox, events, trigger)


def cycle_status(store: StateStore, cycle_id: int) -> dict[str, int | str]:
    """Members per status and the cycle's own status (tests, `crmcal doctor`, the dashboard)."""
    with store.session() as s:
        cycle = s.get(CycleRow, cycle_id)
        counts = dict(
            s.execute(
                select(CycleMemberRow.status, func.count())
                .where(CycleMemberRow.cycle_id == cycle_id)
                .group_by(CycleMemberRow.status)
            ).all()
        )
    return {"cycle": cycle.status if cycle else "unknown", **counts}


if os.environ.get("CRMCAL_CONFIG") and not app.conf.beat_schedule:
    # `celery -A crmcal.service.celery_app worker` (without `crmcal worker`) reads the same file.
    configure(load_config())
