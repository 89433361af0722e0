"""The whole plan of a session, checked with Hypothesis over thousands of generated sessions
(DESIGN: the planner is checked with thousands of cases; issue 18):

- D1: no two creates for one (GUID, owner), and no create where the user already owns an Event
  for the GUID;
- P7: no write to a meeting the user does not organize (no `UpdateItem`, no `SetAttendees`);
- X7: no deletion past the mass-delete guard, unless confirmed; a held deletion is neither
  carried out nor unlinked.

Sessions mix meetings the user organizes, copies of a crmcal colleague's meetings and of an
external organizer's, appointments and Salesforce-born items; new, linked (own Event, attendee
link, stale or fresh content hash), waiting, edited in Salesforce, deleted in Salesforce,
cancelled, marked, unsynced, deleted in Outlook; duplicated GUIDs; and the settings that steer
those paths (guard size, direction, auto-share switches, X3's delete switch, Safe Description).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcal.domain import (
    Direction,
    Item,
    ItemRemoved,
    OrgSettings,
    ResponseType,
    Sensitivity,
    UserConfig,
    UserSettings,
)
from crmcal.rules.linking import SearchResults
from crmcal.rules.mapping import event_from_item, synced_values
from crmcal.rules.participants import Directory
from crmcal.rules.window import window
from crmcal.state.models import Origin, ShareMode
from crmcal.sync.actions import (
    CreateEvent,
    DeleteEvent,
    HoldDelete,
    SetAttendees,
    Unlink,
    UpdateItem,
)
from crmcal.sync.plan import Context, Inputs, KnownEvent, TrackedItem, content_hash, plan
from tests.factories import ANN, ANN_ID, BOB, BOB_ID, CARL, CARL_ID, NOW, contact, item

EU1 = "eu1@fabrikam.example"
EU2 = "eu2@fabrikam.example"
FOUND = SearchResults({EU1: (contact(1, EU1),)}, {}, {}, {})
GUIDS = tuple(f"040000008200E00074C5B7101A82E00800000000PROP{n:04d}" for n in range(4))


@dataclass(frozen=True)
class Spec:
    """One generated item and what crmcal knows of it."""

    organizer: str
    attendees: tuple[str, ...]
    guid: str
    days: int
    categories: tuple[str, ...]
    cancelled: bool
    private: bool
    response: ResponseType
    link: str  # none | own | attendee | salesforce | waiting
    fresh_hash: bool
    sf_edit: bool
    sf_deleted: bool
    removed: bool
    made_by_crmcal: bool


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    organizer = draw(st.sampled_from((ANN, ANN, BOB, EU2)))
    others = draw(st.lists(st.sampled_from((BOB, CARL, EU1, EU2)), max_size=3, unique=True))
    attendees = tuple(a for a in others if a != organizer)
    if organizer != ANN:
        attendees = (ANN, *attendees)
    meeting = bool(attendees) or organizer != ANN
    links = ["none", "own", "waiting"]
    if organizer == BOB:
        links.append("attendee")
    if not meeting:
        links.append("salesforce")
    return Spec(
        organizer=organizer,
        attendees=attendees,
        guid=draw(st.sampled_from(GUIDS)),
        days=draw(st.sampled_from((1, 2, 3, -30, 90))),
        categories=draw(
            st.sampled_from(
                (
                    (),
                    ("Salesforce",),
                    ("Salesforce", "Status: Tracked successfully."),
                    ("Salesforce Unsync",),
                    ("Salesforce", "Salesforce Unsync"),
                )
            )
        ),
        cancelled=draw(st.booleans()) and meeting and organizer != ANN,
        private=draw(st.booleans()),
        response=draw(
            st.sampled_from(
                (
                    ResponseType.ACCEPTED,
                    ResponseType.TENTATIVELY_ACCEPTED,
                    ResponseType.NOT_RESPONDED,
                    ResponseType.DECLINED,
                )
            )
        ),
        link=draw(st.sampled_from(links)),
        fresh_hash=draw(st.booleans()),
        sf_edit=draw(st.booleans()),
        sf_deleted=draw(st.integers(0, 5)) == 0,
        removed=draw(st.integers(0, 3)) == 0,
        made_by_crmcal=draw(st.integers(0, 4)) > 0,
    )


@dataclass(frozen=True)
class Session:
    inputs: Inputs
    items: dict[str, Item]
    """Every item the plan may act on (delta items and tracked snapshots), by id."""


def _item(s: Spec) -> Item:
    kw: dict[str, Any] = {}
    if s.organizer != ANN:
        kw["my_response"] = s.response
    return item(
        mailbox=ANN,
        organizer=s.organizer,
        attendees=s.attendees,
        start=NOW + timedelta(days=s.days, hours=1),
        ical_uid=s.guid,
        categories=s.categories,
        is_cancelled=s.cancelled,
        sensitivity=Sensitivity.PRIVATE if s.private else Sensitivity.NORMAL,
        **kw,
    )


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    org = OrgSettings(
        internal_domains=("contoso.example",),
        mass_delete_guard=draw(st.integers(0, 3)),
        salesforce_delete_removes_outlook_items=draw(st.booleans()),
        share_unlinked=draw(st.booleans()),
        safe_description=draw(st.booleans()),
    )
    us = UserSettings(
        autoshare_meetings=draw(st.booleans()),
        autoshare_appointments=draw(st.booleans()),
        direction=draw(st.sampled_from(tuple(Direction))),
    )
    users = [
        UserConfig(mailbox=ANN, salesforce_user_id=ANN_ID, settings=us),
        UserConfig(mailbox=BOB, salesforce_user_id=BOB_ID),
    ]
    d = Directory.of(org, users, {CARL: CARL_ID})
    ctx = Context(
        user=users[0],
        directory=d,
        now=NOW,
        window=window(NOW, org),
        allow_mass_delete=draw(st.integers(0, 5)) == 0,
    )
    delta: list[Item] = []
    known: dict[str, Item] = {}
    tracked: dict[str, TrackedItem] = {}
    events: dict[str, KnownEvent] = {}
    crm_events = []
    crm_deleted: set[str] = set()
    removed: list[ItemRemoved] = []
    for n, s in enumerate(draw(st.lists(specs(), max_size=8))):
        it = _item(s)
        known[it.id] = it
        if s.link in ("own", "attendee", "salesforce"):
            eid = f"00U{n:015d}"
            owner = BOB_ID if s.link == "attendee" else ANN_ID
            base = event_from_item(it, owner_id=owner, org=org)
            events[eid] = KnownEvent(
                eid,
                owner,
                s.guid,
                origin=Origin.SALESFORCE if s.link == "salesforce" else Origin.OUTLOOK,
                created_by_crmcal=s.made_by_crmcal,
                synced=synced_values(base),
            )
            tracked[it.id] = TrackedItem(
                ANN,
                it.id,
                s.guid,
                eid,
                ShareMode.ATTENDEE if s.link == "attendee" else ShareMode.AUTO,
                origin=Origin.SALESFORCE if s.link == "salesforce" else Origin.OUTLOOK,
                outlook_hash=content_hash(it) if s.fresh_hash else "stale",
            )
            if s.sf_edit and owner == ANN_ID:
                crm_events.append(
                    replace(base, id=eid, subject=f"Edited in Salesforce {n}", location="SF")
                )
            if s.sf_deleted:
                crm_deleted.add(eid)
        elif s.link == "waiting":
            tracked[it.id] = TrackedItem(
                ANN,
                it.id,
                s.guid,
                None,
                ShareMode.AUTO,
                status="Status: Waiting for the organizer",
                snapshot=it,
            )
        if s.removed and it.id in tracked:
            removed.append(ItemRemoved(it.id, ANN))
        else:
            delta.append(it)
    gone = frozenset(r.id for r in removed if draw(st.booleans()))
    inputs = Inputs(
        ctx,
        items=tuple(delta),
        removed=tuple(removed),
        crm_events=tuple(crm_events),
        crm_deleted=frozenset(crm_deleted),
        gone=gone,
        tracked=tracked,
        by_guid={},
        events=events,
        search=FOUND,
    )
    return Session(inputs, known)


def _guard_allows(deletes: int, linked_own: int, limit: int) -> bool:
    return deletes <= limit and not (deletes >= 2 and 2 * deletes > linked_own)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sessions())
def test_D1_P7_X7_properties_of_the_whole_plan(session: Session) -> None:
    """D1, P7, X7 over every path of the item planner: see the module docstring."""
    i = session.inputs
    p = plan(i)

    # D1: one create per (GUID, owner), none where the user owns an Event for the GUID already.
    keys = [c.key for c in p.of(CreateEvent)]
    assert len(keys) == len(set(keys)), keys
    owned = {f"{ev.guid}|{ev.owner_id}" for ev in i.events.values()}
    assert not set(keys) & owned, (keys, owned)

    # P7: no write to a meeting the user does not organize.
    for a in [*p.of(UpdateItem), *p.of(SetAttendees)]:
        it = session.items[a.item.item_id]
        assert not it.is_meeting or it.is_organizer, (type(a).__name__, it.organizer, a)

    # X7: no deletion past the guard (unless confirmed); what it holds is neither deleted nor
    # forgotten.
    deletes = p.of(DeleteEvent)
    if not i.ctx.allow_mass_delete:
        own = sum(
            1
            for t in i.tracked.values()
            if t.event_id and t.event_id in i.events and i.events[t.event_id].owner_id == ANN_ID
        )
        assert _guard_allows(len(deletes), own, i.ctx.directory.org.mass_delete_guard), (
            len(deletes),
            own,
        )
    held = {h.event_id for h in p.of(HoldDelete)}
    assert not held & {d.event_id for d in deletes}
    assert not held & {u.event_id for u in p.of(Unlink) if u.event_id}
    # Every deletion is of an Event this user owns (another owner's Event is never deleted).
    for d in deletes:
        ev = i.events.get(d.event_id)
        assert ev is not None and ev.owner_id == ANN_ID, d
