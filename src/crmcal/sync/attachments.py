"""Attachments of shared items to Salesforce (T1-T2): the effects.

Runs in a session after the executor, for the items of the session that are linked to an Event
this user owns (attendees' copies of another user's Event are left to that user's session). For
each such item that has attachments: list them (no content), let `crmcal.rules.attachments`
choose, read each chosen file with `GET .../attachments/{id}/$value` (raw bytes: no base64
round trip and no size limit of its own, so reading needs no upload session; decision 0052), and
create one Salesforce `Attachment` with `ParentId` = the Event. Every skipped file is named in the
session log with its reason. What was uploaded is remembered (`uploaded_attachments`), and files
already on the Event with the same name and size are adopted rather than uploaded again, so a
crash between the upload and the bookkeeping never duplicates a file (O5).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from crmcal.connectors.errors import BadResponse, ItemError, TransientError
from crmcal.domain import Item, OrgSettings
from crmcal.rules.attachments import choose, skip_item_reason
from crmcal.state import StateStore
from crmcal.state.models import IssueRow, LinkRow, ShareMode
from crmcal.state.models_records import UploadedAttachmentRow
from crmcal.sync.ports import CalendarPort, CrmPort

log = logging.getLogger("crmcal.sync")

DESCRIPTION = "From the Outlook item (crmcal, T1)."
REASON = "attachment_not_saved"
"""I1: a file of a shared item could not be saved; the item's files are tried again every
session until they are (decision 0054)."""


@dataclass
class AttachmentReport:
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    log: list[str] = field(default_factory=list)
    failed_items: dict[str, str] = field(default_factory=dict)
    """Item id -> why one of its files could not be listed or saved."""
    settled: set[str] = field(default_factory=set)
    """Items whose files were all looked at without a failure (or that have nothing to share)."""


def share_attachments(
    calendar: CalendarPort,
    crm: CrmPort,
    store: StateStore,
    org: OrgSettings,
    mailbox: str,
    items: Iterable[Item],
) -> AttachmentReport:
    """T1-T2 for the session's items (see the module docstring)."""
    given = list(items)
    out = _share(calendar, crm, store, org, mailbox, given)
    out.settled = {i.id for i in given} - set(out.failed_items)
    return out


def _share(
    calendar: CalendarPort,
    crm: CrmPort,
    store: StateStore,
    org: OrgSettings,
    mailbox: str,
    items: list[Item],
) -> AttachmentReport:
    out = AttachmentReport()
    if not org.share_attachments:
        return out
    with_files = {i.id: i for i in items if i.has_attachments and not i.is_cancelled}
    if not with_files:
        return out
    with store.session() as s:
        ids = sorted(with_files)
        links: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            for row in s.scalars(
                select(LinkRow).where(
                    LinkRow.mailbox == mailbox, LinkRow.item_id.in_(ids[i : i + 500])
                )
            ):
                if row.event_id and row.share_mode != ShareMode.ATTENDEE.value:
                    links[row.item_id] = row.event_id
        if not links:
            return out
        done: dict[str, dict[str, int]] = {}
        ev_ids = sorted(set(links.values()))
        for i in range(0, len(ev_ids), 500):
            for up in s.scalars(
                select(UploadedAttachmentRow).where(
                    UploadedAttachmentRow.event_id.in_(ev_ids[i : i + 500])
                )
            ):
                done.setdefault(up.event_id, {})[up.source_id] = up.size
    on_event: dict[str, dict[tuple[str, int], str]] | None = None
    for item_id, event_id in links.items():
        item = with_files[item_id]
        whole = skip_item_reason(item.type)
        if whole is not None:
            out.skipped += 1
            out.log.append(f"{item_id}: attachments not shared: {whole} (T2)")
            continue
        try:
            infos = calendar.list_attachments(mailbox, item_id)
        except (ItemError, TransientError, BadResponse) as e:
            # One item's files failing is that item's problem (Y3); systemic errors still end
            # the session (auth, limits).
            out.failed += 1
            out.log.append(f"{item_id}: attachments could not be listed: {e}")
            out.failed_items[item_id] = f"The attachments could not be read: {e}"
            continue
        mine = done.get(event_id, {})
        choices = choose(
            infos,
            org.attachment_limits,
            item_type=item.type,
            uploaded=mine,
            uploaded_bytes=sum(mine.values()),
        )
        by_id = {a.id: a for a in infos}
        for c in choices:
            if not c.upload:
                out.skipped += 1
                out.log.append(f"{item_id}: attachment {c.name!r} skipped: {c.reason} (T2)")
                continue
            info = by_id[c.attachment_id]
            if on_event is None:
                on_event = _existing(crm, sorted(set(links.values())))
            adopted = on_event.get(event_id, {}).get((info.name[:255], info.size))
            try:
                if adopted is not None:
                    sf_id = adopted
                else:
                    data = calendar.get_attachment_bytes(mailbox, item_id, info.id)
                    sf_id = crm.create_attachment(
                        event_id,
                        info.name,
                        data,
                        content_type=info.content_type,
                        description=DESCRIPTION,
                    )
            except (ItemError, TransientError, BadResponse) as e:
                out.failed += 1
                out.log.append(f"{item_id}: attachment {info.name!r} not saved: {e}")
                out.failed_items.setdefault(
                    item_id, f"The attachment {info.name!r} could not be saved to Salesforce: {e}"
                )
                continue
            with store.session() as s:
                s.add(
                    UploadedAttachmentRow(
                        event_id=event_id,
                        source_id=info.id,
                        mailbox=mailbox,
                        item_id=item_id,
                        name=info.name[:255],
                        size=info.size,
                        attachment_id=sf_id,
                    )
                )
            out.uploaded += 1
            verb = "already on" if adopted is not None else "saved to"
            out.log.append(
                f"{item_id}: attachment {info.name!r} {verb} Event {event_id} "
                f"as Attachment {sf_id} (T1)"
            )
    for line in out.log:
        log.info("%s", line)
    return out


def pending_retries(store: StateStore, mailbox: str) -> list[str]:
    """Items whose files failed in an earlier session (open `attachment_not_saved` issues that
    were not dismissed)."""
    with store.session() as s:
        return sorted(
            {
                str(i)
                for i in s.scalars(
                    select(IssueRow.item_id).where(
                        IssueRow.mailbox == mailbox,
                        IssueRow.reason == REASON,
                        IssueRow.resolved_at.is_(None),
                        IssueRow.dismissed.is_(False),  # dismissed: the user gave up on it
                    )
                )
                if i
            }
        )


def settle_issues(
    store: StateStore,
    mailbox: str,
    report: AttachmentReport,
    items: dict[str, Item],
    gone: Iterable[str],
    now: datetime,
) -> None:
    """I1 for files: an issue per item whose files failed (tried again every session, and with
    the dashboard's Retry); closed once its files are saved or the item is gone."""
    for item_id, message in report.failed_items.items():
        item = items.get(item_id)
        store.raise_issue(
            mailbox=mailbox,
            reason=REASON,
            message=message,
            item_id=item_id,
            subject=item.subject if item is not None else "",
            item_start=item.start if item is not None else None,
            web_link=item.web_link if item is not None else None,
            actions=["retry", "dismiss"],
            now=now,
        )
    done = sorted(report.settled | set(gone))
    if not done:
        return
    with store.session() as s:
        for i in range(0, len(done), 500):
            for row in s.scalars(
                select(IssueRow).where(
                    IssueRow.mailbox == mailbox,
                    IssueRow.reason == REASON,
                    IssueRow.item_id.in_(done[i : i + 500]),
                    IssueRow.resolved_at.is_(None),
                )
            ):
                row.resolved_at = now


def _existing(crm: CrmPort, event_ids: list[str]) -> dict[str, dict[tuple[str, int], str]]:
    """Attachments already on the Events, by (Name, BodyLength): one query (O5 adoption)."""
    found: dict[str, dict[tuple[str, int], str]] = {}
    for parent_id, att_id, name, size in crm.attachments_of(event_ids):
        found.setdefault(parent_id, {})[(name, size)] = att_id
    return found


__all__ = [
    "REASON",
    "AttachmentReport",
    "pending_retries",
    "settle_issues",
    "share_attachments",
]
