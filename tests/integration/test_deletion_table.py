"""The deletion outcome table (SPEC X3-X6, W3, M5 and reference/anchors.md 1.11) as one
table-driven test over HTTP: item origin x action -> what happens to the Event and to the item.

Event: `kept`, `deleted`, or `kept_without_ana` (an in-org organizer's Event only loses the
attendee). Item (Ana's): `shared` (category back), `unshared` (crmcal's categories gone), `gone`
(no longer in Outlook), or `any` (a cancelled copy: not asserted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from crmcal.sandbox.runtime import Sandbox
from tests.integration.conftest import World

BOTH_BACKENDS = True  # issue 20: every test here also runs on EWS (Exchange Server)

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"
EXT = "priya@litware.example"

ORIGINS = ("outlook_appointment", "salesforce_appointment", "you_organize", "external_organizer",
           "in_org_organizer")  # fmt: skip
ACTIONS = ("category_removed", "deleted_in_outlook", "unsync", "leaves_window", "deleted_in_salesforce",
           "organizer_cancels")  # fmt: skip

TABLE: dict[tuple[str, str], tuple[str, str]] = {
    # origin,                  action                    -> (Event, Ana's item)
    ("outlook_appointment", "category_removed"): ("kept", "shared"),        # X6
    ("outlook_appointment", "deleted_in_outlook"): ("deleted", "gone"),     # X5
    ("outlook_appointment", "unsync"): ("deleted", "unshared"),             # M5
    ("outlook_appointment", "leaves_window"): ("kept", "unshared"),         # W3
    ("outlook_appointment", "deleted_in_salesforce"): ("deleted", "unshared"),  # X3
    ("salesforce_appointment", "category_removed"): ("kept", "shared"),
    ("salesforce_appointment", "deleted_in_outlook"): ("deleted", "gone"),
    ("salesforce_appointment", "unsync"): ("deleted", "unshared"),
    ("salesforce_appointment", "leaves_window"): ("kept", "gone"),
    ("salesforce_appointment", "deleted_in_salesforce"): ("deleted", "gone"),
    ("you_organize", "category_removed"): ("kept", "shared"),
    ("you_organize", "deleted_in_outlook"): ("deleted", "gone"),
    ("you_organize", "unsync"): ("deleted", "unshared"),
    ("you_organize", "leaves_window"): ("kept", "unshared"),
    ("you_organize", "deleted_in_salesforce"): ("deleted", "unshared"),
    ("you_organize", "organizer_cancels"): ("deleted", "gone"),             # X4
    ("external_organizer", "category_removed"): ("kept", "shared"),
    ("external_organizer", "deleted_in_outlook"): ("deleted", "gone"),
    ("external_organizer", "unsync"): ("deleted", "unshared"),
    ("external_organizer", "leaves_window"): ("kept", "unshared"),
    ("external_organizer", "deleted_in_salesforce"): ("deleted", "unshared"),
    ("external_organizer", "organizer_cancels"): ("deleted", "any"),
    ("in_org_organizer", "category_removed"): ("kept", "shared"),
    ("in_org_organizer", "deleted_in_outlook"): ("kept_without_ana", "gone"),
    ("in_org_organizer", "unsync"): ("kept_without_ana", "unshared"),
    ("in_org_organizer", "leaves_window"): ("kept", "unshared"),
    ("in_org_organizer", "deleted_in_salesforce"): ("deleted", "unshared"),
    ("in_org_organizer", "organizer_cancels"): ("deleted", "any"),
}  # fmt: skip


@dataclass
class Case:
    world: World
    item_id: str  # Ana's item
    subject: str
    organizer_item: str | None = None  # Ben's item, for the in-org organizer


def setup(world: World, origin: str) -> Case:
    world.person(ANA, autoshare_appointments=True)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    world.contact(EXT, "Shah")
    subject = f"Table {origin}"
    if origin == "outlook_appointment":
        start = (world.now + timedelta(days=1)).replace(minute=0, second=0)
        rec = world.sb.graph.seed_event(ANA, {
            "subject": subject, "categories": ["Salesforce"],
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        })  # fmt: skip
        return Case(world, rec.id, subject)
    if origin == "salesforce_appointment":
        start = (world.now + timedelta(days=1)).replace(minute=0, second=0)
        world.sb.salesforce.add_event(world.sf_ids[ANA], subject, start, start + timedelta(hours=1))
        world.sync()
        [it] = [i for i in world.calendar.calendar_view(ANA, world.now, world.now + timedelta(days=5))
                if i.subject == subject]  # fmt: skip
        return Case(world, it.id, subject)
    if origin == "you_organize":
        rec = world.meeting(ANA, subject, (MARIA,))
        return Case(world, rec.id, subject)
    if origin == "external_organizer":
        rec = world.invitation(
            ANA, EXT, subject, (ANA,), "040000008200E00074C5B7101A82E00800000000TABLE001"
        )
        world.respond(ANA, rec.id)
        return Case(world, rec.id, subject)
    rec = world.meeting(BEN, subject, (ANA, MARIA))
    copy = world.copy_of(ANA, rec)
    world.respond(ANA, copy)
    return Case(world, copy, subject, organizer_item=rec.id)


def act(case: Case, action: str, origin: str) -> None:
    w, g = case.world, case.world.sb.graph
    if action == "category_removed":
        w.set_categories(ANA, case.item_id, ())
    elif action == "deleted_in_outlook":
        g.delete_event(ANA, case.item_id, notify_attendees=False)
    elif action == "unsync":
        it = w.item(ANA, case.item_id)
        w.set_categories(ANA, case.item_id, (*it.categories, "Salesforce Unsync"))
    elif action == "leaves_window":
        w.now = w.now + timedelta(days=20)
    elif action == "deleted_in_salesforce":
        [ev] = [e for e in w.events() if e.subject == case.subject]
        w.sb.salesforce.delete("Event", ev.id)  # type: ignore[arg-type]
    elif action == "organizer_cancels":
        if origin == "you_organize":
            g.cancel(ANA, case.item_id)
        elif origin == "external_organizer":
            g.deliver_cancellation(ANA, case.item_id)
        else:
            g.cancel(BEN, case.organizer_item or "")


@pytest.mark.parametrize(
    ("origin", "action"), sorted(TABLE), ids=[f"{o}-{a}" for o, a in sorted(TABLE)]
)
def test_X3_X4_X5_X6_W3_M5_deletion_table(
    origin: str, action: str, tmp_path: Path, calendar_backend: str
) -> None:
    want_event, want_item = TABLE[(origin, action)]
    with Sandbox() as sb:
        world = World(sb, tmp_path, backend=calendar_backend)
        try:
            case = setup(world, origin)
            world.sync()
            [ev] = [e for e in world.events() if e.subject == case.subject]
            assert ev.id is not None
            act(case, action, origin)
            world.sync()
            world.sync()
            events = [e for e in world.events() if e.subject == case.subject]
            if want_event == "deleted":
                assert events == [], f"{origin} / {action}: the Event should be gone"
            else:
                assert [e.id for e in events] == [ev.id], (
                    f"{origin} / {action}: the Event should stay"
                )
            if want_event == "kept_without_ana":
                invitees = {r.relation_id for r in world.relations(ev.id) if r.is_invitee}
                assert world.sf_ids[ANA] not in invitees
            found, _errors = world.calendar.fetch_items(ANA, [case.item_id])
            if want_item == "gone":
                assert found == [], f"{origin} / {action}: Ana's item should be gone"
            elif want_item != "any":
                [it] = found
                shared = "Salesforce" in it.categories
                assert shared is (want_item == "shared"), f"{origin} / {action}: {it.categories}"
        finally:
            world.close()
