"""Object and field definitions of the emulated org (api-facts B1, B2, B8, B9).

Used for describe, for SOQL field resolution and for validating writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "combobox",
    "picklist",
    "email",
    "url",
    "phone",
    "boolean",
    "int",
    "double",
    "currency",
    "date",
    "datetime",
    "reference",
    "base64",
    "junctionidlist",
]

SYSTEM_FIELDS = (
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass
class FieldDef:
    name: str
    type: FieldType
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    filterable: bool = True
    sortable: bool = True
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    label: str = ""
    custom: bool = False

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    def describe(self, *, org_required: bool = False) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "nillable": self.nillable and not org_required,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "filterable": self.filterable,
            "sortable": self.sortable,
            "externalId": self.external_id,
            "idLookup": self.name == "Id" or self.external_id,
            "custom": self.custom,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": self.polymorphic,
        }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    label: str = ""
    derived_from: str | None = None
    """Read-only views over another object's rows (EventWhoRelation over EventRelation)."""
    custom: bool = False

    def field(self, name: str) -> FieldDef | None:
        return self._lower().get(name.lower())

    def _lower(self) -> dict[str, FieldDef]:
        cache: dict[str, FieldDef] | None = getattr(self, "_lc", None)
        if cache is None or len(cache) != len(self.fields):
            cache = {k.lower(): v for k, v in self.fields.items()}
            object.__setattr__(self, "_lc", cache)
        return cache

    def relationship(self, name: str) -> FieldDef | None:
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    def add(self, f: FieldDef) -> None:
        self.fields[f.name] = f

    def describe(self, org_required: frozenset[str] = frozenset()) -> dict[str, object]:
        ro = self.derived_from is not None
        return {
            "name": self.name,
            "label": self.label or self.name,
            "keyPrefix": self.key_prefix,
            "createable": self.createable and not ro,
            "updateable": self.updateable and not ro,
            "deletable": self.deletable and not ro,
            "queryable": True,
            "retrieveable": True,
            "custom": self.custom,
            "fields": [
                f.describe(org_required=f.name in org_required) for f in self.fields.values()
            ],
        }


def _s(name: str, length: int, **kw: object) -> FieldDef:
    return FieldDef(name, "string", length, **kw)  # type: ignore[arg-type]


WHAT_TARGETS = (
    "Account", "Opportunity", "Asset", "Campaign", "Case", "Contract", "Order", "Product2",
    "Quote", "Solution", "WorkOrder",
)  # fmt: skip
"""Event, WhatId ("Related To"): "nonhuman objects such as accounts, opportunities, campaigns,
cases, or custom objects" (Object Reference, Event; Shared Activities help: objects with
activities allowed). Custom objects with activities are appended when added."""


def _ref(name: str, to: tuple[str, ...], rel: str | None, **kw: object) -> FieldDef:
    return FieldDef(name, "reference", 18, reference_to=to, relationship_name=rel, **kw)  # type: ignore[arg-type]


def _bool(name: str, **kw: object) -> FieldDef:
    kw.setdefault("nillable", False)
    kw.setdefault("defaulted_on_create", True)
    return FieldDef(name, "boolean", **kw)  # type: ignore[arg-type]


def _ro(f: FieldDef) -> FieldDef:
    f.createable = False
    f.updateable = False
    return f


def _create_only(f: FieldDef) -> FieldDef:
    f.updateable = False
    return f


def _base(name: str, prefix: str) -> ObjectDef:
    o = ObjectDef(name, prefix)
    o.add(_ro(FieldDef("Id", "id", 18, nillable=False, defaulted_on_create=True)))
    return o


def system_fields(o: ObjectDef) -> ObjectDef:
    """IsDeleted, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp."""
    return _system(o)


def _system(o: ObjectDef) -> ObjectDef:
    o.add(_ro(_bool("IsDeleted")))
    o.add(_ro(FieldDef("CreatedDate", "datetime", nillable=False, defaulted_on_create=True)))
    o.add(
        _ro(_ref("CreatedById", ("User",), "CreatedBy", nillable=False, defaulted_on_create=True))
    )
    o.add(_ro(FieldDef("LastModifiedDate", "datetime", nillable=False, defaulted_on_create=True)))
    o.add(
        _ro(
            _ref(
                "LastModifiedById",
                ("User",),
                "LastModifiedBy",
                nillable=False,
                defaulted_on_create=True,
            )
        )
    )
    o.add(_ro(FieldDef("SystemModstamp", "datetime", nillable=False, defaulted_on_create=True)))
    return o


MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
RECURRENCE_TYPES = (
    "RecursDaily", "RecursEveryWeekday", "RecursMonthly", "RecursMonthlyNth", "RecursWeekly",
    "RecursYearly", "RecursYearlyNth",
)  # fmt: skip
TIME_ZONES = (
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Zurich",
    "Europe/Amsterdam", "Europe/Madrid", "Europe/Rome", "Europe/Helsinki", "Asia/Kolkata",
    "Asia/Tokyo", "Asia/Singapore", "Australia/Sydney", "Pacific/Auckland", "GMT", "UTC",
)  # fmt: skip
"""The RecurrenceTimeZoneSidKey / TimeZoneSidKey picklist (a representative subset)."""


def _user() -> ObjectDef:
    o = _base("User", "005")
    for f in (
        _s("Username", 80, nillable=False),
        _s("FirstName", 40),
        _s("LastName", 80, nillable=False),
        _ro(_s("Name", 121)),
        FieldDef("Email", "email", 128, nillable=False),
        _s("Alias", 8),
        _bool("IsActive"),
        FieldDef("TimeZoneSidKey", "picklist", 40, picklist=TIME_ZONES, restricted=True),
        _s("UserType", 40, createable=False, updateable=False),
    ):
        o.add(f)
    return _system(o)


def _calendar() -> ObjectDef:
    o = _base("Calendar", "023")
    o.createable = o.updateable = o.deletable = False
    for f in (
        _ro(_s("Name", 80)),
        _ro(
            FieldDef(
                "Type",
                "picklist",
                40,
                picklist=("User", "Public", "Resource", "Holiday"),
                restricted=True,
            )
        ),
        _ro(_bool("IsActive")),
        _ro(_ref("UserId", ("User",), "User")),
    ):
        o.add(f)
    return _system(o)


def _account() -> ObjectDef:
    o = _base("Account", "001")
    for f in (
        _s("Name", 255, nillable=False),
        FieldDef("Website", "url", 255),
        FieldDef("Phone", "phone", 40),
        FieldDef("Type", "picklist", 40, picklist=("Customer", "Partner", "Prospect", "Other")),
        FieldDef("Description", "textarea", 32000, filterable=False, sortable=False),
        _ref("OwnerId", ("User",), "Owner", defaulted_on_create=True, nillable=False),
    ):
        o.add(f)
    return _system(o)


def _person(name: str, prefix: str) -> ObjectDef:
    o = _base(name, prefix)
    for f in (
        _s("FirstName", 40),
        _s("LastName", 80, nillable=False),
        _ro(_s("Name", 121)),
        FieldDef("Email", "email", 80),
        FieldDef("Phone", "phone", 40),
        _s("Title", 128),
        FieldDef("Description", "textarea", 32000, filterable=False, sortable=False),
        _ref("OwnerId", ("User",), "Owner", defaulted_on_create=True, nillable=False),
    ):
        o.add(f)
    if name == "Contact":
        o.add(_ref("AccountId", ("Account",), "Account"))
    else:
        o.add(_s("Company", 255, nillable=False))
        o.add(_ro(_bool("IsConverted")))
        o.add(
            FieldDef(
                "Status",
                "picklist",
                40,
                defaulted_on_create=True,
                picklist=("Open - Not Contacted", "Working - Contacted", "Closed - Converted"),
            )
        )
    return _system(o)


def _opportunity() -> ObjectDef:
    o = _base("Opportunity", "006")
    for f in (
        _s("Name", 120, nillable=False),
        _ref("AccountId", ("Account",), "Account"),
        _ref("OwnerId", ("User",), "Owner", defaulted_on_create=True, nillable=False),
        FieldDef(
            "StageName",
            "picklist",
            255,
            nillable=False,
            picklist=(
                "Prospecting",
                "Qualification",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
            ),
        ),
        FieldDef("CloseDate", "date", nillable=False),
        FieldDef("Amount", "currency"),
        FieldDef("Description", "textarea", 32000, filterable=False, sortable=False),
        _ro(_bool("IsClosed")),
        _ro(_bool("IsWon")),
    ):
        o.add(f)
    return _system(o)


def _event() -> ObjectDef:
    o = _base("Event", "00U")
    subjects = ("Call", "Email", "Meeting", "Send Letter/Quote", "Other")
    for f in (
        FieldDef("Subject", "combobox", 255, picklist=subjects),
        FieldDef("StartDateTime", "datetime"),
        FieldDef("EndDateTime", "datetime"),
        FieldDef("ActivityDateTime", "datetime"),
        FieldDef("ActivityDate", "date"),
        FieldDef("DurationInMinutes", "int"),
        _ro(FieldDef("EndDate", "date")),
        _bool("IsAllDayEvent"),
        _s("Location", 255),
        FieldDef("Description", "textarea", 32000, filterable=False, sortable=False),
        FieldDef(
            "ShowAs",
            "picklist",
            40,
            picklist=("Busy", "OutOfOffice", "Free"),
            restricted=True,
            defaulted_on_create=True,
        ),
        _bool("IsPrivate"),
        _ref("OwnerId", ("Calendar", "User"), "Owner", nillable=False, defaulted_on_create=True),
        _ref("WhoId", ("Contact", "Lead"), "Who"),
        _ref("WhatId", WHAT_TARGETS, "What"),
        _ro(_ref("AccountId", ("Account",), "Account")),
        FieldDef("Type", "picklist", 40, picklist=("Call", "Email", "Meeting", "Other")),
        _create_only(
            FieldDef(
                "EventSubtype",
                "picklist",
                40,
                picklist=("Event",),
                restricted=True,
                defaulted_on_create=True,
            )
        ),
        _ro(_bool("IsChild")),
        _ro(_bool("IsGroupEvent")),
        _ro(FieldDef("GroupEventType", "picklist", 40, picklist=("0", "1", "2", "3"))),
        _bool("IsReminderSet"),
        FieldDef("ReminderDateTime", "datetime"),
        _ro(_bool("IsArchived")),
        _create_only(_bool("IsRecurrence")),
        _ro(_ref("RecurrenceActivityId", ("Event",), None)),
        _create_only(
            FieldDef("RecurrenceType", "picklist", 40, picklist=RECURRENCE_TYPES, restricted=True)
        ),
        _create_only(FieldDef("RecurrenceInterval", "int")),
        _create_only(FieldDef("RecurrenceDayOfWeekMask", "int")),
        _create_only(FieldDef("RecurrenceDayOfMonth", "int")),
        _create_only(
            FieldDef(
                "RecurrenceInstance",
                "picklist",
                40,
                restricted=True,
                picklist=("First", "Second", "Third", "Fourth", "Last"),
            )
        ),
        _create_only(
            FieldDef("RecurrenceMonthOfYear", "picklist", 40, picklist=MONTHS, restricted=True)
        ),
        _create_only(FieldDef("RecurrenceStartDateTime", "datetime")),
        _create_only(FieldDef("RecurrenceEndDateOnly", "date")),
        _create_only(
            FieldDef(
                "RecurrenceTimeZoneSidKey", "picklist", 40, picklist=TIME_ZONES, restricted=True
            )
        ),
        _ro(_bool("IsRecurrence2")),
        FieldDef("Recurrence2PatternText", "textarea", 512, filterable=False, sortable=False),
        _ro(FieldDef("Recurrence2PatternVersion", "picklist", 40, picklist=("1",))),
        _ro(FieldDef("Recurrence2PatternStartDate", "datetime")),
        _s("Recurrence2PatternTimeZone", 255),
        _ro(_bool("IsRecurrence2Exception")),
        _ro(_bool("IsRecurrence2Exclusion")),
        _ro(_bool("IsClientManaged")),
        _s("ClientGuid", 255),
        _ro(FieldDef("WhoCount", "int")),
        _ro(FieldDef("WhatCount", "int")),
    ):
        o.add(f)
    return _system(o)


def _event_relation(name: str = "EventRelation", derived: str | None = None) -> ObjectDef:
    o = _base(name, "0RE")
    o.derived_from = derived
    for f in (
        _create_only(_ref("EventId", ("Event",), "Event", nillable=False)),
        _create_only(
            _ref(
                "RelationId",
                ("Account", "Calendar", "Contact", "Lead", "Opportunity", "User"),
                "Relation",
                nillable=False,
            )
        ),
        _bool("IsInvitee"),
        _bool("IsParent"),
        _bool("IsWhat"),
        FieldDef(
            "Status",
            "picklist",
            40,
            defaulted_on_create=True,
            picklist=("New", "Accepted", "Declined", "Maybe", "Uninvited"),
        ),
        _s("Response", 255),
        FieldDef("RespondedDate", "datetime"),
        _ro(_ref("AccountId", ("Account",), "Account")),
    ):
        o.add(f)
    if derived:
        o.add(_ro(_s("Type", 40)))
        for f in o.fields.values():
            f.createable = f.updateable = False
    return _system(o)


def _attachment() -> ObjectDef:
    o = _base("Attachment", "00P")
    for f in (
        _create_only(
            _ref(
                "ParentId",
                ("Account", "Contact", "Event", "Lead", "Opportunity"),
                "Parent",
                nillable=False,
            )
        ),
        _s("Name", 255, nillable=False),
        FieldDef("Body", "base64", 52_428_800, nillable=False, filterable=False, sortable=False),
        _ro(FieldDef("BodyLength", "int")),
        _s("ContentType", 120),
        FieldDef("Description", "textarea", 500, filterable=False),
        _bool("IsPrivate"),
        _ref("OwnerId", ("User",), "Owner", defaulted_on_create=True, nillable=False),
        _ro(_bool("IsEncrypted")),
        _ro(_bool("IsPartnerShared")),
    ):
        o.add(f)
    return _system(o)


def standard_objects() -> dict[str, ObjectDef]:
    objs = [
        _user(),
        _calendar(),
        _account(),
        _person("Contact", "003"),
        _person("Lead", "00Q"),
        _opportunity(),
        _event(),
        _event_relation(),
        _event_relation("EventWhoRelation", "EventRelation"),
        _attachment(),
    ]
    return {o.name: o for o in objs}


def custom_field(name: str, length: int = 255, *, external_id: bool = False) -> FieldDef:
    """A custom text field (`Foo__c`), optionally an External ID (D3)."""
    return FieldDef(name, "string", length, external_id=external_id, custom=True)
