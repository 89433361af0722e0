"""Who is who in an item: internal or external, blocklisted, crmcal users; which scenario applies
(P1-P3); whether auto-share takes the item (A1-A6) or a manual share may go ahead (M1, M3, M4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from crmcal.domain import (
    EmailAddress,
    Item,
    OrgSettings,
    ResponseType,
    UserConfig,
    UserSettings,
)


@dataclass(frozen=True, slots=True)
class Directory:
    """What the planner knows about people in the org."""

    org: OrgSettings
    users: Mapping[str, UserConfig] = field(default_factory=dict)
    """crmcal users by lower-cased mailbox."""
    salesforce_users: Mapping[str, str] = field(default_factory=dict)
    """Active Salesforce User Ids by lower-cased e-mail (crmcal users or not), for invitees (P1)."""

    @classmethod
    def of(
        cls,
        org: OrgSettings,
        users: tuple[UserConfig, ...] | list[UserConfig],
        salesforce_users: Mapping[str, str] | None = None,
    ) -> Directory:
        by_mail = {u.mailbox: u for u in users if u.enabled}
        sf = {k.lower(): v for k, v in (salesforce_users or {}).items()}
        for u in by_mail.values():
            sf.setdefault(u.mailbox, u.salesforce_user_id)
        return cls(org=org, users=by_mail, salesforce_users=sf)

    def is_internal(self, address: str) -> bool:
        return self.org.is_internal(address)

    def user(self, address: str) -> UserConfig | None:
        return self.users.get(address.strip().lower())


@dataclass(frozen=True, slots=True)
class Participants:
    """An item's participants sorted by what the rules need (addresses lower-cased, in order:
    organizer first, then attendees)."""

    internal: tuple[EmailAddress, ...]
    external: tuple[EmailAddress, ...]
    blocklisted: tuple[EmailAddress, ...]
    """External participants on a blocklist (A5)."""

    @property
    def searchable(self) -> tuple[EmailAddress, ...]:
        """L1: external and not blocklisted."""
        blocked = {b.key for b in self.blocklisted}
        return tuple(e for e in self.external if e.key not in blocked)

    @property
    def is_internal_only(self) -> bool:
        """A4: organizer and every attendee internal."""
        return not self.external

    @property
    def is_blocklisted(self) -> bool:
        """A5: every external participant is blocklisted (and there is at least one)."""
        return bool(self.external) and len(self.blocklisted) == len(self.external)


def participants(item: Item, d: Directory, user: UserSettings | None = None) -> Participants:
    internal: list[EmailAddress] = []
    external: list[EmailAddress] = []
    blocked: list[EmailAddress] = []
    for e in item.participants():
        if d.is_internal(e.address):
            internal.append(e)
        else:
            external.append(e)
            if d.org.is_blocklisted(e.address, user):
                blocked.append(e)
    return Participants(tuple(internal), tuple(external), tuple(blocked))


class Scenario(StrEnum):
    APPOINTMENT = "appointment"
    YOU_ORGANIZE = "you_organize"
    """P1: one Event owned by the organizer; internal attendees become invitees."""
    CRMCAL_ORGANIZER = "crmcal_organizer"
    """P2: in-org organizer who is a crmcal user: attendees wait for the organizer's share."""
    OTHER_ORGANIZER = "other_organizer"
    """P3: external organizer, or in-org organizer not using crmcal: each sharer owns one."""


def scenario(item: Item, d: Directory) -> Scenario:
    if not item.is_meeting:
        return Scenario.APPOINTMENT
    org = item.organizer
    if item.is_organizer or org is None or org.key == item.mailbox.strip().lower():
        return Scenario.YOU_ORGANIZE
    if d.is_internal(org.address) and d.user(org.address) is not None:
        return Scenario.CRMCAL_ORGANIZER
    return Scenario.OTHER_ORGANIZER


class Skip(StrEnum):
    """Why auto-share passed an item by (recorded, not an error)."""

    PRIVATE = "private"
    INTERNAL = "internal"
    BLOCKLISTED = "blocklisted"
    DECLINED = "declined"
    NOT_ANSWERED = "not_answered"
    MEETINGS_OFF = "autoshare_meetings_off"
    APPOINTMENTS_OFF = "autoshare_appointments_off"
    UNLINKED = "unlinked"
    CANCELLED = "cancelled"
    HISTORICAL = "historical"
    PAUSED = "paused"


def response_allows_autoshare(item: Item, user: UserSettings) -> Skip | None:
    """A1: created (organizer), accepted or tentatively accepted; declined never; not answered only
    with `share_unanswered`."""
    if item.is_organizer:
        return None
    r = item.my_response
    if r in (ResponseType.ACCEPTED, ResponseType.TENTATIVELY_ACCEPTED, ResponseType.ORGANIZER):
        return None
    if r is ResponseType.DECLINED:
        return Skip.DECLINED
    return None if user.share_unanswered else Skip.NOT_ANSWERED


def autoshare_skip(
    item: Item,
    p: Participants,
    user: UserSettings,
    org: OrgSettings,
    *,
    linked: bool,
    historical: bool = False,
) -> Skip | None:
    """A1-A6: None when auto-share takes the item, else the first reason it does not.

    `linked` says whether Initial Search (L) or auto-creation (K) found at least one record for it.
    """
    if user.paused:
        return Skip.PAUSED
    if item.is_cancelled:
        return Skip.CANCELLED
    if historical:
        return Skip.HISTORICAL
    if item.is_meeting and not user.autoshare_meetings:
        return Skip.MEETINGS_OFF
    if not item.is_meeting and not user.autoshare_appointments:
        return Skip.APPOINTMENTS_OFF
    if (why := response_allows_autoshare(item, user)) is not None:
        return why
    if item.is_private and not org.autoshare_private:
        return Skip.PRIVATE
    if item.is_meeting and p.is_internal_only and not org.autoshare_internal:
        return Skip.INTERNAL
    if p.is_blocklisted:
        return Skip.BLOCKLISTED
    if not linked and not org.share_unlinked:
        return Skip.UNLINKED
    return None


def unresolved_blocks_share(
    item: Item, p: Participants, resolved: set[str], org: OrgSettings
) -> tuple[str, ...]:
    """M4: a meeting with external participants none of whom has a record cannot be shared; returns
    the unresolved addresses that block it (empty when sharing may go ahead). Internal-only items
    (M3) and appointments are never blocked; `share_unlinked` lifts the block."""
    if not item.is_meeting or org.share_unlinked:
        return ()
    searchable = p.searchable
    if not searchable:
        return ()
    if any(e.key in resolved for e in searchable):
        return ()
    return tuple(e.key for e in searchable)
