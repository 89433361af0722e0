"""O5: what a session does first: settle the external writes an earlier session journaled but
never closed (it crashed, or its process was killed, between the write and recording it).

- `create_event`: the Event may or may not exist in Salesforce. Look it up (by the GUID field
  where the org has one, D3; else by D2's natural key, owner + start, checking the subject) in one
  query per kind for all open intents; record what exists as made by crmcal, with its link, so
  nothing is created twice; otherwise close the intent as not created (the planner creates it).
- Every other write (updates, relations, deletions, Outlook items, categories) is idempotent or
  re-derived from both sides' state by the next plan, so its intent is closed as superseded.
"""

from __future__ import annotations

from sqlalchemy import select

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
from crmcal.sync.plan import key_start
from crmcal.sync.ports import CrmPort


def reconcile(
    store: StateStore, crm: CrmPort, mailbox: str, opens: list[IntentRow] | None = None
) -> int:
    """Settle the mailbox's open intents (`opens`: already read by the caller); returns how many
    Events were found and recorded."""
    if opens is None:
        opens = store.open_intents(mailbox)
    if not opens:
        return 0
    creates = [i for i in opens if i.action == "create_event" and i.payload.get("start")]
    found: dict[int, str] = {}
    if creates:
        owners = sorted({str(i.payload["owner_id"]) for i in creates})
        starts = sorted({key_start(str(i.payload["start"])) for i in creates})
        candidates = crm.events_by_natural_keys(owners, starts)
        if crm.guid_field:
            candidates += crm.events_by_guid(
                [str(i.payload.get("guid") or "") for i in creates], crm.guid_field
            )
        for intent in creates:
            p = intent.payload
            start = key_start(str(p["start"]))
            for ev in candidates:
                same_guid = bool(crm.guid_field) and ev.guid == p.get("guid")
                same_key = (
                    ev.owner_id == p["owner_id"]
                    and ev.subject == p["subject"]
                    and ev.start is not None
                    and ev.start.replace(microsecond=0) == start.replace(microsecond=0)
                )
                if ev.id and ev.owner_id == p["owner_id"] and (same_guid or same_key):
                    found[intent.id] = ev.id
                    break
    now = utcnow()
    with store.session() as s:
        for intent in opens:
            row = s.get(IntentRow, intent.id)
            if row is None:
                continue
            row.closed_at = now
            eid = found.get(intent.id)
            if intent.action != "create_event":
                row.status = IntentStatus.FAILED
                row.result = {"reconciled": "superseded: re-derived by the next plan"}
                continue
            if eid is None:
                row.status = IntentStatus.FAILED
                row.result = {"reconciled": "not found in Salesforce: not created"}
                continue
            p = intent.payload
            row.status = IntentStatus.DONE
            row.result = {"id": eid, "reconciled": True}
            if s.get(EventRow, eid) is None:
                s.add(
                    EventRow(
                        event_id=eid,
                        owner_id=str(p["owner_id"]),
                        guid=str(p.get("guid") or "") or None,
                        origin=Origin.OUTLOOK,
                        created_by_crmcal=True,
                        synced=dict(p.get("synced") or {}),
                        who_ids=[str(p["who_id"])] if p.get("who_id") else [],
                        what_id=str(p["what_id"]) if p.get("what_id") else None,
                    )
                )
            s.flush()
            link = s.scalars(
                select(LinkRow).where(
                    LinkRow.mailbox == mailbox, LinkRow.item_id == str(p["item_id"])
                )
            ).first()
            if link is None:
                link = LinkRow(
                    mailbox=mailbox,
                    item_id=str(p["item_id"]),
                    guid=str(p.get("guid") or ""),
                    origin=Origin.OUTLOOK,
                    share_mode=ShareMode(str(p.get("share_mode") or "auto")),
                )
                s.add(link)
            link.event_id = eid
            link.snapshot = None
    return len(found)
