"""The pure planner: (changes, what crmcal knows, what Salesforce has, settings, now) -> actions.

No I/O, no clock, no randomness. A session calls it in two phases:

1. `lookups(...)` says what to ask Salesforce for the items in play (one query per kind for the
   whole session: L2);
2. `plan(...)` decides, item by item, with a comment naming the rule for every branch
   (vdirsyncer's decision table, typed).

Outlook-to-Salesforce only for now (issue #5); down-sync and deletions extend it (#6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from crmcal.domain import (
    Attendee,
    CrmEvent,
    Direction,
    EmailAddress,
    Item,
    ItemDraft,
    ItemPatch,
    ItemRemoved,
    ResponseType,
    Sensitivity,
    ShowAs,
    UserConfig,
)
from crmcal.domain.links import KnownEvent as KnownEvent
from crmcal.domain.links import Origin, ShareMode
from crmcal.domain.links import TrackedItem as TrackedItem
from crmcal.rules import categories as cat
from crmcal.rules.limits import cannot_sync
from crmcal.rules.linking import (
    Linking,
    SearchResults,
    link,
    record_ids_in_text,
    search_addresses,
    valid_links,
)
from crmcal.rules.linking import search_domains as _search_domains
from crmcal.rules.mapping import (
    BODY_KEY,
    body_digest,
    body_edit,
    changed,
    event_from_item,
    merge,
    synced_values,
)
from crmcal.rules.participants import (
    Directory,
    Participants,
    Scenario,
    Skip,
    autoshare_skip,
    participants,
    scenario,
    unresolved_blocks_share,
)
from crmcal.rules.window import Window, historical, in_window
from crmcal.sync.actions import (
    Action,
    CreateEvent,
    CreateItem,
    DeleteEvent,
    DeleteItem,
    HoldDelete,
    Invitee,
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
from crmcal.sync.guard import Deletions, over_guard

WAITING_REASON = "waiting_for_organizer"
MASS_DELETE_REASON = "mass_delete_guard"
HELD = "crmcal: deletion held (X7)"
UNSYNCED = "crmcal: unsynced by the user (M5)"
"""The status of an item the user unshared: auto-share leaves it alone until marked again."""
"""The status of a link whose Event the mass-delete guard kept."""
UNRESOLVED_REASON = "unresolved_participants"
NO_RECORD_REASON = "no_record_for_participants"
"""A6 + M4: a low-severity notice: auto-share passed a meeting by because none of its external
participants has a record; names the addresses and offers Create record. No Outlook category."""
NOT_SYNCED_REASON = "not_synced"
DIRECTION_REASON_TEXT = "this user syncs Salesforce to Outlook only (G3)"


def content_hash(item: Item) -> str:
    """What a session must react to in an item, hashed: the U1 fields, participants and responses,
    sensitivity, cancellation and recurrence; not categories (handled without any lookup) and not
    the body (U2). An unchanged hash means no lookup and no Salesforce write (vdirsyncer's rule:
    compare content, not just versions)."""
    import hashlib

    parts = [
        item.subject,
        item.start.isoformat(),
        item.end.isoformat(),
        str(item.is_all_day),
        item.location,
        item.show_as.value,
        item.sensitivity.value,
        str(item.reminder_on),
        str(item.reminder_minutes),
        str(item.is_cancelled),
        item.my_response.value,
        item.organizer.key if item.organizer else "",
        "|".join(f"{a.email.key}:{a.response.value}:{a.type.value}" for a in item.attendees),
        repr(item.recurrence),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


NaturalKey = tuple[str, str, str]
"""D2: (owner id, subject, start as `YYYY-MM-DDTHH:MM:SSZ` or the all-day date)."""


@dataclass(frozen=True, slots=True)
class Context:
    """The session's fixed facts."""

    user: UserConfig
    directory: Directory
    now: datetime
    window: Window
    enabled_at: datetime | None = None
    shared_activities: bool = True
    zone: Callable[[str], tzinfo | None] = field(default=lambda _name: None)
    """Windows or IANA zone name -> tzinfo (for all-day dates); None when unknown."""
    allow_mass_delete: bool = False
    """X7: someone confirmed the deletions the guard held back."""

    @property
    def owner_id(self) -> str:
        return self.user.salesforce_user_id

    @property
    def mailbox(self) -> str:
        return self.user.mailbox


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything `plan` reads."""

    ctx: Context
    items: tuple[Item, ...] = ()
    """Items the delta round returned (changed or new)."""
    removed: tuple[ItemRemoved, ...] = ()
    crm_events: tuple[CrmEvent, ...] = ()
    """This user's Events that changed in Salesforce since the org's cursor (X1)."""
    crm_deleted: frozenset[str] = frozenset()
    """Events deleted in Salesforce since the org's cursor (X3)."""
    gone: frozenset[str] = frozenset()
    """Ids of removed items confirmed deleted (a tombstone can also mean "left the window")."""
    exits: tuple[Item, ...] = ()
    """W3: linked items that left the window (moved out, or the window slid past them)."""
    tracked: Mapping[str, TrackedItem] = field(default_factory=dict)
    """This mailbox's tracked items, by item id."""
    by_guid: Mapping[str, tuple[TrackedItem, ...]] = field(default_factory=dict)
    """Tracked items of every mailbox, for the GUIDs in play."""
    events: Mapping[str, KnownEvent] = field(default_factory=dict)
    """Known Events by id, for the GUIDs and links in play."""
    search: SearchResults = field(default_factory=SearchResults.empty)
    existing: Mapping[NaturalKey, tuple[str, ...]] = field(default_factory=dict)
    """D2: Events in Salesforce by natural key (any maker)."""
    series_masters: frozenset[str] = frozenset()
    """Issue 7: master ids of this mailbox's shared series (planned by `sync.series`)."""
    crm_invitees: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """P5 `invitation_mode`: invitee User Ids (15 characters) of Events whose invitees changed
    in Salesforce, as Salesforce has them now."""
    user_emails: Mapping[str, str] = field(default_factory=dict)
    """P5 `invitation_mode`: e-mail addresses of those invitees, by 15-character User Id."""
    guard: bool = True
    """X7 inside `plan`. A session turns it off and weighs the item and series deletions of its
    whole plan at once (`sync.guard`, decision 0120)."""


@dataclass(frozen=True, slots=True)
class Lookups:
    """What to ask Salesforce before planning."""

    addresses: tuple[str, ...] = ()
    domains_for_missing: bool = True
    record_ids: tuple[str, ...] = ()
    natural_keys: tuple[NaturalKey, ...] = ()
    guids: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()
    """Internal attendees with no known Salesforce User Id yet (P1 invitees)."""

    def domains(self, people: Mapping[str, object], ctx: Context) -> tuple[str, ...]:
        """L3: after the people query, the domains still to match against Account.Website."""
        return _search_domains(self.addresses, people, ctx.directory.org)


def in_play(inputs_items: Iterable[Item], tracked: Mapping[str, TrackedItem]) -> list[Item]:
    """The items to decide on: every changed item, plus tracked items not changed this round that
    need another look (waiting for the organizer, unresolved participants, linked meetings whose
    participants may have gained records: P2, M4, P6)."""
    out = {i.id: i for i in inputs_items}
    for t in tracked.values():
        if t.item_id not in out and t.snapshot is not None:
            out[t.item_id] = t.snapshot
    return list(out.values())


def natural_key(owner_id: str, ev: CrmEvent) -> NaturalKey:
    when = (
        ev.activity_date.isoformat()
        if ev.is_all_day and ev.activity_date
        else (ev.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ev.start else "")
    )
    return (owner_id, ev.subject, when)


def unchanged(item: Item, t: TrackedItem | None) -> bool:
    """A linked item whose content is as last synced (only its categories may differ)."""
    return (
        t is not None
        and t.event_id is not None
        and t.snapshot is None
        and t.outlook_hash is not None
        and t.outlook_hash == content_hash(item)
    )


def key_start(when: str) -> datetime:
    """The instant a natural key's start stands for: the start itself, or midnight UTC of an
    all-day date (where Salesforce keeps all-day Events)."""
    if len(when) == 10:
        return datetime.fromisoformat(when).replace(tzinfo=UTC)
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def lookups(
    ctx: Context, items: Iterable[Item], tracked: Mapping[str, TrackedItem] | None = None
) -> Lookups:
    """Phase 1: the addresses (L1, L4), record ids (L4), natural keys (D2) and GUIDs (D1) to look
    up for the items in play; nothing for linked items whose content did not change."""
    tracked = tracked or {}
    addrs: dict[str, None] = {}
    ids: dict[str, None] = {}
    keys: dict[NaturalKey, None] = {}
    guids: dict[str, None] = {}
    internal: dict[str, None] = {}
    us = ctx.user.settings
    for item in items:
        if not in_window(item, ctx.window) or unchanged(item, tracked.get(item.id)):
            continue
        guids.setdefault(item.ical_uid, None)
        p = participants(item, ctx.directory, us)
        for a in search_addresses(item, p.searchable, ctx.directory.org):
            addrs.setdefault(a, None)
        for e in p.internal:
            if e.key not in ctx.directory.salesforce_users:
                internal.setdefault(e.key, None)
        if not item.is_meeting:
            for rid in record_ids_in_text(item.subject, item.location, item.body):
                ids.setdefault(rid, None)
        ev = event_from_item(
            item,
            owner_id=ctx.owner_id,
            org=ctx.directory.org,
            tz=ctx.zone(item.start_time_zone),
            first_share=False,
        )
        keys.setdefault(natural_key(ctx.owner_id, ev), None)
    return Lookups(
        addresses=tuple(addrs),
        record_ids=tuple(ids),
        natural_keys=tuple(keys),
        guids=tuple(guids),
        internal=tuple(internal),
    )


# -- the decision ------------------------------------------------------------------------------


def _ref(item: Item) -> ItemRef:
    return ItemRef(item.mailbox, item.id, item.ical_uid)


def _invitee_status(r: ResponseType) -> str:
    """P4: accepted and declined as they are, every other response as undecided."""
    if r is ResponseType.ACCEPTED:
        return "Accepted"
    if r is ResponseType.DECLINED:
        return "Declined"
    return "New"


def _invitees(item: Item, d: Directory, owner_mailbox: str) -> tuple[Invitee, ...]:
    """P1: internal Salesforce users among the attendees (not the owner) become invitees."""
    out: dict[str, Invitee] = {}
    own = owner_mailbox.lower()
    for a in item.attendees:
        if a.email.key == own or not d.is_internal(a.email.address):
            continue
        uid = d.salesforce_users.get(a.email.key)
        if uid and uid not in out:
            out[uid] = Invitee(uid, _invitee_status(a.response))
    return tuple(out.values())


class _Planner:
    def __init__(self, inputs: Inputs) -> None:
        self.i = inputs
        self.ctx = inputs.ctx
        self.org = inputs.ctx.directory.org
        self.us = inputs.ctx.user.settings
        self.out: list[Action] = []
        self.claimed: set[str] = set()
        """Event ids linked in this plan (D2 must not adopt one twice)."""
        self.crm_changed: dict[str, CrmEvent] = {e.id: e for e in inputs.crm_events if e.id}
        """Events that changed in Salesforce since the org's cursor (X2, U4)."""
        self.created: dict[str, str] = {}
        """GUID -> `pending:<guid>|owner` for Events this plan creates (D1 within a session)."""

    # Helpers -----------------------------------------------------------------------------------

    def emit(self, a: Action) -> None:
        self.out.append(a)

    def set_status(
        self, item: Item, *, shared: bool, status: cat.Status | None, error: bool = False
    ) -> None:
        """C1-C3: write the categories only when they differ (no write when nothing changes)."""
        new = cat.apply(item.categories, shared=shared, status=status, error=error)
        if new != item.categories:
            self.emit(SetCategories(_ref(item), new, status))

    def invitees(self, item: Item, sc: Scenario) -> tuple[Invitee, ...]:
        """P1: only the organizer's Event has invitees, and a private one has none (M6)."""
        if sc is not Scenario.YOU_ORGANIZE or item.is_private:
            return ()
        return _invitees(item, self.ctx.directory, self.ctx.mailbox)

    def seen(self, item: Item, lk: Linking | None) -> None:
        """Record the content hash; keep a snapshot while participants lack a record (P6)."""
        waiting = lk is not None and bool(lk.unresolved) and item.is_meeting and not item.is_private
        self.emit(
            Seen(_ref(item), content_hash(item), item if waiting else None, item.start, item.end)
        )

    def own_event_for(self, guid: str) -> KnownEvent | None:
        """D1: the Event this user already owns for the GUID."""
        for ev in self.i.events.values():
            if ev.guid == guid and ev.owner_id == self.ctx.owner_id:
                return ev
        return None

    def organizer_event(self, guid: str, organizer_mailbox: str) -> KnownEvent | None:
        """P2: the Event the crmcal organizer's share made for this GUID."""
        u = self.ctx.directory.user(organizer_mailbox)
        if u is None:
            return None
        for ev in self.i.events.values():
            if ev.guid == guid and ev.owner_id == u.salesforce_user_id:
                return ev
        return None

    def linking(self, item: Item, p: Participants) -> Linking:
        addrs = search_addresses(item, p.searchable, self.org)
        rids = () if item.is_meeting else record_ids_in_text(item.subject, item.location, item.body)
        return link(
            addrs,
            self.i.search,
            owner_id=self.ctx.owner_id,
            today=self.ctx.now.date(),
            shared_activities=self.ctx.shared_activities,
            record_ids=rids,
        )

    # Per item ----------------------------------------------------------------------------------

    def decide(self, item: Item) -> None:
        t = self.i.tracked.get(item.id)
        # W1: outside the window nothing is shared; W3: a linked item found outside it exits.
        if not in_window(item, self.ctx.window):
            if t is not None and t.event_id is not None:
                self.exit(item, t)
            return
        if t is not None and t.event_id is not None and t.event_id in self.i.crm_deleted:
            # X3: the Event was deleted in Salesforce. Salesforce-born items go from Outlook too
            # (Outlook-born ones only with `salesforce_delete_removes_outlook_items`); others
            # lose crmcal's categories and their link, and are not shared again by themselves.
            ref = _ref(item)
            if t.origin is Origin.SALESFORCE or self.org.salesforce_delete_removes_outlook_items:
                self.emit(DeleteItem(ref))
            else:
                new = cat.strip(item.categories)
                if new != item.categories:
                    self.emit(SetCategories(ref, new, None, rules=("X3", "C4")))
            self.emit(
                Unlink(
                    ref,
                    t.event_id,
                    event_gone=True,
                    deleted_elsewhere=True,
                    remember=UNSYNCED if t.origin is not Origin.SALESFORCE else None,
                )
            )
            return
        linked = t is not None and t.event_id is not None
        if self.mirror_mode and linked and (cat.wants_unsync(item.categories) or item.is_cancelled):
            # G3 `salesforce_to_outlook`: nothing done in Outlook changes Salesforce; the item is
            # let go (crmcal's categories off, link dropped), the Event stays.
            assert t is not None
            self.let_go(item, t, "unsynced or cancelled in Outlook")
            return
        if t is not None and t.event_id is not None and cat.wants_unsync(item.categories):
            # M5: `Salesforce Unsync` removes what crmcal created and all of crmcal's categories,
            # and is remembered so auto-share does not share the item straight back.
            self.unshare(t, item.subject, ("M5",), remember=UNSYNCED)
            new = cat.strip(item.categories)
            if new != item.categories:
                self.emit(SetCategories(_ref(item), new, None, rules=("M5", "C4")))
            return
        if t is None and cat.wants_unsync(item.categories):
            new = cat.strip(item.categories)  # nothing shared: just take the request back
            if new != item.categories:
                self.emit(SetCategories(_ref(item), new, None, rules=("M5", "C4")))
            return
        if t is not None and t.event_id is not None and item.is_cancelled:
            # X4: a cancelled meeting's Event goes (the organizer's, or this sharer's own).
            self.unshare(t, item.subject, ("X4",))
            ev = self.i.events.get(t.event_id)
            if ev is None or t.share_mode is ShareMode.ATTENDEE or ev.owner_id != self.ctx.owner_id:
                self.cancelled(item, t)  # no deletion of ours the X7 guard could hold
            return
        if item.is_cancelled:
            # X4: a cancelled meeting is never shared and waits for no one (an attendee's copy
            # whose organizer's session already deleted the Event, whatever the session order).
            self.cancelled(item, t)
            return
        if (
            unchanged(item, t)
            and (
                t is None
                or (t.event_id not in self.crm_changed and t.event_id not in self.i.crm_invitees)
            )
            and not self.body_moved(item, t)
        ):
            # X6 only: nothing that Salesforce cares about changed, on either side.
            self.set_status(item, shared=True, status=cat.TRACKED)
            return
        if self.mirror_mode and not (t is not None and t.event_id is not None):
            self.not_up(item, t)
            return
        p = participants(item, self.ctx.directory, self.us)
        if t is not None and t.event_id is not None:
            self.linked(item, t, p)
            return
        self.unlinked(item, t, p)

    @property
    def safe_description(self) -> bool:
        """U2: Safe Description for this user (the org's setting unless the user overrides it)."""
        return self.us.effective_safe_description(self.org)

    def body_moved(self, item: Item, t: TrackedItem | None) -> bool:
        """U2 off: the body changed since last synced (the content hash leaves the body out)."""
        if self.safe_description or t is None or t.event_id is None or self.mirror_mode:
            return False
        ev = self.i.events.get(t.event_id)
        return ev is not None and body_edit(ev.synced, item, self.org) is not None

    @property
    def mirror_mode(self) -> bool:
        """G3 `salesforce_to_outlook`: Salesforce is master for this user."""
        return self.us.direction is Direction.SALESFORCE_TO_OUTLOOK

    def not_up(self, item: Item, t: TrackedItem | None) -> None:
        """G3 `salesforce_to_outlook`: Outlook items are never shared up. One the user marks
        with the category is told why (status and issue); others are left alone."""
        if not cat.wants_share(item.categories):
            self.forget(item, t, None)
            return
        status = cat.not_synced(DIRECTION_REASON_TEXT)
        self.set_status(item, shared=True, status=status, error=True)
        self.emit(Track(_ref(item), item, status.category, ShareMode.CATEGORY))
        self.emit(
            RaiseIssue(
                item.mailbox,
                NOT_SYNCED_REASON,
                f"Not synced: {DIRECTION_REASON_TEXT}",
                item=item,
                actions=("dismiss",),
                rules=("G3", "I1"),
            )
        )

    def let_go(self, item: Item, t: TrackedItem, why: str) -> None:
        """G3 `salesforce_to_outlook`: drop the link without touching Salesforce."""
        ref = _ref(item)
        new = cat.strip(item.categories)
        if new != item.categories:
            self.emit(SetCategories(ref, new, None, rules=("G3", "C4")))
        self.emit(Note(ref, f"{why}: Event {t.event_id} kept (Salesforce is master)", ("G3",)))
        self.emit(Unlink(ref, t.event_id))

    def mirror(self, item: Item, t: TrackedItem, ev: KnownEvent, now: Mapping[str, object]) -> None:
        """G3 `salesforce_to_outlook`: Salesforce wins every field. What changed in Salesforce
        comes down; what changed only in Outlook is put back to the Salesforce value. Three-way
        against the last synced values, so nothing is written when nothing moved."""
        sf_now = self.crm_changed.get(ev.event_id)
        sf_values = synced_values(sf_now) if sf_now is not None else dict(ev.synced)
        to_sf, to_outlook, _ = merge(ev.synced, now, sf_values)
        down = {**to_outlook, **{k: sf_values.get(k) for k in to_sf}}
        may_write = t.origin is Origin.SALESFORCE or not item.is_meeting or item.is_organizer
        if not down or not may_write:
            return
        base = dict(ev.synced)
        base.update({k: sf_values.get(k) for k in down})
        self.emit(
            UpdateItem(
                _ref(item),
                patch_for(down, sf_values),
                ev.event_id,
                base,
                tuple(sorted(down)),
                rules=("G3", "X2"),
            )
        )

    def linked(self, item: Item, t: TrackedItem, p: Participants) -> None:
        ev = self.i.events.get(t.event_id or "")
        if ev is None:  # the Event vanished from crmcal's knowledge: treat as unshared
            self.unlinked(item, None, p)
            return
        # X6: the category comes back; C3: one status.
        self.set_status(item, shared=True, status=cat.TRACKED)
        if ev.owner_id != self.ctx.owner_id or t.share_mode is ShareMode.ATTENDEE:
            # P1/P2: an attendee's copy follows the organizer's Event; it never drives updates
            # (the organizer's session does), and P7 forbids writing to a meeting we don't own.
            self.seen(item, None)
            return
        # U1 (+U2: Description never again while Safe Description is on).
        now_values = synced_values(
            event_from_item(
                item,
                owner_id=ev.owner_id,
                org=self.org,
                tz=self.ctx.zone(item.start_time_zone),
                first_share=False,
            )
        )
        if self.mirror_mode:
            self.mirror(item, t, ev, now_values)
            return
        sf_now = self.crm_changed.get(ev.event_id)
        to_outlook: dict[str, object] = {}
        conflicts: tuple[str, ...] = ()
        base: dict[str, object]
        if sf_now is not None and not sf_now.is_deleted:
            # X2 + U4: both sides may have moved since the last sync: three-way merge, Outlook
            # wins a field changed on both sides; fields changed only in Salesforce come down
            # where P7 allows (Salesforce-born items, appointments, meetings the user organizes).
            sf_values = synced_values(sf_now)
            to_sf, to_outlook, conflicts = merge(ev.synced, now_values, sf_values)
            if self.us.direction is Direction.OUTLOOK_TO_SALESFORCE:
                # G3: Outlook is master: Salesforce edits are reverted.
                to_sf = {**to_sf, **{k: now_values[k] for k in to_outlook}}
                to_outlook = {}
            may_write = t.origin is Origin.SALESFORCE or not item.is_meeting or item.is_organizer
            base = dict(ev.synced)
            base.update({k: now_values[k] for k in now_values if k not in to_outlook})
            if to_outlook and may_write:
                base.update({k: sf_values[k] for k in to_outlook})
                new_start = _dt(sf_values.get("StartDateTime"))
                moved = {"StartDateTime", "EndDateTime"} & set(to_outlook)
                if moved and item.reminder_on and new_start is not None:
                    # Outlook keeps the reminder relative to the start; write the same instant
                    # to Salesforce now, rather than echo it back next session.
                    remind = new_start - timedelta(minutes=item.reminder_minutes)
                    value = remind.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    base["ReminderDateTime"] = value
                    if sf_values.get("ReminderDateTime") != value:
                        to_sf = {**to_sf, "ReminderDateTime": value}
                self.emit(
                    UpdateItem(
                        _ref(item),
                        patch_for(to_outlook, sf_values),
                        ev.event_id,
                        base,
                        tuple(sorted(to_outlook)),
                        conflicts,
                    )
                )
        else:
            to_sf = changed(ev.synced, now_values)
            base = dict(now_values)
        fields: dict[str, object] = dict(to_sf)
        if not self.safe_description:
            # U2 off: a body edit in Outlook reaches Description (one way: P7 and U2 keep
            # Description edits out of Outlook; decision 0101).
            if (edit := body_edit(ev.synced, item, self.org)) is not None:
                fields["Description"], base[BODY_KEY] = edit
            else:
                base[BODY_KEY] = ev.synced[BODY_KEY]
        became_private = bool(to_sf.get("IsPrivate")) and item.is_private
        if became_private:
            # M6: a private Event cannot be linked to records: clear Who and What with it.
            fields.update({"WhoId": None, "WhatId": None})
        if fields:
            self.emit(
                UpdateEvent(ev.event_id, fields, base, conflicts, item=_ref(item), source=item)
            )
        if became_private and (ev.who_ids or ev.what_id):
            self.emit(SyncRelations(ev.event_id, clear_whos=True, rules=("M6",)))
        if self.invitations(item, ev):
            return  # the attendee list changes now: relations follow it next session (P4)
        if unchanged(item, t):
            # Only Salesforce moved (X2): relations follow Outlook's attendee list, which did not
            # change, and this item was not looked up in this session: leave them be.
            return
        # P4, P6, L5: invitees and Who relations follow the attendee list every session.
        self.relations(item, p, ev, t)

    def invitations(self, item: Item, ev: KnownEvent) -> bool:
        """P5 with `invitation_mode` on: invitees added or removed in Salesforce are added to
        or removed from the meeting the user organizes (P7). Only attendees Salesforce removed
        go: Outlook never loses an attendee because of a sync."""
        now = self.i.crm_invitees.get(ev.event_id)
        if (
            now is None
            or not self.org.invitation_mode
            or not item.is_organizer
            or self.us.direction is Direction.OUTLOOK_TO_SALESFORCE
        ):
            return False
        synced = {i[:15] for i in ev.invitees}
        added = sorted(now - synced - {self.ctx.owner_id[:15]})
        removed = sorted(synced - now)
        if not added and not removed:
            return False
        mail = {k[:15]: v.strip().lower() for k, v in self.i.user_emails.items()}
        gone = {mail[u] for u in removed if u in mail}
        keep = tuple(a for a in item.attendees if a.email.address.strip().lower() not in gone)
        have = {a.email.address.strip().lower() for a in keep}
        new = tuple(
            Attendee(EmailAddress(mail[u])) for u in added if u in mail and mail[u] not in have
        )
        unknown = [u for u in added if u not in mail]
        if unknown:
            self.emit(Note(_ref(item), f"invitees without an e-mail address: {unknown}", ("P5",)))
        if not new and len(keep) == len(item.attendees):
            return False
        self.emit(
            SetAttendees(
                _ref(item),
                ev.event_id,
                keep + new,
                tuple(sorted(now)),
                added=tuple(added),
                removed=tuple(removed),
            )
        )
        return True

    def relations(self, item: Item, p: Participants, ev: KnownEvent, t: TrackedItem) -> None:
        if item.is_private:
            self.seen(item, None)
            return  # M6: private Events carry no links
        lk = self.linking(item, p)
        self.seen(item, lk)
        want_inv = self.invitees(item, scenario(item, self.ctx.directory))
        have = set(ev.invitees)
        add = tuple(i for i in want_inv if i.user_id not in have)
        remove = tuple(sorted(have - {i.user_id for i in want_inv}))
        restatus = tuple(
            i
            for i in want_inv
            if i.user_id in have and ev.invitee_status.get(i.user_id, "New") != i.status
        )
        who_id, what_id, whos = valid_links(
            t.who_id or lk.who_id,
            t.what_id or lk.what_id,
            lk.who_relations if not t.who_id else (t.who_id,),
            who_from_user=bool(t.who_id),
            what_from_user=bool(t.what_id),
        )
        set_links = (tuple(ev.who_ids) != tuple(whos) and bool(whos)) or (
            what_id is not None and what_id != ev.what_id
        )
        if add or remove or set_links or restatus:
            self.emit(
                SyncRelations(
                    ev.event_id,
                    add_invitees=add,
                    remove_invitees=remove,
                    update_status=restatus,
                    who_id=who_id,
                    what_id=what_id,
                    who_relations=whos if set_links else (),
                    set_links=set_links,
                )
            )

    def unlinked(self, item: Item, t: TrackedItem | None, p: Participants) -> None:
        ref = _ref(item)
        if t is not None and t.status == UNSYNCED and not cat.wants_share(item.categories):
            self.emit(Note(ref, "unsynced by the user: auto-share leaves it alone", ("M5",)))
            return
        manual = cat.wants_share(item.categories) or (
            t is not None and t.share_mode is ShareMode.SAVE
        )
        mode = (
            ShareMode.SAVE
            if t is not None and t.share_mode is ShareMode.SAVE
            else (ShareMode.CATEGORY if cat.wants_share(item.categories) else ShareMode.AUTO)
        )
        sc = scenario(item, self.ctx.directory)

        # P2: an in-org organizer who uses crmcal decides for everyone.
        if sc is Scenario.CRMCAL_ORGANIZER:
            org_mail = item.organizer.address if item.organizer else ""
            oev = self.organizer_event(item.ical_uid, org_mail)
            if oev is not None:
                # P1: the attendee's copy links to the organizer's Event and gets the category.
                self.emit(
                    LinkItem(ref, oev.event_id, ShareMode.ATTENDEE, rules=("P1", "P2"), source=item)
                )
                self.set_status(item, shared=True, status=cat.TRACKED)
                self.emit(ResolveIssues(item.mailbox, item.id))
                self.seen(item, None)
                return
            lk = self.linking(item, p)
            skip = autoshare_skip(
                item, p, self.us, self.org, linked=lk.linked or p.is_internal_only
            )
            if manual or skip is None:
                self.set_status(item, shared=manual, status=cat.WAITING_FOR_ORGANIZER)
                self.emit(Track(ref, item, cat.WAITING_FOR_ORGANIZER.category, mode))
                self.emit(
                    RaiseIssue(
                        item.mailbox,
                        WAITING_REASON,
                        "Waiting for the organizer to synchronize the event "
                        f"({org_mail} shares it; then it is linked here too).",
                        item=item,
                        actions=("retry", "dismiss"),
                        rules=("P2", "I1"),
                    )
                )
            else:
                self.forget(item, t, skip)
            return

        # N1, N2, R6, Y3: items that cannot sync (only when someone wants them shared).
        bad = cannot_sync(item, self.org)
        if bad is not None and bad.code == "recurring_sync_off" and not manual:
            # R1: without `recurring_sync`, auto-share passes series by (no error for the user).
            self.forget(item, t, None)
            self.emit(Note(ref, "not auto-shared: recurring (recurring_sync is off)", ("R1",)))
            return
        lk = self.linking(item, p)
        hist = historical(item, self.ctx.enabled_at, self.org)
        skip = autoshare_skip(item, p, self.us, self.org, linked=lk.linked, historical=hist)
        wanted = manual or skip is None
        if not wanted:
            if skip is Skip.UNLINKED and (
                blocking := unresolved_blocks_share(item, p, set(lk.resolved), self.org)
            ):
                self.no_record_notice(item, t, blocking, mode)
                return
            self.forget(item, t, skip)
            return
        if bad is not None:
            status = cat.not_synced(bad.reason)
            self.set_status(item, shared=manual, status=status, error=True)
            self.emit(Track(ref, item, status.category, mode))
            self.emit(
                RaiseIssue(
                    item.mailbox,
                    NOT_SYNCED_REASON,
                    f"Not synced: {bad.reason}",
                    item=item,
                    rules=("N4", "I1"),
                )
            )
            return
        # M4: a meeting whose external participants all lack a record waits for one.
        blocking = unresolved_blocks_share(item, p, set(lk.resolved), self.org)
        if blocking and not (t is not None and t.who_id):
            status = cat.unresolved(blocking)
            self.set_status(item, shared=manual, status=status)
            self.emit(Track(ref, item, status.category, mode))
            self.emit(ResolveIssues(item.mailbox, item.id, keep=UNRESOLVED_REASON))
            self.emit(
                RaiseIssue(
                    item.mailbox,
                    UNRESOLVED_REASON,
                    "Unresolved participants: " + ", ".join(blocking),
                    item=item,
                    actions=("retry", "create record", "share anyway", "dismiss"),
                    rules=("M4", "I1"),
                )
            )
            return
        self.share(item, t, p, lk, mode, sc)

    def share(
        self,
        item: Item,
        t: TrackedItem | None,
        p: Participants,
        lk: Linking,
        mode: ShareMode,
        sc: Scenario,
    ) -> None:
        ref = _ref(item)
        rules = ("A1", "A7") if mode is ShareMode.AUTO else ("M1",)
        # D1: one Event per (GUID, owner): link the one this user already owns.
        mine = self.own_event_for(item.ical_uid)
        if mine is not None:
            self.emit(LinkItem(ref, mine.event_id, mode, rules=("D1",), source=item))
            self.set_status(item, shared=True, status=cat.TRACKED)
            self.emit(ResolveIssues(item.mailbox, item.id))
            self.seen(item, lk)
            return
        if item.ical_uid in self.created:
            return  # the same GUID twice in one mailbox round: one Event (D1)
        who, what, whos = valid_links(
            t.who_id if t is not None and t.who_id else lk.who_id,
            t.what_id if t is not None and t.what_id else lk.what_id,
            (t.who_id,) if t is not None and t.who_id else lk.who_relations,
            who_from_user=t is not None and bool(t.who_id),
            what_from_user=t is not None and bool(t.what_id),
        )
        ev = event_from_item(
            item,
            owner_id=self.ctx.owner_id,
            org=self.org,
            tz=self.ctx.zone(item.start_time_zone),
            who_id=who,
            what_id=what,
            guid=item.ical_uid,
            first_share=True,
            defaults=self.org.event_defaults,
        )
        synced = synced_values(ev)
        base = (
            synced if self.safe_description else {**synced, BODY_KEY: body_digest(ev.description)}
        )
        invitees = self.invitees(item, sc)
        # D2: an Event of the same owner, subject and start that nothing else is linked to.
        known = set(self.i.events) | self.claimed
        for eid in self.i.existing.get(natural_key(self.ctx.owner_id, ev), ()):
            if eid not in known:
                self.claimed.add(eid)
                # D2: link it, then make it what sharing would have made: the item's fields
                # (U1, an empty base so every field is written) and its links and invitees.
                self.emit(
                    LinkItem(
                        ref,
                        eid,
                        mode,
                        adopted=True,
                        owner_id=self.ctx.owner_id,
                        synced={},
                        rules=("D2",),
                        source=item,
                    )
                )
                self.emit(UpdateEvent(eid, synced, base, item=ref, rules=("D2", "U1")))
                if not item.is_private and (who or what or invitees):
                    self.emit(
                        SyncRelations(
                            eid,
                            add_invitees=invitees,
                            who_id=who,
                            what_id=what,
                            who_relations=whos,
                            set_links=bool(who or what),
                            rules=("D2", "P1", "L5"),
                        )
                    )
                self.emit(
                    Note(ref, f"linked existing Event {eid} instead of creating one", ("D2",))
                )
                self.set_status(item, shared=True, status=cat.TRACKED)
                self.emit(ResolveIssues(item.mailbox, item.id))
                self.seen(item, lk)
                return
        self.created[item.ical_uid] = f"{item.ical_uid}|{self.ctx.owner_id}"
        self.emit(
            CreateEvent(
                ref,
                ev,
                mode,
                base,
                who_relations=() if item.is_private else whos,
                invitees=invitees,
                rules=(*rules, "P1" if sc is Scenario.YOU_ORGANIZE else "P3", "U3"),
                source=item,
            )
        )
        self.set_status(item, shared=True, status=cat.TRACKED)
        self.emit(ResolveIssues(item.mailbox, item.id))
        self.seen(item, lk)
        if sc is Scenario.YOU_ORGANIZE:
            # P1: attendees' copies waiting for this share are linked to the new Event.
            for other in self.i.by_guid.get(item.ical_uid, ()):
                if other.mailbox != item.mailbox and other.event_id is None and other.snapshot:
                    self.emit(
                        LinkItem(
                            ItemRef(other.mailbox, other.item_id, other.guid),
                            f"pending:{item.ical_uid}|{self.ctx.owner_id}",
                            ShareMode.ATTENDEE,
                            rules=("P1", "P2"),
                            source=other.snapshot,
                        )
                    )
                    snap = other.snapshot
                    new = cat.apply(snap.categories, shared=True, status=cat.TRACKED)
                    if new != snap.categories:
                        self.emit(
                            SetCategories(
                                ItemRef(other.mailbox, other.item_id, other.guid),
                                new,
                                cat.TRACKED,
                                rules=("P1", "C1"),
                                refresh=True,
                            )
                        )
                    self.emit(ResolveIssues(other.mailbox, other.item_id))

    def unshare(
        self, t: TrackedItem, subject: str, rules: tuple[str, ...], remember: str | None = None
    ) -> None:
        """X4, X5, M5: the Event crmcal created for this item goes; an attendee's copy of an in-org
        organizer's meeting only takes the attendee off the invitees (anchors 1.11)."""
        ref = ItemRef(t.mailbox, t.item_id, t.guid)
        ev = self.i.events.get(t.event_id or "")
        if ev is None:
            self.emit(Unlink(ref, remember=remember))
            return
        subject = subject or str(ev.synced.get("Subject") or "")
        if t.share_mode is ShareMode.ATTENDEE or ev.owner_id != self.ctx.owner_id:
            self.emit(SyncRelations(ev.event_id, remove_invitees=(self.ctx.owner_id,), rules=rules))
            self.emit(Unlink(ref, ev.event_id, remember=remember))
            return
        if not ev.created_by_crmcal and t.origin is not Origin.SALESFORCE:
            # D2 adopted it: crmcal did not create it, so it does not delete it. (An Event that
            # came from Salesforce with its item is deleted with it: anchors 1.11, row 2.)
            self.emit(Note(ref, f"Event {ev.event_id} was not made by crmcal: kept", rules))
            self.emit(Unlink(ref, ev.event_id, remember=remember))
            return
        self.emit(DeleteEvent(ev.event_id, ref, subject, rules))
        self.emit(Unlink(ref, ev.event_id, event_gone=True, remember=remember))

    def removed(self) -> None:
        """X5: items deleted in Outlook. A tombstone alone is not enough (it is also sent when an
        item leaves the window, W3): only ids the session confirmed gone count."""
        for r in self.i.removed:
            t = self.i.tracked.get(r.id)
            if t is None:
                continue
            if r.id in self.i.series_masters and self.org.recurring_sync:
                continue  # a shared series: the series engine deletes it, under X7 (0036)
            if t.event_id is None:
                self.emit(Track(ItemRef(t.mailbox, t.item_id, t.guid), None, None, forget=True))
                self.emit(ResolveIssues(t.mailbox, t.item_id))  # nothing left to wait for
                continue
            if r.id in self.i.gone and self.mirror_mode:
                # G3 `salesforce_to_outlook`: deleting the Outlook copy leaves the Event alone.
                ref = ItemRef(t.mailbox, t.item_id, t.guid)
                self.emit(Note(ref, f"deleted in Outlook: Event {t.event_id} kept", ("G3",)))
                self.emit(Unlink(ref, t.event_id))
            elif r.id in self.i.gone:
                snap = t.snapshot.subject if t.snapshot else ""
                self.unshare(t, snap, ("X5",))
        if self.ctx.allow_mass_delete:
            # X7 confirmed: carry out the deletions the guard held.
            for t in self.i.tracked.values():
                if t.status == HELD and t.event_id:
                    self.unshare(t, t.snapshot.subject if t.snapshot else "", ("X7", "X5"))

    def downsync(self) -> None:
        """X1: Events a user made in Salesforce (owned by them, in the window, not made or linked
        by crmcal) appear in their Outlook calendar with the `Salesforce` category."""
        if not self.org.sync_salesforce_calendar:
            return
        if self.us.direction is Direction.OUTLOOK_TO_SALESFORCE:  # G3: Outlook is master
            return
        categories = (cat.SALESFORCE, cat.TRACKED.category)
        for ev in self.i.crm_events:
            if ev.id is None or ev.is_deleted or ev.is_child or ev.owner_id != self.ctx.owner_id:
                continue
            if ev.classic_recurrence or ev.lightning_recurrence or ev.recurrence_activity_id:
                continue  # series come down with X8 (issue #7)
            if ev.id in self.i.events or ev.id in self.claimed:
                continue  # crmcal made it, or linked it (D2 in this very plan)
            draft = item_draft(ev, categories)
            if draft is None or not self.ctx.window.touches(draft.start, draft.end):
                continue
            self.emit(CreateItem(self.ctx.mailbox, draft, ev, synced_values(ev)))

    def window_exits(self) -> None:
        """W3: an item that left the window stops syncing. Outlook-born: it loses crmcal's
        categories and its link (the Event stays, later edits no longer go up). Salesforce-born:
        deleted from Outlook, kept in Salesforce."""
        for item in self.i.exits:
            t = self.i.tracked.get(item.id)
            if t is None or t.event_id is None or in_window(item, self.ctx.window):
                continue
            self.exit(item, t)

    def exit(self, item: Item, t: TrackedItem) -> None:
        ref = _ref(item)
        if t.origin is Origin.SALESFORCE:
            self.emit(DeleteItem(ref, rules=("W3",)))
        else:
            new = cat.strip(item.categories)
            if new != item.categories:
                self.emit(SetCategories(ref, new, None, rules=("W3", "C4")))
        self.emit(Unlink(ref, t.event_id))

    def guard(self) -> None:
        """X7 for a plan of items alone (Save, the property tests); a session weighs its item and
        series deletions together instead (`sync.guard`, decision 0120)."""
        if not self.i.guard:
            return
        mine = linked_items(self.i)
        mine_deleting = item_deletions(self.out)
        if over_guard(self.org, mine_deleting, mine, confirmed=self.ctx.allow_mass_delete):
            self.out = hold_item_deletions(self.out, self.i, mine_deleting.events, mine)

    def cancelled(self, item: Item, t: TrackedItem | None) -> None:
        """X4 + C4: a cancelled item keeps none of crmcal's categories and no open issue; its
        tracking (a waiting copy's, say) is forgotten. Nothing is written when there is nothing
        to take back."""
        new = cat.strip(item.categories)
        if new != item.categories:
            self.emit(SetCategories(_ref(item), new, None, rules=("X4", "C4")))
        if t is not None:
            self.emit(ResolveIssues(item.mailbox, item.id))
            if t.event_id is None:
                self.emit(Track(_ref(item), None, None, forget=True))

    def no_record_notice(
        self, item: Item, t: TrackedItem | None, blocking: tuple[str, ...], mode: ShareMode
    ) -> None:
        """A6 + M4, issue 18's silent skip: auto-share passed the meeting by because none of its
        external participants has a record. A low-severity issue names the addresses and offers
        Create record; the item gets no Outlook category (the user did not mark it) and stays
        tracked with a snapshot, so the next session looks again (P6) and the notice closes
        once the meeting shares or stops being a candidate."""
        ref = _ref(item)
        if t is not None and t.status is not None:  # a status crmcal gave it before goes
            new = cat.apply(item.categories, shared=False, status=None)
            if new != item.categories:
                self.emit(SetCategories(ref, new, None))
        self.emit(ResolveIssues(item.mailbox, item.id, keep=NO_RECORD_REASON))
        self.emit(Track(ref, item, None, mode))
        self.emit(
            RaiseIssue(
                item.mailbox,
                NO_RECORD_REASON,
                "Not auto-shared: no Salesforce Contact or Lead for "
                + ", ".join(blocking)
                + ". Create a record to share it, or share it yourself.",
                item=item,
                actions=("create record", "dismiss"),
                rules=("A6", "M4", "I1"),
            )
        )
        self.emit(Note(ref, f"not auto-shared: {Skip.UNLINKED.value}"))

    def forget(self, item: Item, t: TrackedItem | None, skip: Skip | None) -> None:
        """Not shared and not waiting: take back any status crmcal had given it, forget it."""
        if t is not None and t.status is not None:
            new = cat.apply(item.categories, shared=False, status=None)
            if new != item.categories:
                self.emit(SetCategories(_ref(item), new, None))
        if t is not None:
            self.emit(ResolveIssues(item.mailbox, item.id))
            self.emit(Track(_ref(item), None, None, forget=True))
        if skip is not None:
            self.emit(Note(_ref(item), f"not auto-shared: {skip.value}"))


def _dt(v: object) -> datetime | None:
    return datetime.fromisoformat(str(v).replace("Z", "+00:00")) if v else None


def patch_for(fields: Mapping[str, object], sf: Mapping[str, object]) -> ItemPatch:
    """X2: the Outlook patch for fields that changed in Salesforce (start and end go together)."""
    kw: dict[str, object] = {}
    if "Subject" in fields:
        kw["subject"] = str(sf.get("Subject") or "")
    if "Location" in fields:
        kw["location"] = str(sf.get("Location") or "")
    if "ShowAs" in fields:
        kw["show_as"] = {"Free": ShowAs.FREE, "OutOfOffice": ShowAs.OOF}.get(
            str(sf.get("ShowAs")), ShowAs.BUSY
        )
    if "IsPrivate" in fields:
        kw["sensitivity"] = Sensitivity.PRIVATE if sf.get("IsPrivate") else Sensitivity.NORMAL
    times = {"StartDateTime", "EndDateTime", "IsAllDayEvent", "ActivityDate", "DurationInMinutes"}
    if times & set(fields):
        if sf.get("IsAllDayEvent") and sf.get("ActivityDate"):
            d = datetime.fromisoformat(f"{sf['ActivityDate']}T00:00:00+00:00")
            days = max(int(str(sf.get("DurationInMinutes") or 1440)) // 1440, 1)
            kw.update(start=d, end=d + timedelta(days=days), time_zone="UTC", is_all_day=True)
        elif sf.get("StartDateTime") and sf.get("EndDateTime"):
            kw.update(
                start=_dt(sf["StartDateTime"]),
                end=_dt(sf["EndDateTime"]),
                time_zone="UTC",
                is_all_day=False,
            )
    if "IsReminderSet" in fields or "ReminderDateTime" in fields:
        kw["reminder_on"] = bool(sf.get("IsReminderSet"))
        start = _dt(sf.get("StartDateTime"))
        remind = _dt(sf.get("ReminderDateTime"))
        if start and remind:
            kw["reminder_minutes"] = max(int((start - remind).total_seconds() // 60), 0)
    return ItemPatch(**kw)  # type: ignore[arg-type]


def linked_items(inputs: Inputs) -> int:
    """X7's "half of what is linked", for items: the user's linked Events."""
    return sum(
        1
        for t in inputs.tracked.values()
        if t.event_id
        and (ev := inputs.events.get(t.event_id)) is not None
        and ev.owner_id == inputs.ctx.owner_id
    )


def item_deletions(actions: Sequence[Action]) -> Deletions:
    """The Events an item plan deletes (each one Event and one shared thing)."""
    n = sum(1 for a in actions if isinstance(a, DeleteEvent))
    return Deletions(n, n)


def hold_item_deletions(
    actions: Sequence[Action], inputs: Inputs, total: int, linked: int
) -> list[Action]:
    """X7 over the guard: the plan's Event deletions and their unlinks are dropped; each is kept
    and explained (`HoldDelete`), and one issue says what the session would have deleted
    (`total`: every Event of the session's plan, series included)."""
    ctx = inputs.ctx
    deletes = [a for a in actions if isinstance(a, DeleteEvent)]
    if not deletes:
        return list(actions)
    held = {d.event_id for d in deletes}
    out: list[Action] = [
        a
        for a in actions
        if not isinstance(a, DeleteEvent) and not (isinstance(a, Unlink) and a.event_id in held)
    ]
    out += [HoldDelete(d.item, d.event_id, d.subject) for d in deletes]
    limit = ctx.directory.org.mass_delete_guard
    names = "; ".join(d.subject or d.event_id for d in deletes[:20])
    more = f" and {len(deletes) - 20} more" if len(deletes) > 20 else ""
    out.append(
        RaiseIssue(
            ctx.mailbox,
            MASS_DELETE_REASON,
            f"This session would delete {total} Salesforce Events (of {linked} linked; "
            f"the guard allows {limit}): {names}{more}. Nothing was deleted. If that is "
            f"intended, confirm it here or run "
            f"`crmcal sync --user {ctx.mailbox} --allow-mass-delete`.",
            actions=("confirm delete", "dismiss"),
            rules=("X7", "I1"),
        )
    )
    return out


def item_draft(ev: CrmEvent, org_categories: tuple[str, ...]) -> ItemDraft | None:
    """X1: the Outlook item for a Salesforce Event (None when it has no time to show)."""
    if ev.is_all_day and ev.activity_date is not None:
        days = max((ev.duration_minutes or 1440) // 1440, 1)
        first = datetime(
            ev.activity_date.year, ev.activity_date.month, ev.activity_date.day, tzinfo=UTC
        )
        start, end = first, first + timedelta(days=days)
    elif ev.start is not None and ev.end is not None:
        start, end = ev.start, ev.end
    else:
        return None
    show = {"Free": ShowAs.FREE, "OutOfOffice": ShowAs.OOF}.get(ev.show_as.value, ShowAs.BUSY)
    return ItemDraft(
        subject=ev.subject,
        start=start,
        end=end,
        time_zone="UTC",
        is_all_day=ev.is_all_day,
        body=ev.description,
        location=ev.location,
        sensitivity=Sensitivity.PRIVATE if ev.is_private else Sensitivity.NORMAL,
        show_as=show,
        categories=org_categories,
        reminder_on=ev.is_reminder_set,
        reminder_minutes=int((start - ev.reminder_at).total_seconds() // 60)
        if ev.is_reminder_set and ev.reminder_at
        else 0,
        salesforce_event_id=ev.id,
        transaction_id=f"crmcal-{ev.id}",
    )


def series_item(item: Item, inputs: Inputs) -> bool:
    """R1: with `recurring_sync` on, occurrences, exceptions, masters and items shared as series
    are decided by `crmcal.sync.series`, not item by item."""
    return inputs.ctx.directory.org.recurring_sync and (
        item.is_recurring or item.id in inputs.series_masters
    )


def plan(inputs: Inputs) -> Plan:
    """Phase 2: the actions for one session of one user."""
    p = _Planner(inputs)
    p.removed()
    p.window_exits()
    gone = {r.id for r in inputs.removed} - {i.id for i in inputs.items}
    for item in in_play(inputs.items, inputs.tracked):
        if item.id in gone:
            continue  # X5/W3: removed this session; its tracked snapshot is not planned again
        if series_item(item, inputs):
            continue  # R1-R6, U5: series are planned by `sync.series` (issue 7)
        p.decide(item)
    p.downsync()
    p.guard()
    return Plan(tuple(p.out))
