"""What the Issues page offers (issue 19): filters, the Dismissed view, undo, and per reason the
actions that can help, with words on what the user can change when no action can."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from crmcal.state import StateStore
from crmcal.state.models import IssueRow

HINTS: tuple[tuple[str, str], ...] = (
    (
        "all-day event longer than",
        "Salesforce keeps all-day Events to the org's limit. Shorten the event in Outlook (or an "
        "admin raises “Longest all-day item” in Org settings); the next session syncs it then.",
    ),
    (
        "event longer than 14 days",
        "A Salesforce Event lasts at most 14 days. Split it into shorter events in Outlook; the "
        "next session syncs them.",
    ),
    (
        "recurring all-day items",
        "Recurring all-day items are not synced. Make it a single event in Outlook, or dismiss "
        "this.",
    ),
    (
        "recurring series are not synced",
        "An admin can turn on recurring sync in Org settings; until then, dismiss this.",
    ),
)
"""Issues no button can fix: the words say what to change (matched on the issue's message)."""

USELESS_WHEN_HINTED = {"retry", "share anyway"}


def hint(row: IssueRow) -> str | None:
    text = row.message or ""
    return next((h for needle, h in HINTS if needle in text), None)


def offered(row: IssueRow, *, may_create: bool) -> list[str]:
    """The actions worth a button, as `snake_case` action names."""
    out = []
    for a in row.actions:
        if hint(row) and a in USELESS_WHEN_HINTED:
            continue
        if a == "create record" and not may_create:
            continue
        out.append(a.replace(" ", "_"))
    return out


def dismissed(store: StateStore, mailbox: str | None, limit: int = 200) -> list[IssueRow]:
    with store.session() as s:
        q = select(IssueRow).where(IssueRow.dismissed.is_(True))
        if mailbox is not None:
            q = q.where(IssueRow.mailbox == mailbox)
        return list(s.scalars(q.order_by(IssueRow.last_seen.desc()).limit(limit)))


def undismiss(store: StateStore, ids: list[int], mailboxes: set[str] | None) -> int:
    """Bring dismissed issues back (undo); only those of `mailboxes` (None: any)."""
    n = 0
    with store.session() as s:
        for row in s.scalars(select(IssueRow).where(IssueRow.id.in_(ids))):
            if not row.dismissed or (mailboxes is not None and row.mailbox not in mailboxes):
                continue
            row.dismissed, row.resolved_at = False, None
            n += 1
    return n


def counts(rows: list[IssueRow]) -> tuple[Counter[str], Counter[str]]:
    return Counter(r.reason for r in rows), Counter(r.mailbox for r in rows)
