"""The production connector against the emulator over real HTTP (uvicorn on 127.0.0.1).

No mocks: every call goes through httpx to the emulator's Graph paths.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from crmcal import timezones
from crmcal.connectors.errors import LimitExceeded, NotFound, TransientError
from crmcal.connectors.graph import (
    GraphItemNotFound,
    GraphNotOrganizer,
    GraphServiceError,
    GraphThrottled,
)
from crmcal.domain.calendar import (
    Attendee,
    DayOfWeek,
    EmailAddress,
    ItemDraft,
    ItemPatch,
    ItemType,
    PatternType,
    RangeType,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    ResponseType,
    Sensitivity,
)
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

W0 = datetime(2026, 3, 1, tzinfo=UTC)
W1 = datetime(2026, 4, 1, tzinfo=UTC)


def seed(sandbox, n: int, mailbox: str | None = None, day0: int = 2) -> list[str]:
    ids = []
    for i in range(n):
        d = day0 + i % 25
        rec = sandbox.state.seed_event(
            mailbox or sandbox.ANA,
            sandbox.event(f"item {i}", f"2026-03-{d:02d}T09:00:00", f"2026-03-{d:02d}T10:00:00"),
        )
        ids.append(rec.id)
    return ids


def test_full_then_incremental_delta_rounds(sandbox) -> None:
    ids = seed(sandbox, 25)
    client = sandbox.client(page_size=10)
    first = client.delta(sandbox.ANA, W0, W1, None)
    assert client.calls["delta"] == 3  # 25 items at 10 per page
    assert {i.id for i in first.items} == set(ids) and first.removed == () and first.errors == ()
    assert first.full_resync is False and "$deltatoken=" in first.cursor
    item = next(i for i in first.items if i.id == ids[0])
    assert item.start == datetime(2026, 3, 2, 9, tzinfo=UTC) and item.mailbox == sandbox.ANA
    assert item.subject == "item 0" and item.is_organizer and item.type is ItemType.SINGLE_INSTANCE

    # changes on the server side
    st = sandbox.state
    st.update_event(sandbox.ANA, ids[1], {"subject": "renamed"})
    st.delete_event(sandbox.ANA, ids[2])
    new = st.seed_event(
        sandbox.ANA, sandbox.event("new", "2026-03-20T09:00:00", "2026-03-20T10:00:00")
    )
    client.calls.reset()
    second = client.delta(sandbox.ANA, W0, W1, first.cursor)
    assert client.calls["delta"] == 1
    assert {i.id: i.subject for i in second.items} == {ids[1]: "renamed", new.id: "new"}
    assert [r.id for r in second.removed] == [ids[2]]
    assert second.cursor != first.cursor


def test_no_change_round_costs_exactly_one_call(sandbox) -> None:
    seed(sandbox, 30)
    client = sandbox.client(page_size=10)
    cursor = client.delta(sandbox.ANA, W0, W1, None).cursor
    client.calls.reset()
    again = client.delta(sandbox.ANA, W0, W1, cursor)
    assert client.calls.total == 1
    assert again.items == () and again.removed == ()


def test_O3_delta_restarts_cleanly_after_410(sandbox) -> None:
    ids = seed(sandbox, 15)
    client = sandbox.client(page_size=10)
    cursor = client.delta(sandbox.ANA, W0, W1, None).cursor
    sandbox.state.expire_delta_tokens()
    sandbox.state.update_event(sandbox.ANA, ids[0], {"subject": "after expiry"})
    again = client.delta(sandbox.ANA, W0, W1, cursor)
    assert again.full_resync is True
    got = [i.id for i in again.items]
    assert sorted(got) == sorted(ids) and len(got) == len(
        set(got)
    )  # everything once, no duplicates
    assert next(i for i in again.items if i.id == ids[0]).subject == "after expiry"
    third = client.delta(sandbox.ANA, W0, W1, again.cursor)
    assert third.full_resync is False and third.items == ()


def test_O3_410_in_the_middle_of_a_round_starts_the_round_over(sandbox) -> None:
    ids = seed(sandbox, 25)
    client = sandbox.client(page_size=10)
    hooks_seen = {"n": 0}

    def expire_after_first_page(response: httpx.Response) -> None:
        if "calendarView/delta" in str(response.request.url):
            hooks_seen["n"] += 1
            if hooks_seen["n"] == 1:
                sandbox.state.delta_pages.clear()

    client._http.event_hooks["response"].append(expire_after_first_page)
    changes = client.delta(sandbox.ANA, W0, W1, None)
    assert sorted(i.id for i in changes.items) == sorted(ids)


def test_O3_throttled_run_honours_retry_after_and_finishes(sandbox, sleeps) -> None:
    ids = seed(sandbox, 25)
    sandbox.state.faults.throttle_next = 3
    sandbox.state.faults.retry_after = 0.05
    client = sandbox.client(page_size=10, sleeps=sleeps)
    changes = client.delta(sandbox.ANA, W0, W1, None)
    assert sorted(i.id for i in changes.items) == sorted(ids)
    assert sleeps.waits == [0.05, 0.05, 0.05]  # Retry-After, not the policy's own back-off
    assert client.calls["delta"] == 3 + 3


def test_O3_connector_keeps_four_requests_per_mailbox_in_flight(sandbox) -> None:
    seed(sandbox, 3)
    sandbox.state.faults.latency_ms = 60
    client = sandbox.client()
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: client.calendar_view(sandbox.ANA, W0, W1), range(12)))
    assert all(len(r) == 3 for r in results)
    assert client.calls["calendarView"] == 12  # nothing was throttled, so nothing was retried


def test_O3_without_the_limit_the_emulator_throttles_and_retries_finish(sandbox, sleeps) -> None:
    seed(sandbox, 3)
    sandbox.state.faults.latency_ms = 60
    sandbox.state.faults.retry_after = 0.02
    client = sandbox.client(max_concurrency_per_mailbox=12, sleeps=sleeps)
    barrier = threading.Barrier(12)

    def run(_: int) -> int:
        barrier.wait()
        return len(client.calendar_view(sandbox.ANA, W0, W1))

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(run, range(12))) == [3] * 12
    assert client.calls["calendarView"] > 12 and sleeps.waits


def test_O3_throttling_that_never_ends_raises_limit_exceeded(sandbox, sleeps) -> None:
    sandbox.state.faults.throttle_next = 100
    sandbox.state.faults.retry_after = 0.01
    client = sandbox.client(sleeps=sleeps)
    with pytest.raises(GraphThrottled) as ei:
        client.delta(sandbox.ANA, W0, W1, None)
    assert isinstance(ei.value, LimitExceeded) and ei.value.status == 429
    assert ei.value.code == "TooManyRequests" and ei.value.retry_after == 0.01


def test_server_errors_are_retried_then_transient(sandbox, sleeps) -> None:
    seed(sandbox, 2)
    sandbox.state.faults.fail_next = 2
    client = sandbox.client(sleeps=sleeps)
    assert len(client.delta(sandbox.ANA, W0, W1, None).items) == 2
    sandbox.state.faults.fail_next = 100
    with pytest.raises(GraphServiceError) as ei:
        client.delta(sandbox.ANA, W0, W1, None)
    assert isinstance(ei.value, TransientError) and ei.value.status == 503


def test_Y3_malformed_items_become_errors_and_the_round_goes_on(sandbox) -> None:
    ids = seed(sandbox, 4)
    st = sandbox.state
    st.corrupt_event(
        sandbox.ANA, ids[0], {"start": {"dateTime": "yesterday-ish", "timeZone": "UTC"}}
    )
    st.corrupt_event(sandbox.ANA, ids[1], {"sensitivity": "topsecret"})
    st.corrupt_event(
        sandbox.ANA, ids[2], {"end": {"dateTime": "2026-03-01T00:00:00", "timeZone": "UTC"}}
    )
    changes = sandbox.client().delta(sandbox.ANA, W0, W1, None)
    assert [i.id for i in changes.items] == [ids[3]]
    reasons = {e.item_id: e.reason for e in changes.errors}
    assert set(reasons) == {ids[0], ids[1], ids[2]}
    assert "start.dateTime" in reasons[ids[0]]
    assert "sensitivity" in reasons[ids[1]]
    assert "end is before start" in reasons[ids[2]]


def test_N3_custom_zone_is_reported_unknown(sandbox) -> None:
    rec = sandbox.state.seed_event(
        sandbox.ANA,
        sandbox.event("legacy", "2026-03-10T09:00:00", "2026-03-10T10:00:00"),
        original_start_time_zone=timezones.CUSTOM_ZONE,
    )
    item = sandbox.client().delta(sandbox.ANA, W0, W1, None).items[0]
    assert item.id == rec.id and item.start_time_zone == "tzone://Microsoft/Custom"
    assert timezones.is_custom(item.start_time_zone)
    assert timezones.windows_to_iana(item.start_time_zone) is None
    assert item.start == datetime(2026, 3, 10, 9, tzinfo=UTC)  # the single item still syncs in UTC


def test_batch_writes_cost_one_call_per_20_and_patch_only_changed_fields(sandbox) -> None:
    sent: list[dict] = []

    def capture(request: httpx.Request) -> None:
        if request.url.path.endswith("/$batch"):
            sent.append(json.loads(request.content))

    http = httpx.Client(event_hooks={"request": [capture]})
    client = sandbox.client(http=http)
    drafts = [
        ItemDraft(
            subject=f"d{i}",
            start=datetime(2026, 3, 10, 9, tzinfo=UTC) + timedelta(hours=i),
            end=datetime(2026, 3, 10, 10, tzinfo=UTC) + timedelta(hours=i),
            time_zone="Europe/Berlin",
            location="HQ",
            categories=("Salesforce",),
        )
        for i in range(45)
    ]
    created = client.create_items(sandbox.ANA, drafts)
    assert client.calls["$batch"] == 3
    assert [r.key for r in created] == list(range(45)) and all(
        r.ok and r.created and r.id for r in created
    )
    ids = [r.id for r in created if r.id]
    stored = sandbox.state.mailboxes[sandbox.ANA].events[ids[0]]
    assert stored.start_tz == "W. Europe Standard Time" and stored.props["subject"] == "d0"
    assert stored.start == datetime(2026, 3, 10, 9, tzinfo=UTC)

    sent.clear()
    client.calls.reset()
    updated = client.update_items(sandbox.ANA, [(i, ItemPatch(subject="changed")) for i in ids])
    assert all(r.ok for r in updated) and client.calls["$batch"] == 3
    bodies = [r["body"] for b in sent for r in b["requests"]]
    assert len(bodies) == 45 and all(body == {"subject": "changed"} for body in bodies)
    assert all(len(b["requests"]) <= 20 for b in sent)
    assert (
        sandbox.state.mailboxes[sandbox.ANA].events[ids[0]].props["location"]["displayName"] == "HQ"
    )

    client.calls.reset()
    cats = client.set_categories(sandbox.ANA, {ids[0]: ["Sync Error"], ids[1]: []})
    assert all(r.ok for r in cats) and client.calls["$batch"] == 1
    assert sandbox.state.mailboxes[sandbox.ANA].events[ids[0]].props["categories"] == ["Sync Error"]

    deleted = client.delete_items(
        sandbox.ANA,
        [*ids[:10], "AAMkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    )
    assert [r.ok for r in deleted] == [True] * 10 + [False]
    missing = deleted[-1].error
    assert isinstance(missing, GraphItemNotFound) and isinstance(missing, NotFound)
    assert missing.code == "ErrorItemNotFound" and missing.status == 404


def test_batch_inner_429s_are_resent_after_their_retry_after(sandbox, sleeps) -> None:
    sandbox.state.faults.throttle_next = 5
    sandbox.state.faults.retry_after = 0.04
    # Setup: a parallel batch, and the mailbox's concurrency limit lifted to 10, so that only
    # the injected throttling answers 429 (E3's concurrency 429s: test_batch_concurrency_*).
    sandbox.state.faults.max_concurrency = 10
    client = sandbox.client(sleeps=sleeps, batch_mode="parallel")
    drafts = [
        ItemDraft(
            subject=f"t{i}",
            start=datetime(2026, 3, 11, 9, tzinfo=UTC),
            end=datetime(2026, 3, 11, 10, tzinfo=UTC),
        )
        for i in range(10)
    ]
    results = client.create_items(sandbox.ANA, drafts)
    assert all(r.ok for r in results)
    assert sleeps.waits == [0.04]
    assert client.calls["$batch"] == 2
    events = [e for e in sandbox.state.mailboxes[sandbox.ANA].events.values() if not e.deleted]
    assert sorted(e.props["subject"] for e in events) == sorted(f"t{i}" for i in range(10))


def test_unwritable_drafts_fail_alone(sandbox) -> None:
    client = sandbox.client()
    good = ItemDraft(
        subject="ok",
        start=datetime(2026, 3, 11, 9, tzinfo=UTC),
        end=datetime(2026, 3, 11, 10, tzinfo=UTC),
    )
    bad_tz = ItemDraft(subject="x", start=good.start, end=good.end, time_zone="Mars/Olympus")
    backwards = ItemDraft(subject="y", start=good.end, end=good.start)
    res = client.create_items(sandbox.ANA, [good, bad_tz, backwards])
    assert [r.ok for r in res] == [True, False, False]
    assert "Mars/Olympus" in str(res[1].error)


def test_salesforce_event_id_property_round_trip(sandbox) -> None:
    ids = seed(sandbox, 3)
    client = sandbox.client()
    client.set_salesforce_event_id(sandbox.ANA, ids[0], "00U5g00000AbCdEEAZ")
    res = client.set_salesforce_event_ids(sandbox.ANA, {ids[1]: "00U5g00000AbCdFFAZ"})
    assert res[0].ok
    client.calls.reset()
    items = client.get_items(
        sandbox.ANA, [*ids, "AAMkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
    )
    assert client.calls.total == 1
    assert {i.id: i.salesforce_event_id for i in items} == {
        ids[0]: "00U5g00000AbCdEEAZ",
        ids[1]: "00U5g00000AbCdFFAZ",
        ids[2]: None,
    }
    assert [i.id for i in client.find_by_salesforce_id(sandbox.ANA, "00U5g00000AbCdEEAZ")] == [
        ids[0]
    ]
    drafted = client.create_items(
        sandbox.ANA,
        [
            ItemDraft(
                subject="x",
                start=datetime(2026, 3, 11, 9, tzinfo=UTC),
                end=datetime(2026, 3, 11, 10, tzinfo=UTC),
                salesforce_event_id="00U000000000001",
            )
        ],
    )
    assert (
        client.get_items(sandbox.ANA, [drafted[0].id or ""])[0].salesforce_event_id
        == "00U000000000001"
    )


def test_ensure_categories_creates_only_missing_ones(sandbox) -> None:
    sandbox.state.add_category(sandbox.ANA, "Salesforce", "preset3")
    client = sandbox.client()
    created = client.ensure_categories(
        sandbox.ANA, {"Salesforce": "preset7", "Sync Error": "preset0"}
    )
    assert created == ["Sync Error"]
    cats = {
        c["displayName"]: c["color"]
        for c in sandbox.state.mailboxes[sandbox.ANA].categories.values()
    }
    assert cats == {"Salesforce": "preset3", "Sync Error": "preset0"}
    client.calls.reset()
    assert client.ensure_categories(sandbox.ANA, {"Salesforce": "preset7"}) == []
    assert client.calls.total == 1


def test_series_create_instances_and_delta_expansion(sandbox) -> None:
    client = sandbox.client()
    rec = Recurrence(
        pattern=RecurrencePattern(
            type=PatternType.RELATIVE_MONTHLY,
            interval=1,
            days_of_week=(DayOfWeek.THURSDAY,),
            index=__import__("crmcal.domain.calendar", fromlist=["WeekIndex"]).WeekIndex.SECOND,
        ),
        range=RecurrenceRange(
            type=RangeType.NUMBERED, start_date=date(2026, 3, 12), number_of_occurrences=12
        ),
    )
    draft = ItemDraft(
        subject="Monthly",
        start=datetime(2026, 3, 12, 14, 0, tzinfo=UTC),
        end=datetime(2026, 3, 12, 15, 0, tzinfo=UTC),
        time_zone="Europe/Paris",
        recurrence=rec,
    )
    [res] = client.create_items(sandbox.ANA, [draft])
    assert res.ok, res.error
    master = client.get_items(sandbox.ANA, [res.id or ""])[0]
    assert master.type is ItemType.SERIES_MASTER and master.recurrence is not None
    assert master.recurrence.pattern.type is PatternType.RELATIVE_MONTHLY
    assert master.recurrence.range.time_zone == "Romance Standard Time"
    assert master.recurrence.range.end_date is None  # the 0001-01-01 placeholder is dropped
    occ = client.instances(sandbox.ANA, master.id, W0, datetime(2026, 7, 1, tzinfo=UTC))
    # second Thursdays: 12 Mar, 9 Apr, 14 May, 11 Jun; 15:00 Paris = 14:00 UTC (CET), 13:00 (CEST)
    assert [(o.start.month, o.start.day, o.start.hour) for o in occ] == [
        (3, 12, 14),
        (4, 9, 13),
        (5, 14, 13),
        (6, 11, 13),
    ]
    assert all(o.type is ItemType.OCCURRENCE and o.series_master_id == master.id for o in occ)
    assert len({o.ical_uid for o in occ}) == 4
    changes = client.delta(sandbox.ANA, W0, datetime(2026, 5, 1, tzinfo=UTC), None)
    assert sorted(i.start.day for i in changes.items) == [9, 12]


def test_meeting_actions_across_mailboxes(sandbox) -> None:
    client = sandbox.client()
    draft = ItemDraft(
        subject="Deal review",
        start=datetime(2026, 3, 12, 10, tzinfo=UTC),
        end=datetime(2026, 3, 12, 11, tzinfo=UTC),
        attendees=(
            Attendee(EmailAddress(sandbox.BO, "Bo Li")),
            Attendee(EmailAddress("ext@fabrikam.example")),
        ),
        sensitivity=Sensitivity.NORMAL,
    )
    [org] = client.create_items(sandbox.ANA, [draft])
    bo = client.delta(sandbox.BO, W0, W1, None)
    [copy] = bo.items
    assert copy.is_organizer is False and copy.my_response is ResponseType.NOT_RESPONDED
    assert copy.organizer is not None and copy.organizer.key == sandbox.ANA
    client.accept(sandbox.BO, copy.id, "see you")
    [mine] = client.get_items(sandbox.ANA, [org.id or ""])
    assert [a.response for a in mine.attendees] == [ResponseType.ACCEPTED, ResponseType.NONE]
    with pytest.raises(GraphNotOrganizer):
        client.cancel(sandbox.BO, copy.id)
    client.cancel(sandbox.ANA, org.id or "", "moved to next quarter")
    after = client.delta(sandbox.BO, W0, W1, bo.cursor)
    assert [(i.id, i.is_cancelled) for i in after.items] == [(copy.id, True)]
    gone = client.delta(sandbox.ANA, W0, W1, None)
    assert gone.items == ()


def test_O4_subscriptions_create_renew_delete(sandbox) -> None:
    hook = FastAPI()
    got: list[dict] = []
    arrived = threading.Event()

    @hook.post("/notify")
    async def notify(request: Request) -> Response:
        if "validationToken" in request.query_params:
            return PlainTextResponse(request.query_params["validationToken"])
        got.append(await request.json())
        arrived.set()
        return Response(status_code=202)

    with ServerThread(hook, tls=process_tls()) as hs:
        client = sandbox.client()
        now = datetime.now(UTC)
        sub = client.create_subscription(
            sandbox.ANA, hs.url + "/notify", now + timedelta(days=2), "c1ient-state"
        )
        assert sub.client_state == "c1ient-state" and sub.change_types == (
            "created",
            "deleted",
            "updated",
        )
        sandbox.state.seed_event(
            sandbox.ANA, sandbox.event("ping", "2026-03-10T09:00:00", "2026-03-10T10:00:00")
        )
        sandbox.client().ensure_categories(sandbox.ANA, {})  # any request flushes the outbox
        assert arrived.wait(5) and got[0]["value"][0]["clientState"] == "c1ient-state"
        renewed = client.renew_subscription(sub.id, now + timedelta(days=3))
        assert renewed.expiration > sub.expiration
        client.delete_subscription(sub.id)
        assert sandbox.state.subscriptions == {}


def test_attachments_small_and_large(sandbox) -> None:
    [item_id] = seed(sandbox, 1)
    client = sandbox.client()
    small = client.upload_attachment(sandbox.ANA, item_id, "note.txt", b"hello", "text/plain")
    big_data = bytes(range(256)) * 16384  # 4 MB: upload session, two chunks
    big = client.upload_attachment(sandbox.ANA, item_id, "deck.pdf", big_data, "application/pdf")
    assert client.calls["upload"] == 2
    infos = {a.id: a for a in client.list_attachments(sandbox.ANA, item_id)}
    assert set(infos) == {small, big} and infos[big].size == len(big_data)
    assert client.get_attachment_bytes(sandbox.ANA, item_id, big) == big_data
    assert client.get_attachment_bytes(sandbox.ANA, item_id, small) == b"hello"


def test_static_token_provider_and_401_error(sandbox) -> None:
    client = sandbox.client(token_provider="not-a-token")
    with pytest.raises(Exception) as ei:
        client.delta(sandbox.ANA, W0, W1, None)
    assert (
        ei.value.__class__.__name__ == "GraphAuthError" and getattr(ei.value, "status", None) == 401
    )
