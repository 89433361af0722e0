"""Load the demo org (`demo_data`) into a running sandbox, as people would have made it: users in
both systems, customers in Salesforce, meetings created in mailboxes (internal attendees get
their copies and answer), invitations from external organizers delivered, categories set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crmcal.domain import OrgSettings, UserConfig, UserSettings
from crmcal.sandbox import demo_data as D
from crmcal.sandbox.runtime import Sandbox
from crmcal.timezones import zoneinfo_for


@dataclass
class DemoOrg:
    users: tuple[UserConfig, ...]
    org: OrgSettings
    salesforce_ids: dict[str, str]
    """Mailbox -> Salesforce User Id."""
    item_ids: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Demo item key -> (mailbox, item id) of every copy."""
    guids: dict[str, str] = field(default_factory=dict)


def _local(now: datetime, item: D.DemoItem) -> datetime:
    zone = zoneinfo_for(item.time_zone) or ZoneInfo("UTC")
    day = (now.astimezone(zone) + timedelta(days=item.day)).date()
    return datetime(day.year, day.month, day.day, item.hour, tzinfo=zone)


def _body(item: D.DemoItem, start: datetime) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M:%S"
    if item.all_day_days:
        s = datetime(start.year, start.month, start.day)
        e = s + timedelta(days=item.all_day_days)
        times = {
            "start": {"dateTime": s.strftime(fmt), "timeZone": item.time_zone},
            "end": {"dateTime": e.strftime(fmt), "timeZone": item.time_zone},
            "isAllDay": True,
        }
    else:
        end = start + timedelta(minutes=item.minutes)
        times = {
            "start": {
                "dateTime": start.replace(tzinfo=None).strftime(fmt),
                "timeZone": item.time_zone,
            },
            "end": {"dateTime": end.replace(tzinfo=None).strftime(fmt), "timeZone": item.time_zone},
        }
    return {
        "subject": item.subject,
        "body": {"contentType": "text", "content": item.body},
        "location": {"displayName": item.location} if item.location else None,
        "sensitivity": item.sensitivity,
        "attendees": [
            {"type": "required", "emailAddress": {"address": a, "name": _name(a)}}
            for a in item.attendees
        ],
        **times,
    }


def _name(address: str) -> str:
    for u in D.USERS:
        if u.address == address:
            return u.name
    for acct in D.ACCOUNTS:
        for first, last, email in acct.contacts:
            if email == address:
                return f"{first} {last}"
    return ""


def seed_demo(sb: Sandbox, now: datetime | None = None) -> DemoOrg:
    """Fill both emulators with the demo org; return what crmcal's configuration needs."""
    now = now or datetime.now(UTC)
    sf, g = sb.salesforce, sb.graph
    sf_ids: dict[str, str] = {}
    users: list[UserConfig] = []
    for u in D.USERS:
        g.add_user(u.address, u.name)
        sf_ids[u.address] = sf.add_user(u.address, first_name=u.first, last_name=u.last)
        if u.crmcal:
            users.append(
                UserConfig(
                    mailbox=u.address,
                    salesforce_user_id=sf_ids[u.address],
                    display_name=u.name,
                    settings=UserSettings(
                        autoshare_meetings=u.autoshare_meetings,
                        autoshare_appointments=u.autoshare_appointments,
                    ),
                )
            )
    for acct in D.ACCOUNTS:
        aid = sf.add_account(acct.name, website=acct.website)
        for first, last, email in acct.contacts:
            sf.add_contact(last, first_name=first, email=email, account_id=aid)
        if acct.opportunity:
            sf.add_opportunity(
                acct.opportunity,
                account_id=aid,
                stage="Negotiation/Review",
                close_date=date.fromordinal(now.date().toordinal() + 60),
                owner_id=sf_ids[D.ANA],
            )
    for first, last, email, company in D.LEADS:
        sf.add_lead(last, first_name=first, email=email, company=company)

    demo = DemoOrg(
        users=tuple(users),
        org=OrgSettings(internal_domains=(D.DOMAIN,)),
        salesforce_ids=sf_ids,
    )
    for item in D.ITEMS:
        start = _local(now, item)
        body = _body(item, start)
        copies: list[tuple[str, str]] = []
        if item.organizer is None:
            rec = g.seed_event(item.mailbox, body, created=now - timedelta(days=20))
            copies.append((item.mailbox, rec.id))
            copies += sorted(rec.copies.items())
            guid = rec.ical_uid
        else:
            digest = hashlib.sha1(item.key.encode(), usedforsecurity=False).hexdigest()
            guid = "040000008200E00074C5B7101A82E008" + digest[:16].upper()
            for mb in item.attendees:
                if mb.endswith("@" + D.DOMAIN) and g.find_mailbox(mb) is not None:
                    rec = g.deliver_invitation(
                        mb, body, organizer=(item.organizer, _name(item.organizer)), ical_uid=guid
                    )
                    copies.append((mb, rec.id))
        by_mailbox = dict(copies)
        for mb, response in item.responses:
            if mb in by_mailbox:
                g.respond(mb, by_mailbox[mb], response, {"sendResponse": True})
        for mb, cats in item.categories:
            if mb in by_mailbox:
                g.update_event(mb, by_mailbox[mb], {"categories": list(cats)})
        if item.existing_event:
            owner = sf_ids[item.mailbox]
            end = start + timedelta(minutes=item.minutes)
            sf.add_event(owner, item.subject, start.astimezone(UTC), end.astimezone(UTC))
        demo.item_ids[item.key] = copies
        demo.guids[item.key] = guid
    return demo
