"""EWS `t:CalendarItem` ⇄ the shared mailbox model (the Graph emulator's event JSON).

Element names and enumerations are the EWS schema's:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendaritem
(LegacyFreeBusyStatus, Sensitivity, CalendarItemType, ResponseType, the recurrence patterns and
ranges of https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/recurrence-recurrencetype).
Writes name only elements the schema has for a calendar item; read-only ones and unknown ones are
refused (the service answers ErrorInvalidPropertySet / schema validation), never ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from crmcal import timezones
from crmcal.sandbox.ews.xml import ItemFault, attr, local, t, text

JSON = dict[str, Any]

FREE_BUSY = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
SENSITIVITY = {
    "Normal": "normal",
    "Personal": "personal",
    "Private": "private",
    "Confidential": "confidential",
}
IMPORTANCE = {"Low": "low", "Normal": "normal", "High": "high"}
RESPONSE = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
ITEM_TYPE = {
    "singleInstance": "Single",
    "occurrence": "Occurrence",
    "exception": "Exception",
    "seriesMaster": "RecurringMaster",
}
DAYS = {
    "Sunday": "sunday",
    "Monday": "monday",
    "Tuesday": "tuesday",
    "Wednesday": "wednesday",
    "Thursday": "thursday",
    "Friday": "friday",
    "Saturday": "saturday",
}
INDEX = {"First": "first", "Second": "second", "Third": "third", "Fourth": "fourth", "Last": "last"}
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
PATTERNS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
RANGES = {
    "NoEndRecurrence": "noEnd",
    "EndDateRecurrence": "endDate",
    "NumberedRecurrence": "numbered",
}

# Elements a client may set on a calendar item (types.xsd ItemType + CalendarItemType, writable).
WRITABLE = frozenset(
    {
        "Subject",
        "Sensitivity",
        "Body",
        "Categories",
        "Importance",
        "ReminderIsSet",
        "ReminderMinutesBeforeStart",
        "ExtendedProperty",
        "Culture",
        "Start",
        "End",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "Location",
        "IsResponseRequested",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Recurrence",
        "StartTimeZone",
        "EndTimeZone",
        "MeetingTimeZone",
        "AllowNewTimeProposal",
        "ConferenceType",
        "MeetingWorkspaceUrl",
        "NetShowUrl",
        "UID",
    }
)
READ_ONLY = frozenset(
    {
        "ItemId",
        "ParentFolderId",
        "ItemClass",
        "DateTimeReceived",
        "Size",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "DateTimeSent",
        "DateTimeCreated",
        "HasAttachments",
        "LastModifiedTime",
        "Organizer",
        "IsMeeting",
        "IsCancelled",
        "IsRecurring",
        "CalendarItemType",
        "MyResponseType",
        "OriginalStart",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "FirstOccurrence",
        "LastOccurrence",
        "RecurrenceId",
        "IsOnlineMeeting",
    }
)
# Property sets GUIDs as EWS writes them (DistinguishedPropertySetId or PropertySetId).
PSETID_MEETING = "6ed8da90-450b-101b-98da-00aa003f1305"
GLOBAL_OBJECT_ID = 0x3


def parse_dt(value: str | None, name: str) -> datetime:
    if not value:
        raise ItemFault("ErrorInvalidPropertySet", f"{name} is missing.")
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(v)
    except ValueError as e:
        raise ItemFault(
            "ErrorSchemaValidation", f"The '{name}' element is invalid - '{value}'."
        ) from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def fmt_dt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(el: ET.Element, name: str) -> bool:
    v = (el.text or "").strip().lower()
    if v not in ("true", "false", "1", "0"):
        raise ItemFault("ErrorSchemaValidation", f"The '{name}' element is invalid - '{el.text}'.")
    return v in ("true", "1")


def _choice(el: ET.Element, table: dict[str, str], name: str) -> str:
    v = (el.text or "").strip()
    if v not in table:
        raise ItemFault(
            "ErrorSchemaValidation",
            f"The '{name}' element is invalid - The value '{v}' is invalid according to its "
            "datatype.",
        )
    return table[v]


def _zone_id(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    zid = el.get("Id") or el.get("Name")
    if not zid:
        return None
    if timezones.zoneinfo_for(zid) is None or "/" in zid:
        # TimeZoneDefinition Id is a Windows zone id (the server knows no IANA names).
        raise ItemFault(
            "ErrorTimeZone", f"The time zone '{zid}' isn't a valid Windows time zone id."
        )
    return zid


def _attendees(el: ET.Element, kind: str) -> list[JSON]:
    out = []
    for a in el.findall(t("Attendee")):
        mb = a.find(t("Mailbox"))
        addr = mb.findtext(t("EmailAddress")) if mb is not None else None
        if not addr:
            raise ItemFault("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        name = (mb.findtext(t("Name")) if mb is not None else None) or addr
        out.append({"type": kind, "emailAddress": {"address": addr, "name": name}})
    return out


def recurrence_to_json(el: ET.Element, tz: str | None) -> JSON:
    """An EWS `t:Recurrence` as the model's recurrence (pattern + range)."""
    kids = list(el)
    if len(kids) != 2:
        raise ItemFault("ErrorSchemaValidation", "Recurrence needs one pattern and one range.")
    pat_el, rng_el = kids
    ptype = PATTERNS.get(local(pat_el.tag))
    rtype = RANGES.get(local(rng_el.tag))
    if ptype is None or rtype is None:
        raise ItemFault("ErrorSchemaValidation", "The recurrence pattern or range is not valid.")
    pat: JSON = {"type": ptype, "interval": 1}
    for c in pat_el:
        n, v = local(c.tag), (c.text or "").strip()
        if n == "Interval":
            pat["interval"] = int(v)
        elif n == "DaysOfWeek":
            days = v.split()
            if any(d not in DAYS for d in days):
                raise ItemFault("ErrorSchemaValidation", f"DaysOfWeek '{v}' is not valid.")
            pat["daysOfWeek"] = [DAYS[d] for d in days]
        elif n == "FirstDayOfWeek":
            pat["firstDayOfWeek"] = DAYS.get(v, "sunday")
        elif n == "DayOfMonth":
            pat["dayOfMonth"] = int(v)
        elif n == "DayOfWeekIndex":
            pat["index"] = INDEX.get(v, "first")
        elif n == "Month":
            if v not in MONTHS:
                raise ItemFault("ErrorSchemaValidation", f"Month '{v}' is not valid.")
            pat["month"] = MONTHS.index(v) + 1
    if ptype in ("absoluteYearly", "relativeYearly"):
        pat.pop("interval", None)
        pat["interval"] = 1
    rng: JSON = {"type": rtype}
    for c in rng_el:
        n, v = local(c.tag), (c.text or "").strip()
        if n == "StartDate":
            rng["startDate"] = v[:10]
        elif n == "EndDate":
            rng["endDate"] = v[:10]
        elif n == "NumberOfOccurrences":
            rng["numberOfOccurrences"] = int(v)
    if tz:
        rng["recurrenceTimeZone"] = tz
    return {"pattern": pat, "range": rng}


def recurrence_to_xml(rec: JSON) -> str:
    p, r = dict(rec["pattern"]), rec["range"]
    if p["type"] in ("absoluteYearly", "relativeYearly") and int(p.get("interval") or 1) > 1:
        # EWS's yearly patterns have no Interval: "every n years" is a monthly pattern every
        # 12n months (MS-OXOCAL 2.2.1.44.1: a yearly recurrence is Period 12n months).
        p["type"] = "absoluteMonthly" if p["type"] == "absoluteYearly" else "relativeMonthly"
        p["interval"] = 12 * int(p["interval"])
    ptag = {v: k for k, v in PATTERNS.items()}[p["type"]]
    inner = ""
    rev_days = {v: k for k, v in DAYS.items()}
    rev_index = {v: k for k, v in INDEX.items()}
    if p["type"] not in ("absoluteYearly", "relativeYearly"):
        inner += f"<t:Interval>{int(p.get('interval') or 1)}</t:Interval>"
    if p["type"] in ("weekly", "relativeMonthly", "relativeYearly"):
        days = " ".join(rev_days[d] for d in p.get("daysOfWeek") or [])
        inner += f"<t:DaysOfWeek>{days}</t:DaysOfWeek>"
    if p["type"] in ("relativeMonthly", "relativeYearly"):
        inner += f"<t:DayOfWeekIndex>{rev_index[p.get('index') or 'first']}</t:DayOfWeekIndex>"
    if p["type"] in ("absoluteMonthly", "absoluteYearly"):
        inner += f"<t:DayOfMonth>{int(p.get('dayOfMonth') or 1)}</t:DayOfMonth>"
    if p["type"] in ("absoluteYearly", "relativeYearly"):
        inner += f"<t:Month>{MONTHS[int(p.get('month') or 1) - 1]}</t:Month>"
    if p["type"] == "weekly":
        inner += (
            f"<t:FirstDayOfWeek>{rev_days[p.get('firstDayOfWeek') or 'sunday']}</t:FirstDayOfWeek>"
        )
    rtag = {v: k for k, v in RANGES.items()}[r["type"]]
    rinner = f"<t:StartDate>{r['startDate']}</t:StartDate>"
    if r["type"] == "endDate":
        rinner += f"<t:EndDate>{r['endDate']}</t:EndDate>"
    if r["type"] == "numbered":
        rinner += f"<t:NumberOfOccurrences>{int(r['numberOfOccurrences'])}</t:NumberOfOccurrences>"
    return f"<t:Recurrence><t:{ptag}>{inner}</t:{ptag}><t:{rtag}>{rinner}</t:{rtag}></t:Recurrence>"


def _local(dt: datetime, zone: str) -> JSON:
    zi = timezones.zoneinfo_for(zone)
    assert zi is not None
    return {"dateTime": dt.astimezone(zi).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def ext_key(el: ET.Element) -> str | None:
    """An `t:ExtendedFieldURI` as the model's extended-property id (`String {guid} Name x`)."""
    guid = el.get("PropertySetId")
    name = el.get("PropertyName")
    ptype = el.get("PropertyType")
    if guid and name and ptype:
        return f"{ptype} {{{guid.strip('{}')}}} Name {name}"
    return None


def calendar_item_to_body(
    el: ET.Element, *, current_tz: str | None = None, allowed: frozenset[str] = WRITABLE
) -> JSON:
    """A `t:CalendarItem` of CreateItem (or of one SetItemField) as model properties."""
    body: JSON = {}
    names = [local(c.tag) for c in el]
    for n in names:
        if n in READ_ONLY:
            raise ItemFault("ErrorInvalidPropertySet", f"Set action is invalid for property. ({n})")
        if n not in allowed:
            raise ItemFault(
                "ErrorSchemaValidation",
                f"The element '{n}' in namespace 'http://schemas.microsoft.com/exchange/services/"
                "2006/types' is not valid for a calendar item.",
            )
    if "UID" in names:
        raise ItemFault("ErrorInvalidPropertySet", "Set action is invalid for property. (UID)")
    start_tz = _zone_id(el.find(t("StartTimeZone"))) or _zone_id(el.find(t("MeetingTimeZone")))
    end_tz = _zone_id(el.find(t("EndTimeZone"))) or start_tz
    tz = start_tz or current_tz or "UTC"
    for c in el:
        n = local(c.tag)
        if n == "Subject":
            body["subject"] = c.text or ""
        elif n == "Body":
            btype = c.get("BodyType", "")
            if btype not in ("HTML", "Text"):
                raise ItemFault("ErrorSchemaValidation", "The 'BodyType' attribute is invalid.")
            body["body"] = {"contentType": btype.lower(), "content": c.text or ""}
        elif n == "Sensitivity":
            body["sensitivity"] = _choice(c, SENSITIVITY, n)
        elif n == "Importance":
            body["importance"] = _choice(c, IMPORTANCE, n)
        elif n == "Categories":
            body["categories"] = [s.text or "" for s in c.findall(t("String"))]
        elif n == "ReminderIsSet":
            body["isReminderOn"] = _bool(c, n)
        elif n == "ReminderMinutesBeforeStart":
            body["reminderMinutesBeforeStart"] = int((c.text or "0").strip())
        elif n == "Start":
            body["start"] = _local(parse_dt(c.text, n), tz)
        elif n == "End":
            body["end"] = _local(parse_dt(c.text, n), end_tz or tz)
        elif n == "IsAllDayEvent":
            body["isAllDay"] = _bool(c, n)
        elif n == "LegacyFreeBusyStatus":
            body["showAs"] = _choice(c, FREE_BUSY, n)
        elif n == "Location":
            body["location"] = {"displayName": c.text or ""}
        elif n == "IsResponseRequested":
            body["responseRequested"] = _bool(c, n)
        elif n == "AllowNewTimeProposal":
            body["allowNewTimeProposals"] = _bool(c, n)
        elif n in ("RequiredAttendees", "OptionalAttendees", "Resources"):
            kind = {"RequiredAttendees": "required", "OptionalAttendees": "optional"}.get(
                n, "resource"
            )
            body.setdefault("_attendees", {})[kind] = _attendees(c, kind)
        elif n == "Recurrence":
            body["recurrence"] = recurrence_to_json(c, tz)
        elif n == "ExtendedProperty":
            uri = c.find(t("ExtendedFieldURI"))
            key = ext_key(uri) if uri is not None else None
            if key is None:
                raise ItemFault(
                    "ErrorInvalidExtendedProperty", "The extended property is not valid."
                )
            body.setdefault("singleValueExtendedProperties", []).append(
                {"id": key, "value": c.findtext(t("Value")) or ""}
            )
    return body


def render_item(
    g: JSON,
    *,
    master_uid: str,
    ext: dict[str, tuple[str, str]],
    attachments: list[tuple[str, str, str, int, bool]],
    tz_id: str,
    mailbox_email: JSON,
    deleted_occurrences: list[datetime] = (),  # type: ignore[assignment]
    modified_occurrences: list[tuple[str, datetime, datetime, datetime]] = (),  # type: ignore[assignment]
    wanted: set[str] | frozenset[str] | None = None,
    wanted_ext: set[str] | None = None,
    change_key: str | None = None,
) -> str:
    """One `t:CalendarItem` from the model's rendered event; `wanted` limits the elements to
    those the request's shape asked for (IdOnly + AdditionalProperties), as EWS does."""
    parts: list[tuple[str, str]] = []

    def add(name: str, xml: str) -> None:
        parts.append((name, xml))

    ck = change_key or g["changeKey"]
    add("ItemId", f'<t:ItemId Id="{attr(g["id"])}" ChangeKey="{attr(ck)}"/>')
    add("ItemClass", "<t:ItemClass>IPM.Appointment</t:ItemClass>")
    add("Subject", f"<t:Subject>{text(g.get('subject') or '')}</t:Subject>")
    rev_sens = {v: k for k, v in SENSITIVITY.items()}
    add("Sensitivity", f"<t:Sensitivity>{rev_sens[g['sensitivity']]}</t:Sensitivity>")
    body = g.get("body") or {}
    btype = "HTML" if body.get("contentType") == "html" else "Text"
    add("Body", f'<t:Body BodyType="{btype}">{text(body.get("content") or "")}</t:Body>')
    if attachments:
        att = "".join(
            f'<t:FileAttachment><t:AttachmentId Id="{attr(aid)}"/><t:Name>{text(name)}</t:Name>'
            f"<t:ContentType>{text(ctype)}</t:ContentType><t:Size>{size}</t:Size>"
            f"<t:IsInline>{'true' if inline else 'false'}</t:IsInline></t:FileAttachment>"
            for aid, name, ctype, size, inline in attachments
        )
        add("Attachments", f"<t:Attachments>{att}</t:Attachments>")
    add("DateTimeCreated", f"<t:DateTimeCreated>{_z(g['createdDateTime'])}</t:DateTimeCreated>")
    cats = "".join(f"<t:String>{text(c)}</t:String>" for c in g.get("categories") or [])
    if cats:
        add("Categories", f"<t:Categories>{cats}</t:Categories>")
    rev_imp = {v: k for k, v in IMPORTANCE.items()}
    add(
        "Importance",
        f"<t:Importance>{rev_imp.get(str(g.get('importance')), 'Normal')}</t:Importance>",
    )
    add("HasAttachments", f"<t:HasAttachments>{_b(bool(attachments))}</t:HasAttachments>")
    add("ReminderIsSet", f"<t:ReminderIsSet>{_b(g.get('isReminderOn'))}</t:ReminderIsSet>")
    add(
        "ReminderMinutesBeforeStart",
        "<t:ReminderMinutesBeforeStart>"
        f"{int(g.get('reminderMinutesBeforeStart') or 0)}</t:ReminderMinutesBeforeStart>",
    )
    for key, (pid, value) in ext.items():
        if wanted_ext is not None and key not in wanted_ext:
            continue
        parts.append(("ExtendedProperty", _ext_xml(pid, value)))
    if wanted_ext is not None and f"binary {{{PSETID_MEETING}}} id 3" in wanted_ext:
        parts.append(("ExtendedProperty", _global_object_id(g["iCalUId"])))
    add(
        "LastModifiedTime",
        f"<t:LastModifiedTime>{_z(g['lastModifiedDateTime'])}</t:LastModifiedTime>",
    )
    add("UID", f"<t:UID>{text(master_uid)}</t:UID>")
    if g.get("originalStart"):
        add("RecurrenceId", f"<t:RecurrenceId>{_z(g['originalStart'])}</t:RecurrenceId>")
    add("Start", f"<t:Start>{_z(g['start']['dateTime'])}</t:Start>")
    add("End", f"<t:End>{_z(g['end']['dateTime'])}</t:End>")
    if g.get("originalStart"):
        add("OriginalStart", f"<t:OriginalStart>{_z(g['originalStart'])}</t:OriginalStart>")
    add("IsAllDayEvent", f"<t:IsAllDayEvent>{_b(g.get('isAllDay'))}</t:IsAllDayEvent>")
    rev_fb = {v: k for k, v in FREE_BUSY.items()}
    add(
        "LegacyFreeBusyStatus",
        "<t:LegacyFreeBusyStatus>"
        f"{rev_fb.get(str(g.get('showAs')), 'Busy')}</t:LegacyFreeBusyStatus>",
    )
    loc = (g.get("location") or {}).get("displayName") or ""
    if loc:
        add("Location", f"<t:Location>{text(loc)}</t:Location>")
    attendees = g.get("attendees") or []
    add("IsMeeting", f"<t:IsMeeting>{_b(bool(attendees))}</t:IsMeeting>")
    add("IsCancelled", f"<t:IsCancelled>{_b(g.get('isCancelled'))}</t:IsCancelled>")
    add("IsRecurring", f"<t:IsRecurring>{_b(g['type'] != 'singleInstance')}</t:IsRecurring>")
    add("CalendarItemType", f"<t:CalendarItemType>{ITEM_TYPE[g['type']]}</t:CalendarItemType>")
    rev_resp = {v: k for k, v in RESPONSE.items()}
    my = (g.get("responseStatus") or {}).get("response", "none")
    add("MyResponseType", f"<t:MyResponseType>{rev_resp.get(my, 'Unknown')}</t:MyResponseType>")
    org = (g.get("organizer") or {}).get("emailAddress") or mailbox_email
    add("Organizer", f"<t:Organizer>{_mailbox(org)}</t:Organizer>")
    for kind, tag in (
        ("required", "RequiredAttendees"),
        ("optional", "OptionalAttendees"),
        ("resource", "Resources"),
    ):
        rows = [a for a in attendees if a.get("type", "required") == kind]
        if rows:
            inner = "".join(
                f"<t:Attendee>{_mailbox(a['emailAddress'])}"
                f"<t:ResponseType>{rev_resp.get(a['status']['response'], 'Unknown')}"
                "</t:ResponseType></t:Attendee>"
                for a in rows
            )
            add(tag, f"<t:{tag}>{inner}</t:{tag}>")
    if g["type"] == "seriesMaster" and g.get("recurrence"):
        add("Recurrence", recurrence_to_xml(g["recurrence"]))
        if modified_occurrences:
            occ = "".join(
                f'<t:Occurrence><t:ItemId Id="{attr(i)}"/><t:Start>{fmt_dt(s)}</t:Start>'
                f"<t:End>{fmt_dt(e)}</t:End><t:OriginalStart>{fmt_dt(o)}</t:OriginalStart>"
                "</t:Occurrence>"
                for i, s, e, o in modified_occurrences
            )
            add("ModifiedOccurrences", f"<t:ModifiedOccurrences>{occ}</t:ModifiedOccurrences>")
        if deleted_occurrences:
            occ = "".join(
                f"<t:DeletedOccurrence><t:Start>{fmt_dt(d)}</t:Start></t:DeletedOccurrence>"
                for d in deleted_occurrences
            )
            add("DeletedOccurrences", f"<t:DeletedOccurrences>{occ}</t:DeletedOccurrences>")
    add("StartTimeZone", f'<t:StartTimeZone Id="{attr(tz_id)}" Name="{attr(tz_id)}"/>')
    add("EndTimeZone", f'<t:EndTimeZone Id="{attr(tz_id)}" Name="{attr(tz_id)}"/>')
    keep = [
        x
        for n, x in parts
        if n == "ItemId" or wanted is None or n in wanted or n == "ExtendedProperty"
    ]
    return "<t:CalendarItem>" + "".join(keep) + "</t:CalendarItem>"


def _ext_xml(pid: str, value: str) -> str:
    ptype, guid, _kind, name = pid.split(" ", 3)
    return (
        f'<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="{attr(guid.strip("{}"))}" '
        f'PropertyName="{attr(name)}" PropertyType="{attr(ptype)}"/>'
        f"<t:Value>{text(value)}</t:Value></t:ExtendedProperty>"
    )


def _global_object_id(ical_uid: str) -> str:
    """PidLidGlobalObjectId: per occurrence (the instance date spliced in), the bytes of which
    Graph's `iCalUId` is the hex form."""
    import base64

    try:
        raw = bytes.fromhex(ical_uid)
    except ValueError:
        # An iCalendar UID that is not Outlook's own: MS-OXOCAL 2.2.1.27's "vCal-Uid" form
        # (class id, zeroed instance date and times, then the UID's bytes after the marker).
        data = b"vCal-Uid" + (1).to_bytes(4, "little") + ical_uid.encode("utf-8") + b"\x00"
        raw = (
            bytes.fromhex("040000008200E00074C5B7101A82E008")
            + b"\x00" * 20
            + len(data).to_bytes(4, "little")
            + data
        )
    return (
        f'<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="Meeting" '
        f'PropertyId="{GLOBAL_OBJECT_ID}" PropertyType="Binary"/>'
        f"<t:Value>{base64.b64encode(raw).decode('ascii')}</t:Value></t:ExtendedProperty>"
    )


def _mailbox(e: JSON) -> str:
    return (
        f"<t:Mailbox><t:Name>{text(e.get('name') or e.get('address', ''))}</t:Name>"
        f"<t:EmailAddress>{text(e.get('address', ''))}</t:EmailAddress>"
        "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>"
    )


def _b(v: object) -> str:
    return "true" if v else "false"


def _z(s: str) -> str:
    """The model's UTC `2026-03-10T14:00:00.0000000` (or with Z) as EWS's `...:00Z`."""
    return s.rstrip("Z")[:19] + "Z"
