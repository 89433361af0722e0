"""Documented EWS request/response examples replayed against the emulator (issue 20).

Each fixture holds a request and a response verbatim from the EWS reference (its `_source` URL);
the request is sent as it stands (substitutions, if any, listed in the fixture) with plain httpx,
and the emulator's answer must have the documented response's elements, in its order, with the
same ResponseClass, ResponseCode and MessageText (server-made ids and the version header aside).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.ews.conftest import SERVICE_PASSWORD, SERVICE_USER, EwsServer

FIXTURES = Path(__file__).parent / "fixtures"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"


def shape(el: ET.Element, depth: int = 0) -> list[tuple[int, str, str]]:
    """(depth, element, text that is not a server-made value) in document order."""
    out = []
    for c in el:
        name = c.tag.rsplit("}", 1)[-1]
        txt = (c.text or "").strip()
        if name in ("ResponseCode", "MessageText", "DescriptiveLinkKey", "IncludesLastItemInRange"):
            keep = txt
        else:
            keep = ""
        out.append((depth, name + "@" + c.get("ResponseClass", ""), keep))
        out.extend(shape(c, depth + 1))
    return out


def body(xml: bytes | str) -> ET.Element:
    root = ET.fromstring(xml.encode() if isinstance(xml, str) else xml)
    b = root.find(SOAP + "Body")
    assert b is not None
    return b


@pytest.mark.parametrize("name", ["createitem-calendar-item", "syncfolderitems-invalid-syncstate"])
def test_documented_example_replayed(name: str, ews_server: EwsServer) -> None:
    fx = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert fx["_source"].startswith("https://learn.microsoft.com/")
    request = fx["request"]
    for old, new in fx["_substitutions"].items():
        assert old in request
        request = request.replace(old, new)
    r = httpx.post(
        ews_server.endpoint,
        content=request.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(SERVICE_USER, SERVICE_PASSWORD),
        verify=ews_server.tls.context(),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    assert shape(body(r.content)) == shape(body(fx["response"]))


def test_documented_create_lands_in_the_service_accounts_calendar(ews_server: EwsServer) -> None:
    """Without ExchangeImpersonation, a request works on the caller's own mailbox; the example's
    zone-less Start is UTC."""
    fx = json.loads((FIXTURES / "createitem-calendar-item.json").read_text(encoding="utf-8"))
    httpx.post(
        ews_server.endpoint,
        content=fx["request"].encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(SERVICE_USER, SERVICE_PASSWORD),
        verify=ews_server.tls.context(),
    ).raise_for_status()
    (rec,) = ews_server.graph.mailboxes["svc-crmcal@contoso.example"].events.values()
    assert rec.props["subject"] == "Planning Meeting"
    assert rec.start.isoformat() == "2006-11-02T14:00:00+00:00"
    assert [a["emailAddress"]["address"] for a in rec.props["attendees"]] == [
        "User1@example.com",
        "User2@example.com",
    ]


def test_calendar_writes_without_send_mode_are_refused(ews_server: EwsServer) -> None:
    """SendMeetingInvitations is required for calendar items (ErrorSendMeetingInvitationsRequired)."""
    fx = json.loads((FIXTURES / "createitem-calendar-item.json").read_text(encoding="utf-8"))
    request = fx["request"].replace('SendMeetingInvitations="SendToAllAndSaveCopy"', "")
    r = httpx.post(
        ews_server.endpoint,
        content=request.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(SERVICE_USER, SERVICE_PASSWORD),
        verify=ews_server.tls.context(),
    )
    assert "<m:ResponseCode>ErrorSendMeetingInvitationsRequired</m:ResponseCode>" in r.text
    assert 'ResponseClass="Error"' in r.text
