"""The pure planner, scenario by scenario (the seed's scenarios 1-3 at the plan level)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from crmcal.domain import ResponseType, Sensitivity, UserConfig, UserSettings
from crmcal.rules.linking import SearchResults
from crmcal.rules.mapping import event_from_item, synced_values
from crmcal.rules.window import window
from crmcal.state.models import ShareMode
from crmcal.sync.actions import (
    CreateEvent,
    LinkItem,
    Note,
    RaiseIssue,
    SetCategories,
    SyncRelations,
    Track,
    UpdateEvent,
)
from crmcal.sync.plan import (
    Context,
    Inputs,
    KnownEvent,
    TrackedItem,
    content_hash,
    lookups,
    natural_key,
    plan,
)
from tests.factories import (
    ANN,
    ANN_ID,
    BOB,
    BOB_ID,
    CARL,
    CARL_ID,
    NOW,
    ORG,
    account,
    att,
    contact,
    directory,
    item,
)

EU1 = "eu1@fabrikam.example"
EU2 = "eu2@fabrikam.example"
C_EU1 = contact(1, EU1, account=account(9).id)
FOUND = SearchResults({EU1: (C_EU1,)}, {}, {}, {})


def ctx(mailbox: str = ANN, **settings: Any) -> Context:
    d = directory()
    u = d.users[mailbox]
    if settings:
        u = UserConfig(
            mailbox=u.mailbox,
            salesforce_user_id=u.salesforce_user_id,
            settings=UserSettings(**settings),
        )
    return Context(user=u, directory=d, now=NOW, window=window(NOW, ORG))


def kinds(p: Any) -> list[str]:
    return [type(a).__name__ for a in p.actions if not isinstance(a, Note)]


def test_P2_scenario_1_attendee_waits_for_the_crmcal_organizer() -> None:
    """Scenario 1: BOB (crmcal user, not shared) organizes; ANN accepted with auto-share on."""
    copy = item(mailbox=ANN, organizer=BOB, attendees=(ANN, EU1), my_response=ResponseType.ACCEPTED)
    p = plan(Inputs(ctx(ANN), items=(copy,), search=FOUND))
    assert not p.of(CreateEvent)
    [issue] = p.of(RaiseIssue)
    assert issue.reason == "waiting_for_organizer"
    assert "Waiting for the organizer to synchronize the event" in issue.message
    [track] = p.of(Track)
    assert track.status == "Status: Waiting for the organizer"
    [cats] = p.of(SetCategories)
    assert cats.categories == (
        "Status: Waiting for the organizer",
    )  # nothing shared: no Salesforce

    # BOB shares: his session creates the Event and links ANN's waiting copy (P1).
    bob_copy = item(
        mailbox=BOB, attendees=(ANN, EU1), ical_uid=copy.ical_uid, categories=("Salesforce",)
    )
    waiting = TrackedItem(
        ANN, copy.id, copy.ical_uid, None, ShareMode.AUTO, status=track.status, snapshot=copy
    )
    p = plan(Inputs(ctx(BOB), items=(bob_copy,), search=FOUND, by_guid={copy.ical_uid: (waiting,)}))
    [create] = p.of(CreateEvent)
    assert create.event.owner_id == BOB_ID
    assert [i.user_id for i in create.invitees] == [ANN_ID]
    links = p.of(LinkItem)
    assert [(lk.item.mailbox, lk.share_mode) for lk in links] == [(ANN, ShareMode.ATTENDEE)]
    ann_cats = [c for c in p.of(SetCategories) if c.item.mailbox == ANN]
    assert ann_cats[0].categories == ("Salesforce", "Status: Tracked successfully.")

    # ANN's next session, if it sees the item first, links to BOB's Event directly (no second Event).
    bob_event = KnownEvent("00U000000000001AAA", BOB_ID, copy.ical_uid)
    p = plan(Inputs(ctx(ANN), items=(copy,), search=FOUND, events={bob_event.event_id: bob_event}))
    assert kinds(p) == ["LinkItem", "SetCategories", "ResolveIssues", "Seen"]
    assert p.of(LinkItem)[0].event_id == bob_event.event_id


def test_P1_scenario_2_you_organize_one_event_with_invitees_and_links() -> None:
    meeting = item(mailbox=ANN, attendees=(BOB, CARL, EU1, EU2))
    p = plan(Inputs(ctx(ANN), items=(meeting,), search=FOUND))
    [create] = p.of(CreateEvent)
    assert create.event.owner_id == ANN_ID
    assert {i.user_id for i in create.invitees} == {
        BOB_ID,
        CARL_ID,
    }  # internal SF users, crmcal or not
    assert create.event.who_id == C_EU1.id
    assert create.event.what_id == account(9).id
    assert create.event.guid == meeting.ical_uid
    assert "P1" in create.rules


def test_P3_scenario_3_external_organizer_each_sharer_owns_an_event() -> None:
    """The seed's example: EU1 organizes; IU1 (auto-share on) and IU2 (auto-share off, category)
    attend with EU2 (no record). Two Events, owners IU1 and IU2, same GUID, WhoId = EU1's Contact,
    no invitees, nothing for EU2; Descriptions start with From / To/CC."""
    guid = "040000008200E00074C5B7101A82E00800000000EXAMPLE1"
    attendees = (EU2, ANN, BOB)
    iu1 = item(mailbox=ANN, organizer=EU1, attendees=attendees, ical_uid=guid, body="Agenda")
    iu2 = item(mailbox=BOB, organizer=EU1, attendees=attendees, ical_uid=guid, body="Agenda",
               categories=("Salesforce",))  # fmt: skip
    p1 = plan(Inputs(ctx(ANN), items=(iu1,), search=FOUND))
    p2 = plan(Inputs(ctx(BOB, autoshare_meetings=False), items=(iu2,), search=FOUND))
    creates = p1.of(CreateEvent) + p2.of(CreateEvent)
    assert [c.event.owner_id for c in creates] == [ANN_ID, BOB_ID]
    assert {c.event.guid for c in creates} == {guid}
    assert all(c.event.who_id == C_EU1.id for c in creates)
    assert all(c.invitees == () for c in creates)
    for c in creates:
        lines = c.event.description.splitlines()
        assert lines[0] == f"From: {EU1}"
        assert lines[1] == f"To/CC: {EU2}, {ANN}, {BOB}"
    # IU2 without the category: auto-share off, so nothing.
    plain = item(mailbox=BOB, organizer=EU1, attendees=attendees, ical_uid=guid)
    assert not plan(Inputs(ctx(BOB, autoshare_meetings=False), items=(plain,), search=FOUND)).of(
        CreateEvent
    )


def test_D1_links_the_users_existing_event_for_the_guid() -> None:
    meeting = item(mailbox=ANN, attendees=(EU1,))
    ev = KnownEvent("00U000000000009AAA", ANN_ID, meeting.ical_uid)
    p = plan(Inputs(ctx(ANN), items=(meeting,), search=FOUND, events={ev.event_id: ev}))
    assert not p.of(CreateEvent)
    assert p.of(LinkItem)[0].event_id == ev.event_id


def test_D1_same_guid_twice_in_one_round_creates_once() -> None:
    a = item(mailbox=ANN, attendees=(EU1,))
    b = item(mailbox=ANN, attendees=(EU1,), ical_uid=a.ical_uid)
    assert len(plan(Inputs(ctx(ANN), items=(a, b), search=FOUND)).of(CreateEvent)) == 1


def test_D2_adopts_unlinked_event_with_same_owner_subject_start() -> None:
    meeting = item(mailbox=ANN, attendees=(EU1,), subject="Pricing call")
    key = natural_key(ANN_ID, event_from_item(meeting, owner_id=ANN_ID, org=ORG))
    p = plan(
        Inputs(ctx(ANN), items=(meeting,), search=FOUND, existing={key: ("00U0000000000EXAAA",)})
    )
    assert not p.of(CreateEvent)
    [lk] = p.of(LinkItem)
    assert (lk.event_id, lk.adopted) == ("00U0000000000EXAAA", True)
    assert any("instead of creating" in n.text for n in p.of(Note))
    # ...but never one that another item is already linked to
    known = KnownEvent("00U0000000000EXAAA", ANN_ID, "other-guid")
    p = plan(Inputs(ctx(ANN), items=(meeting,), search=FOUND, existing={key: (known.event_id,)},
                    events={known.event_id: known}))  # fmt: skip
    assert len(p.of(CreateEvent)) == 1


def _linked(it: Any, ev_id: str = "00U000000000001AAA") -> tuple[TrackedItem, KnownEvent]:
    synced = synced_values(event_from_item(it, owner_id=ANN_ID, org=ORG))
    t = TrackedItem(
        it.mailbox, it.id, it.ical_uid, ev_id, ShareMode.AUTO, outlook_hash=content_hash(it)
    )
    ev = KnownEvent(
        ev_id, ANN_ID, it.ical_uid, synced=synced, who_ids=(C_EU1.id,), what_id=account(9).id
    )
    return t, ev


def test_second_session_writes_nothing() -> None:
    meeting = item(
        mailbox=ANN, attendees=(EU1,), categories=("Salesforce", "Status: Tracked successfully.")
    )
    t, ev = _linked(meeting)
    p = plan(
        Inputs(
            ctx(ANN),
            items=(meeting,),
            tracked={meeting.id: t},
            events={ev.event_id: ev},
            search=FOUND,
        )
    )
    assert p.actions == ()


def test_U1_change_updates_event_and_U2_never_description() -> None:
    before = item(
        mailbox=ANN, attendees=(EU1,), categories=("Salesforce", "Status: Tracked successfully.")
    )
    t, ev = _linked(before)
    after = item(mailbox=ANN, attendees=(EU1,), categories=before.categories, ical_uid=before.ical_uid,
                 subject="Moved", start=before.start + timedelta(hours=2), body="secret notes")  # fmt: skip
    after = (
        type(after)(**{**after.__dict__, "id": before.id}) if hasattr(after, "__dict__") else after
    )
    after = replace(after, id=before.id)
    p = plan(
        Inputs(
            ctx(ANN), items=(after,), tracked={before.id: t}, events={ev.event_id: ev}, search=FOUND
        )
    )
    [up] = p.of(UpdateEvent)
    assert set(up.fields) == {"Subject", "StartDateTime", "EndDateTime"}
    assert "Description" not in up.fields


def test_P4_P6_invitees_follow_the_attendee_list() -> None:
    before = item(
        mailbox=ANN,
        attendees=(EU1, BOB),
        categories=("Salesforce", "Status: Tracked successfully."),
    )
    t, ev = _linked(before)
    ev = KnownEvent(
        ev.event_id,
        ANN_ID,
        before.ical_uid,
        synced=ev.synced,
        invitees=(BOB_ID,),
        who_ids=ev.who_ids,
        what_id=ev.what_id,
    )
    after = replace(before, attendees=(att(EU1), att(CARL, ResponseType.DECLINED)))
    p = plan(
        Inputs(
            ctx(ANN), items=(after,), tracked={before.id: t}, events={ev.event_id: ev}, search=FOUND
        )
    )
    [rel] = p.of(SyncRelations)
    assert [(i.user_id, i.status) for i in rel.add_invitees] == [(CARL_ID, "Declined")]
    assert rel.remove_invitees == (BOB_ID,)


def test_A3_private_not_autoshared_M6_manual_keeps_private() -> None:
    it = item(mailbox=ANN, attendees=(EU1,), sensitivity=Sensitivity.PRIVATE)
    assert not plan(Inputs(ctx(ANN), items=(it,), search=FOUND)).of(CreateEvent)
    marked = replace(it, categories=("Salesforce",))
    [create] = plan(Inputs(ctx(ANN), items=(marked,), search=FOUND)).of(CreateEvent)
    assert create.event.is_private
    assert create.who_relations == ()
    assert create.invitees == ()


def test_N4_marked_item_that_cannot_sync_gets_error_status_and_issue() -> None:
    it = item(mailbox=ANN, hours=15 * 24, categories=("Salesforce",))
    p = plan(Inputs(ctx(ANN), items=(it,), search=FOUND))
    assert not p.of(CreateEvent)
    [cats] = p.of(SetCategories)
    assert cats.categories == (
        "Salesforce",
        "Sync Error",
        "Status: Not synced: event longer than 14 days (the Salesforce limit)",
    )
    assert p.of(RaiseIssue)[0].reason == "not_synced"


def test_M4_unresolved_meeting_waits_with_addresses() -> None:
    it = item(mailbox=ANN, attendees=(EU2,), categories=("Salesforce",))
    p = plan(Inputs(ctx(ANN), items=(it,), search=FOUND))
    assert not p.of(CreateEvent)
    assert p.of(SetCategories)[0].categories == (
        "Salesforce",
        f"Status: Unresolved participants: {EU2}",
    )
    assert p.of(RaiseIssue)[0].reason == "unresolved_participants"
    # When EU2 gets a record later, the tracked snapshot is shared without a change in Outlook.
    t = TrackedItem(
        ANN, it.id, it.ical_uid, None, ShareMode.CATEGORY, status="Status: ...", snapshot=it
    )
    later = SearchResults({EU2: (contact(2, EU2),)}, {}, {}, {})
    assert len(plan(Inputs(ctx(ANN), tracked={it.id: t}, search=later)).of(CreateEvent)) == 1


def test_M3_internal_meeting_shared_by_category_without_links() -> None:
    it = item(mailbox=ANN, attendees=(BOB,), categories=("Salesforce",))
    [create] = plan(Inputs(ctx(ANN), items=(it,))).of(CreateEvent)
    assert (create.event.who_id, create.event.what_id) == (None, None)
    assert [i.user_id for i in create.invitees] == [BOB_ID]


def test_W1_items_outside_the_window_are_ignored() -> None:
    it = item(mailbox=ANN, attendees=(EU1,), start=NOW + timedelta(days=90))
    assert plan(Inputs(ctx(ANN), items=(it,), search=FOUND)).actions == ()
    assert lookups(ctx(ANN), (it,)).addresses == ()


def test_L2_lookups_collect_all_addresses_of_a_session_once() -> None:
    items = (
        item(mailbox=ANN, attendees=(EU1, BOB, "x@gmail.com")),
        item(mailbox=ANN, organizer=EU2, attendees=(ANN, EU1)),
        item(mailbox=ANN, subject="Call EU2@fabrikam.example about 006000000000042AAA"),
    )
    lk = lookups(ctx(ANN), items)
    assert lk.addresses == (EU1, EU2)
    assert lk.record_ids == ("006000000000042AAA",)
    assert len(lk.natural_keys) == 3
    assert lk.domains({EU1: (C_EU1,)}, ctx(ANN)) == ("fabrikam.example",)


def test_M2_save_choice_is_used_when_the_item_is_shared() -> None:
    """M2: a Save on an unshared item stores the chosen Name/Related To and marks the item; the
    next session creates the Event with exactly those links (not Initial Search's)."""
    it = item(mailbox=ANN, attendees=(EU1,))
    chosen_who, chosen_what = "003000000000777AAA", "006000000000777AAA"
    t = TrackedItem(
        ANN,
        it.id,
        it.ical_uid,
        None,
        ShareMode.SAVE,
        snapshot=it,
        who_id=chosen_who,
        what_id=chosen_what,
    )
    [create] = plan(
        Inputs(ctx(ANN, autoshare_meetings=False), tracked={it.id: t}, search=FOUND)
    ).of(CreateEvent)
    assert (create.event.who_id, create.event.what_id) == (chosen_who, chosen_what)
    assert create.who_relations == (chosen_who,)
    assert create.share_mode is ShareMode.SAVE


def test_P7_attendee_copies_never_drive_writes_to_the_meeting() -> None:
    """P7: crmcal never writes to a meeting the user does not organize: an attendee's copy, even
    edited, yields no Event update and no Outlook write other than crmcal's own categories."""
    copy = item(
        mailbox=ANN,
        organizer=BOB,
        attendees=(ANN, EU1),
        categories=("Salesforce", "Status: Tracked successfully."),
    )
    t = TrackedItem(ANN, copy.id, copy.ical_uid, "00U000000000001AAA", ShareMode.ATTENDEE)
    ev = KnownEvent("00U000000000001AAA", BOB_ID, copy.ical_uid, synced={"Subject": "old"})
    moved = replace(copy, subject="changed by the organizer", start=copy.start + timedelta(hours=1))
    p = plan(
        Inputs(
            ctx(ANN), items=(moved,), tracked={copy.id: t}, events={ev.event_id: ev}, search=FOUND
        )
    )
    assert not p.of(UpdateEvent)
    assert not p.of(SyncRelations)
    assert all(type(a).__name__ in ("SetCategories", "Seen", "Note") for a in p.actions)


def test_W2_only_the_users_own_calendar_is_considered() -> None:
    """W2: a session plans only for items of its own mailbox, whoever else has a copy."""
    mine = item(mailbox=ANN, attendees=(EU1,))
    lk = lookups(ctx(ANN), (mine,))
    assert lk.guids == (mine.ical_uid,)
    p = plan(Inputs(ctx(ANN), items=(mine,), search=FOUND))
    assert {a.item.mailbox for a in p.of(CreateEvent)} == {ANN}


# -- deletions started in Outlook (X4, X5, M5, X7) ----------------------------------------------

from crmcal.domain import ItemRemoved  # noqa: E402
from crmcal.sync.actions import DeleteEvent, HoldDelete, Unlink  # noqa: E402


def _shared(
    mailbox: str = ANN,
    owner: str = ANN_ID,
    mode: ShareMode = ShareMode.AUTO,
    made: bool = True,
    **kw: Any,
) -> tuple[Any, TrackedItem, KnownEvent]:
    it = item(
        mailbox=mailbox,
        attendees=(EU1,),
        categories=("Salesforce", "Status: Tracked successfully."),
        **kw,
    )
    ev = KnownEvent(
        f"00U{abs(hash(it.id)) % 10**15:015d}", owner, it.ical_uid, created_by_crmcal=made
    )
    t = TrackedItem(
        mailbox, it.id, it.ical_uid, ev.event_id, mode, snapshot=None, outlook_hash=content_hash(it)
    )
    return it, t, ev


def test_X5_deleted_in_outlook_deletes_the_event_crmcal_created() -> None:
    it, t, ev = _shared()
    p = plan(Inputs(ctx(ANN), removed=(ItemRemoved(it.id, ANN),), gone=frozenset({it.id}),
                    tracked={it.id: t}, events={ev.event_id: ev}))  # fmt: skip
    assert [d.event_id for d in p.of(DeleteEvent)] == [ev.event_id]
    assert p.of(Unlink)[0].event_gone


def test_W3_X5_a_tombstone_alone_deletes_nothing() -> None:
    """A tombstone is also what Graph sends when an item leaves the window: without a confirmed
    deletion nothing is deleted."""
    it, t, ev = _shared()
    p = plan(
        Inputs(
            ctx(ANN),
            removed=(ItemRemoved(it.id, ANN),),
            tracked={it.id: t},
            events={ev.event_id: ev},
        )
    )
    assert p.of(DeleteEvent) == []


def test_X5_attendee_copy_of_in_org_organizer_only_leaves_the_invitees() -> None:
    it, t, ev = _shared(owner=BOB_ID, mode=ShareMode.ATTENDEE)
    p = plan(Inputs(ctx(ANN), removed=(ItemRemoved(it.id, ANN),), gone=frozenset({it.id}),
                    tracked={it.id: t}, events={ev.event_id: ev}))  # fmt: skip
    assert p.of(DeleteEvent) == []
    [rel] = p.of(SyncRelations)
    assert (rel.event_id, rel.remove_invitees) == (ev.event_id, (ANN_ID,))


def test_X5_event_not_made_by_crmcal_is_kept() -> None:
    it, t, ev = _shared(made=False)
    p = plan(Inputs(ctx(ANN), removed=(ItemRemoved(it.id, ANN),), gone=frozenset({it.id}),
                    tracked={it.id: t}, events={ev.event_id: ev}))  # fmt: skip
    assert p.of(DeleteEvent) == []
    assert p.of(Unlink)


def test_X4_cancelled_meeting_deletes_its_event() -> None:
    it, t, ev = _shared()
    cancelled = replace(it, is_cancelled=True)
    p = plan(Inputs(ctx(ANN), items=(cancelled,), tracked={it.id: t}, events={ev.event_id: ev}))
    assert [(d.event_id, d.rules) for d in p.of(DeleteEvent)] == [(ev.event_id, ("X4",))]


def test_M5_unsync_category_deletes_the_event_and_strips_categories() -> None:
    it, t, ev = _shared()
    marked = replace(
        it, categories=("Mine", "Salesforce", "Salesforce Unsync", "Status: Tracked successfully.")
    )
    p = plan(Inputs(ctx(ANN), items=(marked,), tracked={it.id: t}, events={ev.event_id: ev}))
    assert [d.event_id for d in p.of(DeleteEvent)] == [ev.event_id]
    assert p.of(SetCategories)[0].categories == ("Mine",)


def test_X7_mass_delete_guard_holds_and_explains_until_confirmed() -> None:
    shared = [_shared() for _ in range(4)]
    tracked = {it.id: t for it, t, _ev in shared}
    events = {ev.event_id: ev for _it, _t, ev in shared}
    gone_ids = frozenset(it.id for it, _t, _ev in shared[:3])  # 3 of 4 linked: more than half
    removed = tuple(ItemRemoved(i, ANN) for i in gone_ids)
    p = plan(Inputs(ctx(ANN), removed=removed, gone=gone_ids, tracked=tracked, events=events))
    assert p.of(DeleteEvent) == []
    assert len(p.of(HoldDelete)) == 3
    [issue] = p.of(RaiseIssue)
    assert issue.reason == "mass_delete_guard"
    assert "--allow-mass-delete" in issue.message
    # the next run, confirmed, deletes what was held
    from crmcal.sync.plan import HELD

    held = {k: (replace(t, status=HELD) if k in gone_ids else t) for k, t in tracked.items()}
    c = replace(ctx(ANN), allow_mass_delete=True)
    p = plan(Inputs(c, tracked=held, events=events))
    assert len(p.of(DeleteEvent)) == 3
    # one deletion of one linked Event is not "mass"
    it, t, ev = shared[0]
    p = plan(Inputs(ctx(ANN), removed=(ItemRemoved(it.id, ANN),), gone=frozenset({it.id}),
                    tracked={it.id: t}, events={ev.event_id: ev}))  # fmt: skip
    assert len(p.of(DeleteEvent)) == 1


def test_X7_more_than_the_guard_setting() -> None:
    shared = [_shared() for _ in range(50)]
    tracked = {it.id: t for it, t, _ev in shared}
    events = {ev.event_id: ev for _it, _t, ev in shared}
    gone_ids = frozenset(it.id for it, _t, _ev in shared[:21])  # 21 > 20, though < half
    removed = tuple(ItemRemoved(i, ANN) for i in gone_ids)
    p = plan(Inputs(ctx(ANN), removed=removed, gone=gone_ids, tracked=tracked, events=events))
    assert p.of(DeleteEvent) == []
    assert len(p.of(HoldDelete)) == 21


def test_R1_series_not_shared_without_recurring_sync() -> None:
    """R1: series sync needs `recurring_sync`; auto-share passes occurrences by, and a manual
    share is refused with a clear reason rather than synced as unrelated single Events."""
    from crmcal.domain import ItemType

    occ = item(mailbox=ANN, attendees=(EU1,), type=ItemType.OCCURRENCE, series_master_id="M1")
    p = plan(Inputs(ctx(ANN), items=(occ,), search=FOUND))
    assert p.of(CreateEvent) == []
    assert p.of(RaiseIssue) == []
    marked = replace(occ, categories=("Salesforce",))
    p = plan(Inputs(ctx(ANN), items=(marked,), search=FOUND))
    assert p.of(CreateEvent) == []
    assert "recurring_sync" in p.of(SetCategories)[0].categories[-1]
    assert p.of(RaiseIssue)[0].reason == "not_synced"
