"""exchangelib, unmodified, against the EWS emulator over https (issue 20's contract tests).

exchangelib trusts the sandbox CA through its documented hook for in-house CAs (a requests adapter
as `BaseProtocol.HTTP_ADAPTER_CLS`, https://ecederstrand.github.io/exchangelib/#proxies-and-custom-tls-validation).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests.adapters
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    Version,
)
from exchangelib import errors as x
from exchangelib.folders import Calendar, Root
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.protocol import BaseProtocol

from tests.ews.conftest import ANA, BO, CLOUD, SERVICE_PASSWORD, SERVICE_USER, EwsServer

TZ = EWSTimeZone("Europe/Berlin")
START = EWSDateTime(2026, 12, 10, 10, 0, tzinfo=TZ)


@pytest.fixture(autouse=True)
def trust_sandbox_ca(ews_server: EwsServer) -> Any:
    ca = str(ews_server.tls.ca)

    class RootCAAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn=conn, url=url, verify=ca, cert=cert)

    old = BaseProtocol.HTTP_ADAPTER_CLS
    BaseProtocol.HTTP_ADAPTER_CLS = RootCAAdapter
    yield
    BaseProtocol.HTTP_ADAPTER_CLS = old


def account(srv: EwsServer, mailbox: str, user: str = SERVICE_USER, pw: str = SERVICE_PASSWORD):
    cfg = Configuration(
        service_endpoint=srv.endpoint,
        credentials=Credentials(user, pw),
        auth_type=BASIC,
        version=Version(build=Build(15, 2)),
        retry_policy=FailFast(),
    )
    acct = Account(mailbox, config=cfg, autodiscover=False, access_type=IMPERSONATION)
    owner = Mailbox(email_address=mailbox)
    root = Root(
        account=acct, _distinguished_id=DistinguishedFolderId(id="msgfolderroot", mailbox=owner)
    )
    cal = Calendar(root=root, _distinguished_id=DistinguishedFolderId(id="calendar", mailbox=owner))
    return acct, cal


def meeting(acct: Any, cal: Any, subject: str = "Quarterly review") -> CalendarItem:
    return CalendarItem(
        account=acct,
        folder=cal,
        subject=subject,
        start=START,
        end=START + timedelta(hours=1),
        categories=["Salesforce"],
        body="Agenda",
        required_attendees=[BO],
    )


def test_create_sync_fetch_update_delete_with_impersonation(ews_server: EwsServer) -> None:
    acct, cal = account(ews_server, ANA)
    (created,) = acct.bulk_create(
        folder=cal, items=[meeting(acct, cal)], send_meeting_invitations="SendToNone"
    )
    changes = list(cal.sync_items())
    assert [(k, i.subject) for k, i in changes] == [("create", "Quarterly review")]
    first = cal.item_sync_state
    assert list(cal.sync_items(sync_state=first)) == []
    (got,) = acct.fetch(ids=[(created.id, created.changekey)], folder=cal)
    assert got.subject == "Quarterly review"
    assert got.start == START
    assert got.categories == ["Salesforce"]
    assert [a.mailbox.email_address for a in got.required_attendees] == [BO]
    assert got._start_timezone.ms_id == "W. Europe Standard Time"
    got.subject = "Quarterly review (moved)"
    got.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    kinds = [(k, i.subject) for k, i in cal.sync_items(sync_state=first)]
    assert kinds == [("update", "Quarterly review (moved)")]
    got.delete(send_meeting_cancellations="SendToNone")
    assert [k for k, _ in cal.sync_items()] == ["delete"]
    assert ews_server.state.calls["SyncFolderItems"] == 4


def test_send_to_none_leaves_attendees_alone_and_invitations_share_the_uid(
    ews_server: EwsServer,
) -> None:
    """SendToNone sends no meeting request; SendToAllAndSaveCopy puts a copy with the same UID
    in an internal attendee's mailbox (as the Graph emulator does for iCalUId)."""
    acct, cal = account(ews_server, ANA)
    acct.bulk_create(
        folder=cal, items=[meeting(acct, cal, "quiet")], send_meeting_invitations="SendToNone"
    )
    assert not [r for r in ews_server.graph.mailboxes[BO].events.values() if not r.deleted]
    (sent,) = acct.bulk_create(
        folder=cal,
        items=[meeting(acct, cal, "invite")],
        send_meeting_invitations="SendToAllAndSaveCopy",
    )
    (org,) = acct.fetch(ids=[(sent.id, sent.changekey)], folder=cal)
    bo_acct, bo_cal = account(ews_server, BO)
    copies = [i for _, i in bo_cal.sync_items()]
    assert [c.subject for c in copies] == ["invite"]
    (copy,) = bo_acct.fetch(ids=[(copies[0].id, copies[0].changekey)], folder=bo_cal)
    assert copy.uid == org.uid
    assert copy.my_response_type == "NoResponseReceived"
    assert copy.organizer.email_address == ANA


def test_impersonation_needs_the_role(ews_server: EwsServer) -> None:
    _acct, cal = account(ews_server, ANA, user="CONTOSO\\no-role", pw="pw2")
    with pytest.raises(x.ErrorImpersonateUserDenied):
        list(cal.sync_items())


def test_an_exchange_online_mailbox_is_not_on_this_server(ews_server: EwsServer) -> None:
    _acct, cal = account(ews_server, CLOUD)
    with pytest.raises(x.ErrorNonExistentMailbox):
        list(cal.sync_items())


def test_the_graph_emulator_refuses_an_on_premises_mailbox(ews_server: EwsServer) -> None:
    """A mailbox is reached through one protocol: Graph answers MailboxNotEnabledForRESTAPI."""
    from fastapi.testclient import TestClient

    from crmcal.sandbox.graph.app import create_app as graph_app

    g = ews_server.graph
    token = g.issue_token(g.client_id)
    with TestClient(graph_app(g)) as c:
        r = c.get(f"/v1.0/users/{ANA}/events", headers={"Authorization": f"Bearer {token}"})
        ok = c.get(f"/v1.0/users/{CLOUD}/events", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert ok.status_code == 200


def test_wrong_password_is_401(ews_server: EwsServer) -> None:
    _acct, cal = account(ews_server, ANA, pw="wrong")
    with pytest.raises(x.UnauthorizedError):
        list(cal.sync_items())


def test_server_busy_fault_carries_back_off(ews_server: EwsServer) -> None:
    ews_server.state.faults.server_busy_next = 1
    ews_server.state.faults.back_off_ms = 2500
    _acct, cal = account(ews_server, ANA)
    with pytest.raises(x.ErrorServerBusy) as e:
        list(cal.sync_items())
    assert e.value.back_off == 2.5
    assert list(cal.sync_items()) == []


def test_expired_sync_state_is_error_invalid_sync_state_data(ews_server: EwsServer) -> None:
    _acct, cal = account(ews_server, ANA)
    list(cal.sync_items())
    state = cal.item_sync_state
    httpx.post(
        ews_server.url + "/_sandbox/ews/expire-sync-states", verify=ews_server.tls.context()
    ).raise_for_status()
    with pytest.raises(x.ErrorInvalidSyncStateData):
        list(cal.sync_items(sync_state=state))


def test_calendar_view_expands_a_series(ews_server: EwsServer) -> None:
    from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

    acct, cal = account(ews_server, ANA)
    item = meeting(acct, cal, "weekly")
    item.recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[4]),
        boundary=NumberedPattern(start=START.date(), number=3),
    )
    acct.bulk_create(folder=cal, items=[item], send_meeting_invitations="SendToNone")
    rows = list(cal.view(start=START - timedelta(days=1), end=START + timedelta(days=30)))
    assert [(r.subject, r.type) for r in rows] == [("weekly", "Occurrence")] * 3
    assert len({r.uid for r in rows}) == 1
    (master,) = [i for _, i in cal.sync_items()]
    assert master.type == "RecurringMaster"
