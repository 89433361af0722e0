"""E6 in the planner's rules (issue 17): which (WhoId, WhatId, Who relations) crmcal may write,
and which existing Who rows must go first."""

from __future__ import annotations

from crmcal.domain import EventRelation
from crmcal.rules.linking import MAX_WHO_RELATIONS, clashing_whos, valid_links

C1, C2, C3 = "0035g0000000001", "0035g0000000002", "0035g0000000003"
LEAD = "00Q5g0000000001"
ACCT, OPP = "0015g0000000001", "0065g0000000001"
EV = "00U5g0000000001"


def test_E6_a_lead_goes_alone_and_without_a_what() -> None:
    assert valid_links(LEAD, ACCT, (LEAD, C1)) == (LEAD, None, (LEAD,))
    assert valid_links(LEAD, OPP, (LEAD,), who_from_user=True, what_from_user=True) == (
        LEAD,
        None,
        (LEAD,),
    )


def test_E6_the_users_what_wins_over_an_automatic_lead() -> None:
    assert valid_links(LEAD, ACCT, (LEAD,), what_from_user=True) == (None, ACCT, ())


def test_L5_contacts_drop_leads_and_are_capped_at_50() -> None:
    many = tuple(f"0035g{i:010d}" for i in range(60))
    who, what, whos = valid_links(many[0], OPP, (*many, LEAD))
    assert (who, what) == (many[0], OPP)
    assert whos == many[:MAX_WHO_RELATIONS]
    assert valid_links(C2, None, (C1,)) == (C2, None, (C2, C1))


def _rel(rid: str, person: str, *, invitee: bool = False, what: bool = False) -> EventRelation:
    return EventRelation(EV, person, is_invitee=invitee, is_parent=True, is_what=what, id=rid)


def test_E6_clashing_rows_only() -> None:
    have = [
        _rel("0RE1", C1),
        _rel("0RE2", C2),
        _rel("0RE3", ACCT, what=True),
        EventRelation(EV, "0055g0000000001", is_invitee=True, id="0RE4"),
    ]
    assert clashing_whos(have, LEAD, (LEAD,)) == ["0RE1", "0RE2"]  # a Lead comes in
    assert clashing_whos(have, C1, (C1, C3)) == []  # Contacts stay (others may have added C2)
    assert clashing_whos([_rel("0RE5", LEAD)], C1, (C1,)) == ["0RE5"]  # a Lead must go
