"""Change notifications as Graph sends them (E4, O4) and `POST /users/{id}/sendMail` (I3), through
plain httpx against the emulator, replaying the documented examples from tests/graph/fixtures/
(each file names its source page in `_source`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from crmcal.connectors.graph import GraphInvalidUser
from crmcal.connectors.graph.errors import GraphError
from crmcal.sandbox.graph import subscriptions
from crmcal.sandbox.graph.mail import parse_send_mail
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data["_source"].startswith("https://learn.microsoft.com/")
    return data


def exp(days: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Hook:
    """A webhook receiver; each path answers validation in the way `modes` says."""

    url: str
    modes: dict[str, str]
    got: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait(self, path: str, n: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while len(self.got.get(path, [])) < n and datetime.now(UTC) < deadline:
            self.arrived.wait(0.05)
            self.arrived.clear()
        return self.got.get(path, [])


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    app = FastAPI()
    h = Hook("", {})

    @app.post("/{path}")
    async def receive(request: Request, path: str) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            mode = h.modes.get(path, "plain")
            if mode == "plain":
                return PlainTextResponse(token)
            if mode == "json":
                return JSONResponse(token)
            if mode == "html":
                return Response(token, media_type="text/html")
            if mode == "slow":
                await asyncio.sleep(1.0)
                return PlainTextResponse(token)
            if mode == "wrong":
                return PlainTextResponse(token + "x")
            return Response(status_code=500)
        h.got.setdefault(path, []).append(await request.json())
        h.arrived.set()
        return Response(status_code=202)

    with ServerThread(app, tls=process_tls()) as srv:
        h.url = srv.url
        yield h


def subscribe(g: httpx.Client, sandbox, hook: Hook, n: str, life: str | None) -> httpx.Response:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{hook.url}/{n}",
        "resource": f"/users/{sandbox.ANA}/events",
        "expirationDateTime": exp(),
        "clientState": "cs-" + n,
    }
    if life:
        body["lifecycleNotificationUrl"] = f"{hook.url}/{life}"
    return g.post("/subscriptions", json=body)


@pytest.mark.parametrize("mode", ["json", "html", "wrong", "refuse"])
def test_E4_validation_answer_must_be_the_token_as_text_plain(sandbox, hook, mode) -> None:
    hook.modes["n-" + mode] = mode
    g = sandbox.http()
    r = subscribe(g, sandbox, hook, "n-" + mode, None)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "InvalidRequest"
    assert "validation request failed" in r.json()["error"]["message"]
    assert sandbox.state.subscriptions == {}


def test_E4_validation_must_arrive_within_the_time_limit(
    sandbox, hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Graph waits 10 s; the limit is shortened here so the test stays fast (same code path)."""
    monkeypatch.setattr(subscriptions, "VALIDATION_TIMEOUT_S", 0.3)
    hook.modes["n-slow"] = "slow"
    r = subscribe(sandbox.http(), sandbox, hook, "n-slow", None)
    assert r.status_code == 400 and "within" in r.json()["error"]["message"]


def test_E4_lifecycle_url_is_validated_too(sandbox, hook) -> None:
    hook.modes["life-bad"] = "refuse"
    g = sandbox.http()
    r = subscribe(g, sandbox, hook, "n-ok", "life-bad")
    assert r.status_code == 400, r.text
    ok = subscribe(g, sandbox, hook, "n-ok", "life-ok")
    assert ok.status_code == 201 and ok.json()["lifecycleNotificationUrl"].endswith("/life-ok")


def test_E4_documented_subscription_request_replayed(sandbox, hook) -> None:
    req = dict(fixture("notifications/subscription-request-example.json")["request"])
    req |= {  # the placeholders of the example, filled in; the shape is the documented one
        "notificationUrl": f"{hook.url}/doc-n",
        "lifecycleNotificationUrl": f"{hook.url}/doc-life",
        "resource": f"/users/{sandbox.ANA}/events",  # the emulator serves events, not messages
        "expirationDateTime": exp(),
    }
    r = sandbox.http().post("/subscriptions", json=req)
    assert r.status_code == 201, r.text
    assert r.json()["clientState"] == "<secretClientState>"


def test_E4_create_subscription_example_replayed(sandbox, hook) -> None:
    doc = fixture("notifications/create-subscription-example.json")
    req = dict(doc["request"])
    req |= {
        "notificationUrl": f"{hook.url}/create-n",
        "resource": f"users/{sandbox.ANA}/events",
        "expirationDateTime": exp(),
    }
    r = sandbox.http().post("/subscriptions", json=req)
    assert r.status_code == doc["status"], r.text
    got = r.json()
    assert set(doc["response"]) <= set(got)
    same = ("@odata.context", "changeType", "clientState", "latestSupportedTlsVersion",
            "notificationContentType")  # fmt: skip
    assert {k: got[k] for k in same} == {k: doc["response"][k] for k in same}
    assert got["resource"] == req["resource"] and got["notificationUrl"] == req["notificationUrl"]


def test_E4_change_and_lifecycle_notifications_have_the_documented_shape(sandbox, hook) -> None:
    g = sandbox.http()
    sub = subscribe(g, sandbox, hook, "shape-n", "shape-life").json()
    ev = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event("Ping", "2030-03-10T15:00:00", "2030-03-10T16:00:00"),
    ).json()
    [post] = hook.wait("shape-n")
    [note] = post["value"]
    documented = fixture("notifications/change-notification-example.json")["body"]["value"][0]
    assert set(note) == set(documented)
    assert set(note["resourceData"]) == set(documented["resourceData"])
    assert note["subscriptionId"] == sub["id"] and note["clientState"] == "cs-shape-n"
    assert note["changeType"] == "created" and note["tenantId"] == sandbox.state.tenant_id
    assert note["subscriptionExpirationDateTime"] == sub["expirationDateTime"]
    assert note["resourceData"]["id"] == ev["id"]
    assert note["resourceData"]["@odata.etag"] == ev["@odata.etag"]
    assert note["resourceData"]["@odata.etag"].startswith('W/"')
    assert note["id"] and note["id"] != ev["id"]

    life_doc = fixture("notifications/lifecycle-notification-example.json")["body"]["value"][0]
    for i, event in enumerate(("reauthorizationRequired", "missed", "subscriptionRemoved")):
        r = httpx.post(
            f"{sandbox.url}/_sandbox/subscriptions/{sub['id']}/lifecycle",
            json={"lifecycleEvent": event},
        )
        assert r.status_code == 202, r.text
        got = hook.wait("shape-life", i + 1)
        [life] = got[i]["value"]
        assert set(life) == set(life_doc) and life["lifecycleEvent"] == event
        assert life["subscriptionId"] == sub["id"] and life["clientState"] == "cs-shape-n"
    assert g.get(f"/subscriptions/{sub['id']}").status_code == 404  # removed means removed
    log = httpx.get(f"{sandbox.url}/_sandbox/notifications").json()["value"]
    assert [d["status"] for d in log if d["url"].endswith("/shape-life")] == [202, 202, 202]
    bad = httpx.post(
        f"{sandbox.url}/_sandbox/subscriptions/{sub['id']}/lifecycle",
        json={"lifecycleEvent": "missed"},
    )
    assert bad.status_code == 404


def test_E4_unknown_lifecycle_event_refused_and_reauthorize_action(sandbox, hook) -> None:
    g = sandbox.http()
    sub = subscribe(g, sandbox, hook, "re-n", "re-life").json()
    r = httpx.post(
        f"{sandbox.url}/_sandbox/subscriptions/{sub['id']}/lifecycle",
        json={"lifecycleEvent": "expired"},
    )
    assert r.status_code == 400
    assert g.post(f"/subscriptions/{sub['id']}/reauthorize").status_code == 204
    assert g.post("/subscriptions/nope/reauthorize").status_code == 404


@pytest.mark.parametrize(
    "name", ["user-sendmail-example-1.json", "user-sendmail-example-2.json",
             "user-sendmail-example-3.json"],
)  # fmt: skip
def test_I3_sendmail_documented_examples_replayed(sandbox, name) -> None:
    doc = fixture("mail/" + name)
    g = sandbox.http()
    r = g.post(f"/users/{sandbox.ANA}/sendMail", json=doc["request"])
    assert r.status_code == doc["status"] == 202, r.text
    assert r.content == b""
    [sent] = httpx.get(f"{sandbox.url}/_sandbox/mail").json()["value"]
    msg = doc["request"]["message"]
    assert sent["sender"] == sandbox.ANA and sent["subject"] == msg["subject"]
    assert sent["toRecipients"] == [r["emailAddress"]["address"] for r in msg["toRecipients"]]
    assert sent["saveToSentItems"] is (doc["request"].get("saveToSentItems") != "false")
    assert httpx.delete(f"{sandbox.url}/_sandbox/mail").status_code == 204
    assert httpx.get(f"{sandbox.url}/_sandbox/mail").json()["value"] == []


def test_I3_sendmail_refuses_what_graph_refuses(sandbox) -> None:
    g = sandbox.http()
    url = f"/users/{sandbox.ANA}/sendMail"
    doc5 = fixture("mail/user-sendmail-example-5-no-message.json")
    assert g.post(url, json=doc5["request"]).status_code == doc5["status"] == 400
    base = fixture("mail/user-sendmail-example-1.json")["request"]
    no_rcpt = {"message": {**base["message"], "toRecipients": [], "ccRecipients": []}}
    r = g.post(url, json=no_rcpt)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidRecipients"
    bad_addr = {"message": {**base["message"], "toRecipients": [{"emailAddress": {}}]}}
    assert g.post(url, json=bad_addr).status_code == 400
    unknown = {"message": {**base["message"], "colour": "blue"}}
    r = g.post(url, json=unknown)
    assert r.status_code == 400 and r.json()["error"]["code"] == "RequestBodyRead"
    assert g.post(url, json={**base, "saveToSentItems": "nope"}).status_code == 400
    assert g.post(url, json={**base, "extra": 1}).status_code == 400
    r = g.post("/users/nobody@contoso.example/sendMail", json=base)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ErrorInvalidUser"
    assert httpx.get(f"{sandbox.url}/_sandbox/mail").json()["value"] == []


def test_I3_connector_send_mail_sends_the_documented_shape(sandbox) -> None:
    with sandbox.client() as c:
        c.send_mail(
            sandbox.ANA, to=[sandbox.BO], cc=["admin@contoso.example"], subject="S", text="T"
        )
        with pytest.raises(GraphError) as e:
            c.send_mail("nobody@contoso.example", to=[sandbox.BO], subject="S", text="T")
        assert isinstance(e.value, GraphInvalidUser) or e.value.status == 404
    [sent] = sandbox.state.sent_mail
    assert sent["toRecipients"] == [sandbox.BO] and sent["ccRecipients"] == [
        "admin@contoso.example"
    ]
    assert sent["body"] == {"contentType": "Text", "content": "T"} and sent["saveToSentItems"]
    assert parse_send_mail({"message": {"toRecipients": [{"emailAddress": {"address": "a@b.c"}}]}})
