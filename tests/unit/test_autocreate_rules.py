"""K1-K5: the pure auto-creation decisions, table-driven."""

from __future__ import annotations

from datetime import date

import pytest

from crmcal.domain import AutoCreate, OrgSettings, RecordRef, RecordType, UserSettings
from crmcal.domain.settings import Blocklist
from crmcal.rules.autocreate import (
    RecordKind,
    close_date,
    company_name,
    effective_mode,
    eligible,
    opportunity_name,
    plan_records,
    split_name,
)

ORG = OrgSettings(internal_domains=("contoso.example",))


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("jane@northwind.example", True),
        ("ann@contoso.example", False),  # internal
        ("bob@gmail.com", False),  # free-mail
        ("x@blocked.example", False),  # org blocklist
        ("me@mine.example", False),  # user blocklist
        ("not-an-address", False),
        ("a b@x.example", False),
    ],
)
def test_k1_eligible_addresses(address: str, ok: bool) -> None:
    org = ORG.model_copy(update={"blocklist": Blocklist(domains=("blocked.example",))})
    user = UserSettings(blocklist=Blocklist(addresses=("me@mine.example",)))
    assert eligible(address, org, user) is ok


def test_k1_free_mail_never_even_when_not_blocklisted() -> None:
    org = ORG.model_copy(update={"block_free_mail_domains": False})
    assert not eligible("bob@gmail.com", org)


def test_k1_explicit_request_uses_contact_when_off() -> None:
    assert effective_mode(ORG) is AutoCreate.OFF
    assert effective_mode(ORG, explicit=True) is AutoCreate.CONTACT
    lead = ORG.model_copy(update={"autocreate": AutoCreate.LEAD})
    assert effective_mode(lead, explicit=True) is AutoCreate.LEAD


@pytest.mark.parametrize(
    ("display", "address", "expected"),
    [
        ("Jane Roe", "x@y.example", ("Jane", "Roe")),
        ("Roe, Jane", "x@y.example", ("Jane", "Roe")),
        ("Jane van der Berg", "x@y.example", ("Jane", "van der Berg")),
        ("Cher", "x@y.example", ("", "Cher")),
        ("  'Jane Roe (Northwind)' ", "x@y.example", ("Jane", "Roe")),
        ("", "jane.roe@y.example", ("Jane", "Roe")),
        ("jane.roe@y.example", "jane.roe@y.example", ("Jane", "Roe")),
        ("", "jroe@y.example", ("", "jroe")),
        ("", "mary-ann_smith@y.example", ("Mary", "Ann Smith")),
    ],
)
def test_k3_names_from_display_name_else_address(
    display: str, address: str, expected: tuple[str, str]
) -> None:
    assert split_name(display, address) == expected


def test_k3_names_are_cut_to_salesforce_lengths() -> None:
    first, last = split_name("A" * 60 + " " + "B" * 100, "x@y.example")
    assert (len(first), len(last)) == (40, 80)


@pytest.mark.parametrize(
    ("domain", "name"),
    [
        ("northwind.example", "Northwind"),
        ("fabrikam.co.uk", "Fabrikam"),
        ("www.adatum.com", "Adatum"),
        ("sales.northwind-traders.com", "Northwind-Traders"),
        ("localhost", "Localhost"),
    ],
)
def test_k2_company_name_from_domain(domain: str, name: str) -> None:
    assert company_name(domain) == name


def test_k5_opportunity_name_and_close_date() -> None:
    assert opportunity_name("Northwind", "Pilot  kickoff") == "Northwind - Pilot kickoff"
    assert opportunity_name("Northwind", "") == "Northwind"
    assert len(opportunity_name("N", "x" * 300)) == 120
    org = ORG.model_copy(update={"autocreate_opportunity_close_days": 10})
    assert close_date(date(2026, 1, 1), org) == date(2026, 1, 11)


ACCT = RecordRef(RecordType.ACCOUNT, "001000000000001AAA", "Adatum")
PEOPLE = [
    ("jane@northwind.example", "Jane Roe"),
    ("joe@northwind.example", "Joe Bloggs"),
    ("amy@adatum.example", "Amy Adams"),
    ("bob@gmail.com", "Bob"),
    ("known@adatum.example", "Known"),
]


def _plan(mode: AutoCreate, *, with_contacts: bool = True, **org: object):  # type: ignore[no-untyped-def]
    o = ORG.model_copy(update={"autocreate": mode, **org})
    return plan_records(
        PEOPLE,
        o,
        mode=mode,
        accounts={"adatum.example": ACCT},
        accounts_with_contacts={ACCT.id} if with_contacts else (),
        known={"known@adatum.example"},
        subject="Pilot",
    )


def test_k2_contact_mode_one_new_account_per_domain() -> None:
    p = _plan(AutoCreate.CONTACT)
    assert [(a.domain, a.name, a.website, a.opportunity_name) for a in p.accounts] == [
        ("northwind.example", "Northwind", "https://northwind.example", None)
    ]
    got = [(x.kind, x.email, x.account_id, x.new_account) for x in p.people]
    assert got == [
        (RecordKind.CONTACT, "jane@northwind.example", None, "northwind.example"),
        (RecordKind.CONTACT, "joe@northwind.example", None, "northwind.example"),
        (RecordKind.CONTACT, "amy@adatum.example", ACCT.id, None),
    ]
    assert p.skipped == (("bob@gmail.com", "free-mail domain"),)


def test_k2_contact_without_account_when_autocreate_account_is_off() -> None:
    p = _plan(AutoCreate.CONTACT, autocreate_account=False)
    assert p.accounts == ()
    assert [x.new_account for x in p.people] == [None, None, None]
    assert p.people[2].account_id == ACCT.id


def test_k2_lead_mode_company_from_domain() -> None:
    p = _plan(AutoCreate.LEAD)
    assert p.accounts == ()
    assert [(x.kind, x.company) for x in p.people] == [
        (RecordKind.LEAD, "Northwind"),
        (RecordKind.LEAD, "Northwind"),
        (RecordKind.LEAD, "Adatum"),
    ]


@pytest.mark.parametrize("with_contacts", [True, False])
def test_k2_smart_contact_only_when_the_account_has_contacts(with_contacts: bool) -> None:
    p = _plan(AutoCreate.SMART, with_contacts=with_contacts)
    kinds = {x.email: x.kind for x in p.people}
    assert kinds["jane@northwind.example"] is RecordKind.LEAD  # no Account at all
    assert kinds["amy@adatum.example"] is (RecordKind.CONTACT if with_contacts else RecordKind.LEAD)
    assert p.accounts == ()  # smart never makes Accounts


def test_k5_opportunity_planned_only_for_new_accounts() -> None:
    p = _plan(AutoCreate.CONTACT, autocreate_opportunity=True)
    assert [a.opportunity_name for a in p.accounts] == ["Northwind - Pilot"]


def test_k1_off_plans_nothing() -> None:
    p = _plan(AutoCreate.OFF)
    assert not p and p.people == ()
