"""Org and user settings with every option SPEC.md names, and its default.

Each field's description names the SPEC rule it serves. These models are immutable and do no I/O;
`crmcal.config` loads them from the TOML file and the environment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "fastmail.com",
)
"""A5, K1, L3: free-mail domains, on the org blocklist by default and never used to find or make an
Account."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _lower_all(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({v.strip().lower() for v in values if v.strip()}))


class Blocklist(_Frozen):
    """Exact addresses and whole domains (no wildcards), compared case-insensitively (A5)."""

    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    _norm_a = field_validator("addresses")(_lower_all)
    _norm_d = field_validator("domains")(_lower_all)

    def blocks(self, address: str) -> bool:
        a = address.strip().lower()
        return a in self.addresses or a.rpartition("@")[2] in self.domains


class RecurrenceFormat(StrEnum):
    CLASSIC = "classic"
    LIGHTNING = "lightning"


class AutoCreate(StrEnum):
    OFF = "off"
    CONTACT = "contact"
    LEAD = "lead"
    SMART = "smart"


class CreateRecordBy(StrEnum):
    """Who may use an issue's Create record (issue 19)."""

    POLICY = "policy"
    EVERYONE = "everyone"
    ADMINS = "admins"


class Direction(StrEnum):
    BOTH = "both"
    OUTLOOK_TO_SALESFORCE = "outlook_to_salesforce"
    SALESFORCE_TO_OUTLOOK = "salesforce_to_outlook"


FieldValue = str | int | float | bool


class PublicCalendarSync(_Frozen):
    """G1: one Salesforce public calendar pushed one way into chosen users' Outlook calendars."""

    calendar: str = Field(description="The Salesforce Calendar Id or Name.")
    users: tuple[str, ...] = Field(description="Mailbox addresses that receive its Events.")
    category: str = Field(description="The Outlook category its items carry.")


class GroupCalendarSync(_Frozen):
    """G2: a Microsoft 365 group calendar shared into Salesforce like a user calendar."""

    group: str = Field(description="The group's id or mail address.")
    owner: str = Field(description="The Salesforce User Id that owns the Events made from it.")


class CalendarObject(_Frozen):
    """G4: records of a standard or custom object pushed one way as calendar items."""

    object: str = Field(description="API name, e.g. `Opportunity` or `Site_Visit__c`.")
    date_field: str | None = Field(default=None, description="A date field: all-day items.")
    start_field: str | None = Field(default=None, description="A date-time start field.")
    end_field: str | None = Field(default=None, description="A date-time end field.")
    subject_template: str = Field(default="{Name}", description="Python format over the fields.")
    category: str | None = Field(default=None, description="Defaults to the object's name.")

    @model_validator(mode="after")
    def _one_kind_of_time(self) -> CalendarObject:
        if (self.date_field is None) == (self.start_field is None):
            raise ValueError("set either date_field, or start_field (with end_field)")
        if self.start_field is not None and self.end_field is None:
            raise ValueError("start_field needs end_field")
        return self


class AttachmentLimits(_Frozen):
    """T2."""

    max_total_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    min_file_bytes: int = Field(default=0, ge=0)
    max_file_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    allowed_extensions: tuple[str, ...] = (
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "csv", "rtf",
        "png", "jpg", "jpeg", "gif", "zip", "eml", "msg",
    )  # fmt: skip

    _norm = field_validator("allowed_extensions")(
        lambda v: tuple(sorted({e.strip().lower().lstrip(".") for e in v if e.strip()}))
    )


class OrgSettings(_Frozen):
    """Settings that hold for the whole org."""

    internal_domains: tuple[str, ...] = Field(
        default=(), description="Words: the org's e-mail domains; an address in them is internal."
    )
    window_past_days: int = Field(
        default=14, ge=0, le=3650, description="W1: the window starts this many days before now."
    )
    window_future_days: int = Field(
        default=60, ge=1, le=3650, description="W1: the window ends this many days after now."
    )
    backfill_on_enable: bool = Field(
        default=True,
        description="W4: when a user is first switched on, auto-share items already in the window.",
    )
    autoshare_private: bool = Field(
        default=False,
        description="A3: let auto-share take private, confidential and personal items.",
    )
    autoshare_internal: bool = Field(
        default=False,
        description="A4: let auto-share take items whose participants are all internal.",
    )
    blocklist: Blocklist = Field(default=Blocklist(), description="A5: the org-wide list.")
    block_free_mail_domains: bool = Field(
        default=True, description="A5: the free-mail domains count as on the org list."
    )
    share_unlinked: bool = Field(
        default=False, description="A6: auto-share items for which Initial Search found no record."
    )
    safe_description: bool = Field(
        default=True,
        description="U2: copy the body only on first share; later edits never cross over.",
    )
    description_participants_header: bool = Field(
        default=True, description="U6: start a meeting's Description with From: and To/CC: lines."
    )
    event_defaults: dict[str, FieldValue] = Field(
        default_factory=dict, description="U3: values for other Event fields on create."
    )
    guid_field: str | None = Field(
        default=None,
        description="D3: `ClientGuid` or a custom External ID field (e.g. `Outlook_GUID__c`).",
    )
    sync_salesforce_calendar: bool = Field(
        default=True, description="X1: Events users create in Salesforce appear in Outlook."
    )
    salesforce_delete_removes_outlook_items: bool = Field(
        default=False, description="X3: deleting an Event also deletes Outlook-born items."
    )
    mass_delete_guard: int = Field(
        default=20, ge=0, description="X7: stop before a session deletes more Events than this."
    )
    invitation_mode: bool = Field(
        default=False,
        description="P5: let Salesforce changes add or remove Outlook attendees (mails them).",
    )
    recurring_sync: bool = Field(default=False, description="R1: sync recurring series.")
    recurrence_format: RecurrenceFormat = Field(
        default=RecurrenceFormat.CLASSIC,
        description="R3: how Outlook series go up: `classic` or `lightning`.",
    )
    max_all_day_hours: int = Field(
        default=24,
        ge=24,
        le=336,
        description="N1: longest all-day item that syncs (24 to 336 hours).",
    )
    autocreate: AutoCreate = Field(
        default=AutoCreate.OFF,
        description="K1: make records for unresolved participants: off, contact, lead, smart.",
    )
    autocreate_account: bool = Field(
        default=True, description="K2: with `contact`, create the Account when no Website matches."
    )
    create_record_by: CreateRecordBy = Field(
        default=CreateRecordBy.POLICY,
        description=(
            "Who may press Create record on an issue: `policy` (everyone when autocreate is on, "
            "else admins only), `everyone`, or `admins`."
        ),
    )
    autocreate_opportunity: bool = Field(
        default=False, description="K5: with a new Account, also create an Opportunity as WhatId."
    )
    autocreate_opportunity_stage: str = Field(
        default="Prospecting", description="K5: StageName of auto-created Opportunities."
    )
    autocreate_opportunity_close_days: int = Field(
        default=30, ge=0, description="K5: CloseDate of auto-created Opportunities, days ahead."
    )
    share_attachments: bool = Field(
        default=False,
        description="T1: save file attachments of shared items as Salesforce Attachments.",
    )
    attachment_limits: AttachmentLimits = Field(default=AttachmentLimits(), description="T2")
    public_calendars: tuple[PublicCalendarSync, ...] = Field(default=(), description="G1")
    group_calendars: tuple[GroupCalendarSync, ...] = Field(default=(), description="G2")
    calendar_objects: tuple[CalendarObject, ...] = Field(default=(), description="G4")
    interval_minutes: int = Field(
        default=5, ge=1, le=1440, description="O1: minutes between sessions."
    )
    api_reserve_percent: int = Field(
        default=20,
        ge=0,
        le=100,
        description="O2: back off when the daily API allowance left falls under this share.",
    )
    instant_sync: bool = Field(
        default=False, description="O4: Graph change notifications (needs a public webhook URL)."
    )
    unhealthy_after_failures: int = Field(
        default=10,
        ge=1,
        description="I3: failed sessions in a row before a user is marked unhealthy.",
    )
    notify_unhealthy_by_email: bool = Field(default=True, description="I3: via Graph sendMail.")
    unhealthy_mail_sender: str = Field(
        default="",
        description="I3: the mailbox the unhealthy-user mail is sent from (the app needs "
        "`Mail.Send`); empty: the user's own mailbox.",
    )
    unhealthy_mail_admins: tuple[str, ...] = Field(
        default=(),
        description="I3: admins who get every unhealthy-user mail besides the user (Cc); "
        "empty: the addresses in `web.admins`.",
    )

    _norm_domains = field_validator("internal_domains")(_lower_all)
    _norm_mail_admins = field_validator("unhealthy_mail_admins")(_lower_all)

    @field_validator("unhealthy_mail_sender")
    @classmethod
    def _mail_sender(cls, v: str) -> str:
        v = v.strip().lower()
        if v and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", v):
            raise ValueError(f"not an e-mail address: {v!r}")
        return v

    @property
    def window_past(self) -> timedelta:
        return timedelta(days=self.window_past_days)

    @property
    def window_future(self) -> timedelta:
        return timedelta(days=self.window_future_days)

    def is_internal(self, address: str) -> bool:
        return address.strip().lower().rpartition("@")[2] in self.internal_domains

    def is_free_mail(self, address: str) -> bool:
        return address.strip().lower().rpartition("@")[2] in FREE_MAIL_DOMAINS

    def is_blocklisted(self, address: str, user: UserSettings | None = None) -> bool:
        """A5: on the org list, the user's list, or a free-mail address (while that is on)."""
        return (
            self.blocklist.blocks(address)
            or (self.block_free_mail_domains and self.is_free_mail(address))
            or (user is not None and user.blocklist.blocks(address))
        )


class UserSettings(_Frozen):
    """Settings of one user; `None` in an override means "as the org says"."""

    autoshare_meetings: bool = Field(
        default=True,
        description="A1: share meetings the user organizes, accepts or tentatively accepts.",
    )
    autoshare_appointments: bool = Field(
        default=False, description="A1: share the user's appointments (items without attendees)."
    )
    share_unanswered: bool = Field(
        default=False, description="A1: also share invitations not yet answered."
    )
    blocklist: Blocklist = Field(default=Blocklist(), description="A5: the user's own list.")
    safe_description: bool | None = Field(
        default=None, description="U2: per-user override of the org setting."
    )
    direction: Direction = Field(
        default=Direction.BOTH,
        description="G3: `both`, `outlook_to_salesforce` (Outlook wins), `salesforce_to_outlook`.",
    )
    paused: bool = Field(default=False, description="O1: sync paused for this user.")

    def effective_safe_description(self, org: OrgSettings) -> bool:
        return org.safe_description if self.safe_description is None else self.safe_description


_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserConfig(_Frozen):
    """One user crmcal syncs for."""

    mailbox: str
    salesforce_user_id: str
    display_name: str = ""
    enabled: bool = True
    settings: UserSettings = UserSettings()

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, v: str) -> str:
        v = v.strip().lower()
        if not _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v

    @field_validator("salesforce_user_id")
    @classmethod
    def _user_id(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"005[0-9A-Za-z]{12}([0-9A-Za-z]{3})?", v):
            raise ValueError(f"{v!r} is not a Salesforce User Id (15 or 18 characters, 005...)")
        return v
