"""Small builders for domain objects in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from crmcal.domain import (
    Attendee,
    EmailAddress,
    Item,
    OrgSettings,
    RecordRef,
    RecordType,
    ResponseType,
    UserConfig,
)
from crmcal.rules.participants import Directory

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ORG = OrgSettings(internal_domains=("contoso.example",))
_ids = count(1)

ANN = "ann@contoso.example"
BOB = "bob@contoso.example"
CARL = "carl@contoso.example"  # internal, not a crmcal user
ANN_ID = "005000000000001AAA"
BOB_ID = "005000000000002AAA"
CARL_ID = "005000000000003AAA"


def directory(org: OrgSettings = ORG, **settings: Any) -> Directory:
    from crmcal.domain import UserSettings

    users = [
        UserConfig(mailbox=ANN, salesforce_user_id=ANN_ID, settings=UserSettings(**settings)),
        UserConfig(mailbox=BOB, salesforce_user_id=BOB_ID, settings=UserSettings(**settings)),
    ]
    return Directory.of(org, users, {CARL: CARL_ID})


def att(address: str, response: ResponseType = ResponseType.NONE, name: str = "") -> Attendee:
    return Attendee(EmailAddress(address, name), response=response)


def item(
    *,
    mailbox: str = ANN,
    organizer: str | None = None,
    attendees: tuple[str, ...] = (),
    start: datetime | None = None,
    hours: float = 1,
    **kw: Any,
) -> Item:
    """An item in `mailbox`. A meeting when attendees are given; organized by the mailbox owner
    unless `organizer` says otherwise (then `my_response` defaults to accepted)."""
    n = next(_ids)
    s = start or NOW + timedelta(days=1)
    org = organizer or mailbox
    mine = org.lower() == mailbox.lower()
    kw.setdefault("is_organizer", mine)
    kw.setdefault("my_response", ResponseType.ORGANIZER if mine else ResponseType.ACCEPTED)
    return Item(
        id=f"AAMkAD-{n:04d}=",
        mailbox=mailbox,
        ical_uid=kw.pop("ical_uid", f"040000008200E00074C5B7101A82E008{n:08X}"),
        change_key=kw.pop("change_key", f"ck{n}"),
        subject=kw.pop("subject", f"Item {n}"),
        start=s,
        end=s + timedelta(hours=hours),
        organizer=EmailAddress(org),
        attendees=tuple(att(a) for a in attendees),
        **kw,
    )


def contact(n: int, email: str, account: str | None = None) -> RecordRef:
    return RecordRef(RecordType.CONTACT, f"003{n:015d}", email=email, account_id=account)


def lead(n: int, email: str) -> RecordRef:
    return RecordRef(RecordType.LEAD, f"00Q{n:015d}", email=email)


def account(n: int, name: str = "") -> RecordRef:
    return RecordRef(RecordType.ACCOUNT, f"001{n:015d}", name=name)
