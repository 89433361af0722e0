"""Auto-creation of records for unresolved participants (K1-K5): pure decisions.

Which addresses may get a record (K1), what kind of record (K2: `contact`, `lead`, `smart`), the
names (K3), the Account a Contact goes under or the one made for its domain (K2), the marker that
says crmcal made it (K4), and the Opportunity made on a new Account (K5). The effects (queries and
writes) live in `crmcal.sync.autocreate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from crmcal.domain import AutoCreate, OrgSettings, RecordRef, UserSettings

MARKER = "Created by crmcal from a calendar participant (K4)."
"""K4: the Description every auto-created record carries (Contact, Lead, Account, Opportunity)."""

FIRST_NAME_MAX = 40
LAST_NAME_MAX = 80
COMPANY_MAX = 255
OPPORTUNITY_NAME_MAX = 120

_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "ltd"})
_LOCAL_SPLIT = re.compile(r"[._\-+]+")
_PAREN = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*")


class RecordKind(StrEnum):
    CONTACT = "Contact"
    LEAD = "Lead"


def domain_of(address: str) -> str:
    return address.strip().lower().rpartition("@")[2]


def eligible(address: str, org: OrgSettings, user: UserSettings | None = None) -> bool:
    """K1: never internal, blocklisted (org or user list) or free-mail addresses, whatever the
    `block_free_mail_domains` setting says; and only well-formed addresses."""
    a = address.strip().lower()
    local, at, dom = a.rpartition("@")
    if not at or not local or "." not in dom or any(c.isspace() for c in a):
        return False
    return not (org.is_internal(a) or org.is_free_mail(a) or org.is_blocklisted(a, user))


def effective_mode(org: OrgSettings, *, explicit: bool = False) -> AutoCreate:
    """K1: the org's mode; an explicit request (the dashboard's "create record" action) with
    the mode `off` uses `contact` semantics (decision 0050)."""
    if org.autocreate is AutoCreate.OFF and explicit:
        return AutoCreate.CONTACT
    return org.autocreate


def split_name(display_name: str, address: str) -> tuple[str, str]:
    """K3: (FirstName, LastName) from the display name, falling back to the address.

    "Jane Doe" -> (Jane, Doe); "Doe, Jane" -> (Jane, Doe); "Jane van der Berg" -> (Jane, van der
    Berg); "Cher" -> ("", Cher); a name that is empty or an address uses the address's local part:
    "jane.doe@x" -> (Jane, Doe), "jdoe@x" -> ("", jdoe). LastName is never empty.
    """
    name = _PAREN.sub(" ", display_name or "").strip().strip("'\"").strip()
    name = " ".join(name.split())
    if not name or "@" in name:
        local = address.strip().rpartition("@")[0] or address.strip()
        parts = [p for p in _LOCAL_SPLIT.split(local) if p]
        if len(parts) >= 2:
            first = parts[0].capitalize()
            last = " ".join(p.capitalize() for p in parts[1:])
        else:
            first, last = "", local
    elif "," in name:
        last, _, first = (x.strip() for x in name.partition(","))
        if not last:
            first, last = "", first
    else:
        words = name.split(" ")
        first, last = ("", words[0]) if len(words) == 1 else (words[0], " ".join(words[1:]))
    last = last or address.strip()
    return first[:FIRST_NAME_MAX], last[:LAST_NAME_MAX]


def company_name(domain: str) -> str:
    """K2: a readable company name from a domain: `fabrikam.co.uk` -> `Fabrikam`,
    `sales.northwind-traders.com` -> `Northwind-Traders`; the domain itself when that fails."""
    labels = [x for x in domain.strip().lower().strip(".").split(".") if x]
    if labels and labels[0] == "www":
        labels = labels[1:]
    if len(labels) >= 2:
        labels = labels[:-1]
        if len(labels) >= 2 and labels[-1] in _SECOND_LEVEL:
            labels = labels[:-1]
    base = labels[-1] if labels else domain.strip()
    pretty = "-".join(p.capitalize() for p in base.split("-")) or domain.strip()
    return pretty[:COMPANY_MAX]


def website_for(domain: str) -> str:
    """K2: the Website of an Account made for a domain; L3 finds it again by that domain."""
    return f"https://{domain.strip().lower()}"


def opportunity_name(account_name: str, subject: str) -> str:
    """K5: "<Account> - <meeting subject>" (just the Account without a subject), cut to 120."""
    subject = " ".join((subject or "").split())
    name = f"{account_name} - {subject}" if subject else account_name
    return name[:OPPORTUNITY_NAME_MAX]


def close_date(today: date, org: OrgSettings) -> date:
    """K5: CloseDate of an auto-created Opportunity."""
    return today + timedelta(days=org.autocreate_opportunity_close_days)


@dataclass(frozen=True, slots=True)
class NewAccount:
    """K2: an Account to make for a domain no Account's Website matches."""

    domain: str
    name: str
    website: str
    opportunity_name: str | None = None
    """K5: also make an Opportunity with this name on it."""


@dataclass(frozen=True, slots=True)
class NewPerson:
    """K2/K3: one Contact or Lead to make for one address."""

    kind: RecordKind
    email: str
    first_name: str
    last_name: str
    domain: str
    account_id: str | None = None
    """Contact under an existing Account (K2)."""
    new_account: str | None = None
    """Contact under the Account made for this domain in the same run (its `domain`)."""
    company: str = ""
    """Lead: Company from the domain (K2)."""


@dataclass(frozen=True, slots=True)
class CreationPlan:
    accounts: tuple[NewAccount, ...] = ()
    people: tuple[NewPerson, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    """(address, reason) for addresses that get no record (K1), for the session log."""

    def __bool__(self) -> bool:
        return bool(self.accounts or self.people)


def plan_records(
    addresses: Sequence[tuple[str, str]],
    org: OrgSettings,
    *,
    mode: AutoCreate,
    accounts: Mapping[str, RecordRef],
    accounts_with_contacts: Iterable[str] = (),
    known: Iterable[str] = (),
    subject: str = "",
    subjects: Mapping[str, str] | None = None,
    user: UserSettings | None = None,
) -> CreationPlan:
    """K1-K3, K5 for a list of (address, display name), in order, once per address.

    `accounts`: the Account whose Website matches each domain (L3), `accounts_with_contacts`: the
    ids of those Accounts that have Contacts (for `smart`), `known`: addresses that already have a
    Contact or Lead (they get nothing); `subjects`: the meeting subject per address (K5 names the
    Opportunity after the first meeting that made its Account), else `subject`."""
    if mode is AutoCreate.OFF:
        return CreationPlan(
            skipped=tuple((a.strip().lower(), "autocreate is off") for a, _ in addresses)
        )
    have_contacts = set(accounts_with_contacts)
    done = {k.strip().lower() for k in known}
    new_accounts: dict[str, NewAccount] = {}
    people: list[NewPerson] = []
    skipped: list[tuple[str, str]] = []
    for raw, display in addresses:
        a = raw.strip().lower()
        if a in done:
            continue
        done.add(a)
        if not eligible(a, org, user):
            skipped.append((a, why_not(a, org, user)))
            continue
        dom = domain_of(a)
        first, last = split_name(display, a)
        acct = accounts.get(dom)
        kind = RecordKind.LEAD if mode is AutoCreate.LEAD else RecordKind.CONTACT
        if mode is AutoCreate.SMART:
            kind = (
                RecordKind.CONTACT
                if acct is not None and acct.id in have_contacts
                else RecordKind.LEAD
            )
        if kind is RecordKind.LEAD:
            people.append(NewPerson(kind, a, first, last, dom, company=company_name(dom)))
            continue
        if acct is not None:
            people.append(NewPerson(kind, a, first, last, dom, account_id=acct.id))
            continue
        if not org.autocreate_account:
            people.append(NewPerson(kind, a, first, last, dom))  # a Contact without an Account
            continue
        if dom not in new_accounts:
            name = company_name(dom)
            subj = (subjects or {}).get(a, subject)
            opp = opportunity_name(name, subj) if org.autocreate_opportunity else None
            new_accounts[dom] = NewAccount(dom, name, website_for(dom), opp)
        people.append(NewPerson(kind, a, first, last, dom, new_account=dom))
    return CreationPlan(tuple(new_accounts.values()), tuple(people), tuple(skipped))


def why_not(address: str, org: OrgSettings, user: UserSettings | None) -> str:
    if org.is_internal(address):
        return "internal"
    if org.is_free_mail(address):
        return "free-mail domain"
    if org.is_blocklisted(address, user):
        return "blocklisted"
    return "not an e-mail address"


__all__ = [
    "MARKER",
    "CreationPlan",
    "NewAccount",
    "NewPerson",
    "RecordKind",
    "close_date",
    "company_name",
    "domain_of",
    "effective_mode",
    "eligible",
    "opportunity_name",
    "plan_records",
    "split_name",
    "website_for",
    "why_not",
]
