"""O4 / E4 lifecycle notifications end to end: crmcal registers a lifecycleNotificationUrl (which
Graph validates), and the emulator's injected `reauthorizationRequired`, `subscriptionRemoved`
and `missed` reach `/webhooks/graph/lifecycle`: renew; recreate and ask for a delta session; ask
for a delta session. The session a request asks for is run by the scheduler (O1)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from crmcal.service.scheduler import Scheduler, pending_requests
from crmcal.state.models_web import SubscriptionRow
from tests.integration.conftest import World
from tests.web._support import ALICE, Dash, make_world_users, serve


@pytest.fixture
def live(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world, instant_sync=True) as d:
        yield d


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _row(d: Dash) -> SubscriptionRow:
    with d.store.session() as s:
        row = s.get(SubscriptionRow, ALICE)
        assert row is not None
        s.expunge(row)
        return row


def _inject(d: Dash, subscription_id: str, event: str) -> None:
    r = httpx.post(
        f"{d.world.sb.graph_url}/_sandbox/subscriptions/{subscription_id}/lifecycle",
        json={"lifecycleEvent": event},
    )
    assert r.status_code == 202, r.text


def test_o4_lifecycle_url_registered_and_validated(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None and inst.ensure_all() == {}
    sub = live.world.sb.graph.subscriptions[_row(live).subscription_id]
    assert sub.lifecycle_url == f"{live.url}/webhooks/graph/lifecycle"
    assert sub.notification_url == f"{live.url}/webhooks/graph"
    assert live.world.sb.graph.stats["_subscriptions.validation_failed"] == 0


def test_o4_reauthorization_required_renews_the_subscription(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    before = _row(live)
    g = live.world.sb.graph
    patches = g.stats["PATCH /subscriptions/{id}"]
    _inject(live, before.subscription_id, "reauthorizationRequired")
    assert _wait(lambda: inst.counts["reauthorized"] == 1)
    after = _row(live)
    assert after.subscription_id == before.subscription_id  # renewed, not replaced
    assert after.renewed_at is not None and g.stats["PATCH /subscriptions/{id}"] == patches + 1
    assert pending_requests(live.store) == []  # nothing was missed: no session asked for


def test_o4_subscription_removed_recreates_and_asks_for_a_delta_session(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    old = _row(live).subscription_id
    g = live.world.sb.graph
    _inject(live, old, "subscriptionRemoved")
    assert _wait(lambda: inst.counts["recreated"] == 1)
    new = _row(live).subscription_id
    assert new != old and old not in g.subscriptions and new in g.subscriptions
    assert g.subscriptions[new].lifecycle_url  # the new one gets lifecycle events too
    assert ALICE in pending_requests(live.store)


def test_o4_missed_asks_for_a_delta_session_that_the_scheduler_runs(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    row = _row(live)
    _inject(live, row.subscription_id, "missed")
    assert _wait(lambda: inst.counts["missed"] == 1)
    assert pending_requests(live.store) == [ALICE]
    assert _row(live).subscription_id == row.subscription_id  # the subscription stays
    w = live.world
    sched = Scheduler(w.config(), store=live.store, calendar=w.calendar, crm=w.crm)
    out = sched.run_requests()
    assert out is not None and out.report is not None
    assert [r.mailbox for r in out.report.results] == [ALICE]
    assert pending_requests(live.store) == []


def test_o4_forged_lifecycle_notification_is_dropped(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None
    inst.ensure_all()
    row = _row(live)
    forged = {
        "value": [
            {
                "subscriptionId": row.subscription_id,
                "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
                "tenantId": "t",
                "clientState": "not-the-secret",
                "lifecycleEvent": "subscriptionRemoved",
            }
        ]
    }
    r = httpx.post(f"{live.url}/webhooks/graph/lifecycle", json=forged)
    assert r.status_code == 202
    assert _wait(lambda: inst.counts["rejected"] == 1)
    assert _row(live).subscription_id == row.subscription_id and pending_requests(live.store) == []
