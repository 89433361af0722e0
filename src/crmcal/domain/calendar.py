"""The Outlook side as the engine sees it: items, attendees, recurrence.

Everything here is immutable and free of I/O. Connectors build these from Graph JSON at the edge;
nothing past a connector sees raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Sensitivity(StrEnum):
    NORMAL = "normal"
    PERSONAL = "personal"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"

    @property
    def is_private(self) -> bool:
        """A3: private, confidential and personal all count as private."""
        return self is not Sensitivity.NORMAL


class ShowAs(StrEnum):
    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    UNKNOWN = "unknown"


class ResponseType(StrEnum):
    NONE = "none"
    ORGANIZER = "organizer"
    TENTATIVELY_ACCEPTED = "tentativelyAccepted"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_RESPONDED = "notResponded"


class AttendeeType(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    RESOURCE = "resource"


class ItemType(StrEnum):
    SINGLE_INSTANCE = "singleInstance"
    OCCURRENCE = "occurrence"
    EXCEPTION = "exception"
    SERIES_MASTER = "seriesMaster"


class PatternType(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    ABSOLUTE_MONTHLY = "absoluteMonthly"
    RELATIVE_MONTHLY = "relativeMonthly"
    ABSOLUTE_YEARLY = "absoluteYearly"
    RELATIVE_YEARLY = "relativeYearly"


class WeekIndex(StrEnum):
    FIRST = "first"
    SECOND = "second"
    THIRD = "third"
    FOURTH = "fourth"
    LAST = "last"


class DayOfWeek(StrEnum):
    SUNDAY = "sunday"
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"


class RangeType(StrEnum):
    END_DATE = "endDate"
    NO_END = "noEnd"
    NUMBERED = "numbered"


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """A mailbox address. Comparisons in the engine use `key` (case-insensitive)."""

    address: str
    name: str = ""

    @property
    def key(self) -> str:
        return self.address.strip().lower()

    @property
    def domain(self) -> str:
        _, _, dom = self.key.rpartition("@")
        return dom


@dataclass(frozen=True, slots=True)
class Attendee:
    email: EmailAddress
    type: AttendeeType = AttendeeType.REQUIRED
    response: ResponseType = ResponseType.NONE


@dataclass(frozen=True, slots=True)
class RecurrencePattern:
    type: PatternType
    interval: int = 1
    days_of_week: tuple[DayOfWeek, ...] = ()
    day_of_month: int = 0
    month: int = 0
    index: WeekIndex = WeekIndex.FIRST
    first_day_of_week: DayOfWeek = DayOfWeek.SUNDAY


@dataclass(frozen=True, slots=True)
class RecurrenceRange:
    type: RangeType
    start_date: date
    end_date: date | None = None
    number_of_occurrences: int = 0
    time_zone: str | None = None
    """The range's zone as Graph sends it (usually a Windows name)."""


@dataclass(frozen=True, slots=True)
class Recurrence:
    pattern: RecurrencePattern
    range: RecurrenceRange


@dataclass(frozen=True, slots=True)
class Item:
    """A calendar item in one mailbox (a Graph `event`)."""

    id: str
    mailbox: str
    """The address of the mailbox this copy lives in."""
    ical_uid: str
    """The GUID (per occurrence for series); "" when Graph did not send it (sparse delta rows,
    E1)."""
    change_key: str
    subject: str
    start: datetime
    """Aware, UTC. For all-day items read from Graph, midnight UTC of the first day as written
    (E2: the date, not an instant); `rules.mapping.all_day_dates` reads it."""
    end: datetime
    start_time_zone: str = "UTC"
    """The zone the item was created in (`originalStartTimeZone`), usually a Windows name."""
    end_time_zone: str = "UTC"
    is_all_day: bool = False
    organizer: EmailAddress | None = None
    attendees: tuple[Attendee, ...] = ()
    is_organizer: bool = True
    my_response: ResponseType = ResponseType.ORGANIZER
    sensitivity: Sensitivity = Sensitivity.NORMAL
    show_as: ShowAs = ShowAs.BUSY
    categories: tuple[str, ...] = ()
    type: ItemType = ItemType.SINGLE_INSTANCE
    series_master_id: str | None = None
    recurrence: Recurrence | None = None
    original_start: datetime | None = None
    is_cancelled: bool = False
    body: str = ""
    body_is_html: bool = False
    location: str = ""
    reminder_on: bool = False
    reminder_minutes: int = 0
    web_link: str = ""
    created: datetime | None = None
    last_modified: datetime | None = None
    salesforce_event_id: str | None = None
    """crmcal's own marker, read from a single-value extended property."""
    has_attachments: bool = False

    @property
    def is_meeting(self) -> bool:
        """A meeting has participants besides the mailbox owner (the organizer counts: Graph's
        attendee list leaves the organizer out); an appointment has none."""
        own = self.mailbox.strip().lower()
        return any(e.key != own for e in self.participants())

    @property
    def is_private(self) -> bool:
        return self.sensitivity.is_private

    @property
    def is_recurring(self) -> bool:
        return self.type is not ItemType.SINGLE_INSTANCE

    def participants(self) -> tuple[EmailAddress, ...]:
        """Organizer first, then attendees in order, without repeats (case-insensitive)."""
        seen: set[str] = set()
        out: list[EmailAddress] = []
        for e in ([self.organizer] if self.organizer else []) + [a.email for a in self.attendees]:
            if e.key and e.key not in seen:
                seen.add(e.key)
                out.append(e)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class ItemRemoved:
    """A delta tombstone: the item is gone from the mailbox (or left the window)."""

    id: str
    mailbox: str
    reason: str = "deleted"


@dataclass(frozen=True, slots=True)
class CalendarChanges:
    """What one delta round over a mailbox's window returned."""

    mailbox: str
    items: tuple[Item, ...] = ()
    removed: tuple[ItemRemoved, ...] = ()
    cursor: str = ""
    """The delta link to store for the next round."""
    full_resync: bool = False
    """True when the previous cursor had expired (410) and this round started over."""
    errors: tuple[ItemError, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ItemError:
    """An item a connector could not read (Y3): which one, and why."""

    mailbox: str
    item_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemDraft:
    """A new item to create in a mailbox (write side of `Item`).

    `start`/`end` are aware datetimes; `time_zone` is the zone the item is created in (Windows or
    IANA name) and becomes its `originalStartTimeZone`. For all-day items give local midnights.
    """

    subject: str
    start: datetime
    end: datetime
    time_zone: str = "UTC"
    is_all_day: bool = False
    body: str = ""
    body_is_html: bool = False
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    sensitivity: Sensitivity = Sensitivity.NORMAL
    show_as: ShowAs = ShowAs.BUSY
    categories: tuple[str, ...] = ()
    reminder_on: bool = False
    reminder_minutes: int = 0
    recurrence: Recurrence | None = None
    salesforce_event_id: str | None = None
    transaction_id: str | None = None
    """Idempotency key for the create (Graph `transactionId`)."""


@dataclass(frozen=True, slots=True)
class ItemPatch:
    """Changes to an existing item; `None` means "leave unchanged" (only changed fields are sent).

    `start` and `end` are sent together with `time_zone` when either is set.
    """

    subject: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None
    is_all_day: bool | None = None
    body: str | None = None
    body_is_html: bool | None = None
    location: str | None = None
    attendees: tuple[Attendee, ...] | None = None
    sensitivity: Sensitivity | None = None
    show_as: ShowAs | None = None
    categories: tuple[str, ...] | None = None
    reminder_on: bool | None = None
    reminder_minutes: int | None = None
    recurrence: Recurrence | None = None
    salesforce_event_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)
