"""Emulator behaviour over HTTP: ids, headers, faults, control API, validation, recurrence."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmcal.sandbox.salesforce import SalesforceOrg, id18
from crmcal.sandbox.server import ServerThread

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
EV = {"Subject": "x", "StartDateTime": "2026-03-10T14:00:00Z", "DurationInMinutes": 60}


def test_id18_checksum() -> None:
    assert id18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert id18("00U5g00000ABCDE") == "00U5g00000ABCDEEA5"


def test_ids_have_key_prefixes(org: SalesforceOrg) -> None:
    acc = org.add_account("A")
    prefixes = {
        "Account": acc,
        "Contact": org.add_contact("C"),
        "Lead": org.add_lead("L"),
        "Opportunity": org.add_opportunity("O", account_id=acc),
        "Calendar": org.add_calendar("Cal"),
        "User": org.add_user("u@x.example"),
    }
    expected = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006",
                "Calendar": "023", "User": "005"}  # fmt: skip
    for name, rid in prefixes.items():
        assert rid[:3] == expected[name]
        assert len(rid) == 18
        assert id18(rid[:15]) == rid


def test_limit_info_on_every_response(api: httpx.Client, org: SalesforceOrg) -> None:
    bad_auth = {"Authorization": "Bearer bad"}
    for call in (
        lambda: api.get("limits"),
        lambda: api.get("query", params={"q": "SELECT broken"}),
        lambda: api.get("sobjects/Event/00U5g0000000000AAA"),
        lambda: api.get("nope"),
        lambda: api.get("query", params={"q": "SELECT Id FROM User"}, headers=bad_auth),
    ):
        r = call()
        assert r.headers["Sforce-Limit-Info"] == f"api-usage={org.api_used}/15000"
    assert r.status_code == 401
    assert r.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert org.api_used == 4


def test_O2_daily_allowance_403_without_retry_after(
    api: httpx.Client, control: httpx.Client
) -> None:
    control.post("faults", json={"api_max": 3, "api_used": 2})
    assert api.get("limits").status_code == 200
    r = api.get("limits")
    assert r.status_code == 403
    assert r.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Retry-After" not in r.headers
    assert r.headers["Sforce-Limit-Info"] == "api-usage=3/3"


def test_patch_204_and_json_errors(api: httpx.Client) -> None:
    rid = api.post("sobjects/Event", json=EV).json()["id"]
    r = api.patch(f"sobjects/Event/{rid}", json={"Location": "Here"})
    assert r.status_code == 204
    assert r.content == b""
    r = api.patch(
        f"sobjects/Event/{rid}", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    r = api.patch(f"sobjects/Event/{rid}", json={"IsRecurrence2": True})
    assert r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    r = api.patch(f"sobjects/Event/{rid}", json={"ShowAs": "Tentative"})
    assert r.json()[0] == {
        "message": "ShowAs: bad value for restricted picklist field: Tentative",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "fields": ["ShowAs"],
    }
    r = api.post("sobjects/Event", json={**EV, "Bogus__c": 1})
    assert r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert api.delete(f"sobjects/Event/{rid}").status_code == 204
    assert api.delete(f"sobjects/Event/{rid}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_uri_too_long(api: httpx.Client) -> None:
    def target(n: int) -> tuple[int, httpx.Response]:
        q = "SELECT Id FROM Contact WHERE Email IN (" + ",".join(["'a@b.c'"] * n) + ")"
        r = api.get("query", params={"q": q})
        return len(r.request.url.raw_path), r

    size, r = target(990)
    assert 15_000 < size <= 16_000
    assert r.status_code == 200
    size, r = target(1000)
    assert 16_000 < size < 16_100
    assert r.status_code == 414
    assert r.json()[0]["errorCode"] == "URI_TOO_LONG"


def test_batch_size_header(api: httpx.Client, org: SalesforceOrg) -> None:
    for i in range(450):
        org.add_account(f"A{i}")
    page = api.get("query", params={"q": "SELECT Id FROM Account"},
                   headers={"Sforce-Query-Options": "batchSize=200"}).json()  # fmt: skip
    assert len(page["records"]) == 200
    nxt = api.get(page["nextRecordsUrl"].removeprefix("/services/data/v62.0/")).json()
    assert len(nxt["records"]) == 200
    last = api.get(nxt["nextRecordsUrl"].removeprefix("/services/data/v62.0/")).json()
    assert len(last["records"]) == 50
    assert last["done"] is True
    assert "nextRecordsUrl" not in last


def test_control_api_seed_faults_stats(
    control: httpx.Client, api: httpx.Client, org: SalesforceOrg
) -> None:
    ids = control.post("seed", json={
        "users": [{"email": "bob@corp.example", "first_name": "Bob"}],
        "Account": [{"Name": "Seeded", "Website": "seeded.example"}],
        "Contact": [{"LastName": "Seed", "Email": "seed@seeded.example"}],
    }).json()  # fmt: skip
    assert ids["users"][0].startswith("005")
    assert ids["Contact"][0].startswith("003")
    bad = control.post("seed", json={"Contact": [{"Email": "no-last-name@x"}]})
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    control.delete("stats")
    api.get("query", params={"q": "SELECT Id FROM Contact"})
    api.get(f"sobjects/Contact/{ids['Contact'][0]}")
    api.post("composite/sobjects", json={"records": []})
    stats = control.get("stats").json()
    assert stats["requests"] == {"query": 1, "sobjects/{type}/{id}": 1, "composite/sobjects": 1}
    # 5xx on demand
    control.post("faults", json={"fail_next": 2, "fail_status": 503})
    assert [api.get("limits").status_code for _ in range(3)] == [503, 503, 200]
    # latency on demand
    control.post("faults", json={"latency_ms": 80})
    t = time.monotonic()
    api.get("limits")
    assert time.monotonic() - t >= 0.08
    control.post("faults", json={"latency_ms": 0})
    # expire tokens
    assert control.post("tokens/expire").json()["expired"] >= 1
    assert api.get("limits").status_code == 401
    tok = control.post("tokens", json={}).json()["access_token"]
    assert api.get("limits", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    control.post("reset")
    assert org.query("SELECT COUNT() FROM Contact").total == 0


def test_org_rules_over_http(control: httpx.Client, api: httpx.Client) -> None:
    assert control.put("required-fields/Event", json={"fields": ["Location"]}).status_code == 200
    control.post("validation-rules/Event", json={
        "name": "NoFreeMeetings", "condition": "ShowAs = 'Free' AND Subject LIKE 'Meeting%'",
        "message": "Meetings must show as busy", "fields": ["ShowAs"],
    })  # fmt: skip
    r = api.post("sobjects/Event", json=EV)
    assert r.json()[0] == {"message": "Required fields are missing: [Location]",
                           "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Location"]}  # fmt: skip
    r = api.post(
        "sobjects/Event", json={**EV, "Location": "x", "ShowAs": "Free", "Subject": "Meeting 1"}
    )
    assert r.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert r.json()[0]["fields"] == ["ShowAs"]
    assert (
        api.post("sobjects/Event", json={**EV, "Location": "x", "ShowAs": "Free"}).status_code
        == 201
    )
    control.delete("validation-rules/Event")
    bad = control.post(
        "validation-rules/Event", json={"name": "x", "condition": "Subject ==", "message": "m"}
    )
    assert bad.status_code == 400


def test_event_duration_rules(api: httpx.Client, org: SalesforceOrg) -> None:
    ok = api.post("sobjects/Event", json={**EV, "DurationInMinutes": 14 * 1440})
    assert ok.status_code == 201
    too_long = api.post("sobjects/Event", json={**EV, "DurationInMinutes": 14 * 1440 + 1})
    assert too_long.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    org.multiday_events = False
    r = api.post("sobjects/Event", json={**EV, "DurationInMinutes": 1441})
    assert r.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    mismatch = api.post("sobjects/Event", json={**EV, "EndDateTime": "2026-03-10T14:30:00Z"})
    assert mismatch.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    org.multiday_events = True


def test_classic_series_creates_occurrences(api: httpx.Client, org: SalesforceOrg) -> None:
    body = {
        **EV, "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
        "RecurrenceDayOfWeekMask": 2 + 8,  # Mon, Wed
        "RecurrenceStartDateTime": "2026-03-09T14:00:00Z", "RecurrenceEndDateOnly": "2026-03-22",
        "RecurrenceTimeZoneSidKey": "Europe/Berlin",
    }  # fmt: skip
    r = api.post("sobjects/Event", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    occ = api.get("query", params={"q": f"SELECT Id, StartDateTime, IsRecurrence FROM Event "
                                        f"WHERE RecurrenceActivityId = '{sid}' ORDER BY StartDateTime"})  # fmt: skip
    starts = [rec["StartDateTime"] for rec in occ.json()["records"]]
    assert starts == [
        "2026-03-09T14:00:00.000+0000", "2026-03-11T14:00:00.000+0000",
        "2026-03-16T14:00:00.000+0000", "2026-03-18T14:00:00.000+0000",
    ]  # fmt: skip
    assert api.patch(f"sobjects/Event/{sid}", json={"RecurrenceInterval": 2}).json()[0][
        "errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"  # fmt: skip
    api.delete(f"sobjects/Event/{sid}")
    assert org.occurrences(sid) == []
    # unused recurrence fields must be null; occurrences must be 24 h or less
    bad = api.post("sobjects/Event", json={**body, "RecurrenceDayOfMonth": 3})
    assert bad.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert bad.json()[0]["fields"] == ["RecurrenceDayOfMonth"]
    long = api.post("sobjects/Event", json={**body, "DurationInMinutes": 1500})
    assert long.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    missing = api.post("sobjects/Event", json={**body, "RecurrenceInterval": None})
    assert missing.json()[0] == {"message": "Required fields are missing: [RecurrenceInterval]",
                                 "errorCode": "REQUIRED_FIELD_MISSING",
                                 "fields": ["RecurrenceInterval"]}  # fmt: skip
    too_many = api.post("sobjects/Event", json={
        **body, "RecurrenceType": "RecursDaily", "RecurrenceDayOfWeekMask": None,
        "RecurrenceEndDateOnly": "2027-03-09"})  # fmt: skip
    assert too_many.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE", "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=1;COUNT=10"),
        (
            "RRULE:interval=2;freq=monthly;bymonthday=31",
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;INTERVAL=2",
        ),
        (
            "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=FR;UNTIL=20261231T000000Z",
            "RRULE:FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1;INTERVAL=1;UNTIL=20261231T000000Z",
        ),
        (
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10;INTERVAL=1",
        ),
    ],
)
def test_lightning_series_normalised(api: httpx.Client, given: str, normalised: str) -> None:
    r = api.post("sobjects/Event", json={**EV, "Recurrence2PatternText": given})
    assert r.status_code == 201, r.text
    rec = api.get(f"sobjects/Event/{r.json()['id']}").json()
    assert rec["Recurrence2PatternText"] == normalised
    assert rec["IsRecurrence2"] is True
    assert rec["Recurrence2PatternVersion"] == "1"
    assert rec["Recurrence2PatternStartDate"] == "2026-03-10T14:00:00.000+0000"
    assert rec["Recurrence2PatternTimeZone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    "rule",
    ["FREQ=YEARLY;INTERVAL=2", "FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z", "FREQ=WEEKLY",
     "FREQ=WEEKLY;BYDAY=1MO", "FREQ=HOURLY", "FREQ=DAILY;INTERVAL=1000", "FREQ=DAILY;COUNT=0",
     "FREQ=MONTHLY;BYDAY=1MO,2TU"],
)  # fmt: skip
def test_lightning_series_invalid(api: httpx.Client, rule: str) -> None:
    r = api.post("sobjects/Event", json={**EV, "Recurrence2PatternText": rule})
    assert r.status_code == 400
    assert r.json()[0]["fields"] == ["Recurrence2PatternText"]


def test_invitee_limit_on_series(api: httpx.Client, org: SalesforceOrg) -> None:
    users = [org.add_user(f"inv{i}@corp.example") for i in range(101)]
    sid = api.post(
        "sobjects/Event", json={**EV, "Recurrence2PatternText": "FREQ=DAILY;COUNT=3"}
    ).json()["id"]
    recs = [
        {
            "attributes": {"type": "EventRelation"},
            "EventId": sid,
            "RelationId": u,
            "IsInvitee": True,
        }
        for u in users
    ]
    res = api.post("composite/sobjects", json={"records": recs[:100]}).json()
    assert all(r["success"] for r in res)
    res = api.post("composite/sobjects", json={"records": recs[100:]}).json()
    assert res[0]["errors"][0]["statusCode"] == "LIMIT_EXCEEDED"


def test_child_events_are_read_only_except_reminders(api: httpx.Client, org: SalesforceOrg) -> None:
    bob = org.add_user("bob@corp.example")
    eid = api.post("sobjects/Event", json=EV).json()["id"]
    api.post("sobjects/EventRelation", json={"EventId": eid, "RelationId": bob, "IsInvitee": True})
    [child] = [r for r in org.tables["Event"].values() if r["IsChild"]]
    r = api.patch(f"sobjects/Event/{child['Id']}", json={"Subject": "mine"})
    assert r.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert (
        api.patch(f"sobjects/Event/{child['Id']}", json={"IsReminderSet": True}).status_code == 204
    )
    api.patch(f"sobjects/Event/{eid}", json={"Subject": "renamed"})
    assert org.get("Event", str(child["Id"]))["Subject"] == "renamed"
    r = api.post(
        "sobjects/EventRelation",
        json={"EventId": child["Id"], "RelationId": bob, "IsInvitee": True},
    )
    assert r.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_upsert_multiple_matches_is_300(api: httpx.Client, org: SalesforceOrg) -> None:
    org.add_custom_field("Event", "Ext__c", external_id=True)
    for _ in range(2):
        api.post("sobjects/Event", json={**EV, "Ext__c": "dup"})
    r = api.patch("sobjects/Event/Ext__c/dup", json={"Subject": "x"})
    assert r.status_code == 300
    assert len(r.json()) == 2


def test_collections_retrieve_and_attachment_body(api: httpx.Client, org: SalesforceOrg) -> None:
    eid = api.post("sobjects/Event", json=EV).json()["id"]
    body = base64.b64encode(b"\x00binary\xff").decode()
    aid = api.post(
        "sobjects/Attachment", json={"ParentId": eid, "Name": "b.bin", "Body": body}
    ).json()["id"]
    got = api.get(
        "composite/sobjects/Event",
        params={"ids": f"{eid},00U5g0000000000AAA", "fields": "Id,Subject"},
    )
    assert got.json()[0]["Subject"] == "x"
    assert got.json()[1] is None
    raw = api.get(f"sobjects/Attachment/{aid}/Body")
    assert raw.content == b"\x00binary\xff"
    rec = api.get(f"sobjects/Attachment/{aid}").json()
    assert rec["Body"] == f"/services/data/v62.0/sobjects/Attachment/{aid}/Body"
    assert rec["BodyLength"] == 8


def test_deleted_retention_window(api: httpx.Client, org: SalesforceOrg) -> None:
    eid = api.post("sobjects/Event", json=EV).json()["id"]
    api.delete(f"sobjects/Event/{eid}")
    now = org.now()
    recs, _, _ = org.deleted_ids("Event", now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert recs == []  # the window ends at the last whole minute
    recs, _, _ = org.deleted_ids("Event", now - timedelta(minutes=5), now + timedelta(minutes=5))
    real = org.clock
    org.clock = lambda: real() + timedelta(minutes=2)
    try:
        later = org.now()
        recs, _, _ = org.deleted_ids("Event", now - timedelta(minutes=5), later)
        assert [r[0] for r in recs] == [eid]
        org.clock = lambda: real() + timedelta(days=16)
        later = org.now()
        recs, earliest, _ = org.deleted_ids("Event", later - timedelta(days=17), later)
        assert recs == []
        assert earliest >= later - timedelta(days=15, minutes=1)
        # the recycle bin was emptied: queryAll no longer shows the row
        assert (
            org.query(f"SELECT Id FROM Event WHERE Id = '{eid}'", include_deleted=True).total == 0
        )
    finally:
        org.clock = real


def test_describe_global_and_versions(api: httpx.Client, server: ServerThread) -> None:
    names = {o["name"] for o in api.get("sobjects").json()["sobjects"]}
    assert {"Event", "EventRelation", "EventWhoRelation", "Attachment", "Calendar", "User",
            "Contact", "Lead", "Account", "Opportunity"} <= names  # fmt: skip
    versions = api.get(server.url + "/services/data").json()
    assert any(v["version"] == "62.0" for v in versions)
    assert api.get(server.url + "/services/data/vXX/limits").status_code == 404


def test_event_who_relation_view(api: httpx.Client, org: SalesforceOrg) -> None:
    c1, c2 = org.add_contact("A"), org.add_contact("B")
    eid = api.post("sobjects/Event", json=EV).json()["id"]
    for c in (c1, c2):
        api.post(
            "sobjects/EventRelation", json={"EventId": eid, "RelationId": c, "IsInvitee": False}
        )
    rows = api.get(
        "query", params={"q": f"SELECT RelationId FROM EventWhoRelation WHERE EventId = '{eid}'"}
    )
    assert {r["RelationId"] for r in rows.json()["records"]} == {c1, c2}
    assert (
        api.post("sobjects/EventWhoRelation", json={"EventId": eid, "RelationId": c1}).status_code
        == 400
    )
    lead = org.add_lead("L")
    r = api.post(
        "sobjects/EventRelation", json={"EventId": eid, "RelationId": lead, "IsInvitee": False}
    )
    assert r.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_fault_settings_validated(control: httpx.Client) -> None:
    assert control.put("faults", json={"fail_next": 1}).json()["fail_next"] == 1
    assert control.put("faults", json={"nonsense": 1}).status_code == 400
    assert control.post("faults", json={"fail_next": 0}).json()["fail_next"] == 0
    info = control.get("info").json()
    assert info["admin_user_id"].startswith("005")
    assert any(u["email"] == "alice@corp.example" for u in info["users"])


def test_references_checked(api: httpx.Client, org: SalesforceOrg) -> None:
    gone = org.add_user("gone@corp.example", is_active=False)
    r = api.post("sobjects/Event", json={**EV, "OwnerId": gone})
    assert r.json()[0]["errorCode"] == "INACTIVE_OWNER_OR_USER"
    contact = org.add_contact("C")
    org.delete("Contact", contact)
    r = api.post("sobjects/Event", json={**EV, "WhoId": contact})
    assert r.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    acc = org.add_account("A")
    r = api.post("sobjects/Event", json={**EV, "WhoId": acc})
    assert r.json()[0] == {"message": f"WhoId: id value of incorrect type: {acc}",
                           "errorCode": "FIELD_INTEGRITY_EXCEPTION", "fields": ["WhoId"]}  # fmt: skip
    cal = org.add_calendar("Team")
    ok = api.post("sobjects/Event", json={**EV, "OwnerId": cal})
    assert ok.status_code == 201
    rec = api.get(
        "query", params={"q": f"SELECT Owner.Type, Owner.Name FROM Event WHERE OwnerId = '{cal}'"}
    )
    assert rec.json()["records"][0]["Owner"]["Type"] == "Calendar"
