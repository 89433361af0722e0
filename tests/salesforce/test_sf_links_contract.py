"""Issue 17 contract tests: the documented behaviour of Event, EventRelation, EventWhoRelation
(Object Reference), Shared Activities and the REST API Developer Guide (versions, errors,
describe, upsert), replayed from `fixtures/links_contract.json` (each case carries its source
URL) with simple-salesforce, unmodified, against the emulator (E6, E7, E8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from crmcal.sandbox.salesforce import SalesforceOrg
from crmcal.sandbox.salesforce.app import VERSIONS

FIXTURE = Path(__file__).parent / "fixtures" / "links_contract.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["cases"]
VERSION = "68.0"


@pytest.fixture
def sfc(sf_unmodified: Salesforce) -> Salesforce:
    """The one place these tests get their simple-salesforce client: unmodified, over https,
    trusting the sandbox CA through REQUESTS_CA_BUNDLE (tests/salesforce/conftest.py)."""
    assert sf_unmodified.sf_version == VERSION
    return sf_unmodified


def _seed(org: SalesforceOrg) -> dict[str, str]:
    acct = org.add_account("Acme")
    ids = {
        "account": acct,
        "contact": org.add_contact("Smith", email="smith@acme.example", account_id=acct),
        "contact2": org.add_contact("Jones", email="jones@acme.example", account_id=acct),
        "lead": org.add_lead("Lee", email="lee@prospect.example", company="Prospect"),
        "opportunity": org.add_opportunity("Deal", account_id=acct),
    }
    org.add_custom_object("Site_Visit__c", {}, key_prefix="a0V", activities=True)
    ids["visit"] = org.create("Site_Visit__c", {"Name": "Plant tour"})
    return ids


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in ids.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _fill(x, ids) for k, x in value.items()}
    if isinstance(value, list):
        return [_fill(x, ids) for x in value]
    return value


def _setup(org: SalesforceOrg, case: dict[str, Any], ids: dict[str, str]) -> None:
    setup = case.get("setup")
    if setup is None:
        return
    body = {
        "Subject": "Meeting",
        "StartDateTime": "2026-03-10T14:00:00.000+0000",
        "DurationInMinutes": 60,
        **{k: _fill(v, ids) for k, v in setup.items() if k != "relations"},
    }
    ids["event"] = org.create("Event", body)
    rels = setup.get("relations", [])
    if rels == "49 more contacts":
        rels = [org.add_contact(f"P{i}", email=f"p{i}@acme.example") for i in range(49)]
    for rid in _fill(rels, ids):
        org.create(
            "EventRelation", {"EventId": ids["event"], "RelationId": rid, "IsInvitee": False}
        )
    for name in ("contact", "contact2", "lead", "account"):
        rows = [
            r
            for r in org.tables["EventRelation"].values()
            if r["EventId"] == ids["event"] and r["RelationId"] == ids[name] and not r["IsDeleted"]
        ]
        if rows:
            ids[f"row:{name}"] = str(rows[0]["Id"])


def _call(sf: Salesforce, req: dict[str, Any]) -> tuple[int, Any]:
    try:
        out = sf.restful(req["path"], method=req["method"], json=req.get("body"))
    except SalesforceError as e:
        return e.status, e.content
    status = {"POST": 201, "DELETE": 204, "PATCH": 204}.get(req["method"], 200)
    if req["method"] == "PATCH" and isinstance(out, dict) and "created" in out:
        status = 201 if out["created"] else 200
    return status, out


def _subset(got: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(got.get(k) == v for k, v in want.items())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_documented_link_behaviour(
    case: dict[str, Any], sfc: Salesforce, org: SalesforceOrg
) -> None:
    """E6/E7: each documented example, replayed; the fixture names its source."""
    assert case["_source"].startswith("https://")
    ids = _seed(org)
    _setup(org, case, ids)
    status, body = _call(sfc, _fill(case["request"], ids))
    want = _fill(case["response"], ids)
    assert status == want["status"], body
    if "errorCode" in want:
        assert body[0]["errorCode"] == want["errorCode"], body
        if "fields" in want:
            assert body[0]["fields"] == want["fields"]
        if "message_contains" in want:
            assert want["message_contains"] in body[0]["message"]
    if "records" in want:
        assert len(body["records"]) == len(want["records"]), body
        for got, exp in zip(body["records"], want["records"], strict=True):
            assert _subset(got, exp), (got, exp)
    if "totalSize" in want:
        assert body["totalSize"] == want["totalSize"]
    if "field" in want:
        [f] = [f for f in body["fields"] if f["name"] == want["field"]]
        assert set(want["referenceTo_includes"]) <= set(f["referenceTo"])
    if "then" in case:
        then = _fill(case["then"], ids)
        st, after = _call(sfc, {"method": "GET", "path": then["path"]})
        assert st == 200
        assert [_subset(g, e) for g, e in zip(after["records"], then["records"], strict=True)]
        assert all(_subset(g, e) for g, e in zip(after["records"], then["records"], strict=True)), (
            after
        )


def test_E8_versions_list_realistic_releases(sfc: Salesforce) -> None:
    """E8: `GET /services/data/` (no session needed) lists label/url/version, down to 31.0 and
    up to v68.0 Winter '27 (REST API Developer Guide, "List Available REST API Versions")."""
    base = sfc.base_url.split("/services/data/")[0]
    rows = sfc.session.get(base + "/services/data/").json()
    by_version = {r["version"]: r for r in rows}
    assert by_version["66.0"]["label"] == "Spring '26"
    assert by_version["67.0"]["label"] == "Summer '26"
    assert by_version["68.0"] == {
        "label": "Winter '27",
        "url": "/services/data/v68.0",
        "version": "68.0",
    }
    assert rows[0]["version"] == "31.0" and rows[-1]["version"] == VERSIONS[-1] == "68.0"


@pytest.mark.parametrize("version", ["20.0", "30.0", "69.0", "99.0"])
def test_E8_unserved_version_is_404(sfc: Salesforce, version: str) -> None:
    """A version the org doesn't serve (retired or not released) is 404 NOT_FOUND."""
    base = sfc.base_url.split("/services/data/")[0]
    r = sfc.session.get(
        f"{base}/services/data/v{version}/limits",
        headers={"Authorization": f"Bearer {sfc.session_id}"},
    )
    assert r.status_code == 404
    assert r.json()[0]["errorCode"] == "NOT_FOUND"


def test_E8_composite_subrequest_of_an_unserved_version_is_404(sfc: Salesforce) -> None:
    """Composite: each subrequest names its version; one the org doesn't serve is a 404 in
    that subrequest's answer (the composite call itself is 200)."""
    body = {
        "compositeRequest": [
            {"method": "GET", "url": "/services/data/v20.0/limits", "referenceId": "old"},
            {"method": "GET", "url": f"/services/data/v{VERSION}/limits", "referenceId": "now"},
        ]
    }
    out = sfc.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [404, 200]
    assert out[0]["body"][0]["errorCode"] == "NOT_FOUND"
