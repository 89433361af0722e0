"""The engine over real HTTP: both emulators on 127.0.0.1, connectors built from a configuration
exactly as in production, a state store, and helpers that act as people would in Outlook."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crmcal.config import Config
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain import CrmEvent, EventRelation, Item, OrgSettings, UserConfig, UserSettings
from crmcal.sandbox.runtime import Sandbox
from crmcal.service.runner import CalendarClient, build_calendar, build_crm, run_sync
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult

DOMAIN = "contoso.example"


@dataclass
class World:
    sb: Sandbox
    tmp: Path
    org: OrgSettings = field(default_factory=lambda: OrgSettings(internal_domains=(DOMAIN,)))
    users: dict[str, UserConfig] = field(default_factory=dict)
    sf_ids: dict[str, str] = field(default_factory=dict)
    store: StateStore | None = None
    backend: str = "graph"
    """The org's calendar backend: `graph` (Exchange Online) or `ews` (Exchange Server, issue 20);
    the people's mailboxes live in the shared mailbox model either way."""
    _calendar: CalendarClient | None = None
    _crm: SalesforceClient | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    # -- people -------------------------------------------------------------------------------

    def person(self, address: str, *, crmcal: bool = True, **settings: Any) -> str:
        """An internal person: a mailbox and a Salesforce user; a crmcal user unless told not."""
        if self.backend == "ews":
            self.sb.ews.add_mailbox(address)
        else:
            self.sb.graph.add_user(address)
        uid = self.sb.salesforce.add_user(address, last_name=address.split("@")[0])
        self.sf_ids[address] = uid
        if crmcal:
            self.users[address] = UserConfig(
                mailbox=address, salesforce_user_id=uid, settings=UserSettings(**settings)
            )
        return uid

    def contact(self, email: str, last: str = "Contact", account: str | None = None) -> str:
        return self.sb.salesforce.add_contact(last, email=email, account_id=account)

    # -- Outlook, as a person uses it ---------------------------------------------------------

    def meeting(
        self,
        organizer: str,
        subject: str,
        attendees: tuple[str, ...],
        *,
        days: int = 1,
        **extra: Any,
    ) -> Any:
        start = (self.now + timedelta(days=days)).replace(minute=0, second=0)
        body = {
            "subject": subject,
            "body": {"contentType": "text", "content": extra.pop("text", "Agenda")},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "attendees": [{"type": "required", "emailAddress": {"address": a}} for a in attendees],
            **extra,
        }
        return self.sb.graph.seed_event(organizer, body, created=self.now - timedelta(days=1))

    def invitation(
        self,
        mailbox: str,
        organizer: str,
        subject: str,
        attendees: tuple[str, ...],
        guid: str,
        *,
        days: int = 1,
    ) -> Any:
        start = (self.now + timedelta(days=days)).replace(minute=0, second=0)
        body = {
            "subject": subject,
            "body": {"contentType": "text", "content": "Agenda"},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "attendees": [{"type": "required", "emailAddress": {"address": a}} for a in attendees],
        }
        return self.sb.graph.deliver_invitation(
            mailbox, body, organizer=(organizer, ""), ical_uid=guid
        )

    def copy_of(self, mailbox: str, rec: Any) -> str:
        return str(rec.copies[mailbox])

    def respond(self, mailbox: str, item_id: str, response: str = "accepted") -> None:
        self.sb.graph.respond(mailbox, item_id, response, {"sendResponse": True})

    def set_categories(self, mailbox: str, item_id: str, cats: tuple[str, ...]) -> None:
        self.sb.graph.update_event(mailbox, item_id, {"categories": list(cats)})

    # -- crmcal ---------------------------------------------------------------------------------

    def config(self) -> Config:
        return self.sb.config(data_dir=self.tmp, org=self.org, users=tuple(self.users.values()),
                              database_url=f"sqlite:///{(self.tmp / 'state.db').as_posix()}",
                              calendar=self.backend)  # fmt: skip

    @property
    def calendar(self) -> CalendarClient:
        if self._calendar is None:
            self._calendar = build_calendar(self.config())
        return self._calendar

    @property
    def crm(self) -> SalesforceClient:
        if self._crm is None:
            self._crm = build_crm(self.config())
        return self._crm

    def sync(self, *mailboxes: str) -> list[SessionResult]:
        cfg = self.config()
        if self.store is None:
            self.store = StateStore(cfg.storage.url())
            self.store.migrate()
        self._crm = (
            None
            if self._crm is not None and self._crm.guid_field != cfg.org.guid_field
            else self._crm
        )
        results = run_sync(cfg, store=self.store, calendar=self.calendar, crm=self.crm, now=self.now,
                           users=list(mailboxes) or None)  # fmt: skip
        for r in results:
            assert r.status != "failed", f"{r.mailbox}: {r.error}"
        return results

    def quiet(self, *mailboxes: str) -> None:
        """One more session writes nothing, on either side (the "second session" check)."""
        for r in self.sync(*mailboxes):
            o = r.outcome
            writes = (o.created, o.updated, o.deleted, o.created_items, o.updated_items,
                      o.deleted_items)  # fmt: skip
            assert writes == (0, 0, 0, 0, 0, 0), (r.mailbox, r.outcome.log)

    # -- looking at both sides over the real APIs -------------------------------------------------

    def events(self) -> list[CrmEvent]:
        """Every top-level Event owned by the people of this world (children of invitees left out)."""
        got = self.crm.events_changed_since(None, list(self.sf_ids.values())).events
        return [e for e in got if not e.is_child]

    def relations(self, event_id: str) -> list[EventRelation]:
        return self.crm.relations_for([event_id])

    def item(self, mailbox: str, item_id: str) -> Item:
        [it] = self.calendar.get_items(mailbox, [item_id])
        return it

    def close(self) -> None:
        for c in (self._calendar, self._crm):
            if c is not None:
                c.close()
        if self.store is not None:
            self.store.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set `BOTH_BACKENDS = True` (or a tuple of test names) run those `world` tests
    on Graph and on EWS (issue 20); the others stay on Graph."""
    both = getattr(metafunc.module, "BOTH_BACKENDS", False)
    wants = {"world", "calendar_backend"} & set(metafunc.fixturenames)
    if not wants or not both:
        return
    if both is True or metafunc.definition.originalname in both:
        if "calendar_backend" not in metafunc.fixturenames:  # reached through `world`
            metafunc.fixturenames.append("calendar_backend")
        metafunc.parametrize("calendar_backend", ["graph", "ews"], indirect=True)


@pytest.fixture
def calendar_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "graph"))


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    # The backend comes from the test's parameters: `calendar_backend` is added to the test's
    # fixture names at collection, after pytest built the fixture closure, so
    # `getfixturevalue("calendar_backend")` would not see the indirect parameter and every
    # "both backends" test ran on Graph twice.
    spec = getattr(request.node, "callspec", None)
    backend = str(spec.params.get("calendar_backend", "graph")) if spec is not None else "graph"
    with Sandbox() as sb:
        w = World(sb, tmp_path, backend=backend)
        try:
            yield w
        finally:
            w.close()
