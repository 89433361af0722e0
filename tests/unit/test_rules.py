"""Pure rules, table-driven, each test named with the SPEC rule it proves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmcal.domain import (
    EventShowAs,
    OrgSettings,
    RecordRef,
    RecordType,
    ResponseType,
    Sensitivity,
    ShowAs,
    UserSettings,
)
from crmcal.domain.crm import CrmOpportunity
from crmcal.rules import categories as cat
from crmcal.rules.limits import cannot_sync
from crmcal.rules.linking import (
    SearchResults,
    addresses_in_text,
    choose_opportunity,
    link,
    record_ids_in_text,
    search_addresses,
    search_domains,
)
from crmcal.rules.mapping import (
    DESCRIPTION_MAX,
    SUBJECT_MAX,
    TRUNCATION_MARKER,
    event_from_item,
    html_to_text,
    merge,
    synced_values,
)
from crmcal.rules.participants import (
    Scenario,
    Skip,
    autoshare_skip,
    participants,
    scenario,
    unresolved_blocks_share,
)
from crmcal.rules.window import historical, in_window, window
from tests.factories import (
    ANN,
    ANN_ID,
    BOB,
    CARL,
    NOW,
    ORG,
    account,
    contact,
    directory,
    item,
    lead,
)

EXT = "buyer@fabrikam.example"
EXT2 = "cfo@fabrikam.example"
GMAIL = "someone@gmail.com"

# -- W: window -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "inside"),
    [
        (NOW - timedelta(days=14, hours=2), 1, False),  # ended before the window opens
        (NOW - timedelta(days=14, hours=1), 2, True),  # straddles the window's start
        (NOW - timedelta(days=3), 1, True),
        (NOW + timedelta(days=59, hours=23), 2, True),  # starts inside, ends after
        (NOW + timedelta(days=60), 1, False),  # starts exactly at the window's end
        (NOW + timedelta(days=61), 1, False),
        (NOW - timedelta(days=30), 24 * 40, True),  # long item spanning the whole window
    ],
)
def test_W1_window_is_minus_14_to_plus_60_days(start: datetime, hours: float, inside: bool) -> None:
    w = window(NOW, ORG)
    assert (w.start, w.end) == (NOW - timedelta(days=14), NOW + timedelta(days=60))
    assert in_window(item(start=start, hours=hours), w) is inside


def test_W1_window_follows_settings() -> None:
    w = window(NOW, OrgSettings(window_past_days=0, window_future_days=7))
    assert (w.start, w.end) == (NOW, NOW + timedelta(days=7))
    assert w.key() == "2026-03-10/2026-03-17"


def test_W1_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        window(datetime(2026, 3, 10), ORG)


def test_W4_backfill_off_skips_items_that_existed_when_enabled() -> None:
    enabled = NOW - timedelta(hours=1)
    old = item(created=NOW - timedelta(days=2))
    new = item(created=NOW)
    off = OrgSettings(backfill_on_enable=False)
    assert historical(old, enabled, off) is True
    assert historical(new, enabled, off) is False
    assert (
        historical(old, enabled, ORG) is False
    )  # backfill on (the default): nothing is historical
    p = participants(old, directory())
    assert (
        autoshare_skip(old, p, UserSettings(), ORG, linked=True, historical=True) is Skip.HISTORICAL
    )


# -- A: auto-share -------------------------------------------------------------------------------


def _skip(it, *, linked: bool = True, org: OrgSettings = ORG, **user) -> Skip | None:  # type: ignore[no-untyped-def]
    d = directory(org)
    s = UserSettings(**user)
    return autoshare_skip(it, participants(it, d, s), s, org, linked=linked)


@pytest.mark.parametrize(
    ("response", "share_unanswered", "expected"),
    [
        (ResponseType.ACCEPTED, False, None),
        (ResponseType.TENTATIVELY_ACCEPTED, False, None),
        (ResponseType.DECLINED, False, Skip.DECLINED),
        (ResponseType.DECLINED, True, Skip.DECLINED),
        (ResponseType.NOT_RESPONDED, False, Skip.NOT_ANSWERED),
        (ResponseType.NONE, False, Skip.NOT_ANSWERED),
        (ResponseType.NOT_RESPONDED, True, None),
    ],
)
def test_A1_responses_that_autoshare(
    response: ResponseType, share_unanswered: bool, expected: Skip | None
) -> None:
    it = item(organizer=EXT, attendees=(ANN,), my_response=response)
    assert _skip(it, share_unanswered=share_unanswered) is expected


def test_A1_created_meetings_and_appointments_follow_their_settings() -> None:
    meeting = item(attendees=(EXT,))
    appt = item(subject="Call with buyer@fabrikam.example")
    assert _skip(meeting) is None
    assert _skip(meeting, autoshare_meetings=False) is Skip.MEETINGS_OFF
    assert _skip(appt) is Skip.APPOINTMENTS_OFF  # off by default (docs/decisions/0001)
    assert _skip(appt, autoshare_appointments=True) is None


def test_A2_paused_user_autoshares_nothing() -> None:
    assert _skip(item(attendees=(EXT,)), paused=True) is Skip.PAUSED


@pytest.mark.parametrize("s", [Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL, Sensitivity.PERSONAL])
def test_A3_private_items_never_autoshared(s: Sensitivity) -> None:
    it = item(attendees=(EXT,), sensitivity=s)
    assert _skip(it) is Skip.PRIVATE
    assert _skip(it, org=ORG.model_copy(update={"autoshare_private": True})) is None
    assert _skip(item(attendees=(EXT,), sensitivity=Sensitivity.NORMAL)) is None


def test_A4_internal_meetings_not_autoshared_unless_setting() -> None:
    it = item(attendees=(BOB, CARL))
    assert participants(it, directory()).is_internal_only
    assert _skip(it, linked=False) is Skip.INTERNAL
    on = ORG.model_copy(update={"autoshare_internal": True, "share_unlinked": True})
    assert _skip(it, linked=False, org=on) is None
    assert not participants(item(attendees=(BOB, EXT)), directory()).is_internal_only


def test_A5_blocklisted_only_when_every_external_is_blocklisted() -> None:
    assert _skip(item(attendees=(GMAIL,))) is Skip.BLOCKLISTED
    assert _skip(item(attendees=(GMAIL, BOB))) is Skip.BLOCKLISTED
    assert _skip(item(attendees=(GMAIL, EXT))) is None  # one external is not blocklisted
    org = ORG.model_copy(
        update={"blocklist": ORG.blocklist.model_copy(update={"domains": ("fabrikam.example",)})}
    )
    assert _skip(item(attendees=(EXT,)), org=org) is Skip.BLOCKLISTED
    # the user's own list counts too
    from crmcal.domain import Blocklist

    assert (
        _skip(item(attendees=(EXT2,)), blocklist=Blocklist(addresses=(EXT2,))) is Skip.BLOCKLISTED
    )


def test_A5_blocklisted_addresses_are_never_searched() -> None:
    it = item(attendees=(GMAIL, EXT, "Noise@Vendor.example"))
    from crmcal.domain import Blocklist

    user = UserSettings(blocklist=Blocklist(addresses=("noise@vendor.example",)))
    p = participants(it, directory(), user)
    assert search_addresses(it, p.searchable, ORG) == (EXT,)


def test_A6_unlinked_items_not_autoshared_unless_setting() -> None:
    it = item(attendees=(EXT,))
    assert _skip(it, linked=False) is Skip.UNLINKED
    assert _skip(it, linked=False, org=ORG.model_copy(update={"share_unlinked": True})) is None


def test_A7_autoshared_item_links_initial_search_records() -> None:
    c = contact(1, EXT, account=account(9).id)
    res = link((EXT,), SearchResults({EXT: (c,)}, {}, {}, {}), owner_id=ANN_ID, today=NOW.date())
    assert res.linked
    assert (res.who_id, res.what_id) == (c.id, account(9).id)


def test_cancelled_items_are_not_autoshared() -> None:
    assert _skip(item(attendees=(EXT,), is_cancelled=True)) is Skip.CANCELLED


# -- M: manual sharing ---------------------------------------------------------------------------


def test_M1_category_marks_for_sharing_any_item() -> None:
    assert cat.wants_share(("Blue category", "Salesforce"))
    assert not cat.wants_share(("salesforce-ish",))
    private_internal = item(
        attendees=(BOB,), sensitivity=Sensitivity.PRIVATE, categories=("Salesforce",)
    )
    assert cat.wants_share(private_internal.categories)
    assert _skip(private_internal) is not None  # auto-share would not, but the category does


def test_M3_internal_items_can_be_shared_without_links() -> None:
    it = item(attendees=(BOB, CARL))
    assert unresolved_blocks_share(it, participants(it, directory()), set(), ORG) == ()
    appt = item()
    assert unresolved_blocks_share(appt, participants(appt, directory()), set(), ORG) == ()


def test_M4_all_unresolved_blocks_sharing_and_names_addresses() -> None:
    it = item(attendees=(EXT, EXT2, BOB))
    p = participants(it, directory())
    assert unresolved_blocks_share(it, p, set(), ORG) == (EXT, EXT2)
    assert unresolved_blocks_share(it, p, {EXT2}, ORG) == ()
    assert (
        unresolved_blocks_share(it, p, set(), ORG.model_copy(update={"share_unlinked": True})) == ()
    )
    status = cat.unresolved((EXT, EXT2))
    assert status.category == f"Status: Unresolved participants: {EXT}, {EXT2}"


def test_M5_unsync_category_is_recognised_and_removed() -> None:
    cats = ("Red category", "Salesforce Unsync", "Salesforce", "Status: Tracked successfully.")
    assert cat.wants_unsync(cats)
    assert cat.strip(cats) == ("Red category",)


def test_M6_manually_shared_private_item_keeps_is_private() -> None:
    it = item(attendees=(EXT,), sensitivity=Sensitivity.PRIVATE, categories=("Salesforce",))
    ev = event_from_item(
        it, owner_id=ANN_ID, org=ORG, who_id="003000000000000001", what_id="001000000000000009"
    )
    assert ev.is_private is True
    assert (ev.who_id, ev.what_id) == (None, None)  # Salesforce refuses links on private Events


# -- L: Initial Search ---------------------------------------------------------------------------


def test_L1_searches_external_non_blocklisted_addresses_in_order() -> None:
    it = item(organizer=EXT2, attendees=(ANN, BOB, GMAIL, EXT, EXT2))
    p = participants(it, directory())
    assert search_addresses(it, p.searchable, ORG) == (EXT2, EXT)


def test_L2_matching_is_case_insensitive() -> None:
    it = item(attendees=("Buyer@Fabrikam.EXAMPLE",))
    p = participants(it, directory())
    assert search_addresses(it, p.searchable, ORG) == (EXT,)


def test_L3_account_by_domain_never_free_mail() -> None:
    people = {EXT: (contact(1, EXT),)}
    doms = search_domains((EXT, "ops@northwind.example", GMAIL, "x@contoso.example"), people, ORG)
    assert doms == ("northwind.example",)
    acct = account(5, "Northwind")
    res = link(
        ("ops@northwind.example",),
        SearchResults({}, {"northwind.example": acct}, {}, {}),
        owner_id=ANN_ID,
        today=NOW.date(),
    )
    assert (res.who_id, res.what_id) == (None, acct.id)
    assert res.resolved == {"ops@northwind.example"}


def test_L4_appointments_search_subject_location_body_for_addresses_and_ids() -> None:
    body = (
        "Prep for buyer@fabrikam.example, see https://acme.lightning.force.com/lightning/r/Opportunity/006000000000000042/view "
        "and contact 003000000000007AAA. Not an id: 0030000."
    )
    it = item(subject="Call cfo@fabrikam.example", location="Ring me@contoso.example", body=body)
    assert addresses_in_text(it.subject, it.location, it.body) == (EXT2, "me@contoso.example", EXT)
    assert search_addresses(it, (), ORG) == (EXT2, EXT)  # internal address dropped
    assert record_ids_in_text(it.subject, it.location, it.body) == (
        "006000000000000042",
        "003000000000007AAA",
    )
    opp = RecordRef(RecordType.OPPORTUNITY, "006000000000000042")
    c = contact(7, "", account="001000000000000001")
    found = SearchResults({}, {}, {}, {opp.id: opp, "003000000000007AAA": c})
    res = link(
        (),
        found,
        owner_id=ANN_ID,
        today=NOW.date(),
        record_ids=("006000000000000042", "003000000000007AAA"),
    )
    assert (res.who_id, res.what_id) == (c.id, opp.id)


def test_L5_first_contact_in_attendee_order_else_first_lead() -> None:
    c1, c2, l1 = contact(1, EXT2), contact(2, EXT), lead(3, "l@x.example")
    found = SearchResults({EXT: (c2,), EXT2: (c1,), "l@x.example": (l1,)}, {}, {}, {})
    res = link(("l@x.example", EXT, EXT2), found, owner_id=ANN_ID, today=NOW.date())
    assert res.who_id == c2.id  # first Contact in order, though a Lead came before it
    assert res.who_relations == (c2.id, c1.id)
    res = link(("l@x.example",), found, owner_id=ANN_ID, today=NOW.date())
    assert (res.who_id, res.what_id, res.who_relations) == (l1.id, None, (l1.id,))
    res = link((EXT, EXT2), found, owner_id=ANN_ID, today=NOW.date(), shared_activities=False)
    assert res.who_relations == (c2.id,)


def test_L5_at_most_50_who_relations() -> None:
    addrs = tuple(f"p{i}@fabrikam.example" for i in range(60))
    found = SearchResults({a: (contact(i, a),) for i, a in enumerate(addrs)}, {}, {}, {})
    res = link(addrs, found, owner_id=ANN_ID, today=NOW.date())
    assert len(res.who_relations) == 50
    assert res.who_relations[0] == res.who_id


def _opp(
    n: int, *, owner: str = ANN_ID, closed: bool = False, close: date | None = None, mod: int = 0
) -> CrmOpportunity:
    return CrmOpportunity(
        id=f"006{n:015d}",
        name=f"Opp {n}",
        account_id="001000000000000009",
        owner_id=owner,
        is_closed=closed,
        close_date=close,
        last_modified=NOW - timedelta(days=30 - mod),
    )


def test_L6_what_is_users_most_recent_relevant_opportunity_else_account() -> None:
    today = NOW.date()
    opps = (
        _opp(1, mod=1),
        _opp(2, mod=5),  # newest open: chosen
        _opp(3, owner="005000000000009AAA", mod=9),  # someone else's
        _opp(4, closed=True, close=today - timedelta(days=400), mod=8),  # closed too long ago
    )
    assert choose_opportunity(opps, ANN_ID, today) == opps[1]
    recent_closed = _opp(5, closed=True, close=today - timedelta(days=100), mod=7)
    assert choose_opportunity((*opps, recent_closed), ANN_ID, today) == recent_closed
    assert choose_opportunity((opps[2], opps[3]), ANN_ID, today) is None
    c = contact(1, EXT, account="001000000000000009")
    found = SearchResults({EXT: (c,)}, {}, {"001000000000000009": opps}, {})
    assert link((EXT,), found, owner_id=ANN_ID, today=today).what_id == opps[1].id
    found = SearchResults({EXT: (c,)}, {}, {}, {})
    assert link((EXT,), found, owner_id=ANN_ID, today=today).what_id == "001000000000000009"


# -- P: scenarios --------------------------------------------------------------------------------


def test_P1_P2_P3_scenarios() -> None:
    d = directory()
    assert scenario(item(attendees=(EXT,)), d) is Scenario.YOU_ORGANIZE  # P1
    assert scenario(item(organizer=BOB, attendees=(ANN, EXT)), d) is Scenario.CRMCAL_ORGANIZER  # P2
    assert scenario(item(organizer=EXT, attendees=(ANN,)), d) is Scenario.OTHER_ORGANIZER  # P3
    assert scenario(item(organizer=CARL, attendees=(ANN, EXT)), d) is Scenario.OTHER_ORGANIZER  # P3
    assert scenario(item(), d) is Scenario.APPOINTMENT


# -- U: mapping ----------------------------------------------------------------------------------


def test_U3_field_mapping() -> None:
    it = item(
        attendees=(EXT,),
        subject="S" * 300,
        location="L" * 300,
        show_as=ShowAs.OOF,
        reminder_on=True,
        reminder_minutes=15,
        body="Agenda",
    )
    ev = event_from_item(
        it, owner_id=ANN_ID, org=ORG, who_id="003000000000000001", defaults={"Type": "Meeting"}
    )
    assert len(ev.subject) == SUBJECT_MAX
    assert len(ev.location) == 255
    assert ev.show_as is EventShowAs.OUT_OF_OFFICE
    assert (ev.start, ev.end) == (it.start, it.end)
    assert ev.start is not None and ev.start.tzinfo == UTC
    assert ev.is_reminder_set and ev.reminder_at == it.start - timedelta(minutes=15)
    assert ev.extra_fields == (("Type", "Meeting"),)
    assert ev.who_id == "003000000000000001"


@pytest.mark.parametrize(("show", "expected"), [(ShowAs.FREE, "Free"), (ShowAs.OOF, "OutOfOffice"),
                                                (ShowAs.BUSY, "Busy"), (ShowAs.TENTATIVE, "Busy"),
                                                (ShowAs.WORKING_ELSEWHERE, "Busy"), (ShowAs.UNKNOWN, "Busy")])  # fmt: skip
def test_U3_show_as(show: ShowAs, expected: str) -> None:
    assert event_from_item(item(show_as=show), owner_id=ANN_ID, org=ORG).show_as.value == expected


def test_U3_all_day_uses_activity_date_in_the_items_zone() -> None:
    tz = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 12, tzinfo=tz).astimezone(UTC)  # 23:00 UTC the day before
    it = item(start=start, hours=24, is_all_day=True)
    ev = event_from_item(it, owner_id=ANN_ID, org=ORG, tz=tz)
    assert (ev.is_all_day, ev.activity_date, ev.duration_minutes) == (True, date(2026, 3, 12), 1440)
    assert ev.start is None


def test_U3_description_is_text_and_cut_with_marker() -> None:
    html = "<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>team</b></p><p>Line 2</p></body></html>"
    assert html_to_text(html) == "Hello team\n\nLine 2"  # tags, styles and entities gone
    assert html_to_text("<div>a<br>b</div><p>y &amp; z</p>") == "a\nb\n\ny & z"
    big = item(body="x" * 40_000)
    d = event_from_item(big, owner_id=ANN_ID, org=ORG).description
    assert len(d) == DESCRIPTION_MAX
    assert d.endswith(TRUNCATION_MARKER)


def test_U6_description_starts_with_participants() -> None:
    it = item(organizer=EXT, attendees=(EXT2, ANN, BOB), body="Agenda")
    d = event_from_item(it, owner_id=ANN_ID, org=ORG).description
    assert d.splitlines()[:2] == [f"From: {EXT}", f"To/CC: {EXT2}, {ANN}, {BOB}"]
    assert d.endswith("\n\nAgenda")
    off = ORG.model_copy(update={"description_participants_header": False})
    assert event_from_item(it, owner_id=ANN_ID, org=off).description == "Agenda"
    assert not event_from_item(item(body="x"), owner_id=ANN_ID, org=ORG).description.startswith(
        "From:"
    )


def test_U2_description_only_on_first_share() -> None:
    it = item(attendees=(EXT,), body="private notes added later")
    assert event_from_item(it, owner_id=ANN_ID, org=ORG, first_share=False).description == ""
    assert "Description" not in synced_values(event_from_item(it, owner_id=ANN_ID, org=ORG))


def test_U1_changed_fields_and_U4_outlook_wins_conflicts() -> None:
    base = synced_values(
        event_from_item(item(subject="A", location="Room 1"), owner_id=ANN_ID, org=ORG)
    )
    outlook = {**base, "Subject": "A2", "Location": "Room 2"}
    sf = {**base, "Location": "Room 3", "ShowAs": "Free"}
    to_sf, to_outlook, conflicts = merge(base, outlook, sf)
    assert to_sf == {"Subject": "A2", "Location": "Room 2"}
    assert to_outlook == {"ShowAs": "Free"}
    assert conflicts == ("Location",)
    assert merge(base, base, base) == ({}, {}, ())


# -- N: cannot sync ------------------------------------------------------------------------------


def test_N1_all_day_longer_than_setting() -> None:
    one = item(is_all_day=True, hours=24)
    two = item(is_all_day=True, hours=48)
    assert cannot_sync(one, ORG) is None
    bad = cannot_sync(two, ORG)
    assert bad is not None and bad.code == "all_day_too_long"
    assert cannot_sync(two, ORG.model_copy(update={"max_all_day_hours": 48})) is None


def test_N2_timed_longer_than_14_days() -> None:
    assert cannot_sync(item(hours=14 * 24), ORG) is None
    bad = cannot_sync(item(hours=14 * 24 + 1), ORG)
    assert bad is not None and bad.code == "too_long"


def test_Y3_end_before_start_is_a_per_item_error() -> None:
    bad = cannot_sync(item(hours=-1), ORG)
    assert bad is not None and bad.code == "end_before_start"


def test_R6_recurring_all_day_not_synced() -> None:
    from crmcal.domain import ItemType

    bad = cannot_sync(item(is_all_day=True, hours=24, type=ItemType.OCCURRENCE), ORG)
    assert bad is not None and bad.code == "recurring_all_day"


def test_N4_error_items_get_sync_error_and_one_status() -> None:
    status = cat.not_synced("event longer than 14 days (the Salesforce limit)")
    out = cat.apply(
        ("Green category", "Status: Tracked successfully."), shared=True, status=status, error=True
    )
    assert out == (
        "Green category",
        "Salesforce",
        "Sync Error",
        "Status: Not synced: event longer than 14 days (the Salesforce limit)",
    )


# -- C: categories -------------------------------------------------------------------------------


def test_C1_C2_colours() -> None:
    master = cat.master_categories((cat.TRACKED,))
    assert master["Salesforce"] == "preset7"  # blue
    assert master["Sync Error"] == "preset0"  # red
    assert master["Status: Tracked successfully."] == "preset4"


def test_C3_exactly_one_status_at_a_time() -> None:
    first = cat.apply(("Mine",), shared=False, status=cat.WAITING_FOR_ORGANIZER)
    second = cat.apply(first, shared=True, status=cat.TRACKED)
    assert second == ("Mine", "Salesforce", "Status: Tracked successfully.")
    assert sum(c.startswith("Status: ") for c in second) == 1
    assert (
        cat.required_fields_missing(("Type", "Region__c")).category
        == "Status: Required fields are missing: Type, Region__c"
    )


def test_C4_only_owned_categories_are_touched() -> None:
    user = ("Salesforce stuff", "Status report", "Blue category")
    assert cat.apply(user, shared=True, status=None) == (*user, "Salesforce")
    assert cat.strip((*user, "Salesforce", "Sync Error")) == user


def test_X6_category_comes_back_when_still_shared() -> None:
    assert "Salesforce" in cat.apply(("Mine",), shared=True, status=cat.TRACKED)
