"""D4: another sync tool that keeps creating duplicates of crmcal's Events.

An Event that crmcal does not know, owned by the user, with the subject and start of an Event
crmcal created for them, is a copy made by someone else (typically a second calendar sync tool).
Left alone, crmcal would down-sync it (X1) into Outlook, where the other tool copies it again: the
duplicate storm the anchors' users complain about most. So crmcal stops for that user, names the
other tool's Events in an issue, and goes on once they are gone (decision 0040).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import bindparam, select

from crmcal.domain import CrmEvent
from crmcal.state import StateStore
from crmcal.state.models import EventRow, IssueRow

REASON = "duplicate_sync_tool"


def _when(synced: Mapping[str, object]) -> str:
    if synced.get("IsAllDayEvent"):
        return str(synced.get("ActivityDate") or "")
    raw = synced.get("StartDateTime")
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(ev: CrmEvent) -> tuple[str, str]:
    when = (
        ev.activity_date.isoformat()
        if ev.is_all_day and ev.activity_date
        else (ev.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ev.start else "")
    )
    return ev.subject, when


def _in_series(ev: CrmEvent) -> bool:
    """Occurrences of a series share its subject and first start: not copies (issue 7)."""
    return bool(ev.recurrence_activity_id or ev.classic_recurrence or ev.lightning_recurrence)


def other_tool_duplicates(
    store: StateStore, owner_id: str, crm_events: Iterable[CrmEvent]
) -> dict[str, tuple[str, ...]]:
    """crmcal's Event id -> ids of unknown Events of the same owner, subject and start."""
    candidates = [
        e
        for e in crm_events
        if e.id and e.owner_id == owner_id and not e.is_child and e.subject and e.start
        if not _in_series(e)
    ]
    if not candidates:
        return {}
    with store.session() as s:
        rows = list(s.scalars(select(EventRow).where(EventRow.owner_id == owner_id)))
    known = {r.event_id for r in rows}
    mine: dict[tuple[str, str], str] = {}
    for r in rows:
        synced = dict(r.synced or {})
        subject, when = str(synced.get("Subject") or ""), _when(synced)
        if r.created_by_crmcal and subject and when:
            mine[(subject, when)] = r.event_id
    out: dict[str, tuple[str, ...]] = {}
    for e in candidates:
        if e.id in known:
            continue
        hit = mine.get(_key(e))
        if hit is not None and e.id is not None:
            out[hit] = (*out.get(hit, ()), e.id)
    return out


_NAMED = re.compile(r"([0-9A-Za-z, ]+) \(copies of ([0-9A-Za-z]{15,18})\)")


OPEN_ISSUE_MESSAGES = select(IssueRow.message).where(
    IssueRow.mailbox == bindparam("m"),
    IssueRow.reason == REASON,
    IssueRow.resolved_at.is_(None),
)
"""The open D4 issues' messages of a mailbox (`{"m": mailbox}`); a session reads them in its
first transaction."""


def _open_issue_messages(store: StateStore, mailbox: str) -> list[str]:
    with store.session() as s:
        return list(s.connection().execute(OPEN_ISSUE_MESSAGES, {"m": mailbox}).scalars())


def still_copied(crm: EventReader, messages: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The copies the open D4 issues name that still exist (one query, none without an open
    issue). The org's Event cursor moves on while a user is stopped, so the copies are not read
    again by themselves: the stop holds until they are really gone."""
    named: dict[str, str] = {}
    for message in messages:
        for copies, mine in _NAMED.findall(message):
            for c in copies.split(","):
                if c.strip():
                    named[c.strip()] = mine
    if not named:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for ev in crm.events_by_ids(sorted(named)):
        if ev.id is not None and not ev.is_deleted and ev.id in named:
            out[named[ev.id]] = (*out.get(named[ev.id], ()), ev.id)
    return out


def check_copies(
    store: StateStore,
    crm: EventReader,
    mailbox: str,
    owner_id: str,
    crm_events: Iterable[CrmEvent],
    now: datetime,
    *,
    messages: list[str] | None = None,
) -> dict[str, tuple[str, ...]]:
    """D4 for one session: new copies among the Salesforce changes, or the copies an open issue
    names; the issue is raised while copies exist and resolved once they are gone. `messages`:
    the open D4 issues' messages when the caller read them in its own transaction. Without
    Salesforce changes of the owner or an open issue it reads nothing and calls nothing."""
    if messages is None:
        messages = _open_issue_messages(store, mailbox)
    dupes = other_tool_duplicates(store, owner_id, crm_events) or still_copied(crm, messages)
    if dupes or messages:
        settle_issue(store, mailbox, dupes, now)
    return dupes


class EventReader(Protocol):
    def events_by_ids(self, ids: Sequence[str]) -> list[CrmEvent]: ...


def describe(dupes: Mapping[str, tuple[str, ...]]) -> str:
    parts = [f"{', '.join(ids)} (copies of {mine})" for mine, ids in sorted(dupes.items())]
    return (
        "Another tool keeps creating copies of the Events crmcal made for you; sync is stopped "
        "for you until they are deleted or the other tool is switched off. Its Events: "
        + "; ".join(parts)
    )


def settle_issue(
    store: StateStore, mailbox: str, dupes: Mapping[str, tuple[str, ...]], now: datetime
) -> None:
    """Raise the D4 issue while copies exist; resolve it once they are gone."""
    if dupes:
        first = sorted(dupes)[0]
        store.raise_issue(
            mailbox=mailbox,
            reason=REASON,
            message=describe(dupes),
            event_id=first,
            actions=["retry", "dismiss"],
            now=now,
        )
        return
    with store.session() as s:
        store.resolve_reason_in(s, mailbox, REASON, now)
