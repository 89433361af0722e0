"""State store: migrations up and down, and a round trip of every record type, on SQLite and
PostgreSQL (the `db_url` fixture runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from crmcal.state import StateStore
from crmcal.state.models import (
    Base,
    CursorRow,
    EventRow,
    IntentRow,
    IntentStatus,
    IssueRow,
    LinkRow,
    Origin,
    SessionRow,
    SessionStatus,
    ShareMode,
    UserHealthRow,
)

TABLES = {"events", "links", "cursors", "intents", "issues", "sessions", "user_health"}
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> StateStore:
    s = StateStore(db_url)
    s.migrate()
    yield s
    s.dispose()


def test_migrations_upgrade_downgrade_upgrade(db_url: str) -> None:
    s = StateStore(db_url)
    try:
        assert s.current_revision() is None
        s.migrate()
        assert s.is_current()
        assert TABLES <= set(inspect(s.engine).get_table_names())
        s.downgrade("base")
        assert s.current_revision() is None
        assert not (TABLES & set(inspect(s.engine).get_table_names()))
        s.migrate()
        assert s.is_current()
    finally:
        s.dispose()


def test_models_match_migrations(store: StateStore) -> None:
    """The migrations build exactly the schema the models describe (no drift)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_round_trip_every_record_type(store: StateStore) -> None:
    later = T0 + timedelta(hours=1)
    with store.session() as s:
        s.add(
            EventRow(
                event_id="00U000000000001AAA",
                owner_id="005000000000001AAA",
                guid="040000008200E00074C5B7101A82E008",
                origin=Origin.OUTLOOK,
                sf_modstamp=T0,
                sf_hash="a" * 64,
            )
        )
        s.add(
            LinkRow(
                mailbox="ann@contoso.example",
                item_id="AAMkAD-item-1=",
                guid="040000008200E00074C5B7101A82E008",
                event_id="00U000000000001AAA",
                origin=Origin.OUTLOOK,
                share_mode=ShareMode.CATEGORY,
                outlook_change_key="ck1",
                outlook_hash="b" * 64,
                who_id="003000000000001AAA",
                what_id="006000000000001AAA",
                item_start=T0,
                item_end=later,
                last_synced_at=later,
            )
        )
    store.set_cursor("graph_delta", "ann@contoso.example", "https://x/delta?$deltatoken=1", "w1")
    store.set_cursor("graph_delta", "ann@contoso.example", "https://x/delta?$deltatoken=2", "w1")
    sid = store.start_session("ann@contoso.example", trigger="manual")
    iid = store.open_intent(
        side="salesforce",
        action="create_event",
        key="guid|005",
        payload={"Subject": "Quarterly review", "n": 1},
        mailbox="ann@contoso.example",
        session_id=sid,
    )
    store.close_intent(iid, ok=True, result={"id": "00U000000000001AAA"})
    store.raise_issue(
        mailbox="ann@contoso.example",
        reason="waiting_for_organizer",
        message="Waiting for the organizer to synchronize the event",
        item_id="AAMkAD-item-2=",
        subject="Pipeline review",
        item_start=T0,
        web_link="https://outlook.office365.com/owa/?itemid=x",
        actions=["retry", "dismiss"],
    )
    store.finish_session(
        sid, status=SessionStatus.PARTIAL, stats={"created": 1, "issues": 1}, error=None
    )
    store.record_outcome("ann@contoso.example", ok=True, unhealthy_after=10)

    with store.session() as s:
        ev = s.get(EventRow, "00U000000000001AAA")
        assert ev is not None
        assert (ev.owner_id, ev.origin, ev.sf_modstamp) == ("005000000000001AAA", "outlook", T0)
        assert ev.sf_modstamp is not None and ev.sf_modstamp.tzinfo is not None
        link = s.scalars(select(LinkRow)).one()
        assert (link.event_id, link.who_id, link.what_id) == (
            "00U000000000001AAA",
            "003000000000001AAA",
            "006000000000001AAA",
        )
        assert (link.item_start, link.item_end, link.share_mode) == (T0, later, "category")
        cur = s.get(CursorRow, ("graph_delta", "ann@contoso.example"))
        assert cur is not None and cur.value.endswith("=2") and cur.window == "w1"
        intent = s.get(IntentRow, iid)
        assert intent is not None
        assert intent.status == IntentStatus.DONE
        assert intent.payload == {"Subject": "Quarterly review", "n": 1}
        assert intent.result == {"id": "00U000000000001AAA"}
        issue = s.scalars(select(IssueRow)).one()
        assert issue.actions == ["retry", "dismiss"]
        assert issue.item_start == T0
        sess = s.get(SessionRow, sid)
        assert sess is not None
        assert (sess.status, sess.stats, sess.trigger) == (
            "partial",
            {"created": 1, "issues": 1},
            "manual",
        )
        assert sess.finished_at is not None
        health = s.get(UserHealthRow, "ann@contoso.example")
        assert health is not None and health.consecutive_failures == 0


def test_datetimes_come_back_aware_utc(store: StateStore) -> None:
    cet = timezone(timedelta(hours=1))
    store.set_cursor("salesforce_modstamp", "org", "2026-03-10T13:00:00Z")
    with store.session() as s:
        s.add(EventRow(event_id="00U0000000000AAAAA", owner_id="005x", origin=Origin.SALESFORCE,
                       sf_modstamp=datetime(2026, 3, 10, 15, 0, tzinfo=cet)))  # fmt: skip
    with store.session() as s:
        ev = s.get(EventRow, "00U0000000000AAAAA")
        assert ev is not None and ev.sf_modstamp == T0 + timedelta(hours=0)
        assert ev.sf_modstamp.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.session() as s:
        s.add(EventRow(event_id="00U0000000000BBBBB", owner_id="005x", origin=Origin.OUTLOOK,
                       sf_modstamp=datetime(2026, 3, 10, 14, 0)))  # fmt: skip


def test_D1_one_event_per_guid_and_owner(store: StateStore) -> None:
    """D1: the store itself refuses a second Event with the same (GUID, owner)."""
    with store.session() as s:
        s.add(
            EventRow(
                event_id="00U000000000001AAA", owner_id="005A", guid="G1", origin=Origin.OUTLOOK
            )
        )
        s.add(
            EventRow(
                event_id="00U000000000002AAA", owner_id="005B", guid="G1", origin=Origin.OUTLOOK
            )
        )
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(
            EventRow(
                event_id="00U000000000003AAA", owner_id="005A", guid="G1", origin=Origin.OUTLOOK
            )
        )


def test_one_link_per_mailbox_item(store: StateStore) -> None:
    row = dict(mailbox="a@x.example", item_id="I1", guid="G", origin=Origin.OUTLOOK,
               share_mode=ShareMode.AUTO)  # fmt: skip
    with store.session() as s:
        s.add(LinkRow(**row))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(LinkRow(**row))


def test_O5_open_intents_survive_and_are_listed(store: StateStore) -> None:
    """O5: an intent written before a crash is still open for the next session to reconcile."""
    a = store.open_intent(side="salesforce", action="create_event", key="k1", payload={},
                          mailbox="a@x.example")  # fmt: skip
    b = store.open_intent(side="outlook", action="set_categories", key="k2", payload={},
                          mailbox="a@x.example")  # fmt: skip
    store.close_intent(b, ok=False, result={"error": "boom"})
    reopened = StateStore(store.url)
    try:
        assert [i.id for i in reopened.open_intents("a@x.example")] == [a]
    finally:
        reopened.dispose()


def test_I1_issue_is_refreshed_not_duplicated_and_resolved(store: StateStore) -> None:
    kw = dict(mailbox="a@x.example", reason="unresolved_participants", item_id="I1")
    first = store.raise_issue(message="Unresolved participants: p@q.example", now=T0, **kw)
    again = store.raise_issue(
        message="Unresolved participants: p@q.example", now=T0 + timedelta(minutes=5), **kw
    )
    assert first == again
    [issue] = store.open_issues("a@x.example")
    assert (issue.first_seen, issue.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert store.resolve_issues("a@x.example", "I1") == 1
    assert store.open_issues("a@x.example") == []


def test_I3_unhealthy_after_consecutive_failures(store: StateStore) -> None:
    for _ in range(9):
        row = store.record_outcome("a@x.example", ok=False, unhealthy_after=10, reason="503")
    assert row.consecutive_failures == 9 and not row.unhealthy
    row = store.record_outcome("a@x.example", ok=False, unhealthy_after=10, reason="503")
    assert row.unhealthy and row.unhealthy_reason == "503"
    row = store.record_outcome("a@x.example", ok=True, unhealthy_after=10)
    assert not row.unhealthy and row.consecutive_failures == 0
    row = store.record_outcome("a@x.example", ok=False, unhealthy_after=10, reason="invalid_grant",
                               credentials_expired=True)  # fmt: skip
    assert row.unhealthy and row.consecutive_failures == 1
