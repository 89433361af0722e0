"""P5 with `invitation_mode` on, org level: which Events had invitees added or removed in
Salesforce since the last cycle. One `queryAll` on EventRelation per cycle for the whole org
(adding an invitee need not touch the Event's own SystemModstamp); each user's session then reads
the current invitees of just its own Events among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from crmcal.domain import EventRelation, OrgSettings
from crmcal.state import StateStore

RELATIONS_CURSOR = "salesforce_relations"
FIRST_LOOK_BACK = timedelta(days=1)


class InviteeSource(Protocol):
    def invitee_changes_since(self, since: datetime) -> tuple[list[EventRelation], datetime]: ...


@dataclass(frozen=True)
class InviteeRead:
    event_ids: frozenset[str] = frozenset()
    cursor: datetime | None = None

    def commit(self, store: StateStore) -> None:
        if self.cursor is not None:
            store.set_cursor(RELATIONS_CURSOR, "org", self.cursor.isoformat())


def read_invitee_changes(
    org: OrgSettings,
    crm: InviteeSource,
    store: StateStore,
    *,
    server_mark: datetime | None,
    now: datetime,
) -> InviteeRead:
    """The Events whose invitees changed since the cursor. The first cycle with the mode on
    looks back one day from ``now``; after that the cursor is the highest SystemModstamp seen,
    or the org's Event cursor (``server_mark``) when that is later, so it never stands still
    on crmcal's own clock."""
    if not org.invitation_mode:
        return InviteeRead()
    cur = store.get_cursor(RELATIONS_CURSOR, "org")
    since = datetime.fromisoformat(cur.value) if cur is not None else now - FIRST_LOOK_BACK
    rels, high = crm.invitee_changes_since(since)
    if server_mark is not None and server_mark > high:
        high = server_mark
    return InviteeRead(frozenset(r.event_id for r in rels), high)
