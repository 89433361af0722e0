"""O4 instant sync: Graph change-notification subscriptions per user, and what a notification does.

- `ensure(mailbox)` creates the user's subscription on `/users/{mailbox}/events` (Graph first
  calls the webhook with a `validationToken`, which the app echoes) or renews it when it expires
  within `RENEW_BEFORE`; `ensure_all` does it for every enabled user and runs every
  `RENEW_EVERY` while `crmcal serve` runs. Each subscription has its own random `clientState`,
  stored in `web_subscriptions` and compared in constant time on every notification (Y2).
- `accept(body)` takes a notification POST: notifications with an unknown subscription or a wrong
  `clientState` are dropped and counted; the rest are queued, and the webhook answers 202 at once.
- A worker thread drains the queue, coalesces notifications per mailbox, and runs a targeted
  update (`WebService.sync_items`) for the items that are linked to an Event: the change reaches
  Salesforce within seconds, without waiting for a session. Notifications about items that are
  not linked are left to the next session (A2: auto-share happens only in sessions); a linked
  item's deletion asks the scheduler for a session (X5 needs the session's deletion checks).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from crmcal.connectors.errors import ConnectorError
from crmcal.state.models import LinkRow
from crmcal.state.models_web import SubscriptionRow
from crmcal.web.security import same
from crmcal.web.service import Busy, NotFound, WebService

log = logging.getLogger("crmcal.web.instant")

EXPIRY = timedelta(days=2)
"""Graph's maximum for Outlook events: the stored subscription page says 4,230 minutes (under 3
days), newer sources 10,080 (api-facts E4); 2 days, renewed a day ahead, is within both."""
RENEW_BEFORE = timedelta(days=1)
RENEW_EVERY_S = 3600.0
COALESCE_S = 0.05
RETRY_S = 60.0


@dataclass(frozen=True, slots=True)
class Change:
    mailbox: str
    item_id: str
    change_type: str


class InstantSync:
    def __init__(
        self, service: WebService, notification_url: str, lifecycle_url: str | None = None
    ) -> None:
        self.service = service
        self.store = service.store
        self.notification_url = notification_url
        self.lifecycle_url = lifecycle_url
        self.counts: Counter[str] = Counter()
        self._queue: queue.Queue[Change | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- subscriptions ------------------------------------------------------------------------

    def ensure(self, mailbox: str, now: datetime | None = None) -> SubscriptionRow:
        now = now or datetime.now(UTC)
        cal = self.service.calendar
        with self.store.session() as s:
            row = s.get(SubscriptionRow, mailbox)
        if row is not None and row.expires_at - now > RENEW_BEFORE:
            return row
        if row is not None:
            try:
                sub = cal.renew_subscription(row.subscription_id, now + EXPIRY)
                with self.store.session() as s:
                    r = s.get(SubscriptionRow, mailbox)
                    assert r is not None
                    r.expires_at, r.renewed_at = sub.expiration, now
                    self.counts["renewed"] += 1
                    return r
            except ConnectorError as exc:  # gone (404) or refused: make a new one
                log.info("renewing the subscription of %s failed (%s); recreating", mailbox, exc)
                self.forget(mailbox)
        state = secrets.token_urlsafe(48)[:64]
        sub = cal.create_subscription(
            mailbox,
            self.notification_url,
            now + EXPIRY,
            state,
            lifecycle_url=self.lifecycle_url,
        )
        with self.store.session() as s:
            row = SubscriptionRow(
                mailbox=mailbox,
                subscription_id=sub.id,
                client_state=state,
                expires_at=sub.expiration,
            )
            s.add(row)
        self.counts["created"] += 1
        return row

    def forget(self, mailbox: str) -> None:
        with self.store.session() as s:
            row = s.get(SubscriptionRow, mailbox)
            if row is not None:
                s.delete(row)

    def ensure_all(self) -> dict[str, str]:
        """Every enabled user's subscription; returns problems by mailbox (others are fine)."""
        problems: dict[str, str] = {}
        for u in self.service.cfg.users:
            if not u.enabled:
                continue
            try:
                self.ensure(u.mailbox)
            except ConnectorError as exc:
                problems[u.mailbox] = str(exc)
                self.counts["subscription_failed"] += 1
        return problems

    def _by_subscription(self) -> dict[str, SubscriptionRow]:
        with self.store.session() as s:
            return {r.subscription_id: r for r in s.scalars(select(SubscriptionRow))}

    # -- notifications ------------------------------------------------------------------------

    def accept(self, body: Mapping[str, Any]) -> tuple[int, int]:
        """Queue the genuine notifications of a POST body; returns (accepted, rejected)."""
        values = body.get("value")
        if not isinstance(values, list):
            return 0, 0
        subs = self._by_subscription()
        ok = bad = 0
        for n in values:
            if not isinstance(n, dict):
                bad += 1
                continue
            row = subs.get(str(n.get("subscriptionId", "")))
            if row is None or not same(str(n.get("clientState") or ""), row.client_state):
                bad += 1  # Y2: not from our subscription
                continue
            data = n.get("resourceData") if isinstance(n.get("resourceData"), dict) else {}
            item_id = str((data or {}).get("id") or str(n.get("resource", "")).rsplit("/", 1)[-1])
            if not item_id:
                bad += 1
                continue
            self._put(Change(row.mailbox, item_id, str(n.get("changeType", "updated"))))
            ok += 1
        self.counts["accepted"] += ok
        self.counts["rejected"] += bad
        return ok, bad

    def lifecycle(self, body: Mapping[str, Any]) -> int:
        """Lifecycle notifications (E4; learn.microsoft.com/graph/change-notifications-lifecycle-
        events): `reauthorizationRequired` renews the subscription (PATCH reauthorizes and
        extends it at once); `subscriptionRemoved` creates a new one and asks for a delta session,
        since changes made while it was gone were never notified; `missed` asks for a delta
        session. Unknown subscriptions or a wrong clientState are dropped (Y2)."""
        values = body.get("value")
        if not isinstance(values, list):
            return 0
        subs = self._by_subscription()
        done = 0
        for n in values:
            if not isinstance(n, dict):
                continue
            row = subs.get(str(n.get("subscriptionId", "")))
            if row is None or not same(str(n.get("clientState") or ""), row.client_state):
                self.counts["rejected"] += 1
                continue
            event = str(n.get("lifecycleEvent", ""))
            try:
                if event == "subscriptionRemoved":
                    self.forget(row.mailbox)
                    self._request_session(row.mailbox)  # first: even if recreating fails
                    self.ensure(row.mailbox)
                    self.counts["recreated"] += 1
                elif event == "reauthorizationRequired":
                    self.ensure(row.mailbox, now=row.expires_at - RENEW_BEFORE)
                    self.counts["reauthorized"] += 1
                elif event == "missed":
                    self._request_session(row.mailbox)
                    self.counts["missed"] += 1
                else:
                    self.counts["lifecycle_unknown"] += 1
                    continue
            except ConnectorError as exc:
                log.warning("lifecycle %s for %s failed: %s", event, row.mailbox, exc)
            done += 1
        return done

    def _put(self, change: Change) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(change)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued notification was handled (tests and benchmarks)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _request_session(self, mailbox: str) -> None:
        from crmcal.service.scheduler import request_sync

        request_sync(self.store, mailbox, by="webhook")
        self.counts["sessions_requested"] += 1

    def handle(self, changes: list[Change]) -> None:
        """Targeted updates for linked items; deletions of linked items ask for a session."""
        by_mailbox: dict[str, dict[str, str]] = {}
        for c in changes:
            by_mailbox.setdefault(c.mailbox, {})[c.item_id] = c.change_type
        for mailbox, kinds in by_mailbox.items():
            with self.store.session() as s:
                linked = set(
                    s.scalars(
                        select(LinkRow.item_id).where(
                            LinkRow.mailbox == mailbox,
                            LinkRow.item_id.in_(sorted(kinds)),
                            LinkRow.event_id.is_not(None),
                        )
                    )
                )
            if any(kinds[i] == "deleted" for i in linked):
                self._request_session(mailbox)
            update = sorted(i for i in linked if kinds[i] != "deleted")
            self.counts["ignored"] += len(kinds) - len(linked)
            if not update:
                continue
            try:
                r = self.service.sync_items(mailbox, update, trigger="webhook")
                self.counts["targeted_runs"] += 1
                self.counts["updated_events"] += r.outcome.updated
            except (Busy, NotFound, ConnectorError) as exc:
                log.warning("instant update for %s failed (%s); a session will do it", mailbox, exc)
                self._request_session(mailbox)

    def _work(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = threading.Event()
            deadline.wait(COALESCE_S)  # let a burst of notifications arrive, then do them at once
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._stop.set()
                    break
                batch.append(nxt)
            try:
                self.handle(batch)
            except Exception:  # never let the worker die: log, the next session catches up
                log.exception("instant sync worker failed on %d notifications", len(batch))
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _renew_loop(self, every_s: float, first_after_s: float) -> None:
        """Subscribe soon after start (the server must be listening for Graph's validation
        request), then check every `every_s`; after a failure, try again within a minute."""
        wait = first_after_s
        while not self._stop.wait(wait):
            try:
                problems = self.ensure_all()
            except Exception:
                log.exception("subscription renewal failed")
                problems = {"*": "error"}
            wait = min(every_s, RETRY_S) if problems else every_s

    def start(
        self,
        *,
        subscribe: bool = True,
        renew_every_s: float = RENEW_EVERY_S,
        first_after_s: float = 2.0,
    ) -> None:
        t = threading.Thread(target=self._work, name="crmcal-instant", daemon=True)
        t.start()
        self._threads.append(t)
        if subscribe:
            r = threading.Thread(
                target=self._renew_loop,
                args=(renew_every_s, first_after_s),
                name="crmcal-subs",
                daemon=True,
            )
            r.start()
            self._threads.append(r)

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
