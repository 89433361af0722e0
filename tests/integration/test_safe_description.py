"""U2's off switch: with `safe_description = false` (org, or per user) an Outlook body edit
reaches the Event's `Description` on a later session; a `Description` edit in Salesforce still
never reaches an Outlook meeting with attendees (P7). Decision 0101. Over HTTP, both emulators."""

from __future__ import annotations

from typing import Any

import pytest

from crmcal.domain import OrgSettings

from .conftest import DOMAIN, World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
MARIA = "maria@fabrikam.example"


def _description(world: World, subject: str) -> str:
    [ev] = [e for e in world.events() if e.subject == subject]
    return ev.description or ""


def _edit_body(world: World, mailbox: str, item_id: str, text: str) -> None:
    world.sb.graph.update_event(
        mailbox, item_id, {"body": {"contentType": "text", "content": text}}
    )


def _edit_description_in_salesforce(world: World, subject: str, text: str) -> None:
    [ev] = [e for e in world.events() if e.subject == subject]
    world.sb.salesforce.update("Event", str(ev.id), {"Description": text})


def _share(world: World, mailbox: str, subject: str) -> Any:
    world.contact(MARIA, "Gomez")
    rec = world.meeting(mailbox, subject, (MARIA,), text="First agenda")
    world.sync()
    assert "First agenda" in _description(world, subject)  # U2: the body at first share
    return rec


def test_U2_safe_description_false_lets_outlook_body_edits_reach_description(world: World) -> None:
    """U2 off (org): the edited body reaches Description; a Salesforce Description edit stays in
    Salesforce (P7: never written to the meeting), and is not overwritten while the body does not
    move; the next session writes nothing."""
    world.org = OrgSettings(internal_domains=(DOMAIN,), safe_description=False)
    world.person(ANA)
    rec = _share(world, ANA, "Quarterly review")
    _edit_body(world, ANA, rec.id, "Second agenda: pricing")
    world.sync()
    assert "Second agenda: pricing" in _description(world, "Quarterly review")
    assert "First agenda" not in _description(world, "Quarterly review")
    world.quiet()

    _edit_description_in_salesforce(world, "Quarterly review", "sf-private-note")
    world.sync()
    assert "sf-private-note" not in world.item(ANA, rec.id).body  # P7
    assert _description(world, "Quarterly review") == "sf-private-note"
    world.quiet()

    _edit_body(world, ANA, rec.id, "Third agenda")  # U4: the Outlook edit is the newer one
    world.sync()
    assert "Third agenda" in _description(world, "Quarterly review")
    assert "sf-private-note" not in world.item(ANA, rec.id).body


def test_U2_safe_description_true_keeps_later_body_edits_out(world: World) -> None:
    """U2 on (the default): a later body edit never reaches Description."""
    world.person(ANA)
    rec = _share(world, ANA, "Kick-off")
    _edit_body(world, ANA, rec.id, "Second agenda: pricing")
    world.sync()
    assert "Second agenda" not in _description(world, "Kick-off")
    world.quiet()


@pytest.mark.parametrize(("org_safe", "user_safe"), [(True, False), (False, True)])
def test_U2_per_user_override_beats_the_org_setting(
    world: World, org_safe: bool, user_safe: bool
) -> None:
    """U2 per user: Ana overrides the org setting, Ben follows it; the same edit crosses over for
    exactly the one whose effective setting is off."""
    world.org = OrgSettings(internal_domains=(DOMAIN,), safe_description=org_safe)
    world.person(ANA, safe_description=user_safe)
    world.person(BEN)
    world.contact(MARIA, "Gomez")
    a = world.meeting(ANA, "Ana's call", (MARIA,), text="First agenda")
    b = world.meeting(BEN, "Ben's call", (MARIA,), text="First agenda")
    world.sync()
    _edit_body(world, ANA, a.id, "Edited agenda")
    _edit_body(world, BEN, b.id, "Edited agenda")
    world.sync()
    crossed = {
        who: "Edited agenda" in _description(world, subject)
        for who, subject in (("ana", "Ana's call"), ("ben", "Ben's call"))
    }
    assert crossed == {"ana": not user_safe, "ben": not org_safe}
    world.quiet()
