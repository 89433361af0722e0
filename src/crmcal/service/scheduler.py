"""`crmcal run`: the in-process scheduler (the default for small and medium installs).

Every `interval_minutes` it runs a cycle (runner.run_cycle): the org-level Salesforce read once,
then every enabled, unpaused user's session, `[scheduler] global_concurrency` at a time, each
user's Graph requests within the per-mailbox limit (O1, O3). Between cycles it serves force-sync
requests (O1) within `poll_seconds`. Session locks (leases) make it safe to run next to
`crmcal sync` or to Celery workers on the same database; the O2 back-off is read from and
written to the state store, so every process obeys the same one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from crmcal.config import Config
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.service import allowance
from crmcal.service.leases import Leases
from crmcal.service.runner import (
    CalendarClient,
    CycleReport,
    ProgressFn,
    chosen_users,
    run_cycle,
)
from crmcal.state import StateStore
from crmcal.state.models_ops import SyncRequestRow

log = logging.getLogger("crmcal.scheduler")

Clock = Callable[[], datetime]


def request_sync(store: StateStore, mailbox: str, *, by: str | None = None) -> None:
    """O1: ask for a session for `mailbox` as soon as possible (the dashboard's "sync now")."""
    key = mailbox.strip().lower()
    with store.session() as s:
        row = s.get(SyncRequestRow, key)
        if row is None:
            s.add(SyncRequestRow(mailbox=key, requested_at=datetime.now(UTC), requested_by=by))


def pending_requests(store: StateStore) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(SyncRequestRow.mailbox).order_by(SyncRequestRow.requested_at)))


def _take_requests(store: StateStore) -> list[str]:
    """Take (and remove) the pending requests; one made while its session runs is kept."""
    with store.session() as s:
        rows = list(s.scalars(select(SyncRequestRow)))
        for r in rows:
            s.execute(
                delete(SyncRequestRow).where(
                    SyncRequestRow.mailbox == r.mailbox,
                    SyncRequestRow.requested_at == r.requested_at,
                )
            )
        return [r.mailbox for r in rows]


@dataclass
class CycleOutcome:
    """A scheduled cycle, or why it did not run."""

    report: CycleReport | None
    backoff_until: datetime | None = None
    """O2: set when the cycle did not run because the Salesforce allowance is low."""


class Scheduler:
    """Runs cycles and forced sessions in this process."""

    def __init__(
        self,
        cfg: Config,
        *,
        store: StateStore,
        calendar: CalendarClient,
        crm: SalesforceClient,
        leases: Leases | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        progress: ProgressFn | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.calendar = calendar
        self.crm = crm
        self.clock = clock
        self.progress = progress
        self.leases = leases or Leases(
            store, ttl=timedelta(seconds=cfg.scheduler.lease_seconds), clock=clock
        )
        self.last_cycle_at: datetime | None = None
        self.failed_cycles = 0
        """Cycles that ended in an exception (logged; `serve` goes on)."""

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.cfg.org.interval_minutes)

    def _observe(self, now: datetime) -> allowance.AllowanceStatus:
        return allowance.observe(
            self.store,
            self.crm.usage,
            reserve_percent=self.cfg.org.api_reserve_percent,
            now=now,
        )

    def run_cycle(
        self, *, trigger: str = "schedule", users: list[str] | None = None
    ) -> CycleOutcome:
        """One cycle now, unless the O2 back-off holds every session back."""
        now = self.clock()
        if users is None:
            self.last_cycle_at = now
        until = allowance.backing_off(self.store, now)
        if until is not None:
            log.warning("Salesforce allowance low: sessions wait until %s (O2)", until.isoformat())
            return CycleOutcome(None, until)
        report = run_cycle(
            self.cfg,
            store=self.store,
            calendar=self.calendar,
            crm=self.crm,
            now=now,
            users=users,
            trigger=trigger,
            progress=self.progress,
            concurrency=self.cfg.scheduler.global_concurrency,
            leases=self.leases,
        )
        st = self._observe(self.clock())
        return CycleOutcome(report, st.backoff_until if st.backing_off(self.clock()) else None)

    def run_requests(self) -> CycleOutcome | None:
        """Force-sync requests (O1): a session for each requested, enabled, unpaused user."""
        wanted = _take_requests(self.store)
        if not wanted:
            return None
        runnable = {u.mailbox for u in chosen_users(self.cfg, self.store, wanted)}
        for m in wanted:
            if m not in runnable:
                log.info("force-sync request for %s dropped: unknown, disabled or paused", m)
        if not runnable:
            return None
        return self.run_cycle(trigger="manual", users=sorted(runnable))

    def due(self) -> bool:
        return self.last_cycle_at is None or self.clock() - self.last_cycle_at >= self.interval

    def serve(self, stop: threading.Event, *, max_cycles: int | None = None) -> int:
        """Run until `stop` is set (or `max_cycles` cycles ran). Returns the cycles run."""
        cycles = 0
        self.leases.start_heartbeat()
        try:
            while not stop.is_set():
                if self.due():
                    try:
                        out = self.run_cycle()
                    except Exception:
                        # A bug or a database outage ended this cycle (its sessions recorded
                        # what they could). The loop goes on: the next cycle re-reads from the
                        # cursors, which did not move (safe to leave running).
                        log.exception("cycle failed; the next one runs in %s", self.interval)
                        self.failed_cycles += 1
                        out = CycleOutcome(None)
                    cycles += 1
                    if out.report is not None:
                        log.info(
                            "cycle: %d sessions, %d skipped (held elsewhere), cursor %s",
                            len(out.report.results),
                            len(out.report.skipped),
                            "moved" if out.report.cursor_advanced else "kept",
                        )
                    if max_cycles is not None and cycles >= max_cycles:
                        break
                else:
                    try:
                        self.run_requests()
                    except Exception:
                        log.exception("force-sync requests failed")
                stop.wait(self.cfg.scheduler.poll_seconds)
        finally:
            self.leases.stop_heartbeat()
        return cycles
