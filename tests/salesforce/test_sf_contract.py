"""Contract tests: simple-salesforce (a client nobody here wrote) drives the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crmcal.sandbox.salesforce import SalesforceOrg

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
SF_DT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$"


def test_query_all_pages_with_next_records_url(sf: Salesforce, org: SalesforceOrg) -> None:
    for i in range(2500):
        org.add_contact(f"Person{i:04d}", email=f"p{i}@example.org")
    first = sf.query("SELECT Id, Name, Email FROM Contact ORDER BY Name")
    assert first["totalSize"] == 2500
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    rec = first["records"][0]
    assert rec["attributes"]["type"] == "Contact"
    assert rec["attributes"]["url"] == f"/services/data/v62.0/sobjects/Contact/{rec['Id']}"
    everything = sf.query_all("SELECT Id, Name FROM Contact ORDER BY Name")
    assert everything["totalSize"] == 2500
    assert [r["Name"] for r in everything["records"]][:2] == ["Person0000", "Person0001"]
    assert len({r["Id"] for r in everything["records"]}) == 2500


def test_crud_through_sftype(sf: Salesforce, alice: str) -> None:
    created = sf.Event.create(
        {"Subject": "Kickoff", "StartDateTime": "2026-03-10T14:00:00Z", "DurationInMinutes": 60}
    )
    assert created["success"] is True
    assert created["errors"] == []
    eid = created["id"]
    assert eid.startswith("00U")
    assert len(eid) == 18
    got = sf.Event.get(eid)
    assert got["Subject"] == "Kickoff"
    assert got["OwnerId"] == alice
    assert got["EndDateTime"] == "2026-03-10T15:00:00.000+0000"
    assert got["ShowAs"] == "Busy"
    assert got["IsDeleted"] is False
    import re

    assert re.match(SF_DT, got["SystemModstamp"])
    status = sf.Event.update(eid, {"Subject": "Kickoff (moved)"})
    assert status == 204
    assert sf.Event.get(eid)["Subject"] == "Kickoff (moved)"
    assert sf.Event.delete(eid) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Event.get(eid)
    assert exc.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    deleted = sf.query_all(
        f"SELECT Id, IsDeleted FROM Event WHERE Id = '{eid}'", include_deleted=True
    )
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT Id FROM Event WHERE Id = '{eid}'")["totalSize"] == 0


def test_errors_are_arrays_with_codes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Event WHERE Subject = 'x' AND")
    body = exc.value.content
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "MALFORMED_QUERY"
    assert "Row:1:Column:" in body[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Event.create({"Subject": "no time"})
    assert exc.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope FROM Event")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Event.get("00U5g00000XXXXXAAA")


def test_O2_api_usage_header_and_limit(sf: Salesforce, org: SalesforceOrg) -> None:
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == org.api_used
    assert sf.api_usage["api-usage"].total == 15_000
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15_000
    assert limits["DailyApiRequests"]["Remaining"] == 15_000 - org.api_used
    org.api_max = org.api_used
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM User")
    assert exc.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert exc.value.status == 403


def test_expired_session(sf: Salesforce, org: SalesforceOrg) -> None:
    org.expire_tokens()
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT Id FROM User")
    assert exc.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_composite_sobjects_create_partial_failure(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Event"}, "Subject": f"E{i}",
         "StartDateTime": "2026-03-10T14:00:00Z", "DurationInMinutes": 30}
        for i in range(3)
    ]  # fmt: skip
    records[1]["DurationInMinutes"] = 30 * 24 * 60
    res = sf.restful("composite/sobjects", method="POST",
                     json={"allOrNone": False, "records": records})  # fmt: skip
    assert [r["success"] for r in res] == [True, False, True]
    assert res[1]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "errorCode" not in res[1]["errors"][0]
    assert res[0]["id"].startswith("00U")
    # allOrNone: everything rolled back
    res = sf.restful("composite/sobjects", method="POST",
                     json={"allOrNone": True, "records": records})  # fmt: skip
    assert [r["success"] for r in res] == [False, False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 2


def test_composite_sobjects_over_200_is_400(sf: Salesforce) -> None:
    recs = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={"records": recs})
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_composite_references_and_all_or_none(sf: Salesforce, org: SalesforceOrg) -> None:
    contact = org.add_contact("Smith", email="smith@example.org")
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Event", "referenceId": "ev",
             "body": {"Subject": "Sync test", "StartDateTime": "2026-03-10T14:00:00Z",
                      "EndDateTime": "2026-03-10T15:00:00Z"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/EventRelation",
             "referenceId": "rel", "body": {"EventId": "@{ev.id}", "RelationId": contact}},
            {"method": "GET", "referenceId": "q",
             "url": "/services/data/v62.0/query?q=SELECT+Id,EventId+FROM+EventRelation"},
        ],
    }  # fmt: skip
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [201, 201, 200]
    assert out[1]["body"]["success"] is True
    assert out[2]["body"]["records"][0]["EventId"] == out[0]["body"]["id"]
    assert out[0]["httpHeaders"]["Location"].endswith(out[0]["body"]["id"])
    # a failing subrequest rolls everything back; the others report PROCESSING_HALTED
    body["compositeRequest"][1]["body"] = {
        "EventId": "@{ev.id}",
        "RelationId": "003000000000000AAA",
    }
    before = sf.query("SELECT COUNT() FROM Event")["totalSize"]
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [400, 400, 400]
    assert out[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == before


def test_composite_limits(sf: Salesforce) -> None:
    sub = {"method": "GET", "url": "/services/data/v62.0/limits"}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": [
            {**sub, "referenceId": f"r{i}"} for i in range(26)]})  # fmt: skip
    q = {"method": "GET", "url": "/services/data/v62.0/query?q=SELECT+Id+FROM+User"}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": [
            {**q, "referenceId": f"r{i}"} for i in range(6)]})  # fmt: skip


def test_D3_upsert_by_external_id(sf: Salesforce, org: SalesforceOrg) -> None:
    org.add_custom_field("Event", "Crmcal_Guid__c", external_id=True)
    body = {"Subject": "Upserted", "StartDateTime": "2026-03-10T14:00:00Z", "DurationInMinutes": 15}
    first = sf.Event.upsert("Crmcal_Guid__c/guid-1", body)
    assert first == 201
    second = sf.Event.upsert("Crmcal_Guid__c/guid-1", {"Subject": "Upserted again"})
    assert second == 200
    rows = sf.query("SELECT Id, Subject FROM Event WHERE Crmcal_Guid__c = 'guid-1'")["records"]
    assert [r["Subject"] for r in rows] == ["Upserted again"]
    got = sf.Event.get_by_custom_id("Crmcal_Guid__c", "guid-1")
    assert got["Id"] == rows[0]["Id"]


def test_describe(sf: Salesforce, org: SalesforceOrg) -> None:
    d = sf.Event.describe()
    assert d["name"] == "Event"
    assert d["keyPrefix"] == "00U"
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["Subject"]["length"] == 255
    assert fields["Subject"]["type"] == "combobox"
    assert fields["Description"]["length"] == 32000
    assert fields["ShowAs"]["restrictedPicklist"] is True
    assert {p["value"] for p in fields["ShowAs"]["picklistValues"]} == {
        "Busy",
        "OutOfOffice",
        "Free",
    }
    assert fields["IsRecurrence2"]["createable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["Calendar", "User"]
    assert fields["Location"]["nillable"] is True
    org.set_required_fields("Event", ["Location"])
    assert {f["name"]: f for f in sf.Event.describe()["fields"]}["Location"]["nillable"] is False


def test_updated_and_deleted(sf: Salesforce, org: SalesforceOrg, alice: str) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    e1 = org.add_event(alice, "one", T0, T0 + timedelta(hours=1))
    e2 = org.add_event(alice, "two", T0, T0 + timedelta(hours=1))
    sf.Event.delete(e2)
    end = datetime.now(UTC) + timedelta(minutes=3)
    real = org.clock
    org.clock = lambda: real() + timedelta(minutes=2)  # the window is minute-truncated
    try:
        upd = sf.Event.updated(start, end)
        dele = sf.Event.deleted(start, end)
    finally:
        org.clock = real
    assert e1 in upd["ids"]
    assert e2 not in upd["ids"]
    assert [d["id"] for d in dele["deletedRecords"]] == [e2]
    assert "earliestDateAvailable" in dele
    assert "latestDateCovered" in dele
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Event.updated(end, start)
    assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Event.updated(start - timedelta(days=31), end)


def test_any_api_version_in_path(sf: Salesforce, server: object, token: str) -> None:
    for version in ("59.0", "66.0", "67.0"):
        r = sf.session.get(
            f"{sf.sf_instance and 'https://' + sf.sf_instance}/services/data/v{version}/limits",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
        assert r.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_composite_without_all_or_none_skips_only_dependents(sf: Salesforce) -> None:
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Event", "referenceId": "bad",
             "body": {"Subject": "no time"}},
            {"method": "PATCH", "url": "/services/data/v62.0/sobjects/Event/@{bad.id}",
             "referenceId": "dependent", "body": {"Subject": "x"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "ok",
             "body": {"Name": "Independent"}},
        ],
    }  # fmt: skip
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [400, 400, 201]
    assert out[0]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert out[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1
