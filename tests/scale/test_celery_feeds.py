"""G1 under Celery (review finding): the cycle task reads the feeds once and each session task
gets its mailbox's share as JSON; the feed cursor moves when the cycle completes; a session that
runs without feed data leaves feed items alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from crmcal.domain.settings import PublicCalendarSync
from crmcal.service import celery_app as ca
from crmcal.state import StateStore
from crmcal.sync.feeds import FEED_CURSOR
from tests.integration.conftest import World
from tests.scale.conftest import eager_runtime

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"


@pytest.fixture
def runtime(world: World) -> Iterator[ca._Runtime]:
    world.person(ANA)
    world.person(BEN)
    cal = world.sb.salesforce.add_calendar("Fairs")
    world.org = world.org.model_copy(
        update={
            "public_calendars": (
                PublicCalendarSync(calendar=cal, users=(ANA, BEN), category="Fairs"),
            )
        }
    )
    start = (world.now + timedelta(days=5)).replace(minute=0, second=0)
    world.sb.salesforce.add_event(cal, "Expo", start, start + timedelta(hours=3))
    with eager_runtime(world) as rt:
        yield rt


def _items(world: World, mailbox: str) -> list[object]:
    return world.calendar.calendar_view(
        mailbox, world.now - timedelta(days=30), world.now + timedelta(days=90)
    )


def test_G1_public_calendar_through_celery_session_tasks(
    world: World, runtime: ca._Runtime
) -> None:
    c1 = ca.start_cycle(runtime)
    assert c1 is not None and ca.cycle_status(runtime.store, c1)["cycle"] == "complete"
    for mb in (ANA, BEN):
        [it] = _items(world, mb)
        assert it.categories == ("Fairs",)  # type: ignore[attr-defined]
    [scope] = _feed_cursors(runtime.store)  # the feed's cursor moved with the cycle
    assert scope.startswith("calendar:")
    # A second cycle: nothing to write, and the items stay.
    c2 = ca.start_cycle(runtime)
    assert c2 is not None
    for mb in (ANA, BEN):
        assert len(_items(world, mb)) == 1


def test_G1_a_session_without_feed_data_leaves_feed_items_alone(
    world: World, runtime: ca._Runtime
) -> None:
    ca.start_cycle(runtime)
    assert len(_items(world, ANA)) == 1
    from crmcal.rules.participants import Directory
    from crmcal.sync.session import run_user_session

    cfg = runtime.config()
    user = cfg.user(ANA)
    assert user is not None
    r = run_user_session(user, directory=Directory.of(cfg.org, list(cfg.users)),
                         calendar=world.calendar, crm=world.crm, store=runtime.store,
                         now=world.now)  # fmt: skip
    assert r.outcome.deleted_items == 0
    assert len(_items(world, ANA)) == 1


def _feed_cursors(store: StateStore) -> list[str]:
    from sqlalchemy import select

    from crmcal.state.models import CursorRow

    with store.session() as s:
        return list(s.scalars(select(CursorRow.scope).where(CursorRow.kind == FEED_CURSOR)))
