"""The Salesforce side as the engine sees it: Events, relations, records, users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class RecordType(StrEnum):
    CONTACT = "Contact"
    LEAD = "Lead"
    ACCOUNT = "Account"
    OPPORTUNITY = "Opportunity"
    USER = "User"
    CALENDAR = "Calendar"
    EVENT = "Event"
    OTHER = "Other"


KEY_PREFIXES: dict[str, RecordType] = {
    "003": RecordType.CONTACT,
    "00Q": RecordType.LEAD,
    "001": RecordType.ACCOUNT,
    "006": RecordType.OPPORTUNITY,
    "005": RecordType.USER,
    "023": RecordType.CALENDAR,
    "00U": RecordType.EVENT,
}
"""Standard key prefixes. `023` for Calendar is commonly cited but unverified (api-facts B9);
connectors should prefer describe or `Owner.Type` where it matters."""


def record_type_of(record_id: str) -> RecordType:
    return KEY_PREFIXES.get(record_id[:3], RecordType.OTHER)


@dataclass(frozen=True, slots=True)
class RecordRef:
    """A Salesforce record the engine links to or talks about."""

    type: RecordType
    id: str
    name: str = ""
    email: str = ""
    account_id: str | None = None
    """For Contacts: the parent Account."""
    object_name: str = ""
    """The sObject API name when `type` is OTHER (e.g. a custom object)."""

    @property
    def sobject(self) -> str:
        return self.object_name or self.type.value


class EventShowAs(StrEnum):
    BUSY = "Busy"
    FREE = "Free"
    OUT_OF_OFFICE = "OutOfOffice"


class RelationStatus(StrEnum):
    NEW = "New"
    ACCEPTED = "Accepted"
    DECLINED = "Declined"
    UNDECIDED = "Undecided"


@dataclass(frozen=True, slots=True)
class EventRelation:
    event_id: str
    relation_id: str
    is_invitee: bool = True
    status: RelationStatus = RelationStatus.NEW
    id: str | None = None
    is_parent: bool = False
    """With Shared Activities: the relation is a Who (Contact/Lead) or What of the Event."""
    is_what: bool = False
    response: str = ""
    is_deleted: bool = False
    """Only from `queryAll` reads (P5 `invitation_mode`: invitees removed in Salesforce)."""


class ClassicRecurrenceType(StrEnum):
    DAILY = "RecursDaily"
    EVERY_WEEKDAY = "RecursEveryWeekday"
    MONTHLY = "RecursMonthly"
    MONTHLY_NTH = "RecursMonthlyNth"
    WEEKLY = "RecursWeekly"
    YEARLY = "RecursYearly"
    YEARLY_NTH = "RecursYearlyNth"


@dataclass(frozen=True, slots=True)
class ClassicRecurrence:
    """Salesforce Classic series fields (on the series' main Event)."""

    type: ClassicRecurrenceType
    start: datetime
    end_date: date
    time_zone: str
    """An IANA id (`RecurrenceTimeZoneSidKey`)."""
    interval: int | None = None
    day_of_week_mask: int | None = None
    """Sun=1, Mon=2, Tue=4, Wed=8, Thu=16, Fri=32, Sat=64."""
    day_of_month: int | None = None
    instance: str | None = None
    """First, Second, Third, Fourth, Last."""
    month_of_year: str | None = None
    """January ... December."""


@dataclass(frozen=True, slots=True)
class LightningRecurrence:
    """A Lightning event series (`IsRecurrence2`)."""

    pattern_text: str
    """Normalised RRULE text, with the `RRULE:` prefix."""
    time_zone: str
    start_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrmEvent:
    """A Salesforce Event record."""

    id: str | None
    owner_id: str
    subject: str = ""
    start: datetime | None = None
    """Aware, UTC (`StartDateTime`)."""
    end: datetime | None = None
    is_all_day: bool = False
    activity_date: date | None = None
    duration_minutes: int | None = None
    location: str = ""
    description: str = ""
    show_as: EventShowAs = EventShowAs.BUSY
    is_private: bool = False
    who_id: str | None = None
    what_id: str | None = None
    is_reminder_set: bool = False
    reminder_at: datetime | None = None
    guid: str | None = None
    """The item GUID, where the org has a field for it (D3)."""
    is_child: bool = False
    is_group_event: bool = False
    classic_recurrence: ClassicRecurrence | None = None
    recurrence_activity_id: str | None = None
    lightning_recurrence: LightningRecurrence | None = None
    is_recurrence2_exception: bool = False
    created_by_id: str | None = None
    last_modified_by_id: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    system_modstamp: datetime | None = None
    is_deleted: bool = False
    extra_fields: tuple[tuple[str, str | int | float | bool | None], ...] = ()
    """Other fields written or read as they are (org `event_defaults`)."""


@dataclass(frozen=True, slots=True)
class CrmUser:
    id: str
    email: str
    name: str = ""
    username: str = ""
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class PublicCalendar:
    id: str
    name: str
    type: str = "Public"
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class CrmChanges:
    """What one org-wide read of Salesforce returned since the cursor."""

    events: tuple[CrmEvent, ...] = ()
    deleted_ids: tuple[str, ...] = ()
    cursor: datetime | None = None
    """The new SystemModstamp high-water mark."""
    rejected: tuple[tuple[str, str], ...] = ()
    """(record id or "", reason) for rows that could not be read (Y3); the rest still count."""


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """Parsed from `Sforce-Limit-Info: api-usage=used/max`."""

    used: int
    max: int

    @property
    def remaining(self) -> int:
        return max(self.max - self.used, 0)

    @property
    def remaining_percent(self) -> float:
        return 100.0 * self.remaining / self.max if self.max else 0.0


@dataclass(frozen=True, slots=True)
class CrmOpportunity:
    """An Opportunity as L6 needs it (WhatId choice)."""

    id: str
    name: str
    account_id: str | None
    owner_id: str | None = None
    stage: str = ""
    is_closed: bool = False
    is_won: bool = False
    close_date: date | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrmFieldDescribe:
    """One field of an sObject describe."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = False
    updateable: bool = False
    defaulted_on_create: bool = False
    external_id: bool = False
    custom: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    label: str = ""

    @property
    def required(self) -> bool:
        """Must be given on create: createable, not nillable, not defaulted."""
        return self.createable and not self.nillable and not self.defaulted_on_create


@dataclass(frozen=True, slots=True)
class CrmObjectDescribe:
    name: str
    key_prefix: str | None
    fields: tuple[CrmFieldDescribe, ...]
    createable: bool = False
    updateable: bool = False
    deletable: bool = False
    label: str = ""

    def field(self, name: str) -> CrmFieldDescribe | None:
        low = name.lower()
        return next((f for f in self.fields if f.name.lower() == low), None)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)
