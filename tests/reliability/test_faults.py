"""Faults at engine level (O2, O3, D4, X7, Y3): whole sessions over HTTP against the emulators
with faults injected, and what must hold afterwards. The connector-level behaviour (one call
retried, one error mapped) is proved in tests/graph and tests/salesforce; here the question is
what a *session* does: fails cleanly or goes on, never duplicates, and converges later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.service.runner import run_sync
from crmcal.sync.duplicates import REASON as D4_REASON
from crmcal.sync.session import SessionResult
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"


def org(world: World, n: int = 3) -> list[Any]:
    world.person(ANA, autoshare_meetings=True)
    world.person(BEN, autoshare_meetings=True)
    world.contact(MARIA, "Gomez")
    return [world.meeting(ANA, f"Review {i}", (MARIA,), days=1 + i) for i in range(n)]


def clients(world: World, *, retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
    """The production connectors with a test retry policy (recorded, not slept) or timeout."""
    cfg = world.config()
    g, sf = cfg.graph, cfg.salesforce
    gs, ss = g.secret(), sf.secret()
    world.close()
    world.store = None
    world._calendar = GraphClient(
        tenant_id=g.tenant_id, client_id=g.client_id,
        client_secret=gs.get_secret_value() if gs else "", authority_url=g.authority_url,
        graph_url=g.graph_url, retry=retry, timeout=timeout,
    )  # fmt: skip
    world._crm = SalesforceClient(
        login_url=sf.login_url, client_id=sf.client_id, auth=sf.auth.value,
        client_secret=ss.get_secret_value() if ss else None, retry=retry, timeout=timeout,
    )  # fmt: skip


def raw_sync(world: World) -> list[SessionResult] | ConnectorError:
    """A cycle that may fail: its results, or the systemic error that stopped the cycle."""
    from crmcal.state import StateStore

    cfg = world.config()
    if world.store is None:
        world.store = StateStore(cfg.storage.url())
        world.store.migrate()
    try:
        return run_sync(cfg, store=world.store, calendar=world.calendar, crm=world.crm,
                        now=world.now)  # fmt: skip
    except ConnectorError as exc:
        return exc


def one_event_each(world: World, subjects: list[str]) -> None:
    got = sorted(e.subject for e in world.events())
    assert got == sorted(subjects), got


def recorder() -> tuple[RetryPolicy, list[float]]:
    waits: list[float] = []
    return RetryPolicy(max_attempts=6, sleep=waits.append), waits


# -- O3: Graph throttling, 5xx, timeouts, tokens, 410 ---------------------------------------------


@pytest.mark.parametrize("burst", [1, 3, 5])
def test_O3_429_retry_after_obeyed_in_a_whole_session(world: World, burst: int) -> None:
    """O3: 429s with Retry-After are waited out exactly as long as the server asks (never
    shorter) and the session ends as it would without them. (Inner `$batch` 429s are resent by
    the connector: tests/graph/test_graph_connector.py; the state machine mixes both.)"""
    org(world)
    policy, waits = recorder()
    clients(world, retry=policy)
    world.sb.graph.faults.retry_after = 2.5
    world.sb.graph.faults.throttle_next = burst
    [a, b] = world.sync()
    assert a.status == "succeeded" and b.status == "succeeded"
    assert waits.count(2.5) == burst, waits
    one_event_each(world, ["Review 0", "Review 1", "Review 2"])


def test_O3_429_beyond_the_retries_fails_the_session_then_converges(world: World) -> None:
    org(world)
    policy, _ = recorder()
    clients(world, retry=policy)
    world.sb.graph.faults.retry_after = 1.0
    world.sb.graph.faults.throttle_next = 1000
    got = raw_sync(world)
    assert not isinstance(got, ConnectorError)
    assert {r.status for r in got} == {"failed"}
    assert all("429" in (r.error or "") for r in got)
    world.sb.graph.faults.throttle_next = 0
    world.sync()
    world.sync()
    one_event_each(world, ["Review 0", "Review 1", "Review 2"])


def test_O3_graph_5xx_beyond_retries_fails_the_session_cleanly_then_converges(
    world: World,
) -> None:
    """O3: a Graph outage longer than the retries fails the session (no exception, no partial
    Event, the delta cursor not advanced); the next session shares everything exactly once."""
    org(world)
    policy, waits = recorder()
    clients(world, retry=policy)
    world.sb.graph.faults.fail_status = 503
    world.sb.graph.faults.retry_after = 0.5
    world.sb.graph.faults.fail_next = 1000
    got = raw_sync(world)
    assert not isinstance(got, ConnectorError), got
    assert {r.status for r in got} == {"failed"}
    assert all("503" in (r.error or "") for r in got)
    assert waits and set(waits) == {0.5}, waits  # each 503's Retry-After, as sent
    world.sb.graph.faults.fail_next = 0
    one_event_each(world, [])
    world.sync()
    world.sync()
    one_event_each(world, ["Review 0", "Review 1", "Review 2"])


@pytest.mark.parametrize("status", [500, 502, 504])
def test_O3_short_graph_5xx_bursts_are_retried_inside_the_session(
    world: World, status: int
) -> None:
    org(world, 2)
    policy, waits = recorder()
    clients(world, retry=policy)
    world.sb.graph.faults.fail_status = status
    world.sb.graph.faults.fail_next = 3
    assert {r.status for r in world.sync()} == {"succeeded"}
    assert len(waits) >= 3
    one_event_each(world, ["Review 0", "Review 1"])


@pytest.mark.parametrize("side", ["graph", "salesforce"])
def test_O3_timeouts_fail_the_session_not_the_process(world: World, side: str) -> None:
    """A server that stops answering (latency beyond the client timeout) is a transient failure:
    the session fails with a reason, the cycle goes on, and the next session converges."""
    org(world, 2)
    world.sync()  # tokens and the first shares
    world.meeting(ANA, "After the outage", (MARIA,), days=5)
    clients(world, retry=RetryPolicy(max_attempts=2, sleep=lambda _s: None), timeout=0.2)
    faults = world.sb.graph.faults if side == "graph" else world.sb.salesforce.faults
    faults.latency_ms = 600
    got = raw_sync(world)
    faults.latency_ms = 0
    assert not isinstance(got, ConnectorError), got
    assert {r.status for r in got} == {"failed"}, [r.error for r in got]
    assert all("time" in (r.error or "").lower() for r in got), [r.error for r in got]
    world.sync()
    world.sync()
    one_event_each(world, ["After the outage", "Review 0", "Review 1"])


def test_O3_expired_tokens_mid_run_are_renewed(world: World) -> None:
    """Access tokens that expire between sessions (both APIs) are renewed; nothing fails."""
    org(world, 2)
    world.sync()
    httpx.post(f"{world.sb.graph_url}/_sandbox/tokens/expire").raise_for_status()
    httpx.post(f"{world.sb.salesforce_url}/_sandbox/tokens/expire").raise_for_status()
    world.meeting(ANA, "New after expiry", (MARIA,), days=4)
    assert {r.status for r in world.sync()} == {"succeeded"}
    one_event_each(world, ["New after expiry", "Review 0", "Review 1"])


def test_O3_410_delta_reset_restarts_without_duplicates(world: World) -> None:
    """O3: an expired delta token (410) restarts the user's delta; everything already shared is
    recognised (no duplicate), and the changes made meanwhile arrive."""
    recs = org(world, 3)
    world.sync()
    world.sync()
    world.sb.graph.update_event(ANA, recs[0].id, {"subject": "Review 0 (moved)"})
    world.meeting(ANA, "During the reset", (MARIA,), days=6)
    assert world.sb.graph.expire_delta_tokens() > 0
    world.sync()
    world.sync()
    one_event_each(world, ["During the reset", "Review 0 (moved)", "Review 1", "Review 2"])
    assert world.store is not None and world.store.open_intents() == []


# -- O2: Salesforce limits ------------------------------------------------------------------------


def test_O2_request_limit_exceeded_stops_cleanly_and_resumes(world: World) -> None:
    """O2: REQUEST_LIMIT_EXCEEDED in the middle of the work stops the cycle (limits are
    systemic, not per item); nothing is duplicated when the allowance is back."""
    org(world, 3)
    sf = world.sb.salesforce
    sf.api_used = sf.api_max - 2  # runs out during the first cycle
    got = raw_sync(world)
    assert not isinstance(got, ConnectorError), got
    assert any(r.status == "failed" for r in got)
    assert any("REQUEST_LIMIT_EXCEEDED" in (r.error or "") for r in got)
    sf.api_used = 0
    world.sync()
    world.sync()
    one_event_each(world, ["Review 0", "Review 1", "Review 2"])
    assert world.store is not None and world.store.open_intents() == []


@pytest.mark.parametrize("fault", ["limit", "outage", "refused"])
def test_O2_O3_org_level_read_failure_fails_the_sessions_not_the_process(
    world: World, fault: str
) -> None:
    """The cycle's one org-level Salesforce read meets a systemic failure (the allowance used
    up, an outage, refused credentials): every session is recorded as failed with the reason and
    counts for I3 health; no exception ends the cycle (nor `crmcal run`'s scheduler loop).
    Found by the state machine: before, the error escaped `run_cycle` and nothing was recorded."""
    org(world, 1)
    clients(world, retry=RetryPolicy(max_attempts=2, sleep=lambda _s: None))
    sf = world.sb.salesforce
    if fault == "limit":
        sf.api_used = sf.api_max
    elif fault == "outage":
        sf.faults.fail_next = 1000
    else:
        world._crm = SalesforceClient(
            login_url=world.sb.salesforce_url, client_id=world.sb.sf_client_id,
            auth="client_credentials", client_secret="wrong", retry=NO_RETRY_FAST,
        )  # fmt: skip
    got = raw_sync(world)
    assert not isinstance(got, ConnectorError), got
    assert sorted(r.mailbox for r in got) == [ANA, BEN]
    assert {r.status for r in got} == {"failed"} and all(r.error for r in got)
    assert world.store is not None
    for mb in (ANA, BEN):
        health = world.store.health(mb)
        assert health is not None and health.consecutive_failures == 1
        assert world.store.recent_sessions(mb)[0].status == "failed"
    if fault == "refused":  # I3: refused credentials mark the user unhealthy at once
        assert all(world.store.health(mb).unhealthy for mb in (ANA, BEN))  # type: ignore[union-attr]


NO_RETRY_FAST = RetryPolicy(max_attempts=1, sleep=lambda _s: None)


def test_O2_salesforce_5xx_at_any_request_never_duplicates(world: World) -> None:
    """A Salesforce outage that starts at request k (for several k): the cycle fails or goes on,
    and once the service is back exactly one Event per item exists."""
    org(world, 3)
    clients(world, retry=RetryPolicy(max_attempts=3, sleep=lambda _s: None))
    world.sync()  # warm: tokens, describe
    base = sum(world.sb.salesforce.counters.values())
    world.meeting(ANA, "Late one", (MARIA,), days=7)
    world.meeting(BEN, "Ben's one", (MARIA,), days=8)
    world.sync()
    per_cycle = sum(world.sb.salesforce.counters.values()) - base
    assert per_cycle >= 4
    for k in range(per_cycle):
        world.meeting(ANA, f"Outage {k}", (MARIA,), days=9)
        world.sb.salesforce.faults.fail_status = 503
        world.sb.salesforce.faults.fail_next = 0
        # let k requests through, then fail the rest of the cycle
        _fail_after(world, k)
        raw_sync(world)
        world.sb.salesforce.faults.fail_next = 0
        _fail_after(world, None)
    world.sync()
    world.sync()
    want = ["Review 0", "Review 1", "Review 2", "Late one", "Ben's one"]
    want += [f"Outage {k}" for k in range(per_cycle)]
    one_event_each(world, want)


def _fail_after(world: World, k: int | None) -> None:
    """Fail every Salesforce data request after the next `k` (emulator fault `fail_after`)."""
    world.sb.salesforce.faults.fail_after = k


# -- Y3: partial failures in collection calls ---------------------------------------------------


def test_Y3_partial_failure_in_a_collection_call_is_per_item(world: World) -> None:
    """One record of a composite/sobjects call refused (a validation rule): that item gets an
    issue and the others are created in the same session; once fixed, it is shared."""
    org(world, 3)
    world.sb.salesforce.add_validation_rule(
        "Event", "no_review_1", "Subject = 'Review 1'", "Not this one", ["Subject"]
    )
    results = world.sync()
    assert results[0].status == "partial"
    one_event_each(world, ["Review 0", "Review 2"])
    assert world.store is not None
    issues = list(world.store.open_issues(ANA))
    assert any("Not this one" in i.message for i in issues), [i.message for i in issues]
    world.sb.salesforce.clear_validation_rules("Event")
    world.sync()
    one_event_each(world, ["Review 0", "Review 1", "Review 2"])


# -- D4 and X7 ----------------------------------------------------------------------------------


def test_D4_second_sync_tool_creating_duplicates_stops_the_user(world: World) -> None:
    """D4: another tool copies crmcal's Event (same owner, subject, start). crmcal stops for that
    user (no down-sync of the copy into Outlook, no further writes), raises an issue naming the
    other tool's Event, leaves the other users alone, and resumes when the copy is gone."""
    org(world, 2)
    world.meeting(BEN, "Ben's review", (MARIA,), days=3)
    world.sync()
    ev = next(e for e in world.events() if e.subject == "Review 0")
    assert ev.start is not None and ev.end is not None
    other = world.sb.salesforce.add_event(ev.owner_id, ev.subject, ev.start, ev.end,
                                          Description="made by OtherSync")  # fmt: skip
    world.meeting(ANA, "Ana later", (MARIA,), days=9)
    world.meeting(BEN, "Ben later", (MARIA,), days=9)
    for _ in range(2):
        got = raw_sync(world)
        assert not isinstance(got, ConnectorError)
        by = {r.mailbox: r for r in got}
        assert by[ANA].status == "failed"
        assert other in (by[ANA].error or "")
        assert by[BEN].status == "succeeded"
    assert world.store is not None
    # The stop is Ana's alone: the org's Event cursor still moved past the copy (review
    # finding), and the stop holds because the open issue's copies are looked up again.
    cur = world.store.get_cursor("salesforce_modstamp", "org")
    assert (
        cur is not None
        and datetime.fromisoformat(cur.value)
        >= world.sb.salesforce.get("Event", other)["SystemModstamp"]
    )
    [issue] = [i for i in world.store.open_issues(ANA) if i.reason == D4_REASON]
    assert other in issue.message and issue.event_id == ev.id
    ana_items = world.calendar.calendar_view(ANA, world.now, world.now + timedelta(days=30))
    assert [i.subject for i in ana_items].count("Review 0") == 1  # the copy never came down
    subjects = sorted(e.subject for e in world.events())
    assert "Ana later" not in subjects and "Ben later" in subjects
    world.sb.salesforce.delete("Event", other)
    world.sync()
    world.sync()
    one_event_each(world, ["Ana later", "Ben later", "Ben's review", "Review 0", "Review 1"])
    assert not [i for i in world.store.open_issues(ANA) if i.reason == D4_REASON]


def test_X7_mass_deletion_in_outlook_at_the_default_guard(world: World) -> None:
    """X7 at its default (20): 25 shared items deleted in Outlook at once delete nothing in
    Salesforce, and an issue explains it (the guard itself is proved in tests/unit and
    tests/integration with small settings; this is the default, at engine level)."""
    world.person(ANA, autoshare_meetings=True)
    world.contact(MARIA, "Gomez")
    recs = [world.meeting(ANA, f"Bulk {i}", (MARIA,), days=1 + i % 20) for i in range(25)]
    world.sync()
    assert len(world.events()) == 25
    for rec in recs:
        world.sb.graph.delete_event(ANA, rec.id, notify_attendees=False)
    [r] = world.sync()
    assert r.outcome.deleted == 0 and len(world.events()) == 25
    assert world.store is not None
    assert [i.reason for i in world.store.open_issues(ANA)].count("mass_delete_guard") == 1
