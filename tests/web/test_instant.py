"""O4 instant sync: a subscription per user made by crmcal (Graph's validation handshake against
the webhook), notifications checked by `clientState` (Y2), and a linked item's edit reaching the
Salesforce emulator with no session running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from crmcal.rules import categories as cat
from crmcal.sandbox.runtime import GRAPH_CLIENT_ID
from crmcal.state.models_web import SubscriptionRow
from tests.integration.conftest import World
from tests.web._support import ALICE, BOB, Dash, make_world_users, serve

EXT = "pat@fabrikam.example"


@pytest.fixture
def live(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world, instant_sync=True) as d:
        yield d


def outlook_edit(w: World, mailbox: str, item_id: str, patch: dict[str, object]) -> None:
    """An edit made through the Graph API (as Outlook on the web makes it); the emulator then
    POSTs its change notifications."""
    token = w.sb.graph.issue_token(GRAPH_CLIENT_ID)
    r = httpx.patch(
        f"{w.sb.graph_url}/v1.0/users/{mailbox}/events/{item_id}",
        json=patch,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


def _wait(cond: object, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return True
        time.sleep(0.05)
    return False


def test_o4_webhook_edit_of_linked_item_reaches_salesforce_without_a_session(live: Dash) -> None:
    w = live.world
    w.sb.salesforce.add_contact("Pat", email=EXT)
    item = w.meeting(ALICE, "Roadmap", (EXT,))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    [ev] = w.events()
    inst = live.web.instant
    assert inst is not None
    assert inst.ensure_all() == {}  # Graph validated our webhook for both users
    with live.store.session() as s:
        subs = {r.mailbox: r for r in s.query(SubscriptionRow)}
    assert set(subs) == {ALICE, BOB}
    assert len(w.sb.graph.subscriptions) == 2
    sessions_before = {s.id for s in live.sessions(ALICE)}

    outlook_edit(
        w, ALICE, item.id, {"subject": "Roadmap (moved)", "location": {"displayName": "Room 4"}}
    )

    assert _wait(lambda: w.events()[0].subject == "Roadmap (moved)"), "no instant update"
    [ev2] = w.events()
    assert ev2.id == ev.id and ev2.location == "Room 4"
    new = [s for s in live.sessions(ALICE) if s.id not in sessions_before]
    assert [s.trigger for s in new] == ["webhook"]  # a targeted run, not a session
    assert inst.wait_idle(5)
    assert inst.counts["accepted"] >= 1 and inst.counts["rejected"] == 0


def test_o4_renewal_and_unlinked_items_wait_for_the_session(live: Dash) -> None:
    """A2: a notification about an unshared item shares nothing; subscriptions are renewed."""
    w = live.world
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    with live.store.session() as s:
        first = s.get(SubscriptionRow, ALICE)
        assert first is not None
        sid, exp = first.subscription_id, first.expires_at
    # close to expiry: the next pass renews (PATCH), keeping the id
    row = inst.ensure(ALICE, now=exp - timedelta(hours=1))
    assert row.subscription_id == sid and inst.counts["renewed"] == 1
    assert row.expires_at > exp  # renewed through PATCH /subscriptions/{id}
    item = w.meeting(ALICE, "Private chat", (EXT,))
    outlook_edit(w, ALICE, item.id, {"subject": "Private chat (edited)"})
    assert _wait(lambda: inst.counts["accepted"] >= 1)
    assert inst.wait_idle(5)
    assert inst.counts["ignored"] >= 1 and w.events() == []
    assert item


def test_y2_webhook_checks_client_state_and_validation_handshake(live: Dash) -> None:
    w = live.world
    w.sb.salesforce.add_contact("Pat", email=EXT)
    item = w.meeting(ALICE, "Budget", (EXT,))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    with live.store.session() as s:
        sub = s.get(SubscriptionRow, ALICE)
        assert sub is not None
    url = f"{live.url}/webhooks/graph"
    r = httpx.post(url, params={"validationToken": "Validation: abc 123"})
    assert r.status_code == 200 and r.text == "Validation: abc 123"
    assert r.headers["content-type"].startswith("text/plain")
    forged = {
        "value": [
            {
                "subscriptionId": sub.subscription_id,
                "clientState": "guessed",
                "changeType": "updated",
                "resource": f"Users/x/Events/{item.id}",
                "resourceData": {"id": item.id},
            }
        ]
    }
    for sid in list(w.sb.graph.subscriptions):  # so that only the forged notification arrives
        w.sb.graph.remove_subscription(sid)
    outlook_edit(w, ALICE, item.id, {"subject": "Budget (forged)"})
    assert httpx.post(url, json=forged).status_code == 202
    assert inst.counts["rejected"] == 1 and inst.counts["accepted"] == 0
    assert inst.wait_idle(5)
    assert w.events()[0].subject == "Budget"  # nothing happened
    assert httpx.post(url, content=b"not json").status_code == 400
