"""The Celery cycle's bookkeeping without a broker (tasks run eagerly, in this process): one org
read per cycle, members marked once, the cursor moved by the last member only when all succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from crmcal.service import celery_app as ca
from crmcal.service.leases import Leases, user_key
from crmcal.service.runner import SALESFORCE_MODSTAMP
from crmcal.state.models_ops import CycleMemberRow
from tests.integration.conftest import World
from tests.scale.conftest import eager_runtime


@pytest.fixture
def runtime(world: World) -> Iterator[ca._Runtime]:
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    for i in range(3):
        me = f"u{i}@contoso.example"
        world.person(me)
        world.contact(f"c{i}@fabrikam.example", f"C{i}", account=acct)
        world.meeting(me, f"Call {i}", (f"c{i}@fabrikam.example",), days=1 + i)
    with eager_runtime(world) as rt:
        yield rt


def _members(rt: ca._Runtime, cycle_id: int) -> dict[str, str]:
    with rt.store.session() as s:
        rows = s.scalars(select(CycleMemberRow).where(CycleMemberRow.cycle_id == cycle_id))
        return {r.mailbox: r.status for r in rows}


def test_o1_celery_cycle_one_org_read_then_one_task_per_user(
    world: World, runtime: ca._Runtime
) -> None:
    """O1: the cycle task reads Salesforce once and sends one session task per user; the last
    member closes the cycle; a redelivered task finds its member done and runs nothing."""
    s0 = world.crm.total_calls
    c1 = ca.start_cycle(runtime)
    assert c1 is not None
    assert set(_members(runtime, c1).values()) == {"succeeded"}
    assert ca.cycle_status(runtime.store, c1)["cycle"] == "complete"
    assert len(world.events()) == 3
    c2 = ca.start_cycle(runtime)  # sees crmcal's Events: the cursor moves
    assert c2 is not None and ca.cycle_status(runtime.store, c2)["cycle"] == "complete"
    assert runtime.store.get_cursor(SALESFORCE_MODSTAMP, "org") is not None
    g0, s1 = world.calendar.calls.total, world.crm.total_calls
    c3 = ca.start_cycle(runtime)
    assert c3 is not None
    assert world.calendar.calls.total - g0 == 3  # one delta round per user
    assert world.crm.total_calls - s1 == 1  # the one org-level read
    assert s1 > s0
    # A redelivery of a finished task: nothing runs, the member stays as it was.
    g1 = world.calendar.calls.total
    assert ca.run_member(runtime, c3, "u0@contoso.example", [], "schedule") == "succeeded"
    assert world.calendar.calls.total == g1


def test_o1_celery_member_held_elsewhere_keeps_the_cursor(
    world: World, runtime: ca._Runtime
) -> None:
    """O1: a user whose lease another worker holds is skipped; the cycle ends incomplete and the
    Salesforce cursor stays, so that user's share of the read comes again next cycle."""
    ca.start_cycle(runtime)
    ca.start_cycle(runtime)
    before = runtime.store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert before is not None
    ev = next(e for e in world.events() if e.owner_id == world.sf_ids["u1@contoso.example"])
    [ok] = world.crm.update_events([replace(ev, subject="Renamed in Salesforce")])
    assert ok.ok
    other = Leases(runtime.store, owner="other-worker", ttl=timedelta(minutes=5))
    assert other.acquire(user_key("u1@contoso.example"))
    c = ca.start_cycle(runtime)
    assert c is not None
    assert _members(runtime, c)["u1@contoso.example"] == "skipped"
    assert ca.cycle_status(runtime.store, c)["cycle"] == "incomplete"
    kept = runtime.store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert kept is not None and kept.value == before.value
    other.release(user_key("u1@contoso.example"))
    c = ca.start_cycle(runtime)
    assert c is not None and ca.cycle_status(runtime.store, c)["cycle"] == "complete"
    moved = runtime.store.get_cursor(SALESFORCE_MODSTAMP, "org")
    assert moved is not None and moved.value > before.value
