"""Property: a replica built only from delta rounds equals calendarView after every round (O3).

Random creates, edits, moves across the window edge, deletes, series with exceptions and expired
delta tokens are applied to the emulator; the connector reads over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcal.domain.calendar import Item

W0 = datetime(2026, 3, 1, tzinfo=UTC)
W1 = datetime(2026, 4, 1, tzinfo=UTC)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(-10, 40)),
        st.tuples(st.just("series"), st.integers(-10, 25)),
        st.tuples(st.just("edit"), st.integers(0, 50)),
        st.tuples(st.just("move"), st.integers(-20, 60)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("edit_occurrence"), st.integers(0, 50)),
        st.tuples(st.just("round"), st.just(0)),
        st.tuples(st.just("expire"), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


def when(day: int) -> tuple[str, str]:
    start = W0 + timedelta(days=day, hours=9)
    fmt = "%Y-%m-%dT%H:%M:%S"
    return start.strftime(fmt), (start + timedelta(hours=1)).strftime(fmt)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=ops)
def test_O3_delta_replica_matches_calendar_view(sandbox, script) -> None:
    sandbox.state.reset()
    sandbox.state.add_user(sandbox.ANA)
    st_ = sandbox.state
    client = sandbox.client(page_size=7)
    replica: dict[str, Item] = {}
    cursor: str | None = None

    def live_ids() -> list[str]:
        return [
            r.id
            for r in st_.mailboxes[sandbox.ANA].events.values()
            if not r.deleted and r.kind != "exception"
        ]

    def do_round() -> None:
        nonlocal cursor
        ch = client.delta(sandbox.ANA, W0, W1, cursor)
        assert not ch.errors
        if ch.full_resync or cursor is None:
            replica.clear()
        for r in ch.removed:
            replica.pop(r.id, None)
        for it in ch.items:
            replica[it.id] = it
        cursor = ch.cursor
        view = {i.id: i for i in client.calendar_view(sandbox.ANA, W0, W1)}
        assert set(replica) == set(view)
        assert all(replica[k].change_key == view[k].change_key for k in view)
        assert all(replica[k].start == view[k].start for k in view)

    for n, (op, arg) in enumerate(script):
        ids = live_ids()
        if op == "create":
            s, e = when(arg)
            st_.seed_event(sandbox.ANA, sandbox.event(f"c{n}", s, e))
        elif op == "series":
            s, e = when(arg)
            start_date = s[:10]
            st_.seed_event(
                sandbox.ANA,
                sandbox.event(
                    f"s{n}",
                    s,
                    e,
                    recurrence={
                        "pattern": {"type": "daily", "interval": 3},
                        "range": {
                            "type": "numbered",
                            "startDate": start_date,
                            "numberOfOccurrences": 5,
                        },
                    },
                ),
            )
        elif op == "edit" and ids:
            st_.update_event(sandbox.ANA, ids[arg % len(ids)], {"subject": f"e{n}"})
        elif op == "move" and ids:
            target = st_.mailboxes[sandbox.ANA].events[ids[arg % len(ids)]]
            if target.kind == "singleInstance":
                s, e = when(arg)
                st_.update_event(
                    sandbox.ANA,
                    target.id,
                    {
                        "start": {"dateTime": s, "timeZone": "UTC"},
                        "end": {"dateTime": e, "timeZone": "UTC"},
                    },
                )
        elif op == "delete" and ids:
            st_.delete_event(sandbox.ANA, ids[arg % len(ids)])
        elif op == "edit_occurrence":
            mb = st_.mailboxes[sandbox.ANA]
            occs = [i for i in st_.instances_in(mb, W0, W1) if i.occurrence_start is not None]
            if occs:
                inst = occs[arg % len(occs)]
                if arg % 2:
                    st_.update_event(sandbox.ANA, inst.id, {"subject": f"x{n}"})
                else:
                    st_.delete_event(sandbox.ANA, inst.id)
        elif op == "round":
            do_round()
        elif op == "expire":
            st_.expire_delta_tokens()
    do_round()
    do_round()  # and a no-change round changes nothing
