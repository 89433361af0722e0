"""O5: crash at every step (the isync/mbsync method). A scenario runs once cleanly; then, for
every k, it runs again from scratch but the process "dies" right after the k-th external write
reached the server, a new run follows, and the final state on both sides must equal the clean
run's: no duplicate Event, no lost Event, the same links and categories, no intent left open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crmcal.sandbox.runtime import Sandbox
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
CARL = "carl@contoso.example"
MARIA = "maria@fabrikam.example"
EXT = "priya@litware.example"

WRITES = {
    "crm": ("create_events", "upsert_events", "update_records", "create_relations",
            "delete_events", "delete_relations"),
    "calendar": ("set_categories", "ensure_categories", "create_items", "update_items",
                 "delete_items"),
}  # fmt: skip


class Crash(BaseException):
    """Not an Exception: nothing in crmcal may catch it, as nothing catches a kill -9."""


def build(world: World) -> None:
    """A small org with a bit of everything: P1 with invitees, P3 siblings, an appointment,
    a Salesforce-made Event (X1), and a required-fields failure that later succeeds."""
    world.person(ANA)
    world.person(BEN)
    world.person(CARL, autoshare_appointments=True)
    acct = world.sb.salesforce.add_account("Fabrikam", website="fabrikam.example")
    world.contact(MARIA, "Gomez", acct)
    world.contact(EXT, "Shah")
    rec = world.meeting(ANA, "P1 review", (BEN, MARIA))
    world.respond(BEN, world.copy_of(BEN, rec))
    guid = "040000008200E00074C5B7101A82E00800000000CRASH001"
    for mb in (ANA, BEN):
        c = world.invitation(mb, EXT, "P3 briefing", (ANA, BEN), guid, days=2)
        world.respond(mb, c.id)
    world.sb.graph.seed_event(CARL, {
        "subject": f"Call {EXT}",
        "start": {"dateTime": (world.now + timedelta(days=3)).strftime("%Y-%m-%dT10:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": (world.now + timedelta(days=3)).strftime("%Y-%m-%dT10:30:00"), "timeZone": "UTC"},
    })  # fmt: skip
    start = (world.now + timedelta(days=4)).replace(minute=0, second=0)
    world.sb.salesforce.add_event(
        world.sf_ids[ANA], "Made in Salesforce", start, start + timedelta(hours=1)
    )


def snapshot(world: World) -> dict[str, Any]:
    """Both sides, by content (ids differ between runs)."""
    owners = {v: k for k, v in world.sf_ids.items()}
    events = []
    for e in world.events():
        rels = world.relations(e.id)  # type: ignore[arg-type]
        events.append((
            e.subject, owners.get(e.owner_id, e.owner_id), bool(e.who_id), bool(e.what_id), e.location,
            tuple(sorted(owners.get(r.relation_id, "x") for r in rels if r.is_invitee)),
        ))  # fmt: skip
    items = []
    for mb in (ANA, BEN, CARL):
        for it in world.calendar.calendar_view(
            mb, world.now - timedelta(days=1), world.now + timedelta(days=30)
        ):
            items.append((mb, it.subject, it.categories, it.location))
    return {"events": sorted(events), "items": sorted(items)}


def instrument(world: World, crash_after: int | None) -> list[str]:
    """Count external writes; raise Crash right after the `crash_after`-th one returns."""
    log: list[str] = []
    for target, names in ((world.crm, WRITES["crm"]), (world.calendar, WRITES["calendar"])):
        for name in names:
            orig: Callable[..., Any] = getattr(target, name)

            def wrapped(
                *a: Any, _orig: Callable[..., Any] = orig, _name: str = name, **kw: Any
            ) -> Any:
                out = _orig(*a, **kw)
                log.append(_name)
                if crash_after is not None and len(log) == crash_after:
                    raise Crash(_name)
                return out

            setattr(target, name, wrapped)
    return log


@pytest.fixture(params=["graph", "ews"])
def fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], World]]:
    """Worlds on Graph and on EWS (issue 20: O5 holds on both calendar backends)."""
    opened: list[tuple[Sandbox, World]] = []

    def make(name: str) -> World:
        sb = Sandbox().start()
        w = World(sb, tmp_path / name, backend=request.param)
        w.tmp.mkdir()
        opened.append((sb, w))
        return w

    yield make
    for sb, w in opened:
        w.close()
        sb.stop()


def settle(world: World, runs: int = 3) -> None:
    for _ in range(runs):
        world.sync()


def test_O5_crash_after_every_external_write(fresh: Callable[[str], World]) -> None:
    clean = fresh("clean")
    build(clean)
    writes = instrument(clean, None)
    settle(clean)
    expected = snapshot(clean)
    n = len(writes)
    assert n >= 8, writes  # the scenario must exercise a fair number of writes
    assert len(expected["events"]) == 5, expected  # P1, 2x P3, the appointment, X1
    for k in range(1, n + 1):
        w = fresh(f"k{k}")
        w.now = clean.now
        build(w)
        instrument(w, k)
        with pytest.raises(Crash):
            settle(w, 1)
        # the process is gone; a new one starts with the same state store
        w._calendar = None
        w._crm = None
        settle(w)
        got = snapshot(w)
        assert got == expected, f"after a crash following write {k} ({writes[k - 1]})"
        assert w.store.open_intents() == [], f"intents left open after crash at write {k}"  # type: ignore[union-attr]
        w.close()
        w.sb.stop()


def change_things(world: World) -> None:
    """Phase 2, on both sides: X5 (deleted in Outlook), X2 (edited in Salesforce), X3 (deleted
    in Salesforce), M5 (Salesforce Unsync)."""
    by_subject = {e.subject: e for e in world.events()}
    ana_items = {
        it.subject: it
        for it in world.calendar.calendar_view(
            ANA, world.now - timedelta(days=1), world.now + timedelta(days=30)
        )
    }
    world.sb.graph.delete_event(ANA, ana_items["P3 briefing"].id, notify_attendees=False)
    world.sb.salesforce.update(
        "Event", by_subject["P1 review"].id, {"Location": "Moved by Salesforce"}
    )  # type: ignore[arg-type]
    world.sb.salesforce.delete("Event", by_subject["Made in Salesforce"].id)  # type: ignore[arg-type]
    carl = world.calendar.calendar_view(
        CARL, world.now - timedelta(days=1), world.now + timedelta(days=30)
    )
    world.set_categories(CARL, carl[0].id, (*carl[0].categories, "Salesforce Unsync"))


def test_O5_crash_after_every_write_of_deletions_and_edits(fresh: Callable[[str], World]) -> None:
    clean = fresh("clean2")
    build(clean)
    settle(clean)
    change_things(clean)
    writes = instrument(clean, None)
    settle(clean)
    expected = snapshot(clean)
    assert len(expected["events"]) == 2, expected  # P1 and Ben's P3 stay; X5, M5, X3 took the rest
    assert any(e[4] == "Moved by Salesforce" for e in expected["events"])
    n = len(writes)
    assert n >= 5, writes
    for k in range(1, n + 1):
        w = fresh(f"c{k}")
        w.now = clean.now
        build(w)
        settle(w)
        change_things(w)
        instrument(w, k)
        with pytest.raises(Crash):
            settle(w, 1)
        w._calendar = None
        w._crm = None
        settle(w)
        got = snapshot(w)
        if got != expected:
            print("WRITES", writes)
            print("GOT", got)
            print("EXP", expected)
        assert got == expected, f"after a crash following write {k} ({writes[k - 1]})"
        assert w.store.open_intents() == [], f"intents left open after crash at write {k}"  # type: ignore[union-attr]
        w.close()
        w.sb.stop()
