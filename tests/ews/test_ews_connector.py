"""EwsClient (crmcal's EWS connector) against the emulator over https."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmcal.connectors.errors import AuthError, ItemError, TransientError
from crmcal.connectors.ews import EwsClient
from crmcal.connectors.ews.client import _pack
from crmcal.connectors.retry import RetryPolicy
from crmcal.domain.calendar import (
    Attendee,
    DayOfWeek,
    EmailAddress,
    ItemDraft,
    ItemPatch,
    ItemType,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
)
from crmcal.sandbox.graph.state import Attachment
from tests.ews.conftest import ANA, BO, CLOUD, SERVICE_USER, EwsServer

WS = datetime(2026, 12, 1, tzinfo=UTC)
WE = datetime(2027, 1, 31, tzinfo=UTC)
S = datetime(2026, 12, 10, 9, tzinfo=UTC)


def weekly(n: int = 4) -> Recurrence:
    return Recurrence(
        RecurrencePattern(PatternType.WEEKLY, days_of_week=(DayOfWeek.THURSDAY,)),
        RecurrenceRange(RangeType.NUMBERED, S.date(), number_of_occurrences=n),
    )


def test_w1_no_change_session_costs_one_ews_call(ews_client: EwsClient) -> None:
    ews_client.create_items(ANA, [ItemDraft("One", S, S + timedelta(hours=1))])
    first = ews_client.delta(ANA, WS, WE, None)
    assert [i.subject for i in first.items] == ["One"]
    ews_client.calls.reset()
    again = ews_client.delta(ANA, WS, WE, first.cursor)
    assert (again.items, again.removed) == ((), ())
    assert ews_client.calls.snapshot() == {"SyncFolderItems": 1}


def test_w1_items_outside_the_window_are_not_reported(ews_client: EwsClient) -> None:
    far = S + timedelta(days=400)
    ews_client.create_items(ANA, [ItemDraft("far", far, far + timedelta(hours=1))])
    assert ews_client.delta(ANA, WS, WE, None).items == ()


def test_o3_invalid_sync_state_resets_without_duplicates(
    ews_client: EwsClient, ews_server: EwsServer
) -> None:
    ews_client.create_items(
        ANA,
        [ItemDraft("One", S, S + timedelta(hours=1)), ItemDraft("Two", S, S + timedelta(hours=2))],
    )
    first = ews_client.delta(ANA, WS, WE, None)
    ews_server.state.expire_sync_states()
    again = ews_client.delta(ANA, WS, WE, first.cursor)
    assert again.full_resync
    assert sorted(i.subject for i in again.items) == ["One", "Two"]
    assert len({i.id for i in again.items}) == 2
    after = ews_client.delta(ANA, WS, WE, again.cursor)
    assert not after.full_resync and after.items == ()


def test_a_graph_cursor_starts_over(ews_client: EwsClient) -> None:
    ews_client.create_items(ANA, [ItemDraft("One", S, S + timedelta(hours=1))])
    got = ews_client.delta(
        ANA, WS, WE, "https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$deltatoken=1"
    )
    assert [i.subject for i in got.items] == ["One"]


def test_writes_are_batched_and_send_no_invitations(
    ews_client: EwsClient, ews_server: EwsServer
) -> None:
    ews_client.batch_size = 3
    drafts = [
        ItemDraft(f"m{i}", S, S + timedelta(hours=1), attendees=(Attendee(EmailAddress(BO)),))
        for i in range(7)
    ]
    res = ews_client.create_items(ANA, drafts)
    assert [r.key for r in res] == list(range(7)) and all(r.ok and r.created for r in res)
    assert ews_client.calls["CreateItem"] == 3  # ceil(7 / 3)
    assert not any(not r.deleted for r in ews_server.graph.mailboxes[BO].events.values())
    ids = [str(r.id) for r in res]
    up = ews_client.update_items(ANA, [(i, ItemPatch(subject="x")) for i in ids])
    assert all(r.ok for r in up) and ews_client.calls["UpdateItem"] == 3
    gone = ews_client.delete_items(ANA, ids)
    assert all(r.ok for r in gone) and ews_client.calls["DeleteItem"] == 3
    assert ews_client.delta(ANA, WS, WE, None).items == ()


def test_p5_invitation_mode_sends_meeting_requests(ews_server: EwsServer) -> None:
    client = EwsClient(
        username=SERVICE_USER,
        password="sandbox-ews-password",
        ews_url=ews_server.endpoint,
        auth_type="basic",
        ca_bundle=str(ews_server.tls.ca),
        send_invitations=True,
    )
    client.create_items(
        ANA, [ItemDraft("m", S, S + timedelta(hours=1), attendees=(Attendee(EmailAddress(BO)),))]
    )
    (copy,) = client.delta(BO, WS, WE, None).items
    assert copy.subject == "m" and not copy.is_organizer


def test_salesforce_id_categories_zone_and_guid_round_trip(ews_client: EwsClient) -> None:
    (r,) = ews_client.create_items(
        ANA,
        [
            ItemDraft(
                "One",
                S,
                S + timedelta(hours=1),
                time_zone="Europe/Berlin",
                categories=("Salesforce",),
                salesforce_event_id="00U000000000001",
                location="Room 1",
            )
        ],
    )
    (item,) = ews_client.get_items(ANA, [str(r.id)])
    assert item.salesforce_event_id == "00U000000000001"
    assert item.categories == ("Salesforce",)
    assert item.start_time_zone == "W. Europe Standard Time"
    assert item.start == S and item.location == "Room 1"
    assert item.ical_uid.startswith("040000008200E00074C5B7101A82E008")
    ews_client.update_items(ANA, [(item.id, ItemPatch(salesforce_event_id="", categories=()))])
    (after,) = ews_client.get_items(ANA, [item.id])
    assert after.salesforce_event_id is None and after.categories == ()


def test_r1_series_occurrences_in_the_window_with_their_own_guids(ews_client: EwsClient) -> None:
    (r,) = ews_client.create_items(
        ANA,
        [
            ItemDraft(
                "Weekly", S, S + timedelta(hours=1), time_zone="Europe/Berlin", recurrence=weekly()
            )
        ],
    )
    ch = ews_client.delta(ANA, WS, WE, None)
    occ = [i for i in ch.items if i.type is ItemType.OCCURRENCE]
    assert len(occ) == 4 and {i.series_master_id for i in occ} == {r.id}
    assert len({i.ical_uid for i in occ}) == 4
    (master,) = ews_client.get_items(ANA, [str(r.id)])
    assert master.type is ItemType.SERIES_MASTER
    assert master.recurrence == Recurrence(
        weekly().pattern,
        RecurrenceRange(
            RangeType.NUMBERED,
            S.date(),
            number_of_occurrences=4,
            time_zone="W. Europe Standard Time",
        ),
    )
    ews_client.update_items(ANA, [(occ[1].id, ItemPatch(subject="moved"))])
    ews_client.delete_items(ANA, [occ[2].id])
    ch2 = ews_client.delta(ANA, WS, WE, ch.cursor)
    assert {(i.type, i.subject) for i in ch2.items} == {
        (ItemType.OCCURRENCE, "Weekly"),
        (ItemType.EXCEPTION, "moved"),
    }
    assert [x.id for x in ch2.removed] == [occ[2].id]
    inst = ews_client.instances(ANA, str(r.id), WS, WE)
    assert [i.subject for i in inst] == ["Weekly", "moved", "Weekly"]


def test_errorserverbusy_back_off_is_obeyed(ews_client: EwsClient, ews_server: EwsServer) -> None:
    ews_server.state.faults.server_busy_next = 2
    ews_server.state.faults.back_off_ms = 1500
    ews_client.delta(ANA, WS, WE, None)
    assert ews_client.waits == [1.5, 1.5]  # type: ignore[attr-defined]
    assert ews_client.calls["SyncFolderItems"] == 3


def test_errorserverbusy_past_the_budget_is_transient(
    ews_client: EwsClient, ews_server: EwsServer
) -> None:
    ews_server.state.faults.server_busy_next = 10
    ews_server.state.faults.back_off_ms = 6000
    with pytest.raises(TransientError) as e:
        ews_client.delta(ANA, WS, WE, None)
    assert e.value.code == "ErrorServerBusy"


def test_response_code_families_map_into_the_tree(
    ews_server: EwsServer, ews_client: EwsClient
) -> None:
    with pytest.raises(AuthError):
        ews_client.delta(CLOUD, WS, WE, None)
    bad = EwsClient(
        username="CONTOSO\\no-role",
        password="pw2",
        ews_url=ews_server.endpoint,
        auth_type="basic",
        ca_bundle=str(ews_server.tls.ca),
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(AuthError) as e:
        bad.delta(ANA, WS, WE, None)
    assert e.value.code == "ErrorImpersonateUserDenied"
    res = ews_client.update_items(ANA, [("AAMkAGZvbw==", ItemPatch(subject="x"))])
    assert not res[0].ok and isinstance(res[0].error, ItemError)
    (r,) = ews_client.create_items(ANA, [ItemDraft("x", S, S - timedelta(hours=1))])
    assert not r.ok and isinstance(r.error, ItemError)


def test_c1_master_categories_in_the_category_list(
    ews_client: EwsClient, ews_server: EwsServer
) -> None:
    wanted = {"Salesforce": "preset9", "Salesforce: synced": "preset4"}
    assert ews_client.ensure_categories(ANA, wanted) == list(wanted)
    cats = {
        c["displayName"]: c["color"] for c in ews_server.graph.mailboxes[ANA].categories.values()
    }
    assert cats == wanted
    assert ews_server.state.calls["CreateUserConfiguration"] == 1
    assert ews_client.ensure_categories(ANA, {**wanted, "Private": "preset0"}) == ["Private"]
    assert ews_server.state.calls["UpdateUserConfiguration"] == 1
    assert ews_client.ensure_categories(ANA, wanted) == []


def test_c4_existing_category_colours_are_kept(
    ews_client: EwsClient, ews_server: EwsServer
) -> None:
    ews_server.graph.add_category(ANA, "Salesforce", "preset1")
    assert ews_client.ensure_categories(ANA, {"Salesforce": "preset9"}) == []
    (cat,) = ews_server.graph.mailboxes[ANA].categories.values()
    assert cat["color"] == "preset1"


def test_t1_attachments_through_getattachment(ews_client: EwsClient, ews_server: EwsServer) -> None:
    (r,) = ews_client.create_items(ANA, [ItemDraft("with file", S, S + timedelta(hours=1))])
    rec = ews_server.graph.mailboxes[ANA].events[str(r.id)]
    rec.attachments["a1"] = Attachment("a1", "notes.pdf", "application/pdf", b"%PDF-1.4 x", S)
    (info,) = ews_client.list_attachments(ANA, str(r.id))
    assert (info.name, info.content_type, info.size) == ("notes.pdf", "application/pdf", 10)
    assert ews_client.get_attachment_bytes(ANA, str(r.id), info.id) == b"%PDF-1.4 x"
    assert ews_server.state.calls["GetAttachment"] == 1


def test_cursor_round_trip() -> None:
    from crmcal.connectors.ews.client import _unpack

    assert _unpack(_pack("H4s", {"m": ["o1"]})) == ("H4s", {"m": ["o1"]})
    assert _unpack("ews1:not-base64!") == (None, {})


@pytest.mark.parametrize(
    ("attrs", "zone"),
    [
        ({"Id": "tzone://Microsoft/Custom"}, "tzone://Microsoft/Custom"),
        ({"Id": "Mid-Atlantic Standard Time"}, "Mid-Atlantic Standard Time"),
        ({"Id": "Customized Time Zone", "Name": ""}, "Customized Time Zone"),
        ({"Id": "", "Name": ""}, "tzone://Microsoft/Custom"),
        ({"Id": "W. Europe Standard Time"}, "W. Europe Standard Time"),
    ],
)
def test_N3_start_zones_exchangelib_cannot_map_keep_their_id(attrs: dict, zone: str) -> None:
    """N3: a StartTimeZone exchangelib has no IANA zone for (custom definitions as Exchange sends
    them, https://github.com/ecederstrand/exchangelib/issues/310, or a Windows id missing from
    its CLDR map) is read as its id, neither raising nor turning into UTC."""
    import xml.etree.ElementTree as ET

    from exchangelib import CalendarItem

    from crmcal.connectors.ews import mapping

    tns = "http://schemas.microsoft.com/exchange/services/2006/types"
    item = ET.Element(f"{{{tns}}}CalendarItem")
    ET.SubElement(item, f"{{{tns}}}StartTimeZone", attrs)
    field = CalendarItem.get_field_by_fieldname("_start_timezone")
    assert mapping._zone_name(field.from_xml(item, None)) == zone
