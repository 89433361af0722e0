"""The demo org: a small sales team at Contoso, its customers in Salesforce, and calendar items
that exercise the sharing rules. Pure data; `crmcal.sandbox.seed_org` loads it into the emulators.

Each item names the SPEC rules it shows and what a correct sync does with it, so the demo can
print a readable, checkable summary.
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAIN = "contoso.example"


@dataclass(frozen=True, slots=True)
class DemoUser:
    address: str
    first: str
    last: str
    crmcal: bool = True
    autoshare_meetings: bool = True
    autoshare_appointments: bool = False

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


USERS: tuple[DemoUser, ...] = (
    DemoUser("ana.ruiz@contoso.example", "Ana", "Ruiz"),
    DemoUser("ben.okafor@contoso.example", "Ben", "Okafor", autoshare_meetings=False),
    DemoUser("chloe.martin@contoso.example", "Chloe", "Martin", autoshare_meetings=False),
    DemoUser("dev.patel@contoso.example", "Dev", "Patel", autoshare_appointments=True),
    DemoUser("frank.li@contoso.example", "Frank", "Li", crmcal=False),
)
ANA, BEN, CHLOE, DEV, FRANK = (u.address for u in USERS)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    name: str
    website: str | None
    contacts: tuple[tuple[str, str, str], ...] = ()
    """(first, last, email)."""
    opportunity: str | None = None
    """An open Opportunity owned by Ana."""


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "Fabrikam, Inc.",
        "https://www.fabrikam.example",
        (
            ("Maria", "Gomez", "maria.gomez@fabrikam.example"),
            ("Tom", "Baker", "tom.baker@fabrikam.example"),
        ),
        opportunity="Fabrikam - 2027 renewal",
    ),
    DemoAccount("Northwind Traders", "northwind.example"),
    DemoAccount(
        "Litware",
        "http://litware.example/",
        (("Priya", "Shah", "priya.shah@litware.example"),),
    ),
)
LEADS: tuple[tuple[str, str, str, str], ...] = (
    ("Lee", "Wong", "lee.wong@tailspin.example", "Tailspin Toys"),
)
MARIA, TOM = "maria.gomez@fabrikam.example", "tom.baker@fabrikam.example"
PRIYA, LEE = "priya.shah@litware.example", "lee.wong@tailspin.example"
NORTHWIND_OPS = "ops@northwind.example"
UNKNOWN = "sam@adatum.example"
GMAIL = "old.friend@gmail.com"


@dataclass(frozen=True, slots=True)
class DemoItem:
    key: str
    mailbox: str
    """Where the item is created: the organizer's mailbox (internal attendees get copies), or,
    for an external organizer, each internal attendee's own mailbox."""
    subject: str
    day: int
    """Days from now (negative: past)."""
    hour: int = 10
    minutes: int = 60
    organizer: str | None = None
    """An external organizer; None when `mailbox` organizes."""
    attendees: tuple[str, ...] = ()
    responses: tuple[tuple[str, str], ...] = ()
    """(attendee mailbox, accepted|tentativelyAccepted|declined) for internal attendees' copies."""
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(mailbox, categories) set on that mailbox's copy before the sync."""
    sensitivity: str = "normal"
    all_day_days: int = 0
    time_zone: str = "W. Europe Standard Time"
    body: str = ""
    location: str = ""
    rules: tuple[str, ...] = ()
    expect: str = ""
    existing_event: bool = False
    """D2: an Event with the same owner, subject and start already exists (made by another tool)."""
    events: int = 0
    """How many Events with this subject a correct sync leaves in Salesforce."""
    issue: str | None = None
    """The issue reason a correct sync raises for it, if any."""


ITEMS: tuple[DemoItem, ...] = (
    DemoItem(
        "p1",
        ANA,
        "Fabrikam renewal: pricing review",
        1,
        10,
        attendees=(MARIA, TOM, BEN, FRANK),
        responses=((BEN, "accepted"),),
        body="Agenda: 2027 pricing, volume tiers, next steps.",
        rules=("P1", "L5", "L6", "U6", "A1"),
        expect="one Event owned by Ana; Ben and Frank invited; Who = Maria Gomez (and Tom Baker); "
        "What = the open renewal Opportunity; Ben's copy linked with the Salesforce category",
        events=1,
    ),
    DemoItem(
        "p2",
        BEN,
        "Fabrikam onboarding plan",
        2,
        14,
        attendees=(ANA, MARIA),
        responses=((ANA, "accepted"),),
        rules=("P2", "I1"),
        expect="Ben organizes and has not shared (his auto-share is off): Ana's copy waits "
        "('Waiting for the organizer'), nothing is created",
        events=0,
        issue="waiting_for_organizer",
    ),
    DemoItem(
        "p3",
        ANA,
        "Litware quarterly business review",
        3,
        15,
        organizer=PRIYA,
        attendees=(ANA, CHLOE, UNKNOWN),
        responses=((ANA, "accepted"), (CHLOE, "accepted")),
        categories=((CHLOE, ("Salesforce",)),),
        rules=("P3", "M1", "U6"),
        expect="external organizer: two Events with the same GUID, owned by Ana (auto-share) and "
        "Chloe (category), Who = Priya Shah; nothing made for sam@adatum.example",
        events=2,
    ),
    DemoItem(
        "a4",
        BEN,
        "Internal pipeline sync",
        1,
        9,
        attendees=(ANA,),
        responses=((ANA, "accepted"),),
        rules=("A4",),
        expect="internal meeting: not auto-shared",
        events=0,
    ),
    DemoItem(
        "a3",
        ANA,
        "Fabrikam: confidential escalation",
        4,
        11,
        attendees=(TOM,),
        sensitivity="private",
        rules=("A3",),
        expect="private: never auto-shared",
        events=0,
    ),
    DemoItem(
        "m6",
        ANA,
        "Fabrikam: legal review (private)",
        5,
        16,
        attendees=(MARIA,),
        sensitivity="private",
        categories=((ANA, ("Salesforce",)),),
        rules=("M1", "M6"),
        expect="private but shared by category: Event with IsPrivate = true and no links",
        events=1,
    ),
    DemoItem(
        "a5",
        ANA,
        "Coffee with an old friend",
        2,
        8,
        attendees=(GMAIL,),
        rules=("A5",),
        expect="every external participant blocklisted (free mail): not auto-shared",
        events=0,
    ),
    DemoItem(
        "m4",
        ANA,
        "Adatum intro call",
        6,
        13,
        attendees=(UNKNOWN,),
        categories=((ANA, ("Salesforce",)),),
        rules=("M4", "C3", "I1"),
        expect="the only external participant has no record: 'Unresolved participants', issue",
        events=0,
        issue="unresolved_participants",
    ),
    DemoItem(
        "l3",
        ANA,
        "Northwind logistics workshop",
        7,
        10,
        attendees=(NORTHWIND_OPS,),
        rules=("L3",),
        expect="no Contact or Lead: linked to the Northwind Traders Account by its Website domain",
        events=1,
    ),
    DemoItem(
        "l4",
        DEV,
        "Call lee.wong@tailspin.example about the pilot",
        1,
        17,
        minutes=30,
        rules=("L4", "A1"),
        expect="appointment (Dev auto-shares appointments): Lead Lee Wong found in the subject",
        events=1,
    ),
    DemoItem(
        "n1",
        ANA,
        "Fabrikam offsite",
        10,
        0,
        attendees=(MARIA,),
        all_day_days=3,
        categories=((ANA, ("Salesforce",)),),
        rules=("N1", "N4"),
        expect="all-day for 3 days: 'Sync Error' and 'Not synced' status, an issue",
        events=0,
        issue="not_synced",
    ),
    DemoItem(
        "a1",
        ANA,
        "Litware vendor demo",
        8,
        14,
        organizer=PRIYA,
        attendees=(ANA,),
        responses=((ANA, "declined"),),
        rules=("A1",),
        expect="declined invitation: not shared",
        events=0,
    ),
    DemoItem(
        "w1",
        ANA,
        "Fabrikam kickoff (long ago)",
        -40,
        10,
        attendees=(MARIA,),
        rules=("W1",),
        expect="outside the window (-14 to +60 days): not read",
        events=0,
    ),
    DemoItem(
        "u3",
        ANA,
        "Fabrikam: " + "very long subject " * 18,
        9,
        10,
        attendees=(TOM,),
        rules=("U3",),
        expect="subject cut to 255 characters in Salesforce",
        events=1,
    ),
    DemoItem(
        "n3",
        ANA,
        "Litware APAC check-in",
        3,
        4,
        attendees=(PRIYA,),
        time_zone="Nepal Standard Time",
        rules=("N3",),
        expect="a single item in an unusual zone syncs (stored in UTC)",
        events=1,
    ),
    DemoItem(
        "d2",
        ANA,
        "Fabrikam contract signature",
        11,
        15,
        attendees=(MARIA,),
        existing_event=True,
        rules=("D2",),
        expect="an Event made earlier by another tool is linked, not duplicated",
        events=1,
    ),
)
