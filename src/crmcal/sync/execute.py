"""The executor: carries out a plan with batched calls, journals every external write, turns
per-item failures into statuses and issues, and records what it did in the state store.

Order (each step batched across the plan):
1. Salesforce creates (collections of 200, or upsert by the GUID field: D3), each journaled as an
   intent before the call and closed after it (O5);
2. links (D1, D2, P1 attendee copies) and Event updates (U1);
3. invitees and Who relations (P1, P4, P6, L5), one relation read for all Events that need it;
4. Outlook categories, per mailbox, after the Salesforce outcome is known (C1-C4, N4);
5. tracked items and issues (I1).
A failure of one item never stops the others; only systemic errors (auth, limits) propagate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmcal.connectors.errors import (
    BadResponse,
    ConnectorError,
    NotFound,
    SystemicError,
    TransientError,
)
from crmcal.domain import EventRelation, Item, ItemPatch, OrgSettings, RelationStatus
from crmcal.rules import categories as cat
from crmcal.rules.linking import clashing_whos
from crmcal.state import StateStore
from crmcal.state.models import (
    EventRow,
    IntentRow,
    IntentStatus,
    LinkRow,
    Origin,
    ShareMode,
    utcnow,
)
from crmcal.sync.actions import (
    CreateEvent,
    CreateItem,
    DeleteEvent,
    DeleteItem,
    HoldDelete,
    ItemRef,
    LinkItem,
    Note,
    Plan,
    RaiseIssue,
    ResolveIssues,
    Seen,
    SetAttendees,
    SetCategories,
    SyncRelations,
    Track,
    Unlink,
    UpdateEvent,
    UpdateItem,
)
from crmcal.sync.codec import item_to_json
from crmcal.sync.plan import HELD, natural_key
from crmcal.sync.ports import CalendarPort, CrmPort

log = logging.getLogger("crmcal.sync")

PENDING = "pending:"


@dataclass
class Outcome:
    """What a plan's execution did (session statistics, I2)."""

    created: int = 0
    created_items: int = 0
    """X1: Outlook items made for Salesforce Events."""
    updated_items: int = 0
    """X2: Outlook items updated from Salesforce."""
    deleted: int = 0
    deleted_items: int = 0
    """X3: Outlook items deleted because their Event was."""
    linked: int = 0
    adopted: int = 0
    updated: int = 0
    relations: int = 0
    categories: int = 0
    issues: int = 0
    failed: int = 0
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "created_items": self.created_items,
            "updated_items": self.updated_items,
            "deleted": self.deleted,
            "deleted_items": self.deleted_items,
            "linked": self.linked,
            "adopted": self.adopted,
            "updated": self.updated,
            "relations": self.relations,
            "categories": self.categories,
            "issues": self.issues,
            "failed": self.failed,
        }


def failure_status(err: ConnectorError | None) -> tuple[str, cat.Status, str]:
    """(issue reason, status category, message) for a refused write."""
    if err is not None and err.code == "REQUIRED_FIELD_MISSING" and err.fields:
        st = cat.required_fields_missing(tuple(err.fields))
        return "required_fields_missing", st, st.text
    text = (err.message if err else "unknown error").strip().replace("\n", " ")
    if len(text) > 180:
        text = text[:177] + "..."
    st = cat.not_synced(text)
    return "salesforce_refused", st, st.text


class Executor:
    def __init__(
        self,
        store: StateStore,
        calendar: CalendarPort,
        crm: CrmPort,
        org: OrgSettings,
        *,
        session_id: int | None = None,
        now: datetime | None = None,
    ) -> None:
        self.store = store
        self.calendar = calendar
        self.crm = crm
        self.org = org
        self.session_id = session_id
        self.now = now or utcnow()
        self.out = Outcome()
        self.created_ids: dict[str, str] = {}
        """`guid|owner` -> Event id, for LinkItem actions that point at a pending create."""
        self.deleted: set[str] = set()
        """Event ids deleted in this run."""
        self.failed_deletes: set[tuple[str, str]] = set()
        self.retry_events: set[str] = set()
        """Events with a refused relation or link write: their items' content hashes are not
        recorded, so the next session plans them again and retries."""
        """(mailbox, item id) of Outlook items that could not be deleted."""
        self.failed_items: dict[tuple[str, str], tuple[str, cat.Status, str, Item | None]] = {}
        """(mailbox, item id) -> (reason, status, message, item) for items whose write failed."""

    # -- entry --------------------------------------------------------------------------------

    def run(self, plan: Plan) -> Outcome:
        self.create_events(plan.of(CreateEvent))
        self.link_items(plan.of(LinkItem))
        rels = plan.of(SyncRelations)
        # M6/U1: a private Event can't be associated with contacts, leads, accounts or
        # opportunities (Event, IsPrivate), and with Shared Activities each link is an
        # EventRelation row: those rows go before the update that sets IsPrivate.
        self.sync_relations([x for x in rels if x.clear_whos])
        self.update_events(plan.of(UpdateEvent))
        self.sync_relations([x for x in rels if not x.clear_whos])
        self.create_items(plan.of(CreateItem))
        self.update_items(plan.of(UpdateItem))
        self.set_attendees(plan.of(SetAttendees))
        self.delete_events(plan.of(DeleteEvent))
        self.delete_items(plan.of(DeleteItem))
        self.unlink(plan.of(Unlink))
        self.hold(plan.of(HoldDelete))
        self.set_categories(plan.of(SetCategories))
        self.track(plan.of(Track))
        self.seen(plan.of(Seen))
        self.issues(plan.of(RaiseIssue), plan.of(ResolveIssues))
        for n in plan.of(Note):
            self.out.log.append(n.text if n.item is None else f"{n.item.item_id}: {n.text}")
        return self.out

    # -- 1. creates ---------------------------------------------------------------------------

    def create_events(self, creates: list[CreateEvent]) -> None:
        if not creates:
            return
        intent_ids = self._journal(
            "create_event",
            [
                (
                    c.key,
                    c.item.mailbox,
                    {
                        "item_id": c.item.item_id,
                        "guid": c.item.guid,
                        "owner_id": c.event.owner_id,
                        "subject": c.event.subject,
                        "start": natural_key(c.event.owner_id, c.event)[2],
                        "share_mode": c.share_mode.value,
                        "synced": dict(c.synced),
                        "who_id": c.event.who_id,
                        "what_id": c.event.what_id,
                    },
                )
                for c in creates
            ],
        )
        events = [c.event for c in creates]
        guid_field = self.org.guid_field
        if guid_field:
            results = self.crm.upsert_events(events, guid_field)
        else:
            results = self.crm.create_events(events)
        by_key = {r.key: r for r in results}
        made: list[tuple[CreateEvent, str]] = []
        with self.store.session() as s, s.no_autoflush:
            links = self._load_links(s, [c.item for c in creates])
            intents = {
                r.id: r for r in s.scalars(select(IntentRow).where(IntentRow.id.in_(intent_ids)))
            }
            ids = [r.id for r in results if r.ok and r.id]
            known = {
                e.event_id: e
                for i in range(0, len(ids), 500)
                for e in s.scalars(select(EventRow).where(EventRow.event_id.in_(ids[i : i + 500])))
            }
            for pos, (c, iid) in enumerate(zip(creates, intent_ids, strict=True)):
                r = by_key.get(pos)
                intent = intents.get(iid)
                if r is None or not r.ok or r.id is None:
                    err = r.error if r is not None else None
                    self._fail(c.item, err, c.source)
                    if intent is not None and not isinstance(err, BadResponse | TransientError):
                        intent.status = IntentStatus.FAILED
                        intent.result = {"error": str(err) if err else "no result"}
                        intent.closed_at = utcnow()
                    # An ambiguous answer leaves the intent open: the next session reconciles it
                    # (the Event may exist) before planning anything (O5).
                    continue
                eid = r.id
                self.created_ids[c.key] = eid
                made.append((c, eid))
                row = known.get(eid)
                if row is None:
                    row = EventRow(event_id=eid, owner_id=c.event.owner_id, origin=Origin.OUTLOOK)
                    s.add(row)
                    known[eid] = row
                row.owner_id = c.event.owner_id
                row.guid = c.event.guid
                row.created_by_crmcal = True
                row.synced = dict(c.synced)
                row.who_ids = [c.event.who_id] if c.event.who_id else []
                row.what_id = c.event.what_id
                row.invitees = []
                self._upsert_link(s, links, c.item, eid, c.share_mode, c.source)
                if intent is not None:
                    intent.status = IntentStatus.DONE
                    intent.result = {"id": eid, "created": r.created or not guid_field}
                    intent.closed_at = utcnow()
                self.out.created += 1
                self.out.log.append(f"{c.item.item_id}: created Event {eid} ({', '.join(c.rules)})")
        # Invitees and extra Who relations of the new Events, in one batch.
        rels: list[EventRelation] = []
        for c, eid in made:
            for inv in c.invitees:
                rels.append(
                    EventRelation(eid, inv.user_id, is_invitee=True, status=_status(inv.status))
                )
            for who in c.who_relations:
                if who != c.event.who_id:
                    rels.append(EventRelation(eid, who, is_invitee=False, is_parent=True))
        if rels:
            refused = self._create_relations(rels)
            self.retry_events |= refused
            with self.store.session() as s:
                rows = self._load_events(s, [eid for _c, eid in made])
                for c, eid in made:
                    row = rows.get(eid)
                    if row is not None and eid not in refused:
                        row.invitees = [i.user_id for i in c.invitees]
                        row.invitee_status = {i.user_id: i.status for i in c.invitees}
                        row.who_ids = list(c.who_relations) or row.who_ids

    def _journal(
        self,
        action: str,
        entries: list[tuple[str, str | None, dict[str, object]]],
        side: str = "salesforce",
    ) -> list[int]:
        """Open one intent per external write (key, mailbox, payload) before making it (O5);
        returns their ids in the order given."""
        with self.store.session() as s:
            rows = [
                IntentRow(
                    session_id=self.session_id,
                    mailbox=mailbox,
                    side=side,
                    action=action,
                    key=key,
                    payload=dict(payload),
                )
                for key, mailbox, payload in entries
            ]
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]

    def _journal_keyed(
        self, action: str, entries: list[tuple[str, str | None, dict[str, object]]]
    ) -> dict[str, int]:
        """`_journal` for writes keyed by a unique id (one Event each)."""
        return dict(zip((e[0] for e in entries), self._journal(action, entries), strict=True))

    def _close(
        self,
        intents: dict[str, int],
        ok: dict[str, bool],
        results: dict[str, dict[str, object]] | None = None,
    ) -> None:
        """Record each write's outcome (and what came back) in its intent."""
        with self.store.session() as s:
            rows = s.scalars(select(IntentRow).where(IntentRow.id.in_(list(intents.values()))))
            by_id = {r.id: r for r in rows}
            now = utcnow()
            for key, iid in intents.items():
                row = by_id.get(iid)
                if row is not None:
                    row.status = IntentStatus.DONE if ok.get(key) else IntentStatus.FAILED
                    row.closed_at = now
                    if results and key in results:
                        row.result = results[key]

    # -- 2. links and updates -----------------------------------------------------------------

    def link_items(self, links: list[LinkItem]) -> None:
        if not links:
            return
        with self.store.session() as s, s.no_autoflush:
            cache = self._load_links(s, [lk.item for lk in links])
            events = self._load_events(
                s,
                [
                    self.created_ids.get(lk.event_id[len(PENDING) :], "")
                    if lk.event_id.startswith(PENDING)
                    else lk.event_id
                    for lk in links
                ],
            )
            for lk in links:
                eid = lk.event_id
                if eid.startswith(PENDING):
                    resolved = self.created_ids.get(eid[len(PENDING) :])
                    if resolved is None:
                        continue  # the create it waited for failed; the item stays waiting
                    eid = resolved
                if eid not in events:
                    events[eid] = EventRow(
                        event_id=eid,
                        owner_id=lk.owner_id or "",
                        guid=lk.item.guid,
                        origin=lk.origin,
                        created_by_crmcal=not lk.adopted,
                        synced=dict(lk.synced or {}),
                    )
                    s.add(events[eid])
                self._upsert_link(s, cache, lk.item, eid, lk.share_mode, lk.source)
                self.out.linked += 1
                if lk.adopted:
                    self.out.adopted += 1

    def update_events(self, updates: list[UpdateEvent]) -> None:
        if not updates:
            return
        records = [{"Id": u.event_id, **_scalars(u.fields)} for u in updates]
        intents = self._journal_keyed(
            "update_event",
            [
                (u.event_id, u.item.mailbox if u.item else None, {"fields": sorted(u.fields)})
                for u in updates
            ],
        )
        results = {r.key: r for r in self.crm.update_records("Event", records)}
        self._close(intents, {k: r.ok for k, r in results.items()})
        with self.store.session() as s:
            rows = self._load_events(s, [u.event_id for u in updates])
            for u in updates:
                r = results.get(u.event_id)
                if r is None or not r.ok:
                    if u.item is not None:
                        self._fail(u.item, r.error if r else None, u.source)
                    continue
                row = rows.get(u.event_id)
                if row is not None:
                    row.synced = dict(u.synced)
                self.out.updated += 1
                if u.conflicts:
                    self.out.log.append(
                        f"{u.event_id}: conflict on {', '.join(u.conflicts)}: Outlook wins (U4)"
                    )

    def create_items(self, creates: list[CreateItem]) -> None:
        """X1: create the Outlook items of Salesforce-made Events (one `$batch` per 20; each
        create has the Event id as `transactionId`, so a retry after a crash cannot duplicate)."""
        by_mailbox: dict[str, list[CreateItem]] = defaultdict(list)
        for c in creates:
            by_mailbox[c.mailbox].append(c)
        for mailbox, cs in by_mailbox.items():
            keys = [str(c.event.id) for c in cs]
            intents = dict(
                zip(
                    keys,
                    self._journal("create_item", [(k, mailbox, {}) for k in keys], "outlook"),
                    strict=True,
                )
            )
            self.calendar.ensure_categories(mailbox, _master([cat.TRACKED]))
            results = {r.key: r for r in self.calendar.create_items(mailbox, [c.draft for c in cs])}
            outcome: dict[str, bool] = {}
            returned: dict[str, dict[str, object]] = {}
            for pos, key in enumerate(keys):
                r = results.get(pos)
                outcome[key] = r is not None and r.ok and r.id is not None
                returned[key] = (
                    {"id": r.id} if r and outcome[key] else {"error": str(r and r.error)}
                )
            with self.store.session() as s, s.no_autoflush:
                known = self._load_events(s, keys)
                for pos, c in enumerate(cs):
                    r = results.get(pos)
                    if not outcome[keys[pos]] or r is None or r.id is None or c.event.id is None:
                        self.out.failed += 1
                        self.out.log.append(
                            f"Event {c.event.id}: not created in Outlook: {r.error if r else ''}"
                        )
                        continue
                    eid = c.event.id
                    if eid not in known:
                        known[eid] = EventRow(
                            event_id=eid,
                            owner_id=c.event.owner_id,
                            origin=Origin.SALESFORCE,
                            created_by_crmcal=False,
                        )
                        s.add(known[eid])
                    known[eid].synced = dict(c.synced)
                    known[eid].sf_modstamp = c.event.system_modstamp
                    row = LinkRow(
                        mailbox=mailbox,
                        item_id=r.id,
                        guid="",
                        event_id=eid,
                        origin=Origin.SALESFORCE,
                        share_mode=ShareMode.DOWNSYNC,
                        status=cat.TRACKED.category,
                        item_start=c.draft.start,
                        item_end=c.draft.end,
                        last_synced_at=utcnow(),
                    )
                    s.add(row)
                    self.out.created_items += 1
                    self.out.log.append(f"Event {eid}: created in Outlook ({', '.join(c.rules)})")
            self._close(intents, outcome, returned)

    def update_items(self, updates: list[UpdateItem]) -> None:
        """X2: patch Outlook items with what changed in Salesforce (per mailbox, `$batch`)."""
        by_mailbox: dict[str, list[UpdateItem]] = defaultdict(list)
        for u in updates:
            by_mailbox[u.item.mailbox].append(u)
        for mailbox, us in by_mailbox.items():
            results = {
                str(r.key): r
                for r in self.calendar.update_items(
                    mailbox, [(u.item.item_id, u.patch) for u in us]
                )
            }
            with self.store.session() as s:
                rows = self._load_events(s, [u.event_id for u in us])
                for u in us:
                    r = results.get(u.item.item_id)
                    if r is None or not r.ok:
                        self.out.log.append(
                            f"{u.item.item_id}: Outlook not updated: {r.error if r else ''}"
                        )
                        continue
                    row = rows.get(u.event_id)
                    if row is not None:
                        row.synced = dict(u.synced)
                    self.out.updated_items += 1
                    note = (
                        f"; conflict on {', '.join(u.conflicts)}: Outlook kept (U4)"
                        if u.conflicts
                        else ""
                    )
                    self.out.log.append(
                        f"{u.item.item_id}: {', '.join(u.fields)} from Salesforce (X2){note}"
                    )

    def set_attendees(self, changes: list[SetAttendees]) -> None:
        """P5 with `invitation_mode`: Salesforce invitee changes to the organizer's Outlook
        meeting; the Event's synced invitees are then what Salesforce has."""
        by_mailbox: dict[str, list[SetAttendees]] = defaultdict(list)
        for c in changes:
            by_mailbox[c.item.mailbox].append(c)
        for mailbox, cs in by_mailbox.items():
            results = {
                str(r.key): r
                for r in self.calendar.update_items(
                    mailbox, [(c.item.item_id, ItemPatch(attendees=c.attendees)) for c in cs]
                )
            }
            with self.store.session() as s:
                rows = self._load_events(s, [c.event_id for c in cs])
                for c in cs:
                    r = results.get(c.item.item_id)
                    if r is None or not r.ok:
                        self.out.failed += 1
                        self.out.log.append(
                            f"{c.item.item_id}: attendees not updated: {r.error if r else ''}"
                        )
                        continue
                    row = rows.get(c.event_id)
                    if row is not None:
                        row.invitees = list(c.invitees)
                    self.out.updated_items += 1
                    self.out.log.append(
                        f"{c.item.item_id}: attendees from Salesforce (P5 invitation_mode): "
                        f"+{len(c.added)} -{len(c.removed)}"
                    )

    def delete_events(self, deletes: list[DeleteEvent]) -> None:
        """X4, X5, M5: delete in collections of 200, journaled; an Event already gone is fine."""
        if not deletes:
            return
        intents = self._journal_keyed(
            "delete_event",
            [
                (d.event_id, d.item.mailbox, {"subject": d.subject, "rules": list(d.rules)})
                for d in deletes
            ],
        )
        results = {r.key: r for r in self.crm.delete_events([d.event_id for d in deletes])}
        ok: dict[str, bool] = {}
        for d in deletes:
            r = results.get(d.event_id)
            gone = r is not None and (r.ok or isinstance(r.error, NotFound))
            ok[d.event_id] = gone
            if gone:
                self.deleted.add(d.event_id)
                self.out.deleted += 1
                self.out.log.append(
                    f"{d.item.item_id}: deleted Event {d.event_id} ({', '.join(d.rules)})"
                )
            else:
                self.out.failed += 1
                self.out.log.append(f"{d.event_id}: not deleted: {r.error if r else 'no result'}")
        self._close(intents, ok)

    def delete_items(self, deletes: list[DeleteItem]) -> None:
        """X3: delete Outlook items (per mailbox, `$batch`); an item already gone is fine."""
        by_mailbox: dict[str, list[DeleteItem]] = defaultdict(list)
        for d in deletes:
            by_mailbox[d.item.mailbox].append(d)
        for mailbox, ds in by_mailbox.items():
            for r in self.calendar.delete_items(mailbox, [d.item.item_id for d in ds]):
                if r.ok or isinstance(r.error, NotFound):
                    self.out.deleted_items += 1
                else:
                    self.failed_deletes.add((mailbox, str(r.key)))
                    self.out.log.append(f"{r.key}: Outlook item not deleted: {r.error}")

    def unlink(self, unlinks: list[Unlink]) -> None:
        if not unlinks:
            return
        with self.store.session() as s:
            cache = self._load_links(s, [u.item for u in unlinks])
            done: list[Unlink] = []
            for u in unlinks:
                crmcal_delete_failed = (
                    u.event_gone
                    and u.event_id
                    and not u.deleted_elsewhere
                    and u.event_id not in self.deleted
                )
                if crmcal_delete_failed:
                    continue  # the delete failed: keep the link, the next session retries
                if (u.item.mailbox, u.item.item_id) in self.failed_deletes:
                    continue
                row = cache.get((u.item.mailbox, u.item.item_id))
                if row is not None and u.remember is not None:
                    row.event_id = None
                    row.status = u.remember
                    row.snapshot = None
                    row.outlook_hash = None
                elif row is not None:
                    s.delete(row)
                done.append(u)
            s.flush()
            gone = {u.event_id for u in done if u.event_gone and u.event_id}
            for ev in self._load_events(s, sorted(gone)).values():
                others = list(s.scalars(select(LinkRow).where(LinkRow.event_id == ev.event_id)))
                if any(u.deleted_elsewhere for u in done if u.event_id == ev.event_id):
                    # X3: other mailboxes' copies handle the deletion in their own sessions;
                    # the Event's row goes with the last of them.
                    if not others:
                        s.delete(ev)
                    continue
                for other in others:
                    s.delete(other)  # X4/X5: attendees' copies pointed at it too
                s.delete(ev)

    def hold(self, holds: list[HoldDelete]) -> None:
        """X7: mark the links whose deletion waits for a confirmation."""
        if not holds:
            return
        with self.store.session() as s:
            cache = self._load_links(s, [h.item for h in holds])
            for h in holds:
                row = cache.get((h.item.mailbox, h.item.item_id))
                if row is not None:
                    row.status = HELD

    # -- 3. relations -------------------------------------------------------------------------

    def sync_relations(self, syncs: list[SyncRelations]) -> None:  # noqa: C901 - see 0122
        if not syncs:
            return
        current = self.crm.relations_for([x.event_id for x in syncs])
        by_event: dict[str, list[EventRelation]] = defaultdict(list)
        for rel in current:
            by_event[rel.event_id].append(rel)
        to_create: list[EventRelation] = []
        to_delete: list[str] = []
        first_delete: list[str] = []
        """Who rows that would make the new links invalid (E6: one Lead, or up to 50
        Contacts): deleted before WhoId/WhatId are written."""
        status_updates: list[dict[str, str | None]] = []
        link_updates: list[dict[str, str | None]] = []
        for x in syncs:
            have = by_event.get(x.event_id, [])
            invited = {r.relation_id for r in have if r.is_invitee}
            for inv in x.add_invitees:
                if inv.user_id not in invited:
                    to_create.append(
                        EventRelation(
                            x.event_id, inv.user_id, is_invitee=True, status=_status(inv.status)
                        )
                    )
            for uid in x.remove_invitees:
                to_delete += [r.id for r in have if r.is_invitee and r.relation_id == uid and r.id]
            for inv in x.update_status:
                status_updates += [
                    {"Id": r.id, "Status": _status(inv.status).value}
                    for r in have
                    if r.is_invitee and r.relation_id == inv.user_id and r.id
                ]
            if x.clear_whos:
                to_delete += [r.id for r in have if not r.is_invitee and r.id]
            if x.set_links:
                first_delete += clashing_whos(have, x.who_id, x.who_relations)
                link_updates.append({"Id": x.event_id, "WhoId": x.who_id, "WhatId": x.what_id})
                related = {r.relation_id for r in have}
                for who in x.who_relations:
                    if who != x.who_id and who not in related:
                        to_create.append(
                            EventRelation(x.event_id, who, is_invitee=False, is_parent=True)
                        )
        intents = self._journal_keyed(
            "sync_relations",
            [
                (
                    x.event_id,
                    None,
                    {"add": [i.user_id for i in x.add_invitees], "remove": list(x.remove_invitees)},
                )
                for x in syncs
            ],
        )
        failed: set[str] = set()
        """Events with any relation or link write Salesforce refused: their state is not moved,
        so the next session's diff tries again."""
        if first_delete:
            owner_of = {r.id: r.event_id for rels in by_event.values() for r in rels if r.id}
            for r in self.crm.delete_relations(first_delete):
                if not r.ok and not isinstance(r.error, NotFound):
                    failed.add(owner_of.get(str(r.key), ""))
                    self.out.log.append(f"relation {r.key}: not deleted: {r.error}")
        if link_updates:
            for r in self.crm.update_records("Event", link_updates):
                if not r.ok:
                    failed.add(str(r.key))
                    self.out.log.append(f"{r.key}: Who/What not written: {r.error}")
        if to_create:
            failed |= self._create_relations(to_create)
        if status_updates:
            owner = {r.id: r.event_id for rels in by_event.values() for r in rels if r.id}
            for r in self.crm.update_records("EventRelation", status_updates):
                if not r.ok:
                    failed.add(owner.get(str(r.key), ""))
                    self.out.log.append(f"relation {r.key}: status not written: {r.error}")
        if to_delete:
            owner_of = {r.id: r.event_id for rels in by_event.values() for r in rels if r.id}
            for r in self.crm.delete_relations(to_delete):
                if not r.ok and not isinstance(r.error, NotFound):
                    failed.add(owner_of.get(str(r.key), ""))
                    self.out.log.append(f"relation {r.key}: not deleted: {r.error}")
        self.retry_events |= failed
        self._close(intents, {x.event_id: x.event_id not in failed for x in syncs})
        with self.store.session() as s:
            rows = self._load_events(s, [x.event_id for x in syncs])
            for x in syncs:
                row = rows.get(x.event_id)
                if row is None or x.event_id in failed:
                    continue
                kept = [u for u in row.invitees if u not in x.remove_invitees]
                kept += [i.user_id for i in x.add_invitees if i.user_id not in kept]
                row.invitees = kept
                statuses = {u: v for u, v in (row.invitee_status or {}).items() if u in kept}
                for inv in (*x.add_invitees, *x.update_status):
                    statuses[inv.user_id] = inv.status
                row.invitee_status = statuses
                if x.set_links:
                    row.who_ids = list(x.who_relations) or ([x.who_id] if x.who_id else [])
                    row.what_id = x.what_id
                if x.clear_whos:
                    row.who_ids = []
                    row.what_id = None
                self.out.relations += 1

    def _create_relations(self, rels: list[EventRelation]) -> set[str]:
        """Create relations in collections; returns the Event ids with a refused one."""
        failed: set[str] = set()
        for r in self.crm.create_relations(rels):
            if not r.ok:
                rel = rels[int(r.key)] if isinstance(r.key, int) and r.key < len(rels) else None
                if rel is not None:
                    failed.add(rel.event_id)
                self.out.log.append(f"relation {r.key}: not created: {r.error}")
        return failed

    # -- 4. categories ------------------------------------------------------------------------

    def set_categories(self, sets: list[SetCategories]) -> None:
        wanted: dict[tuple[str, str], SetCategories] = {
            (x.item.mailbox, x.item.item_id): x for x in sets
        }
        for (mailbox, item_id), (_reason, status, _msg, item) in self.failed_items.items():
            base = item.categories if item is not None else ()
            prev = wanted.get((mailbox, item_id))
            ref = prev.item if prev else ItemRef(mailbox, item_id, item.ical_uid if item else "")
            # C1: `Salesforce` stays only where the user put it (marked); a failed auto-share is
            # neither shared nor marked. N4: `Sync Error` and one status naming the reason.
            new = cat.apply(base, shared=cat.wants_share(base), status=status, error=True)
            wanted[(mailbox, item_id)] = SetCategories(ref, new, status, rules=("N4", "C2"))
        by_mailbox: dict[str, list[SetCategories]] = defaultdict(list)
        for x in wanted.values():
            by_mailbox[x.item.mailbox].append(x)
        for mailbox, xs in list(by_mailbox.items()):
            stale = [x for x in xs if x.refresh]
            if not stale:
                continue
            current, _unreadable = self.calendar.fetch_items(
                mailbox, [x.item.item_id for x in stale]
            )
            now_cats = {i.id: i.categories for i in current}
            fresh: list[SetCategories] = [x for x in xs if not x.refresh]
            for x in stale:
                if x.item.item_id not in now_cats:
                    continue  # gone or unreadable: its own session will see to it
                mine = tuple(c for c in now_cats[x.item.item_id] if not cat.is_owned(c))
                ours = tuple(c for c in x.categories if cat.is_owned(c))
                if mine + ours != now_cats[x.item.item_id]:
                    fresh.append(SetCategories(x.item, mine + ours, x.status, x.rules))
            by_mailbox[mailbox] = fresh
        for mailbox, xs in by_mailbox.items():
            statuses = [x.status for x in xs if x.status is not None]
            try:
                if statuses or any(cat.SALESFORCE in x.categories for x in xs):
                    self.calendar.ensure_categories(mailbox, _master(statuses))
                results = self.calendar.set_categories(
                    mailbox, {x.item.item_id: x.categories for x in xs}
                )
            except SystemicError:
                raise
            except ConnectorError as exc:
                self.out.log.append(f"{mailbox}: categories not written: {exc}")
                continue
            ok = {r.key for r in results if r.ok}
            for r in results:
                if not r.ok:
                    self.out.log.append(f"{r.key}: categories not written: {r.error}")
            self.out.categories += len(ok)
            with self.store.session() as s:
                cache = self._load_links(s, [x.item for x in xs if x.item.item_id in ok])
                for x in xs:
                    row = cache.get((mailbox, x.item.item_id))
                    if row is None or x.item.item_id not in ok:
                        continue
                    if x.status is not None or row.event_id is not None:
                        # an unlinked item keeps its remembered status
                        row.status = x.status.category if x.status else None

    # -- 5. tracking and issues ---------------------------------------------------------------

    def track(self, tracks: list[Track]) -> None:
        failed = dict(self.failed_items)
        if not tracks and not failed:
            return
        with self.store.session() as s, s.no_autoflush:
            cache = self._load_links(
                s,
                [t.item for t in tracks if not t.forget]
                + [ItemRef(mb, iid, "") for (mb, iid) in failed],
            )
            for t in tracks:
                if t.forget:
                    s.execute(
                        delete(LinkRow).where(
                            LinkRow.mailbox == t.item.mailbox,
                            LinkRow.item_id == t.item.item_id,
                            LinkRow.event_id.is_(None),
                        )
                    )
                    continue
                row = self._link_row(s, cache, t.item)
                row.snapshot = item_to_json(t.snapshot) if t.snapshot else None
                row.status = t.status
                row.share_mode = t.share_mode
            for (mailbox, item_id), (_r, status, _m, item) in failed.items():
                if item is None:
                    continue
                row = self._link_row(s, cache, ItemRef(mailbox, item_id, item.ical_uid))
                if row.event_id is None:
                    row.snapshot = item_to_json(item)
                    row.status = status.category

    def seen(self, seen: list[Seen]) -> None:
        if not seen:
            return
        with self.store.session() as s:
            cache = self._load_links(s, [x.item for x in seen])
            for x in seen:
                if (x.item.mailbox, x.item.item_id) in self.failed_items:
                    continue
                row = cache.get((x.item.mailbox, x.item.item_id))
                if row is None or row.event_id is None or row.event_id in self.retry_events:
                    continue
                row.outlook_hash = x.outlook_hash
                row.snapshot = item_to_json(x.snapshot) if x.snapshot else None
                if x.start is not None and x.end is not None:
                    row.item_start, row.item_end = x.start, x.end
                if not row.guid:
                    row.guid = x.item.guid  # items crmcal created (X1) learn their GUID here

    def issues(self, raises: list[RaiseIssue], resolves: list[ResolveIssues]) -> None:
        failed_keys = set(self.failed_items)
        plain: dict[str, list[str]] = defaultdict(list)
        for r in resolves:
            if (r.mailbox, r.item_id) in failed_keys:
                continue
            if r.keep is None:
                plain[r.mailbox].append(r.item_id)
            else:
                self.store.resolve_issues(r.mailbox, r.item_id, except_reason=r.keep)
        for mailbox, ids in plain.items():
            self.store.resolve_issues_many(mailbox, ids)
        for i in raises:
            self._raise(i.mailbox, i.reason, i.message, i.item, i.event_id, i.actions)
        for (mailbox, item_id), (reason, _status, msg, item) in self.failed_items.items():
            self.store.resolve_issues(mailbox, item_id, except_reason=reason)
            self._raise(mailbox, reason, msg, item, None, ("retry", "dismiss"), item_id=item_id)

    def _raise(
        self,
        mailbox: str,
        reason: str,
        message: str,
        item: Item | None,
        event_id: str | None,
        actions: tuple[str, ...],
        item_id: str | None = None,
    ) -> None:
        self.store.raise_issue(
            mailbox=mailbox,
            reason=reason,
            message=message,
            item_id=item.id if item else item_id,
            event_id=event_id,
            subject=item.subject if item else "",
            item_start=item.start if item else None,
            web_link=item.web_link if item and item.web_link else None,
            actions=list(actions),
            now=self.now,
        )
        self.out.issues += 1

    # -- helpers ------------------------------------------------------------------------------

    def _fail(self, ref: ItemRef, err: ConnectorError | None, item: Item | None) -> None:
        if isinstance(err, SystemicError):
            raise err
        reason, status, msg = failure_status(err)
        self.failed_items[(ref.mailbox, ref.item_id)] = (reason, status, msg, item)
        self.out.failed += 1
        self.out.log.append(f"{ref.item_id}: {msg}")

    @staticmethod
    def _load_events(s: Session, ids: list[str]) -> dict[str, EventRow]:
        uniq = sorted({i for i in ids if i})
        out: dict[str, EventRow] = {}
        for i in range(0, len(uniq), 500):
            for row in s.scalars(select(EventRow).where(EventRow.event_id.in_(uniq[i : i + 500]))):
                out[row.event_id] = row
        return out

    @staticmethod
    def _load_links(s: Session, refs: list[ItemRef]) -> dict[tuple[str, str], LinkRow]:
        """The link rows of these items: one query per mailbox and 500 items, not one per item."""
        by_mailbox: dict[str, list[str]] = defaultdict(list)
        for r in refs:
            by_mailbox[r.mailbox].append(r.item_id)
        out: dict[tuple[str, str], LinkRow] = {}
        for mailbox, ids in by_mailbox.items():
            uniq = sorted(set(ids))
            for i in range(0, len(uniq), 500):
                q = select(LinkRow).where(
                    LinkRow.mailbox == mailbox, LinkRow.item_id.in_(uniq[i : i + 500])
                )
                for row in s.scalars(q):
                    out[(row.mailbox, row.item_id)] = row
        return out

    @staticmethod
    def _link_row(s: Session, cache: dict[tuple[str, str], LinkRow], ref: ItemRef) -> LinkRow:
        row = cache.get((ref.mailbox, ref.item_id))
        if row is None:
            row = LinkRow(
                mailbox=ref.mailbox,
                item_id=ref.item_id,
                guid=ref.guid,
                origin=Origin.OUTLOOK,
                share_mode=ShareMode.AUTO,
            )
            s.add(row)
            cache[(ref.mailbox, ref.item_id)] = row
        return row

    def _upsert_link(
        self,
        s: Session,
        cache: dict[tuple[str, str], LinkRow],
        ref: ItemRef,
        event_id: str,
        mode: ShareMode,
        item: Item | None,
    ) -> None:
        row = self._link_row(s, cache, ref)
        row.event_id = event_id
        row.share_mode = mode
        row.snapshot = None
        row.status = cat.TRACKED.category
        row.last_synced_at = utcnow()
        if item is not None:
            row.item_start, row.item_end = item.start, item.end


def _status(s: str) -> RelationStatus:
    """P4: Accepted and Declined as they are; everything else undecided (New)."""
    return {"Accepted": RelationStatus.ACCEPTED, "Declined": RelationStatus.DECLINED}.get(
        s, RelationStatus.NEW
    )


def _master(statuses: list[cat.Status]) -> dict[str, str]:
    """The master categories to make sure of, as Graph wants them (name -> preset)."""
    return {name: color.value for name, color in cat.master_categories(statuses).items()}


def _scalars(fields: Mapping[str, object]) -> dict[str, str | int | float | bool | None]:
    out: dict[str, str | int | float | bool | None] = {}
    for k, v in fields.items():
        out[k] = v if v is None or isinstance(v, str | int | float | bool) else str(v)
    return out


__all__ = ["Executor", "Outcome", "failure_status"]
