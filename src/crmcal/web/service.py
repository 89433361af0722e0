"""What the dashboard and the API do, over the same connectors, planner and executor as sessions.

- Save (M2): on an unshared item, store the chosen Name/Related To on the item's link with share
  mode `save` and a snapshot, and give the item the `Salesforce` category; the next session creates
  the Event with exactly those links (sync/plan.py reads `TrackedItem.who_id/what_id`). On a linked
  item, store the choice and update the Event at once with a targeted run of the planner and the
  executor for that one item (`sync_items`).
- Instant sync (O4) uses the same `sync_items` for linked items a change notification names.
- Force sync (O1) runs one user's session now; pause sets `user_health.paused`.
- Issue actions (I1): retry, share anyway, create record, dismiss.

One user's work never overlaps: the session lock (`service.leases`) is held around every run, so
a dashboard action, a webhook and `crmcal run` on the same database take turns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crmcal.config import Config
from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.salesforce import SalesforceClient, soql
from crmcal.connectors.salesforce.mapping import ref_from_json
from crmcal.domain import Item, RecordRef, UserConfig
from crmcal.domain.calendar import ItemType
from crmcal.domain.crm import RecordType, record_type_of
from crmcal.domain.ids import id_problem
from crmcal.rules import categories as cat
from crmcal.rules.participants import Directory
from crmcal.service.leases import Leases, user_key
from crmcal.service.overrides import effective_config
from crmcal.service.runner import (
    CalendarClient,
    build_calendar,
    build_crm,
    run_sync,
    settle_guard_issues,
    shared_activities,
)
from crmcal.state import StateStore
from crmcal.state.models import (
    EventRow,
    IssueRow,
    LinkRow,
    Origin,
    SessionStatus,
    ShareMode,
    UserHealthRow,
    utcnow,
)
from crmcal.state.models_engine import SeriesRow
from crmcal.sync.codec import item_to_json
from crmcal.sync.plan import MASS_DELETE_REASON
from crmcal.sync.series import MASS_DELETE_SERIES_REASON
from crmcal.sync.session import SessionResult, run_user_session
from crmcal.timezones import zoneinfo_for

log = logging.getLogger("crmcal.web")

WHO_TYPES = (RecordType.CONTACT, RecordType.LEAD)
LEAD_CLEARS_WHAT = (
    "A Lead can't have a Related To in Salesforce (the Event's WhatId must be empty when its "
    "WhoId is a Lead), so Related To was cleared. "
)
LIMITS_EVERY_S = 300.0


class NotFound(Exception):
    """The thing does not exist, or the caller may not see it (Y2: the same answer)."""


class Invalid(Exception):
    """The request cannot be done as asked; the message says why."""


class Busy(Exception):
    """Another process is syncing this user right now; the work was queued."""


class Paused(Busy):
    """Sync is paused (or off) for this user (O1): nothing is written until it resumes."""


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    status: str
    """`queued` (the next session shares it) or `updated` (the Event was updated now)."""
    item_id: str
    event_id: str | None
    who_id: str | None
    what_id: str | None
    message: str


GUARD_REASONS = frozenset({MASS_DELETE_REASON, MASS_DELETE_SERIES_REASON})
"""X7's issues (the item guard's and the series guard's)."""


class WebService:
    """Long-lived: one per `crmcal serve` process (connectors and the store are shared)."""

    def __init__(
        self,
        cfg: Config,
        store: StateStore,
        *,
        calendar: CalendarClient | None = None,
        crm: SalesforceClient | None = None,
    ) -> None:
        self.base_cfg = cfg
        self.store = store
        self._calendar = calendar
        self._crm = crm
        self.leases = Leases(store, ttl=timedelta(minutes=10))
        self._lock = threading.Lock()
        self._sa: bool | None = None
        self._limits_at = -LIMITS_EVERY_S

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def cfg(self) -> Config:
        return effective_config(self.base_cfg, self.store)

    @property
    def calendar(self) -> CalendarClient:
        with self._lock:
            if self._calendar is None:
                self._calendar = build_calendar(self.base_cfg)
            return self._calendar

    @property
    def crm(self) -> SalesforceClient:
        with self._lock:
            if self._crm is None:
                self._crm = build_crm(self.base_cfg)
            return self._crm

    def close(self) -> None:
        for c in (self._calendar, self._crm):
            if c is not None:
                c.close()

    def user(self, mailbox: str) -> UserConfig:
        u = self.cfg.user(mailbox)
        if u is None:
            raise NotFound(f"{mailbox} is not a crmcal user")
        return u

    @contextmanager
    def user_lock(self, mailbox: str, wait_s: float = 30.0) -> Iterator[None]:
        """The user's session lock, waited for up to `wait_s`; `Busy` when it stays held."""
        key = user_key(mailbox)
        deadline = time.monotonic() + wait_s
        while not self.leases.acquire(key):
            if time.monotonic() > deadline:
                raise Busy(f"a session for {mailbox} is running elsewhere")
            time.sleep(0.05)
        try:
            yield
        finally:
            self.leases.release(key)

    # -- sessions (O1) ------------------------------------------------------------------------

    def force_sync(
        self, mailbox: str, trigger: str = "force", *, allow_mass_delete: bool = False
    ) -> SessionResult | None:
        """One session for the user, now; None when the user is paused or disabled.
        `allow_mass_delete`: X7 confirmed (the guard's held deletions are carried out)."""
        cfg = self.cfg
        u = self.user(mailbox)
        if u.settings.paused or not u.enabled:
            return None
        with self.user_lock(mailbox):  # I2: the session records its own API calls
            results = run_sync(
                cfg,
                store=self.store,
                calendar=self.calendar,
                crm=self.crm,
                users=[u.mailbox],
                trigger=trigger,
                allow_mass_delete=allow_mass_delete,
            )
        return results[0] if results else None

    def api_calls(self) -> dict[str, int]:
        """Calls made by this process's connectors so far (never builds a client)."""
        return {
            "graph": self._calendar.calls.total if self._calendar is not None else 0,
            "salesforce": self._crm.total_calls if self._crm is not None else 0,
        }

    def usage(self) -> tuple[int, int] | None:
        """The Salesforce daily allowance (used, max): as this process's last Salesforce response
        reported it, else as any worker last stored it (`api_allowance`), else read from
        `/limits` at most every `LIMITS_EVERY_S` (O2; the dashboard says how much is left)."""
        u = self._crm.usage if self._crm is not None else None
        if u is not None:
            return (u.used, u.max)
        try:
            from crmcal.state.models_ops import ApiAllowanceRow

            with self.store.session() as s:
                row = s.get(ApiAllowanceRow, "salesforce")
                if row is not None and row.max:
                    return (row.used, row.max)
        except ImportError:  # pragma: no cover - the scale-out tables are optional here
            pass
        if time.monotonic() - self._limits_at > LIMITS_EVERY_S:
            self._limits_at = time.monotonic()
            try:
                lim = self.crm.limits()
                return (lim.used, lim.max)
            except ConnectorError as exc:
                log.info("Salesforce limits unavailable: %s", exc)
        return None

    def is_paused(self, mailbox: str) -> bool:
        with self.store.session() as s:
            row = s.get(UserHealthRow, mailbox)
            return bool(row is not None and row.paused)

    def set_paused(self, mailbox: str, paused: bool) -> None:
        self.user(mailbox)
        with self.store.session() as s:
            row = s.get(UserHealthRow, mailbox)
            if row is None:
                row = UserHealthRow(mailbox=mailbox, consecutive_failures=0)
                s.add(row)
            row.paused = paused

    def sync_items(self, mailbox: str, item_ids: Sequence[str], trigger: str) -> SessionResult:
        """A session limited to linked items (M2 on a linked item, O4): these items are read by
        id, without the mailbox's delta and without sharing anything new (A2: auto-share stays
        in scheduled sessions). It is the engine's own session (`run_user_session(only=...)`,
        decision 0121): reconcile, D4, series, attachments and the X7 guard come with it.
        Recorded as a session with its statistics."""
        user = self.user(mailbox)
        if not user.enabled or user.settings.paused or self.is_paused(mailbox):
            # O1: a paused user's changes wait, webhooks or not.
            raise Paused(f"sync is paused for {mailbox}")
        with self.user_lock(mailbox):
            with self.store.session() as s:
                linked = set(
                    s.scalars(
                        select(LinkRow.item_id).where(
                            LinkRow.mailbox == mailbox,
                            LinkRow.item_id.in_(list(item_ids)),
                            LinkRow.event_id.is_not(None),
                        )
                    )
                )
            return self._limited(user, linked, trigger)

    def sync_named(
        self,
        mailbox: str,
        item_ids: Sequence[str],
        trigger: str,
        *,
        allow_mass_delete: bool = False,
    ) -> SessionResult | None:
        """A session limited to the named items (Retry, Share anyway, Confirm delete; decision
        0121), linked or not; None when the user is paused or disabled."""
        user = self.user(mailbox)
        if user.settings.paused or not user.enabled or self.is_paused(mailbox):
            return None
        with self.user_lock(mailbox):
            return self._limited(user, set(item_ids), trigger, allow_mass_delete=allow_mass_delete)

    def _limited(
        self,
        user: UserConfig,
        item_ids: set[str],
        trigger: str,
        *,
        allow_mass_delete: bool = False,
    ) -> SessionResult:
        """`run_user_session(only=...)` for one user, under the caller's user lock."""
        cfg = self.cfg
        if self._sa is None:
            self._sa = shared_activities(self.crm)
        result = run_user_session(
            user,
            directory=Directory.of(cfg.org, list(cfg.users)),
            calendar=self.calendar,
            crm=self.crm,
            store=self.store,
            now=datetime.now(UTC).replace(microsecond=0),
            zone=zoneinfo_for,
            trigger=trigger,
            shared_activities=self._sa,
            allow_mass_delete=allow_mass_delete,
            only=frozenset(item_ids),
        )
        return result  # I2: the session recorded its own API calls

    # -- Save (M2) ----------------------------------------------------------------------------

    def _check_records(self, who_id: str | None, what_id: str | None) -> None:
        for label, rid in (("Name", who_id), ("Related To", what_id)):
            problem = id_problem(rid) if rid else None
            if problem:
                raise Invalid(f"{label}: {problem}")
        if who_id and record_type_of(who_id) not in WHO_TYPES:
            raise Invalid("Name (WhoId) must be a Contact or a Lead")
        if what_id and record_type_of(what_id) in WHO_TYPES:
            raise Invalid("Related To (WhatId) cannot be a Contact or a Lead")
        known = {
            i
            for i in (who_id, what_id)
            if i
            and record_type_of(i)
            in (RecordType.CONTACT, RecordType.LEAD, RecordType.ACCOUNT, RecordType.OPPORTUNITY)
        }
        if known:
            found = {r.id for r in self.crm.records_by_ids(sorted(known))}
            missing = sorted(known - found)
            if missing:
                raise Invalid("no such record in Salesforce: " + ", ".join(missing))

    def fetch_item(self, mailbox: str, item_id: str) -> Item:
        items, errors = self.calendar.fetch_items(mailbox, [item_id])
        if not items:
            raise NotFound(errors[0].reason if errors else "no such item")
        return items[0]

    def save(
        self, mailbox: str, item_id: str, who_id: str | None, what_id: str | None
    ) -> SaveOutcome:
        self.user(mailbox)
        who_id = who_id.strip() if who_id and who_id.strip() else None
        what_id = what_id.strip() if what_id and what_id.strip() else None
        self._check_records(who_id, what_id)
        item = self.fetch_item(mailbox, item_id)
        series = self._linked_series(mailbox, item)
        if series is not None:
            return self._save_series(mailbox, item, series, who_id, what_id)
        note = ""
        with self.store.session() as s:
            row = s.scalars(
                select(LinkRow).where(LinkRow.mailbox == mailbox, LinkRow.item_id == item.id)
            ).first()
            linked = row is not None and row.event_id is not None
            if row is None:
                row = LinkRow(
                    mailbox=mailbox,
                    item_id=item.id,
                    guid=item.ical_uid,
                    origin=Origin.OUTLOOK,
                    share_mode=ShareMode.SAVE,
                )
                s.add(row)
            who_id, what_id, note = _lead_rule(row, who_id, what_id)
            if who_id:
                row.who_id = who_id
            if what_id:
                row.what_id = what_id
            if linked:
                row.outlook_hash = None  # the planner looks at it again (relations, U1)
            else:
                row.share_mode = ShareMode.SAVE
                row.snapshot = item_to_json(item)
                row.item_start, row.item_end = item.start, item.end
            event_id = row.event_id
        if linked:
            try:
                r = self.sync_items(mailbox, [item.id], trigger="save")
            except Paused:
                return SaveOutcome(
                    "queued", item.id, event_id, who_id, what_id,
                    "Sync is paused: the Event is updated when sync resumes.",
                )  # fmt: skip
            if r.status is SessionStatus.FAILED or r.outcome.failed:
                raise Invalid(r.error or "; ".join(r.outcome.log) or "Salesforce refused it")
            return SaveOutcome(
                "updated", item.id, event_id, who_id, what_id, note + "The Event was updated."
            )
        if cat.SALESFORCE not in item.categories:  # M2/C1: marked to be shared
            self.calendar.set_categories(mailbox, {item.id: [*item.categories, cat.SALESFORCE]})
        return SaveOutcome(
            "queued",
            item.id,
            None,
            who_id,
            what_id,
            note + "Saved: the next session creates the Event with these links.",
        )

    def _linked_series(self, mailbox: str, item: Item) -> str | None:
        """R2: the master id when `item` is an occurrence or the master of a linked series."""
        master_id = item.series_master_id or (
            item.id if item.type is ItemType.SERIES_MASTER else None
        )
        if master_id is None:
            return None
        with self.store.session() as s:
            found = s.scalar(
                select(SeriesRow.id).where(
                    SeriesRow.mailbox == mailbox, SeriesRow.master_id == master_id
                )
            )
            return master_id if found is not None else None

    def _save_series(
        self, mailbox: str, item: Item, master_id: str, who_id: str | None, what_id: str | None
    ) -> SaveOutcome:
        """R2, M2 on an occurrence or the master of a linked series: the choice is stored on
        the master's link and the Salesforce series and its occurrences get it at once, in a
        session limited to the series (decision 0121)."""
        with self.store.session() as s:
            row = s.scalars(
                select(LinkRow).where(LinkRow.mailbox == mailbox, LinkRow.item_id == master_id)
            ).first()
            if row is None or row.event_id is None:
                raise Invalid("the series is not linked to a Salesforce Event")
            who_id, what_id, note = _lead_rule(row, who_id, what_id)
            if who_id:
                row.who_id = who_id
            if what_id:
                row.what_id = what_id
            event_id = row.event_id
        try:
            r = self.sync_items(mailbox, [master_id], trigger="save")
        except Paused:
            return SaveOutcome(
                "queued", item.id, event_id, who_id, what_id,
                "Sync is paused: the series is updated when sync resumes.",
            )  # fmt: skip
        if r.status is SessionStatus.FAILED or r.outcome.failed:
            raise Invalid(r.error or "; ".join(r.outcome.log) or "Salesforce refused it")
        return SaveOutcome(
            "updated", item.id, event_id, who_id, what_id, note + "The series was updated."
        )

    # -- record search (Name / Related To pickers) --------------------------------------------

    def search_records(self, text: str, kind: str, limit: int = 10) -> list[RecordRef]:
        """Contacts and Leads (kind `who`) or Accounts and Opportunities (`what`) whose name (or
        e-mail) contains `text`; every literal escaped (L7)."""
        text = text.strip()
        if len(text) < 2:
            return []
        pat = soql.like_literal(text[:80], prefix="%", suffix="%")
        n = max(1, min(limit, 50))
        # `pat` is an escaped LIKE literal (soql.like_literal); nothing else comes from input.
        name_or_mail = f"(Name LIKE {pat} OR Email LIKE {pat})"
        tail = f" ORDER BY Name LIMIT {n}"
        queries: list[tuple[str, str]]
        if kind == "who":
            queries = [
                ("Contact", "SELECT Id, Name, Email, AccountId FROM Contact WHERE "  # noqa: S608
                 + name_or_mail + tail),
                ("Lead", "SELECT Id, Name, Email FROM Lead WHERE IsConverted = false AND "  # noqa: S608
                 + name_or_mail + tail),
            ]  # fmt: skip
        elif kind == "what":
            queries = [
                ("Account", f"SELECT Id, Name FROM Account WHERE Name LIKE {pat}"  # noqa: S608
                 + tail),
                ("Opportunity", "SELECT Id, Name, AccountId FROM Opportunity WHERE "  # noqa: S608
                 f"Name LIKE {pat}" + tail),
            ]  # fmt: skip
        else:
            raise Invalid("kind must be `who` or `what`")
        out: list[RecordRef] = []
        for sobject, q in queries:
            for rec in self.crm.query(q):
                out.append(ref_from_json(rec, sobject))
        return out[: n * 2]

    # -- issues (I1) --------------------------------------------------------------------------

    def issue(self, issue_id: int) -> IssueRow:
        with self.store.session() as s:
            row = s.get(IssueRow, issue_id)
            if row is None:
                raise NotFound("no such issue")
            return row

    def dismiss(self, issue_id: int) -> None:
        with self.store.session() as s:
            row = s.get(IssueRow, issue_id)
            if row is None:
                raise NotFound("no such issue")
            row.dismissed = True
            row.resolved_at = row.resolved_at or utcnow()

    def retry(self, issue: IssueRow) -> SessionResult | None:
        """Look at the item again in a session now (its content hash is cleared so the planner
        re-decides it even when Outlook did not change it)."""
        if issue.item_id:
            with self.store.session() as s:
                row = s.scalars(
                    select(LinkRow).where(
                        LinkRow.mailbox == issue.mailbox, LinkRow.item_id == issue.item_id
                    )
                ).first()
                if row is not None:
                    row.outlook_hash = None
                    if row.snapshot is None and row.event_id is None:
                        try:
                            item = self.fetch_item(issue.mailbox, issue.item_id)
                            row.snapshot = item_to_json(item)
                        except NotFound:
                            pass
            # A session limited to the item (decision 0121): series, D4, T1-T2 and X7 with it.
            return self.sync_named(issue.mailbox, [issue.item_id], trigger="retry")
        return self.force_sync(issue.mailbox, trigger="retry")

    def confirm_deletions(self, issue: IssueRow) -> SessionResult | None:
        """X7 from the dashboard: a session with the guard's held deletions carried out, as
        `crmcal sync --allow-mass-delete` would run it. Only for the guard's own issues."""
        if issue.reason not in GUARD_REASONS:
            raise Invalid("only a mass-delete guard issue can be confirmed")
        # A limited session (decision 0121): the held deletions (items and series) stay in play
        # by themselves, so it names no item and reads nothing else of the mailbox.
        r = self.sync_named(issue.mailbox, [], trigger="confirm", allow_mass_delete=True)
        if r is not None:  # as run_sync does after a confirmed session
            settle_guard_issues(self.store, [issue.mailbox], datetime.now(UTC))
        return r

    def unresolved_addresses(self, mailbox: str, item: Item) -> list[tuple[str, str]]:
        """M4: the item's external, non-blocklisted participants without a Contact or Lead."""
        org = self.cfg.org
        u = self.user(mailbox)
        people: dict[str, str] = {}
        parts = [*(a.email for a in item.attendees), *([item.organizer] if item.organizer else [])]
        for e in parts:
            key = e.address.strip().lower()
            if not key or key == mailbox or org.is_internal(key):
                continue
            if org.is_blocklisted(key, u.settings):
                continue
            people.setdefault(key, e.name)
        if not people:
            return []
        found = {r.email.strip().lower() for r in self.crm.find_people(sorted(people))}
        return [(a, n) for a, n in sorted(people.items()) if a not in found]

    def create_record(self, issue: IssueRow) -> list[Any]:
        """K: make records for the unresolved participants, then retry the item."""
        try:
            from crmcal.sync import autocreate
        except ImportError as exc:  # pragma: no cover - depends on issue #11 landing
            raise Invalid("auto-creation is not available in this build") from exc
        if not issue.item_id:
            raise Invalid("this issue is not about an item")
        item = self.fetch_item(issue.mailbox, issue.item_id)
        addresses = self.unresolved_addresses(issue.mailbox, item)
        if not addresses:
            raise Invalid("every participant already has a record")
        u = self.user(issue.mailbox)
        created: list[Any] = autocreate.create_records_for_addresses(
            self.crm,
            self.cfg.org,
            addresses,
            subject=item.subject,
            owner_id=u.salesforce_user_id,
            user=u.settings,
            store=self.store,
            mailbox=issue.mailbox,
            item_id=issue.item_id,
        )
        self.retry(issue)
        return created

    # -- reading ------------------------------------------------------------------------------

    def siblings(self, mailbox: str | None) -> list[dict[str, Any]]:
        """P3: GUIDs with Events of more than one owner; with `mailbox`, only those it shares."""
        with self.store.session() as s:
            q = (
                select(EventRow.guid)
                .where(EventRow.guid.is_not(None))
                .group_by(EventRow.guid)
                .having(func.count(func.distinct(EventRow.owner_id)) > 1)
            )
            guids = [g for g in s.scalars(q) if g]
            if not guids:
                return []
            events = list(s.scalars(select(EventRow).where(EventRow.guid.in_(guids))))
            links = list(
                s.scalars(
                    select(LinkRow).where(
                        LinkRow.event_id.in_([e.event_id for e in events]),
                    )
                )
            )
        owners = {u.salesforce_user_id: u.mailbox for u in self.cfg.users}
        subject = {r.guid: str((r.snapshot or {}).get("subject", "")) for r in links if r.snapshot}
        by_event: dict[str, list[str]] = {}
        for r in links:
            if r.event_id:
                by_event.setdefault(r.event_id, []).append(r.mailbox)
        out = []
        for g in sorted(guids):
            evs = [e for e in events if e.guid == g]
            members = [
                {
                    "event_id": e.event_id,
                    "owner_id": e.owner_id,
                    "owner": owners.get(e.owner_id, e.owner_id),
                    "mailboxes": sorted(by_event.get(e.event_id, [])),
                }
                for e in sorted(evs, key=lambda e: e.event_id)
            ]
            if mailbox is not None and not any(
                m["owner"] == mailbox or mailbox in m["mailboxes"] for m in members
            ):
                continue
            out.append({"guid": g, "subject": subject.get(g, ""), "events": members})
        return out


def _lead_rule(
    row: LinkRow, who_id: str | None, what_id: str | None
) -> tuple[str | None, str | None, str]:
    """E6 for Save (M2): a Lead as Name clears Related To (also one chosen before) and the
    answer says why; a Related To for an item whose chosen Name is a Lead is refused, with the
    reason, instead of a request Salesforce would refuse."""
    who_type = record_type_of(who_id) if who_id else None
    if who_type is RecordType.LEAD:
        had_what = bool(what_id or row.what_id)
        row.what_id = None
        return who_id, None, LEAD_CLEARS_WHAT if had_what else ""
    if what_id and not who_id and row.who_id and record_type_of(row.who_id) is RecordType.LEAD:
        raise Invalid(
            "A Lead can't have a Related To in Salesforce: this item's Name is a Lead. Choose a "
            "Contact as Name to relate it to an Account or Opportunity."
        )
    return who_id, what_id, ""
