"""The production connector over real HTTP(S) against the emulator."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from crmcal.connectors.errors import ItemError, LimitExceeded, TransientError
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import (
    CustomValidationError,
    FieldIntegrityError,
    RequestLimitExceeded,
    RequiredFieldMissing,
    SalesforceBadResponse,
    SalesforceClient,
    StringTooLong,
)
from crmcal.domain.crm import (
    CrmEvent,
    EventRelation,
    EventShowAs,
    RecordType,
)
from crmcal.sandbox.salesforce import SalesforceOrg

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def _events(owner: str, n: int, prefix: str = "Bulk") -> list[CrmEvent]:
    return [
        CrmEvent(
            id=None,
            owner_id=owner,
            subject=f"{prefix} {i}",
            start=T0 + timedelta(hours=i),
            end=T0 + timedelta(hours=i, minutes=30),
            location="Room 1",
            show_as=EventShowAs.BUSY,
        )
        for i in range(n)
    ]


def _live_events(org: SalesforceOrg) -> int:
    return sum(1 for r in org.tables["Event"].values() if not r["IsDeleted"])


def test_bulk_create_update_delete_1000_events(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    created = client.create_events(_events(alice, 1000))
    assert len(created) == 1000
    assert all(r.ok and r.id and r.id.startswith("00U") for r in created)
    assert [r.key for r in created] == list(range(1000))
    assert client.calls["collections:POST"] == 5
    assert _live_events(org) == 1000

    ids = [r.id for r in created if r.id]
    current = client.events_by_ids(ids)
    assert len(current) == 1000
    # 1,000 quoted ids are ~27 KB URL-encoded: two queries under the 16 KB URL limit, sent
    # together in one composite request (one API call)
    assert client.calls["composite"] == 1
    assert client.calls["query"] == 0
    assert org.counters["composite"] == 1
    moved = [
        CrmEvent(id=e.id, owner_id=e.owner_id, subject=e.subject + " (moved)",
                 start=e.start, end=e.end)
        for e in current
    ]  # fmt: skip
    updated = client.update_events(moved)
    assert all(r.ok for r in updated)
    assert client.calls["collections:PATCH"] == 5
    assert {e.subject.endswith("(moved)") for e in client.events_by_ids(ids)} == {True}

    deleted = client.delete_events(ids)
    assert all(r.ok for r in deleted)
    assert client.calls["collections:DELETE"] == 5
    assert _live_events(org) == 0


def test_Y3_partial_failures_reported_per_record(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    contact = org.add_contact("Smith", email="smith@example.org")
    good = _events(alice, 3)
    bad = [
        CrmEvent(id=None, owner_id=alice, subject="x" * 256, start=T0, end=T0 + timedelta(hours=1)),
        CrmEvent(id=None, owner_id=alice, subject="backwards", start=T0, end=T0 - timedelta(hours=1)),
        CrmEvent(id=None, owner_id=alice, subject="too long", start=T0, end=T0 + timedelta(days=15)),
        CrmEvent(id=None, owner_id=alice, subject="private", start=T0, end=T0 + timedelta(hours=1),
                 is_private=True, who_id=contact),
        CrmEvent(id=None, owner_id=alice, subject="no start"),
    ]  # fmt: skip
    batch = [good[0], bad[0], good[1], bad[1], bad[2], bad[3], good[2], bad[4]]
    res = client.create_events(batch)
    assert [r.ok for r in res] == [True, False, True, False, False, False, True, False]
    assert client.calls["collections:POST"] == 1
    errors = [r.error for r in res if not r.ok]
    assert isinstance(errors[0], StringTooLong)
    assert errors[0].fields == ("Subject",)
    assert isinstance(errors[1], FieldIntegrityError)
    assert isinstance(errors[2], FieldIntegrityError)
    assert isinstance(errors[3], FieldIntegrityError)
    assert errors[3].fields == ("IsPrivate",)
    assert isinstance(errors[4], RequiredFieldMissing)
    assert all(isinstance(e, ItemError) for e in errors)
    assert _live_events(org) == 3


def test_org_required_fields_and_validation_rules(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    org.set_required_fields("Event", ["Type"])
    org.add_validation_rule(
        "Event", "NoSecrets", "Subject LIKE '%secret%'", "Subjects can't mention secrets",
        ["Subject"],
    )  # fmt: skip
    ok = CrmEvent(id=None, owner_id=alice, subject="fine", start=T0, end=T0 + timedelta(hours=1),
                  extra_fields=(("Type", "Meeting"),))  # fmt: skip
    missing = CrmEvent(id=None, owner_id=alice, subject="fine", start=T0,
                       end=T0 + timedelta(hours=1))  # fmt: skip
    secret = CrmEvent(id=None, owner_id=alice, subject="Top SECRET plan", start=T0,
                      end=T0 + timedelta(hours=1), extra_fields=(("Type", "Meeting"),))  # fmt: skip
    res = client.create_events([ok, missing, secret])
    assert [r.ok for r in res] == [True, False, False]
    assert isinstance(res[1].error, RequiredFieldMissing)
    assert res[1].error.fields == ("Type",)
    assert isinstance(res[2].error, CustomValidationError)
    assert res[2].error.fields == ("Subject",)
    assert "secrets" in str(res[2].error)
    d = client.describe("Event")
    type_field = d.field("Type")
    assert type_field is not None
    assert type_field.required
    assert "Type" in d.required_fields


def test_events_changed_since_one_call_with_deletions(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    bob = org.add_user("bob@corp.example")
    carol = org.add_user("carol@corp.example")
    e1 = org.add_event(alice, "a", T0, T0 + timedelta(hours=1))
    e2 = org.add_event(bob, "b", T0, T0 + timedelta(hours=1))
    org.add_event(carol, "not synced", T0, T0 + timedelta(hours=1))
    first = client.events_changed_since(None, [alice, bob])
    assert {e.id for e in first.events} == {e1, e2}
    assert client.calls["queryAll"] == 1
    assert first.cursor is not None
    org.delete("Event", e2)
    org.update("Event", e1, {"Subject": "a2"})
    client.change_overlap = timedelta(0)
    second = client.events_changed_since(first.cursor, [alice, bob])
    assert [e.subject for e in second.events] == ["a2"]
    assert second.deleted_ids == (e2,)
    assert second.cursor is not None
    assert second.cursor >= first.cursor
    assert client.calls["queryAll"] == 2
    nothing = client.events_changed_since(second.cursor, [alice, bob])
    assert nothing.events == ()
    assert nothing.cursor == second.cursor


def test_events_changed_since_with_many_owners(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    owners = [org.add_user(f"u{i}@corp.example") for i in range(1500)]
    outsider = org.add_user("not-synced@corp.example")
    for o in owners[::100]:
        org.add_event(o, "x", T0, T0 + timedelta(hours=1))
    org.add_event(outsider, "not mine", T0, T0 + timedelta(hours=1))
    first = client.events_changed_since(None, owners)
    assert len(first.events) == 15
    # 1,500 18-char ids don't fit one URL: the parts go in one composite request
    assert client.calls["composite"] == 1
    assert client.calls["queryAll"] == 0
    changed = org.add_event(owners[7], "new", T0, T0 + timedelta(hours=1))
    org.add_event(outsider, "still not mine", T0, T0 + timedelta(hours=1))
    client.change_overlap = timedelta(0)
    second = client.events_changed_since(first.cursor, owners)
    assert [e.id for e in second.events] == [changed]
    # an incremental read stays one query: the owner filter is applied client-side
    assert client.calls["queryAll"] == 1
    assert client.calls["composite"] == 1


def test_paging_follows_next_records_url(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    for i in range(4100):
        org.add_event(alice, f"e{i}", T0 + timedelta(minutes=i), T0 + timedelta(minutes=i + 5))
    changes = client.events_changed_since(None, [alice])
    assert len(changes.events) == 4100
    assert client.calls["queryAll"] == 1
    assert client.calls["query_more"] == 2


def test_L2_one_call_for_many_addresses_case_insensitive(
    client: SalesforceClient, org: SalesforceOrg
) -> None:
    acc = org.add_account("Acme", website="https://www.acme.com")
    contacts = {org.add_contact(f"C{i}", email=f"Person{i}@Acme.com", account_id=acc)
                for i in range(150)}  # fmt: skip
    lead = org.add_lead("Lee", email="lead@prospect.example")
    org.add_lead("Converted", email="conv@prospect.example", IsConverted=True)
    addresses = [f"person{i}@ACME.com" for i in range(150)] + [
        "LEAD@prospect.example", "conv@prospect.example", "nobody@nowhere.example",
    ]  # fmt: skip
    refs = client.find_people(addresses)
    assert {r.id for r in refs if r.type is RecordType.CONTACT} == contacts
    assert [r.id for r in refs if r.type is RecordType.LEAD] == [lead]
    assert all(r.account_id == acc for r in refs if r.type is RecordType.CONTACT)
    assert client.total_calls - client.calls["oauth2/token"] == 1
    assert org.counters["composite"] == 1


def test_L2_long_address_lists_split_under_url_limit(
    client: SalesforceClient, org: SalesforceOrg
) -> None:
    org.add_contact("Last", email="z2999@example.org")
    refs = client.find_people([f"z{i}@example.org" for i in range(3000)])
    assert [r.email for r in refs] == ["z2999@example.org"]
    # ~3000 x 20 chars = 80 KB encoded: 6 chunks x (Contact + Lead) = 12 queries under the
    # 16 KB URL limit, 5 per composite request
    assert client.calls["composite"] == 3


TRICKY = [
    "o'brien@example.org",
    "back\\slash@example.org",
    "100%@example.org",
    "a_b@example.org",
    "new\nline@example.org",
    'quote"d@example.org',
    "x' OR Email != '@example.org",
    "tab\there@example.org",
]


def test_L7_injection_in_addresses_returns_exactly_the_right_rows(
    client: SalesforceClient, org: SalesforceOrg
) -> None:
    ids = {addr: org.add_contact("T", email=addr) for addr in TRICKY}
    # decoys that a wrong escape (wildcards, dropped backslashes, broken quoting) would match
    for decoy in ("axb@example.org", "100x@example.org", "backslash@example.org",
                  "obrien@example.org", "plain@example.org"):  # fmt: skip
        org.add_contact("Decoy", email=decoy)
    for addr in TRICKY:
        refs = client.find_people([addr])
        assert [r.id for r in refs] == [ids[addr]], addr
    both = client.find_people(TRICKY)
    assert {r.id for r in both} == set(ids.values())


@pytest.mark.parametrize("subject", [*TRICKY, "50% off_sale", "it's \\' tricky", "é ü 😀"])
def test_L7_injection_in_subjects(
    client: SalesforceClient, org: SalesforceOrg, alice: str, subject: str
) -> None:
    target = org.add_event(alice, subject, T0, T0 + timedelta(hours=1))
    org.add_event(alice, "50x offxsale", T0, T0 + timedelta(hours=1))
    org.add_event(alice, "other", T0, T0 + timedelta(hours=1))
    found = client.events_matching(alice, subject, T0)
    assert [e.id for e in found] == [target]
    assert found[0].subject == subject


def test_L7_injection_in_guids(client: SalesforceClient, org: SalesforceOrg, alice: str) -> None:
    org.add_custom_field("Event", "Crmcal_Guid__c", external_id=True)
    for i, g in enumerate(TRICKY):
        org.add_event(alice, f"g{i}", T0, T0 + timedelta(hours=1), Crmcal_Guid__c=g)
    found = client.events_by_guid([TRICKY[0], TRICKY[6]], "Crmcal_Guid__c")
    assert sorted(e.subject for e in found) == ["g0", "g6"]


def test_L3_accounts_by_domain(client: SalesforceClient, org: SalesforceOrg) -> None:
    acme = org.add_account("Acme", website="https://www.acme.com/about")
    org.add_account("Not Acme", website="notacme.com")
    under = org.add_account("Under", website="a_b.example")
    org.add_account("Wildcard victim", website="axb.example")
    org.add_account("No site")
    found = client.accounts_by_domain(["acme.com", "A_B.example", "missing.example"])
    assert [r.id for r in found["acme.com"]] == [acme]
    assert [r.id for r in found["a_b.example"]] == [under]
    assert found["missing.example"] == []
    assert client.calls["query"] == 1


def test_open_opportunities_users_calendars(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    acc = org.add_account("Acme")
    today = datetime.now(UTC).date()
    open_opp = org.add_opportunity("Open", account_id=acc, close_date=today + timedelta(days=30))
    recent = org.add_opportunity("Won recently", account_id=acc, stage="Closed Won",
                                 close_date=today - timedelta(days=100))  # fmt: skip
    org.add_opportunity("Lost long ago", account_id=acc, stage="Closed Lost",
                        close_date=today - timedelta(days=400))  # fmt: skip
    opps = client.open_opportunities([acc])
    assert {o.id for o in opps} == {open_opp, recent}
    assert next(o for o in opps if o.id == recent).is_won
    users = client.users(emails=["ALICE@corp.example"])
    assert [u.id for u in users] == [alice]
    assert users[0].name == "Alice Archer"
    cal = org.add_calendar("Meeting Room A", type="Resource")
    org.add_calendar("Old", is_active=False)
    assert [c.id for c in client.public_calendars()] == [cal]


def test_relations_and_invitee_child_events(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    bob = org.add_user("bob@corp.example")
    contact = org.add_contact("Smith", email="smith@example.org")
    [ev] = client.create_events(_events(alice, 1))
    assert ev.id is not None
    res = client.create_relations([
        EventRelation(event_id=ev.id, relation_id=bob),
        EventRelation(event_id=ev.id, relation_id=contact, is_invitee=False, is_parent=True),
        EventRelation(event_id=ev.id, relation_id=bob),  # duplicate
    ])  # fmt: skip
    assert [r.ok for r in res] == [True, True, False]
    assert res[2].error is not None
    assert res[2].error.code == "DUPLICATE_VALUE"
    rels = client.relations_for([ev.id])
    assert {(r.relation_id, r.is_invitee, r.is_parent) for r in rels} == {
        (bob, True, False), (contact, False, True),
    }  # fmt: skip
    changes = client.events_changed_since(None, [bob])
    [child] = changes.events
    assert child.is_child
    assert child.owner_id == bob
    [parent] = client.events_by_ids([ev.id])
    assert parent.is_group_event
    bob_rel = next(r for r in rels if r.relation_id == bob)
    assert bob_rel.id is not None
    assert all(r.ok for r in client.delete_relations([bob_rel.id]))
    assert client.events_changed_since(None, [bob]).deleted_ids == (child.id,)


def test_D3_upsert_events(client: SalesforceClient, org: SalesforceOrg, alice: str) -> None:
    org.add_custom_field("Event", "Crmcal_Guid__c", external_id=True)
    evs = [
        CrmEvent(id=None, owner_id=alice, subject=f"u{i}", start=T0, end=T0 + timedelta(hours=1),
                 guid=f"guid-{i}")
        for i in range(3)
    ]  # fmt: skip
    first = client.upsert_events(evs, "Crmcal_Guid__c")
    assert [(r.ok, r.created) for r in first] == [(True, True)] * 3
    again = client.upsert_events(evs, "Crmcal_Guid__c")
    assert [(r.ok, r.created) for r in again] == [(True, False)] * 3
    assert [r.id for r in again] == [r.id for r in first]
    assert _live_events(org) == 3


def test_create_records_contacts_and_attachment(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    res = client.create_records("Contact", [{"LastName": "New", "Email": "new@example.org"},
                                            {"Email": "no-last-name@example.org"}])  # fmt: skip
    assert [r.ok for r in res] == [True, False]
    assert isinstance(res[1].error, RequiredFieldMissing)
    [ev] = client.create_events(_events(alice, 1))
    body = base64.b64encode(b"hello").decode()
    [att] = client.create_records(
        "Attachment",
        [{"ParentId": ev.id, "Name": "a.txt", "Body": body, "ContentType": "text/plain"}],
    )
    assert att.ok
    assert att.id is not None
    assert att.id.startswith("00P")
    assert org.get("Attachment", att.id)["BodyLength"] == 5


def test_O2_usage_gauge_and_limit_not_retried(client: SalesforceClient, org: SalesforceOrg) -> None:
    client.users(emails=["x@corp.example"])
    assert client.usage is not None
    assert client.usage.used == org.api_used
    assert client.usage.max == 15_000
    limits = client.limits()
    assert limits.max == 15_000
    org.api_max = org.api_used + 1
    client.users(emails=["x@corp.example"])
    assert client.usage.remaining == 0
    before = client.calls["query"]
    with pytest.raises(RequestLimitExceeded) as exc:
        client.users(emails=["x@corp.example"])
    assert isinstance(exc.value, LimitExceeded)
    assert exc.value.status == 403
    assert client.calls["query"] == before + 1


def test_5xx_retried_then_transient_error(client: SalesforceClient, org: SalesforceOrg) -> None:
    client.users(emails=["x@corp.example"])
    org.faults.fail_next = 2
    client.users(emails=["x@corp.example"])
    assert client.calls["query"] == 4
    org.faults.fail_next = 100
    with pytest.raises(TransientError):
        client.users(emails=["x@corp.example"])
    org.faults.fail_next = 0


def _mock_client(handler: httpx.MockTransport) -> SalesforceClient:
    return SalesforceClient(
        login_url="https://login.example", client_id="c", auth="client_credentials",
        client_secret="s", http=httpx.Client(transport=handler),
        retry=RetryPolicy(sleep=lambda _s: None),
    )  # fmt: skip


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path == "/services/oauth2/token":
        return httpx.Response(200, json={"access_token": "t", "instance_url": "https://i.example"})
    return None


def test_Y3_malformed_rows_are_rejected_not_fatal() -> None:
    good = {"attributes": {"type": "Event"}, "Id": "00U5g000000000AEAQ", "OwnerId": "0055g0000000001",
            "StartDateTime": "2026-03-10T14:00:00.000+0000", "IsDeleted": False,
            "SystemModstamp": "2026-03-10T14:00:00.000+0000"}  # fmt: skip
    bad = dict(good, Id="00U5g000000000BEAQ", StartDateTime="yesterday-ish")
    no_id = {"attributes": {"type": "Event"}, "Subject": "?"}

    def handler(request: httpx.Request) -> httpx.Response:
        tok = _token(request)
        if tok:
            return tok
        return httpx.Response(
            200,
            json={"totalSize": 3, "done": True, "records": [good, bad, no_id]},
            headers={"Sforce-Limit-Info": "api-usage=5/100"},
        )

    with _mock_client(httpx.MockTransport(handler)) as c:
        changes = c.events_changed_since(None, ["0055g0000000001"])
    assert [e.id for e in changes.events] == [good["Id"]]
    assert [r[0] for r in changes.rejected] == [bad["Id"], ""]
    assert c.usage is not None
    assert c.usage.used == 5


@pytest.mark.parametrize(
    "payload",
    [b"<html>oops</html>", json.dumps({"records": "nope"}).encode(), b"[1, 2]"],
)
def test_Y3_malformed_responses_raise_bad_response(payload: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(200, content=payload)

    with _mock_client(httpx.MockTransport(handler)) as c, pytest.raises(SalesforceBadResponse):
        c.events_by_ids(["00U5g000000000AEAQ"])


def test_Y3_collection_result_count_mismatch_is_a_bad_response_per_item() -> None:
    """An answer that doesn't fit the request fails each item with BadResponse (the write may or
    may not have happened; the engine reconciles), instead of failing the whole session."""

    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(200, json=[{"id": "1", "success": True}])

    with _mock_client(httpx.MockTransport(handler)) as c:
        results = c.delete_events(["00U5g000000000AEAQ", "00U5g000000000BEAQ"])
    assert [r.ok for r in results] == [False, False]
    assert all(isinstance(r.error, SalesforceBadResponse) for r in results)


def test_all_day_and_recurrence_round_trip(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    all_day = CrmEvent(id=None, owner_id=alice, subject="Offsite", is_all_day=True,
                       activity_date=date(2026, 3, 10), duration_minutes=2 * 1440)  # fmt: skip
    [res] = client.create_events([all_day])
    assert res.ok, res.error
    assert res.id is not None
    [back] = client.events_by_ids([res.id])
    assert back.is_all_day
    assert back.activity_date == date(2026, 3, 10)
    assert back.duration_minutes == 2880
    assert back.start == datetime(2026, 3, 10, tzinfo=UTC)


def test_describe_and_replication_through_connector(
    client: SalesforceClient, org: SalesforceOrg, alice: str
) -> None:
    d = client.describe("Event")
    assert d.key_prefix == "00U"
    subject = d.field("subject")
    assert subject is not None
    assert (subject.type, subject.length, subject.nillable) == ("combobox", 255, True)
    show_as = d.field("ShowAs")
    assert show_as is not None
    assert show_as.restricted_picklist
    assert not show_as.required  # defaulted on create
    assert d.required_fields == ()
    client.describe("Event")
    assert client.calls["describe"] == 1  # cached
    start = org.now() - timedelta(minutes=5)
    eid = org.add_event(alice, "r", T0, T0 + timedelta(hours=1))
    org.delete("Event", eid)
    real = org.clock
    org.clock = lambda: real() + timedelta(minutes=2)
    try:
        end = org.now()
        ids, latest = client.updated_ids("Event", start, end)
        gone, earliest, _ = client.deleted_ids("Event", start, end)
    finally:
        org.clock = real
    assert eid not in ids
    assert [g[0] for g in gone] == [eid]
    assert earliest <= start
    assert latest <= end


def test_guid_field_round_trip(
    org: SalesforceOrg, server: object, client: SalesforceClient, alice: str
) -> None:
    org.add_custom_field("Event", "Crmcal_Guid__c", external_id=True)
    client.guid_field = "Crmcal_Guid__c"
    ev = CrmEvent(id=None, owner_id=alice, subject="g", start=T0, end=T0 + timedelta(hours=1),
                  guid="040000008200E00074C5B7101A82E008")  # fmt: skip
    [res] = client.create_events([ev])
    assert res.ok
    [back] = client.events_by_guid(["040000008200E00074C5B7101A82E008"])
    assert back.id == res.id
    assert back.guid == ev.guid


def test_client_is_thread_safe(client: SalesforceClient, org: SalesforceOrg, alice: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for i in range(20):
        org.add_contact(f"T{i}", email=f"t{i}@example.org")

    def work(i: int) -> tuple[int, int]:
        created = client.create_events(_events(alice, 10, prefix=f"T{i}"))
        people = client.find_people([f"t{j}@example.org" for j in range(20)])
        return sum(r.ok for r in created), len(people)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    assert results == [(10, 20)] * 16
    assert client.calls["oauth2/token"] == 1
    assert client.calls["collections:POST"] == 16
    assert client.calls["composite"] == 16
    assert _live_events(org) == 160
