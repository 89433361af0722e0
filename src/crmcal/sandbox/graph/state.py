"""In-memory state of the Graph emulator: apps, tokens, mailboxes, events, delta states, faults.

Everything is plain dicts and dataclasses, mutated only from the event loop (handlers are
synchronous between awaits), so no locks are needed. Usable in-process: seed users and events from
Python with `add_user` / `seed_event` without any HTTP.
"""

from __future__ import annotations

import copy
import hashlib
import html
import re
import secrets
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import time as time_now
from typing import Any
from zoneinfo import ZoneInfo

from crmcal import timezones
from crmcal.sandbox.graph import ids
from crmcal.sandbox.graph import recurrence as rec_mod

JSON = dict[str, Any]
NEVER = "0001-01-01T00:00:00Z"


class GraphApiError(Exception):
    """An error the emulator answers with Graph's envelope."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found() -> GraphApiError:
    return GraphApiError(
        404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphApiError:
    return GraphApiError(400, code, message)


# -- formatting -----------------------------------------------------------------------------------


def fmt_local(dt: datetime) -> str:
    """`2026-03-10T14:00:00.0000000`: no offset, seven fractional digits (api-facts A1)."""
    return dt.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0"


def fmt_utc(dt: datetime) -> str:
    """DateTimeOffset as Graph writes it: `2026-03-02T09:14:11.1234567Z`."""
    return fmt_local(dt.astimezone(UTC)) + "Z"


def parse_query_datetime(value: str) -> datetime:
    """calendarView window bounds: an offset is honoured, without one the value is UTC (A3)."""
    v = value.strip().replace(" ", "+")
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


# -- records --------------------------------------------------------------------------------------


@dataclass
class App:
    tenant_id: str
    client_id: str
    client_secret: str
    display_name: str = "crmcal"


@dataclass
class Attachment:
    id: str
    name: str
    content_type: str
    data: bytes
    modified: datetime
    is_inline: bool = False
    content_id: str | None = None
    kind: str = "file"
    """`file` or `reference` (a cloud link: `sourceUrl`, no bytes)."""
    source_url: str | None = None


@dataclass
class UploadSession:
    id: str
    mailbox: str
    event_id: str
    name: str
    size: int
    content_type: str
    expires: datetime
    data: bytearray = field(default_factory=bytearray)


@dataclass
class EventRecord:
    id: str
    mailbox: str
    ical_uid: str
    kind: str
    """singleInstance, seriesMaster or exception."""
    props: JSON
    start: datetime
    end: datetime
    start_tz: str
    end_tz: str
    created: datetime
    modified: datetime
    change_key: str
    seq: int
    series_key: str = ""
    """For masters: the version that occurrences report as their changeKey."""
    recurrence: rec_mod.Spec | None = None
    series_master_id: str | None = None
    original_start: datetime | None = None
    exceptions: dict[datetime, str] = field(default_factory=dict)
    cancelled: set[datetime] = field(default_factory=set)
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    organizer_ref: tuple[str, str] | None = None
    copies: dict[str, str] = field(default_factory=dict)
    deleted: bool = False
    raw_override: JSON | None = None


@dataclass
class DeltaState:
    mailbox: str
    start: datetime
    end: datetime
    watermark: int
    known: dict[str, str]
    token: str | None = None


@dataclass
class DeltaPage:
    mailbox: str
    entries: list[JSON]
    final: DeltaState
    page_size: int


@dataclass
class Subscription:
    id: str
    resource: str
    mailbox: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    application_id: str
    include_resource_data: bool = False


@dataclass
class Faults:
    """Fault injection, set in-process or through `/_sandbox/faults`."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    """Probability that an API request fails with `fail_status`."""
    fail_next: int = 0
    """The next N API requests fail with `fail_status`."""
    fail_status: int = 503
    throttle_next: int = 0
    """The next N mailbox requests (batch inner requests included) get 429."""
    retry_after: float = 1.5
    """Retry-After (seconds, may be fractional) for injected 429s and concurrency 429s."""
    rate_limit: int = 10_000
    """Requests per mailbox per `rate_window_s` (Outlook: 10,000 per 10 minutes, A10)."""
    rate_window_s: float = 600.0
    max_concurrency: int = 4
    """Concurrent requests per mailbox (Outlook: 4, A10)."""
    batch_parallel: bool = True
    """`$batch` inner requests not chained by `dependsOn` run together and count against
    `max_concurrency` together (E3, decision 0071). False: one at a time, as before."""


@dataclass
class Mailbox:
    id: str
    address: str
    display_name: str
    tag: bytes
    events: dict[str, EventRecord] = field(default_factory=dict)
    categories: dict[str, JSON] = field(default_factory=dict)
    seq: int = 0
    in_flight: int = 0
    rate_window_start: float = 0.0
    rate_count: int = 0
    delta_tokens: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def key(self) -> str:
        return self.address.lower()

    def email(self) -> JSON:
        return {"name": self.display_name, "address": self.address}


@dataclass(frozen=True)
class Instance:
    """A row of calendarView: a stored record, or an occurrence synthesized from its master."""

    record: EventRecord
    occurrence_start: datetime | None = None

    @property
    def id(self) -> str:
        if self.occurrence_start is None:
            return self.record.id
        return ids.occurrence_id(self.record.id, self.occurrence_start)


WRITABLE = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "isAllDay",
        "location",
        "locations",
        "attendees",
        "categories",
        "showAs",
        "sensitivity",
        "importance",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "recurrence",
        "singleValueExtendedProperties",
        "transactionId",
        "responseRequested",
        "allowNewTimeProposals",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "hideAttendees",
    }
)
READ_ONLY = frozenset(
    {
        "id",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "iCalUId",
        "type",
        "seriesMasterId",
        "webLink",
        "bodyPreview",
        "hasAttachments",
        "isOrganizer",
        "isCancelled",
        "originalStart",
        "onlineMeeting",
        "onlineMeetingUrl",
        "organizer",
        "responseStatus",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "isDraft",
    }
)
ENUMS = {
    "showAs": (
        "freeBusyStatus",
        ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown"),
    ),
    "sensitivity": ("sensitivity", ("normal", "personal", "private", "confidential")),
    "importance": ("importance", ("low", "normal", "high")),
}
SERIES_FIELDS = frozenset(
    {"subject", "body", "location", "locations", "attendees", "sensitivity", "importance"}
)
PROPAGATED = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "isAllDay",
        "location",
        "locations",
        "recurrence",
        "attendees",
        "sensitivity",
        "importance",
        "allowNewTimeProposals",
        "hideAttendees",
    }
)
EXT_ID = re.compile(
    r"^\s*(?P<type>[A-Za-z]+)\s+(?P<guid>\{[0-9A-Fa-f-]{36}\})\s+(?P<kind>Name|Id)\s+(?P<name>.+?)\s*$"
)
PROPTAG = re.compile(r"^\s*(?P<type>[A-Za-z]+)\s+0x[0-9A-Fa-f]{8}\s*$")


def ext_key(prop_id: str) -> str:
    """Case-insensitive on type and GUID, case-sensitive on the name (A7)."""
    m = EXT_ID.match(prop_id)
    if m:
        return f"{m['type'].lower()} {m['guid'].lower()} {m['kind'].lower()} {m['name']}"
    if PROPTAG.match(prop_id):
        return prop_id.strip().lower()
    raise bad_request(f"The extended property id '{prop_id}' is not valid.")


def _strip_html(s: str) -> str:
    text = re.sub(r"<(script|style|head)[^>]*>.*?</\1>", "", s, flags=re.S | re.I)
    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def _to_html(s: str) -> str:
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f"<body><div>{html.escape(s).replace(chr(10), '<br>')}</div></body></html>"
    )


# -- the state ------------------------------------------------------------------------------------


class GraphState:
    """One emulated tenant with its app registrations, mailboxes and everything in them."""

    def __init__(
        self,
        *,
        tenant_id: str = "7c1e2d3f-0000-4000-8000-00000000c0de",
        client_id: str = "1a2b3c4d-0000-4000-8000-0000000000a1",
        client_secret: str = "sandbox-graph-secret",  # noqa: S107 - the sandbox's published secret
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self._now = now or (lambda: datetime.now(UTC))
        self.faults = Faults()
        self.ews_mailboxes: set[str] = set()
        """On-premises mailboxes (issue 20): served by the EWS emulator, refused here."""
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all data (users, items, tokens, subscriptions, counters); app registrations
        and fault settings stay."""
        apps: dict[str, App] = getattr(self, "apps", {})
        self.apps = apps or {
            self.client_id: App(self.tenant_id, self.client_id, self.client_secret)
        }
        self.tokens: dict[str, tuple[str, float]] = {}
        self.delegated: dict[str, str] = {}
        """Delegated access tokens -> the signed-in user (G2: group calendars need them)."""
        self.refresh_tokens: dict[str, tuple[str, str, str]] = {}
        """Refresh token -> (client id, user, scopes)."""
        self.groups: dict[str, str] = {}
        """Microsoft 365 groups: group id and address (lower-cased) -> the group's mailbox key."""
        self.mailboxes: dict[str, Mailbox] = {}
        self.mailbox_ids: dict[str, str] = {}
        self.delta_states: dict[str, DeltaState] = {}
        self.delta_pages: dict[str, DeltaPage] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._subs_by_mailbox: dict[str, set[str]] = {}
        self.upload_sessions: dict[str, UploadSession] = {}
        self.stats: Counter[str] = Counter()
        self.outbox: list[tuple[str, JSON]] = []
        """Change notifications waiting to be POSTed (url, body); the app delivers them."""
        self.sent_mail: list[JSON] = []
        """`POST /users/{id}/sendMail` accepted so far (mail.py; control API `/_sandbox/mail`)."""

    def now(self) -> datetime:
        return self._now()

    # -- apps and tokens --------------------------------------------------------------------------

    def add_app(self, client_id: str, client_secret: str) -> App:
        app = App(self.tenant_id, client_id, client_secret)
        self.apps[client_id] = app
        return app

    def issue_token(self, client_id: str, lifetime_s: int = 3599) -> str:
        import jwt

        now = self.now()
        claims = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(now.timestamp()) + lifetime_s,
            "appid": client_id,
            "tid": self.tenant_id,
            "roles": ["Calendars.ReadWrite"],
            "uti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(claims, self.client_secret + self.tenant_id, algorithm="HS256")
        self.tokens[token] = (client_id, time_now() + lifetime_s)
        return token

    def check_token(self, token: str | None) -> str:
        """The app id behind a bearer token; 401 as Graph words it otherwise."""
        if not token:
            raise GraphApiError(401, "InvalidAuthenticationToken", "Access token is empty.")
        entry = self.tokens.get(token)
        if entry is None or entry[1] <= time_now():
            raise GraphApiError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        return entry[0]

    def issue_refresh_token(
        self, client_id: str, user: str, scopes: str = "Group.Read.All Calendars.ReadWrite"
    ) -> str:
        """A refresh token as a user's consent to the app would leave (delegated access, G2)."""
        token = "0.sandbox-rt." + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = (client_id, user.strip().lower(), scopes)
        return token

    def redeem_refresh_token(
        self, client_id: str, refresh_token: str, lifetime_s: int = 3599
    ) -> tuple[str, str, str] | None:
        """`grant_type=refresh_token`: (access token, new refresh token, scopes), or None."""
        entry = self.refresh_tokens.get(refresh_token)
        if entry is None or entry[0] != client_id:
            return None
        _, user, scopes = entry
        token = self.issue_token(client_id, lifetime_s)
        self.delegated[token] = user
        return token, refresh_token, scopes

    def delegated_user(self, authorization: str | None) -> str | None:
        """The user behind a delegated bearer token (None for app-only tokens)."""
        h = (authorization or "").strip()
        token = h[7:].strip() if h.lower().startswith("bearer ") else h
        return self.delegated.get(token)

    def add_group(
        self, address: str, display_name: str = "", group_id: str | None = None
    ) -> Mailbox:
        """A Microsoft 365 group with its group mailbox and calendar (G2)."""
        mb = self.add_user(address, display_name, group_id)
        self.groups[mb.id.lower()] = mb.address.lower()
        self.groups[mb.address.lower()] = mb.address.lower()
        return mb

    def expire_tokens(self) -> int:
        n = len(self.tokens)
        self.tokens.clear()
        return n

    # -- users ------------------------------------------------------------------------------------

    def add_user(self, address: str, display_name: str = "", user_id: str | None = None) -> Mailbox:
        key = address.strip().lower()
        if key in self.mailboxes:
            return self.mailboxes[key]
        uid = user_id or str(uuid.uuid4())
        name = display_name or address.split("@")[0].replace(".", " ").title()
        mb = Mailbox(
            id=uid,
            address=address.strip(),
            display_name=name,
            tag=hashlib.sha256(key.encode()).digest()[:16],
        )
        self.mailboxes[key] = mb
        self.mailbox_ids[uid.lower()] = key
        return mb

    def find_mailbox(self, ref: str) -> Mailbox | None:
        r = ref.strip().lower()
        mb = self.mailboxes.get(r)
        if mb is None and r in self.mailbox_ids:
            mb = self.mailboxes.get(self.mailbox_ids[r])
        return mb

    def mailbox(self, ref: str) -> Mailbox:
        mb = self.find_mailbox(ref)
        if mb is None:
            raise GraphApiError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        return mb

    # -- change bookkeeping -----------------------------------------------------------------------

    def _touch(self, mb: Mailbox, rec: EventRecord, change: str, *, series: bool = False) -> None:
        mb.seq += 1
        rec.seq = mb.seq
        rec.modified = self.now()
        rec.change_key = ids.change_key()
        if series or not rec.series_key:
            rec.series_key = rec.change_key
        self._notify(mb, rec.id, change)

    def _notify(self, mb: Mailbox, item_id: str, change: str) -> None:
        from crmcal.sandbox.graph.subscriptions import change_notification  # shape: see there

        sub_ids = self._subs_by_mailbox.get(mb.key)
        if not sub_ids:
            return
        now = self.now()
        rec = mb.events.get(item_id)
        etag = rec.change_key if rec is not None else ids.change_key()
        for sid in sorted(sub_ids):
            sub = self.subscriptions[sid]
            if change not in sub.change_types or sub.expiration <= now:
                continue
            note = change_notification(self, sub, mb.id, item_id, change, etag)
            self.outbox.append((sub.notification_url, {"value": [note]}))

    # -- parsing writes ---------------------------------------------------------------------------

    @staticmethod
    def _zone(name: str) -> ZoneInfo:
        zi = timezones.zoneinfo_for(name)
        if zi is None:
            raise GraphApiError(
                400,
                "TimeZoneNotSupportedException",
                "A valid TimeZone value must be specified. The following TimeZone value is not "
                f"supported: '{name}'.",
            )
        return zi

    def _parse_dtz(self, value: object, name: str) -> tuple[datetime, str]:
        if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
            raise bad_request(f"The property '{name}' must be a dateTimeTimeZone object.")
        tzname = value.get("timeZone") or "UTC"
        if not isinstance(tzname, str):
            raise bad_request(f"The property '{name}.timeZone' must be a string.")
        zi = self._zone(tzname)
        try:
            dt = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        except ValueError as e:
            raise GraphApiError(
                400, "RequestBodyRead", f"Cannot convert '{value['dateTime']}' to a date."
            ) from e
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=zi)
        win = timezones.iana_to_windows(tzname) or tzname
        return dt.astimezone(UTC), win

    def _validate_body(self, body: object) -> JSON:
        if not isinstance(body, dict):
            raise GraphApiError(400, "RequestBodyRead", "The request body must be a JSON object.")
        for k in body:
            if k.startswith("@odata.") or k in READ_ONLY:
                continue
            if k not in WRITABLE:
                raise GraphApiError(
                    400,
                    "RequestBodyRead",
                    f"The property '{k}' does not exist on type 'microsoft.graph.event'. Make "
                    "sure to only use property names that are defined by the type or mark the "
                    "type as open type.",
                )
        for k, (tname, allowed) in ENUMS.items():
            if k in body and body[k] not in allowed:
                raise GraphApiError(
                    400,
                    "RequestBodyRead",
                    f"Cannot convert the literal '{body[k]}' to the expected type "
                    f"'microsoft.graph.{tname}'.",
                )
        if "attendees" in body:
            att = body["attendees"]
            if not isinstance(att, list):
                raise GraphApiError(400, "RequestBodyRead", "attendees must be an array.")
            if len(att) > 500:
                raise bad_request("An event can have at most 500 attendees.")
            for a in att:
                if not isinstance(a, dict) or not isinstance(a.get("emailAddress"), dict):
                    raise GraphApiError(400, "RequestBodyRead", "Invalid attendee.")
        if "categories" in body and not (
            isinstance(body["categories"], list)
            and all(isinstance(c, str) for c in body["categories"])
        ):
            raise GraphApiError(400, "RequestBodyRead", "categories must be an array of strings.")
        if "subject" in body and not isinstance(body["subject"], str | None):
            raise GraphApiError(400, "RequestBodyRead", "subject must be a string.")
        return body

    @staticmethod
    def _norm_attendees(att: list[JSON], old: list[JSON] | None = None) -> list[JSON]:
        prev = {str(a["emailAddress"].get("address", "")).lower(): a for a in old or []}
        out = []
        for a in att:
            addr = str(a["emailAddress"].get("address", ""))
            kept = prev.get(addr.lower())
            status = (kept or {}).get("status") or {"response": "none", "time": NEVER}
            out.append(
                {
                    "type": a.get("type", "required"),
                    "status": status,
                    "emailAddress": {"name": a["emailAddress"].get("name", addr), "address": addr},
                }
            )
        return out

    def _apply(self, mb: Mailbox, rec: EventRecord, body: JSON) -> None:
        """Apply writable properties to a record (validated, zones resolved)."""
        p = rec.props
        if "start" in body:
            rec.start, rec.start_tz = self._parse_dtz(body["start"], "start")
        if "end" in body:
            rec.end, rec.end_tz = self._parse_dtz(body["end"], "end")
        if rec.end < rec.start:
            raise bad_request(
                "The EndDate should be greater than the Start Date.",
                "ErrorCalendarEndDateIsEarlierThanStartDate",
            )
        for k in (
            "subject",
            "categories",
            "showAs",
            "sensitivity",
            "importance",
            "isReminderOn",
            "reminderMinutesBeforeStart",
            "transactionId",
            "responseRequested",
            "allowNewTimeProposals",
            "isOnlineMeeting",
            "onlineMeetingProvider",
            "hideAttendees",
            "isAllDay",
        ):
            if k in body:
                p[k] = body[k]
        if "body" in body:
            b = body["body"] or {}
            p["body"] = {
                "contentType": str(b.get("contentType", "html")).lower(),
                "content": str(b.get("content", "")),
            }
        if "location" in body:
            loc = body["location"] or {}
            name = str(loc.get("displayName", ""))
            p["location"] = {
                "displayName": name,
                "locationType": loc.get("locationType", "default"),
                "uniqueId": loc.get("uniqueId", name),
                "uniqueIdType": loc.get("uniqueIdType", "private"),
            }
            p["locations"] = (
                [{"displayName": name, "locationType": "default", "uniqueIdType": "unknown"}]
                if name
                else []
            )
        elif "locations" in body:
            p["locations"] = list(body["locations"] or [])
        if "attendees" in body:
            p["attendees"] = self._norm_attendees(body["attendees"], p.get("attendees"))
        if "singleValueExtendedProperties" in body:
            for ep in body["singleValueExtendedProperties"] or []:
                if not isinstance(ep, dict) or not isinstance(ep.get("id"), str):
                    raise GraphApiError(400, "RequestBodyRead", "Invalid extended property.")
                rec.ext[ext_key(ep["id"])] = (ep["id"], str(ep.get("value", "")))
        if p.get("isAllDay"):
            zi = self._zone(rec.start_tz)
            for dt in (rec.start, rec.end):
                local = dt.astimezone(zi)
                if local.time() != time(0):
                    raise bad_request(
                        "If IsAllDay is true, the start and end times must be at midnight in the "
                        "same time zone."
                    )
        if "recurrence" in body:
            if body["recurrence"] is None:
                rec.recurrence = None
            else:
                if rec.kind == "exception":
                    raise bad_request("An occurrence or exception can't have a recurrence.")
                try:
                    spec = rec_mod.parse(body["recurrence"])
                except rec_mod.RecurrenceError as e:
                    raise bad_request(str(e), "ErrorPropertyValidationFailure") from e
                local_start = rec.start.astimezone(self._series_zone_for(spec, rec))
                if spec.start_date != local_start.date():
                    raise bad_request(
                        "The recurrence range startDate must be the same as the event's start "
                        "date.",
                        "ErrorPropertyValidationFailure",
                    )
                if spec.time_zone is not None:
                    self._zone(spec.time_zone)
                rec.recurrence = spec
            rec.kind = "seriesMaster" if rec.recurrence is not None else "singleInstance"
            rec.exceptions.clear()
            rec.cancelled.clear()

    def _series_zone_for(self, spec: rec_mod.Spec | None, rec: EventRecord) -> ZoneInfo:
        name = (spec.time_zone if spec else None) or rec.start_tz
        return timezones.zoneinfo_for(name) or ZoneInfo("UTC")

    # -- events: create, read, update, delete -----------------------------------------------------

    def _new_record(self, mb: Mailbox, ical_uid: str | None = None) -> EventRecord:
        now = self.now()
        return EventRecord(
            id=ids.new_item_id(mb.tag),
            mailbox=mb.key,
            ical_uid=ical_uid or ids.new_ical_uid(),
            kind="singleInstance",
            props={
                "subject": "",
                "body": {"contentType": "html", "content": ""},
                "categories": [],
                "showAs": "busy",
                "sensitivity": "normal",
                "importance": "normal",
                "isReminderOn": True,
                "reminderMinutesBeforeStart": 15,
                "isAllDay": False,
                "isCancelled": False,
                "isOrganizer": True,
                "responseRequested": True,
                "allowNewTimeProposals": True,
                "isOnlineMeeting": False,
                "onlineMeetingProvider": "unknown",
                "hideAttendees": False,
                "location": {
                    "displayName": "",
                    "locationType": "default",
                    "uniqueIdType": "unknown",
                    "address": {},
                    "coordinates": {},
                },
                "locations": [],
                "attendees": [],
                "organizer": {"emailAddress": mb.email()},
                "responseStatus": {"response": "organizer", "time": NEVER},
            },
            start=now,
            end=now,
            start_tz="UTC",
            end_tz="UTC",
            created=now,
            modified=now,
            change_key="",
            seq=0,
        )

    def create_event(self, mb_ref: str, body: object, *, send_copies: bool = True) -> EventRecord:
        """POST /users/{id}/events: validate, store, send copies to internal attendees (A5).
        `send_copies=False`: EWS `SendMeetingInvitations="SendToNone"` (no invitation goes out)."""
        mb = self.mailbox(mb_ref)
        b = self._validate_body(body)
        if "start" not in b or "end" not in b:
            raise bad_request("The event needs a start and an end.")
        tx = b.get("transactionId")
        if tx:
            for r in mb.events.values():
                if not r.deleted and r.props.get("transactionId") == tx:
                    return r
        rec = self._new_record(mb)
        self._apply(mb, rec, b)
        mb.events[rec.id] = rec
        self._touch(mb, rec, "created", series=True)
        if send_copies:
            self._sync_copies(mb, rec, set(PROPAGATED), created=True)
        return rec

    def seed_event(
        self,
        mb_ref: str,
        body: JSON,
        *,
        original_start_time_zone: str | None = None,
        created: datetime | None = None,
    ) -> EventRecord:
        """Store an event as if its owner had created it (no auth, no throttling)."""
        rec = self.create_event(mb_ref, body)
        if original_start_time_zone is not None:
            rec.start_tz = rec.end_tz = original_start_time_zone
        if created is not None:
            rec.created = created
        return rec

    def deliver_invitation(
        self,
        mb_ref: str,
        body: JSON,
        *,
        organizer: tuple[str, str],
        ical_uid: str | None = None,
        created: datetime | None = None,
    ) -> EventRecord:
        """An invitation from an organizer outside the tenant, as it lands in a mailbox:
        `isOrganizer` false, `notResponded`, the organizer's address, the meeting's iCalUId
        (the same for every internal attendee who got it)."""
        mb = self.mailbox(mb_ref)
        b = self._validate_body(body)
        if "start" not in b or "end" not in b:
            raise bad_request("The event needs a start and an end.")
        rec = self._new_record(mb, ical_uid)
        self._apply(mb, rec, b)
        address, name = organizer
        rec.props["isOrganizer"] = False
        rec.props["organizer"] = {"emailAddress": {"name": name or address, "address": address}}
        rec.props["responseStatus"] = {"response": "notResponded", "time": NEVER}
        if created is not None:
            rec.created = created
        mb.events[rec.id] = rec
        self._touch(mb, rec, "created", series=True)
        return rec

    def deliver_cancellation(self, mb_ref: str, item_id: str) -> None:
        """An external organizer's cancellation arrives: the copy becomes `isCancelled` (as an
        in-org organizer's `cancel` does to attendees' copies)."""
        mb = self.mailbox(mb_ref)
        rec = mb.events.get(item_id)
        if rec is None or rec.deleted:
            raise not_found()
        rec.props["isCancelled"] = True
        self._touch(mb, rec, "updated", series=True)

    def corrupt_event(self, mb_ref: str, item_id: str, override: JSON) -> None:
        """Make reads of one item return these raw JSON fields (Y3 tests: malformed items)."""
        mb = self.mailbox(mb_ref)
        rec = mb.events.get(item_id)
        if rec is None:
            raise not_found()
        rec.raw_override = dict(override)
        self._touch(mb, rec, "updated")

    def resolve(self, mb: Mailbox, item_id: str) -> Instance:
        rec = mb.events.get(item_id)
        if rec is not None:
            if rec.deleted:
                raise not_found()
            return Instance(rec)
        occ = ids.parse_occurrence_id(item_id)
        if occ is not None:
            master = mb.events.get(occ[0])
            if master is None or master.deleted or master.recurrence is None:
                raise not_found()
            ostart = occ[1]
            if ostart in master.cancelled or not self._is_occurrence(master, ostart):
                raise not_found()
            if ostart in master.exceptions:
                return Instance(mb.events[master.exceptions[ostart]])
            return Instance(master, ostart)
        if not ids.is_well_formed(item_id):
            raise GraphApiError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        raise not_found()

    def _is_occurrence(self, master: EventRecord, ostart: datetime) -> bool:
        zi = self._series_zone_for(master.recurrence, master)
        local = ostart.astimezone(zi)
        return any(s == ostart for s in self._occurrence_starts(master, local.date(), local.date()))

    def _occurrence_starts(
        self, master: EventRecord, first: date, last: date
    ) -> Iterator[datetime]:
        """UTC starts of the series' occurrences whose local date is in [first, last]."""
        spec = master.recurrence
        if spec is None:
            return
        zi = self._series_zone_for(spec, master)
        local_time = master.start.astimezone(zi).time()
        for d in rec_mod.occurrence_dates(spec, last):
            if d < first:
                continue
            yield datetime.combine(d, local_time, tzinfo=zi).astimezone(UTC)

    def update_event(
        self, mb_ref: str, item_id: str, body: object, *, send_copies: bool = True
    ) -> EventRecord:
        """PATCH: only the given properties change; an occurrence becomes an exception.
        `send_copies=False`: EWS `SendMeetingInvitationsOrCancellations="SendToNone"`."""
        mb = self.mailbox(mb_ref)
        b = self._validate_body(body)
        inst = self.resolve(mb, item_id)
        rec = inst.record
        fresh = inst.occurrence_start is not None
        if inst.occurrence_start is not None:
            rec = self._make_exception(mb, rec, inst.occurrence_start, register=False)
        if rec.kind == "exception" and ("start" in b or "end" in b):
            self._check_crossing(mb, rec, b)
        old_times = (rec.start, rec.end)
        saved = _snapshot(rec)
        try:
            self._apply(mb, rec, b)
        except GraphApiError:
            _restore(rec, saved)
            raise
        if fresh:
            self._register_exception(mb, rec)
        if rec.kind == "seriesMaster" and (rec.start, rec.end) != old_times:
            rec.exceptions.clear()
            rec.cancelled.clear()
        series = rec.kind == "seriesMaster" and bool(set(b) & (SERIES_FIELDS | {"start", "end"}))
        self._touch(mb, rec, "updated", series=series or "recurrence" in b)
        if rec.props.get("isOrganizer") and send_copies:
            self._sync_copies(mb, rec, set(b) & PROPAGATED)
        return rec

    def _check_crossing(self, mb: Mailbox, exc: EventRecord, body: JSON) -> None:
        master = mb.events.get(exc.series_master_id or "")
        if master is None or exc.original_start is None or master.recurrence is None:
            return
        zi = self._series_zone_for(master.recurrence, master)
        new_start = self._parse_dtz(body["start"], "start")[0] if "start" in body else exc.start
        od = exc.original_start.astimezone(zi).date()
        starts = list(
            self._occurrence_starts(master, od - timedelta(days=400), od + timedelta(days=400))
        )
        i = starts.index(exc.original_start) if exc.original_start in starts else -1
        nd = new_start.astimezone(zi).date()
        if i > 0 and nd <= starts[i - 1].astimezone(zi).date():
            raise bad_request(
                "Occurrence can't be moved onto or past the day of a neighbouring occurrence.",
                "ErrorOccurrenceCrossingBoundary",
            )
        if 0 <= i < len(starts) - 1 and nd >= starts[i + 1].astimezone(zi).date():
            raise bad_request(
                "Occurrence can't be moved onto or past the day of a neighbouring occurrence.",
                "ErrorOccurrenceCrossingBoundary",
            )

    def _make_exception(
        self, mb: Mailbox, master: EventRecord, ostart: datetime, *, register: bool = True
    ) -> EventRecord:
        duration = master.end - master.start
        exc = EventRecord(
            id=ids.occurrence_id(master.id, ostart),
            mailbox=mb.key,
            ical_uid=ids.occurrence_ical_uid(master.ical_uid, ostart),
            kind="exception",
            props={
                k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in master.props.items()
            },
            start=ostart,
            end=ostart + duration,
            start_tz=master.start_tz,
            end_tz=master.end_tz,
            created=master.created,
            modified=self.now(),
            change_key=master.series_key,
            seq=master.seq,
            series_master_id=master.id,
            original_start=ostart,
            ext=dict(master.ext),
            organizer_ref=master.organizer_ref,
        )
        if register:
            self._register_exception(mb, exc)
        return exc

    @staticmethod
    def _register_exception(mb: Mailbox, exc: EventRecord) -> None:
        master = mb.events[exc.series_master_id or ""]
        assert exc.original_start is not None
        mb.events[exc.id] = exc
        master.exceptions[exc.original_start] = exc.id

    def delete_event(self, mb_ref: str, item_id: str, *, notify_attendees: bool = True) -> None:
        mb = self.mailbox(mb_ref)
        inst = self.resolve(mb, item_id)
        rec = inst.record
        if inst.occurrence_start is not None or rec.kind == "exception":
            master = rec if rec.kind == "seriesMaster" else mb.events[rec.series_master_id or ""]
            ostart = inst.occurrence_start or rec.original_start
            assert ostart is not None
            master.cancelled.add(ostart)
            exc_id = master.exceptions.pop(ostart, None)
            if exc_id is not None:
                mb.events[exc_id].deleted = True
            self._touch(mb, master, "updated")
            if notify_attendees and master.props.get("isOrganizer"):
                self._cancel_copies_occurrence(master, ostart)
            return
        rec.deleted = True
        for exc_id in rec.exceptions.values():
            mb.events[exc_id].deleted = True
        self._touch(mb, rec, "deleted")
        if notify_attendees and rec.props.get("isOrganizer"):
            self._cancel_copies(rec)

    # -- meetings across mailboxes ----------------------------------------------------------------

    def _sync_copies(
        self, mb: Mailbox, rec: EventRecord, changed: set[str], *, created: bool = False
    ) -> None:
        """Put or update copies of a meeting in internal attendees' mailboxes (same iCalUId)."""
        if not changed:
            return
        if rec.kind == "exception":
            master = mb.events.get(rec.series_master_id or "")
            if master is None or rec.original_start is None:
                return
            for addr, copy_id in master.copies.items():
                other = self.mailboxes.get(addr)
                copy_master = other.events.get(copy_id) if other else None
                if other is None or copy_master is None or copy_master.deleted:
                    continue
                ostart = rec.original_start
                cid = copy_master.exceptions.get(ostart)
                cexc = (
                    other.events[cid] if cid else self._make_exception(other, copy_master, ostart)
                )
                self._copy_fields(rec, cexc, changed)
                self._touch(other, cexc, "updated")
            return
        wanted = {
            str(a["emailAddress"]["address"]).lower()
            for a in rec.props.get("attendees", [])
            if str(a["emailAddress"]["address"]).lower() in self.mailboxes
        } - {mb.key}
        for addr in sorted(wanted):
            other = self.mailboxes[addr]
            existing = rec.copies.get(addr)
            copy = other.events.get(existing) if existing else None
            if copy is None or copy.deleted:
                copy = self._new_record(other, rec.ical_uid)
                copy.props["isOrganizer"] = False
                copy.props["organizer"] = {"emailAddress": mb.email()}
                copy.props["responseStatus"] = {"response": "notResponded", "time": NEVER}
                copy.props["categories"] = []
                copy.organizer_ref = (mb.key, rec.id)
                self._copy_fields(rec, copy, set(PROPAGATED))
                other.events[copy.id] = copy
                rec.copies[addr] = copy.id
                self._touch(other, copy, "created", series=True)
            else:
                self._copy_fields(rec, copy, changed)
                self._touch(other, copy, "updated", series=True)
        for addr in set(rec.copies) - wanted:
            other = self.mailboxes.get(addr)
            copy = other.events.get(rec.copies[addr]) if other else None
            if other is not None and copy is not None and not copy.deleted:
                self._mark_cancelled(other, copy)

    @staticmethod
    def _copy_fields(src: EventRecord, dst: EventRecord, changed: set[str]) -> None:
        for k in changed:
            if k == "start":
                dst.start, dst.start_tz = src.start, src.start_tz
            elif k == "end":
                dst.end, dst.end_tz = src.end, src.end_tz
            elif k == "recurrence":
                dst.recurrence = src.recurrence
                dst.kind = src.kind if src.kind != "exception" else dst.kind
            elif k in src.props:
                v = src.props[k]
                dst.props[k] = (
                    [dict(x) if isinstance(x, dict) else x for x in v]
                    if isinstance(v, list)
                    else dict(v)
                    if isinstance(v, dict)
                    else v
                )

    def _mark_cancelled(self, mb: Mailbox, rec: EventRecord) -> None:
        rec.props["isCancelled"] = True
        subject = str(rec.props.get("subject") or "")
        if not subject.startswith("Canceled: "):
            rec.props["subject"] = "Canceled: " + subject
        self._touch(mb, rec, "updated", series=True)

    def _cancel_copies(self, rec: EventRecord) -> None:
        for addr, copy_id in rec.copies.items():
            other = self.mailboxes.get(addr)
            copy = other.events.get(copy_id) if other else None
            if other is not None and copy is not None and not copy.deleted:
                self._mark_cancelled(other, copy)

    def _cancel_copies_occurrence(self, master: EventRecord, ostart: datetime) -> None:
        for addr, copy_id in master.copies.items():
            other = self.mailboxes.get(addr)
            cm = other.events.get(copy_id) if other else None
            if other is None or cm is None or cm.deleted or ostart in cm.cancelled:
                continue
            cid = cm.exceptions.get(ostart)
            cexc = other.events[cid] if cid else self._make_exception(other, cm, ostart)
            self._mark_cancelled(other, cexc)

    def cancel(self, mb_ref: str, item_id: str, comment: str = "") -> None:
        """POST …/cancel: organizer only; attendees' copies become `isCancelled` (A5)."""
        mb = self.mailbox(mb_ref)
        inst = self.resolve(mb, item_id)
        if not inst.record.props.get("isOrganizer"):
            raise bad_request("You need to be an organizer to cancel a meeting.")
        self.delete_event(mb.key, item_id)

    def respond(
        self,
        mb_ref: str,
        item_id: str,
        response: str,
        body: object,
    ) -> None:
        """accept / tentativelyAccept / decline: update own copy and the organizer's list."""
        mb = self.mailbox(mb_ref)
        b = body if isinstance(body, dict) else {}
        inst = self.resolve(mb, item_id)
        rec = inst.record
        if inst.occurrence_start is None and rec.kind == "exception":
            master = mb.events.get(rec.series_master_id or "")
            rec = master or rec
        elif inst.occurrence_start is not None:
            rec = inst.record
        if rec.props.get("isOrganizer"):
            raise bad_request(
                "Your request can't be completed. You can't respond to a meeting you organize."
            )
        if b.get("proposedNewTime") is not None:
            if response == "accepted":
                raise GraphApiError(
                    400, "RequestBodyRead", "proposedNewTime is not allowed on accept."
                )
            if not rec.props.get("allowNewTimeProposals", True) or b.get("sendResponse") is False:
                raise bad_request(
                    "Your request can't be completed. A new time can't be proposed for this "
                    "meeting."
                )
        now = fmt_utc(self.now())
        rec.props["responseStatus"] = {"response": response, "time": now}
        if response == "declined":
            rec.deleted = True
            self._touch(mb, rec, "deleted")
        else:
            self._touch(mb, rec, "updated", series=True)
        if rec.organizer_ref and b.get("sendResponse", True) is not False:
            org_mb = self.mailboxes.get(rec.organizer_ref[0])
            org = org_mb.events.get(rec.organizer_ref[1]) if org_mb else None
            if org_mb is not None and org is not None and not org.deleted:
                for a in org.props.get("attendees", []):
                    if str(a["emailAddress"]["address"]).lower() == mb.key:
                        a["status"] = {"response": response, "time": now}
                self._touch(org_mb, org, "updated", series=True)

    # -- reading ----------------------------------------------------------------------------------

    def instances_in(self, mb: Mailbox, start: datetime, end: datetime) -> list[Instance]:
        """calendarView rows: singles, occurrences and exceptions touching [start, end)."""
        out: list[Instance] = []
        for rec in mb.events.values():
            if rec.deleted or rec.kind == "exception":
                continue
            if rec.kind == "singleInstance":
                if _overlaps(rec, start, end):
                    out.append(Instance(rec))
            else:
                out.extend(self.series_in(mb, rec, start, end, include_cancelled=True))
        out.sort(key=lambda i: (self.start_of(i), i.id))
        return out

    def series_in(
        self,
        mb: Mailbox,
        master: EventRecord,
        start: datetime,
        end: datetime,
        *,
        include_cancelled: bool,
    ) -> list[Instance]:
        out: list[Instance] = []
        zi = self._series_zone_for(master.recurrence, master)
        duration = master.end - master.start
        first = (start - duration).astimezone(zi).date() - timedelta(days=1)
        last = end.astimezone(zi).date() + timedelta(days=1)
        for ostart in self._occurrence_starts(master, first, last):
            if ostart in master.cancelled or ostart in master.exceptions:
                continue
            if ostart < end and ostart + duration > start:
                out.append(Instance(master, ostart))
        for exc_id in master.exceptions.values():
            exc = mb.events[exc_id]
            if exc.deleted or not _overlaps(exc, start, end):
                continue
            if exc.props.get("isCancelled") and not include_cancelled:
                continue
            out.append(Instance(exc))
        return out

    @staticmethod
    def start_of(inst: Instance) -> datetime:
        return inst.occurrence_start if inst.occurrence_start is not None else inst.record.start

    def version_of(self, inst: Instance) -> str:
        if inst.occurrence_start is not None:
            return inst.record.series_key
        return inst.record.change_key

    def render(
        self,
        mb: Mailbox,
        inst: Instance,
        *,
        tz: str | None = None,
        body_type: str | None = None,
        base_url: str = "https://graph.microsoft.com",
    ) -> JSON:
        """The event JSON as Graph returns it (api-facts A1)."""
        rec = inst.record
        p = rec.props
        ostart = inst.occurrence_start
        if ostart is not None:
            start, end = ostart, ostart + (rec.end - rec.start)
            etype, item_id = "occurrence", inst.id
            ical = ids.occurrence_ical_uid(rec.ical_uid, ostart)
            ck = rec.series_key
            master_id: str | None = rec.id
            original: datetime | None = ostart
        else:
            start, end = rec.start, rec.end
            etype, item_id, ical, ck = rec.kind, rec.id, rec.ical_uid, rec.change_key
            master_id = rec.series_master_id
            original = rec.original_start
        zone_label = "UTC"
        zi: ZoneInfo | None = None
        if tz:
            zi = timezones.zoneinfo_for(tz)
            if zi is not None:
                zone_label = tz
        start_json, end_json = self._times_json(rec, start, end, zi, zone_label)
        body = p.get("body") or {"contentType": "html", "content": ""}
        content = str(body.get("content", ""))
        ctype = body.get("contentType", "html")
        text = _strip_html(content) if ctype == "html" else content
        want = body_type or "html"
        if want == "text" and ctype == "html":
            content, ctype = text, "text"
        elif want == "html" and ctype == "text":
            content, ctype = _to_html(content), "html"
        encoded = item_id.replace("=", "%3D").replace("+", "%2B").replace("/", "%2F")
        out: JSON = {
            "@odata.etag": f'W/"{ck}"',
            "id": item_id,
            "createdDateTime": fmt_utc(rec.created),
            "lastModifiedDateTime": fmt_utc(rec.modified),
            "changeKey": ck,
            "categories": list(p.get("categories", [])),
            "originalStartTimeZone": rec.start_tz,
            "originalEndTimeZone": rec.end_tz,
            "iCalUId": ical,
            "reminderMinutesBeforeStart": p.get("reminderMinutesBeforeStart", 15),
            "isReminderOn": p.get("isReminderOn", True),
            "hasAttachments": bool(rec.attachments),
            "subject": p.get("subject") or "",
            "bodyPreview": text[:255],
            "importance": p.get("importance", "normal"),
            "sensitivity": p.get("sensitivity", "normal"),
            "isAllDay": bool(p.get("isAllDay")),
            "isCancelled": bool(p.get("isCancelled")),
            "isOrganizer": bool(p.get("isOrganizer", True)),
            "responseRequested": p.get("responseRequested", True),
            "seriesMasterId": master_id,
            "showAs": p.get("showAs", "busy"),
            "type": etype,
            "webLink": "https://outlook.office365.com/owa/?itemid="
            f"{encoded}&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": p.get("isOnlineMeeting", False),
            "onlineMeetingProvider": p.get("onlineMeetingProvider", "unknown"),
            "allowNewTimeProposals": p.get("allowNewTimeProposals", True),
            "isDraft": False,
            "hideAttendees": p.get("hideAttendees", False),
            "responseStatus": dict(p.get("responseStatus", {"response": "none", "time": NEVER})),
            "body": {"contentType": ctype, "content": content},
            "start": start_json,
            "end": end_json,
            "location": dict(p.get("location", {})),
            "locations": [dict(x) for x in p.get("locations", [])],
            "recurrence": (
                rec_mod.to_json(rec.recurrence, rec.start_tz)
                if rec.recurrence is not None and etype == "seriesMaster"
                else None
            ),
            "attendees": [
                {
                    "type": a["type"],
                    "status": dict(a["status"]),
                    "emailAddress": dict(a["emailAddress"]),
                }
                for a in p.get("attendees", [])
            ],
            "organizer": {"emailAddress": dict(p["organizer"]["emailAddress"])},
            "onlineMeeting": None,
        }
        if original is not None:
            out["originalStart"] = fmt_utc(original)
        if p.get("transactionId"):
            out["transactionId"] = p["transactionId"]
        if rec.raw_override:
            out.update(rec.raw_override)
        return out

    def _times_json(
        self,
        rec: EventRecord,
        start: datetime,
        end: datetime,
        zi: ZoneInfo | None,
        zone_label: str,
    ) -> tuple[JSON, JSON]:
        """`start`/`end` as `dateTimeTimeZone` in the request's zone (`Prefer: outlook.timezone`,
        else UTC). An all-day item is midnight to midnight *in that zone* on the dates it was
        written with, whatever zone it was made in: the date is never an instant converted
        (E2; Microsoft in microsoft-graph-docs#1802 "by design", docs-contrib #471, #6459)."""
        if rec.props.get("isAllDay"):
            made_in = self._series_zone_for(rec.recurrence, rec)
            first = start.astimezone(made_in).date()
            days = max((end.astimezone(made_in).date() - first).days, 1)
            last = first + timedelta(days=days)
            return (
                {"dateTime": f"{first.isoformat()}T00:00:00.0000000", "timeZone": zone_label},
                {"dateTime": f"{last.isoformat()}T00:00:00.0000000", "timeZone": zone_label},
            )
        return (
            {"dateTime": fmt_local(start.astimezone(zi) if zi else start), "timeZone": zone_label},
            {"dateTime": fmt_local(end.astimezone(zi) if zi else end), "timeZone": zone_label},
        )

    def render_delta(
        self,
        mb: Mailbox,
        inst: Instance,
        *,
        tz: str | None = None,
        body_type: str | None = None,
    ) -> JSON:
        """A calendarView/delta row as Graph sends it (E1). Occurrences and exceptions carry only
        `@odata.type`, `@odata.etag`, `id`, `seriesMasterId`, `type`, `start` and `end` (seen by
        users in microsoft-graph-docs#1716, #7632, #22197, docs-contrib #34, #5602; "by design"
        in microsoft-graph-docs#2182); a client reads the rest from the master or `/instances`.
        Single items come with their properties. Every row has `@odata.type`."""
        full = self.render(mb, inst, tz=tz, body_type=body_type)
        if inst.occurrence_start is None and inst.record.kind == "singleInstance":
            return {"@odata.type": "#microsoft.graph.event", **full}
        sparse: JSON = {"@odata.type": "#microsoft.graph.event"}
        for k in ("@odata.etag", "id", "seriesMasterId", "type", "start", "end"):
            sparse[k] = full.get(k)
        if inst.record.raw_override:
            sparse.update(inst.record.raw_override)
        return sparse

    # -- delta ------------------------------------------------------------------------------------

    def delta_start(self, mb: Mailbox, start: datetime, end: datetime) -> DeltaState:
        return DeltaState(mailbox=mb.key, start=start, end=end, watermark=-1, known={})

    def delta_compute(
        self, state: DeltaState, render: Callable[[Mailbox, Instance], JSON]
    ) -> tuple[list[JSON], DeltaState]:
        """Changes since `state`: new/changed rows in the window, tombstones for rows that left it
        or were deleted, and (as the real service does) tombstones for changes outside the window.
        """
        mb = self.mailbox(state.mailbox)
        if state.watermark == mb.seq:
            return [], state
        rows = self.instances_in(mb, state.start, state.end)
        current = {i.id: self.version_of(i) for i in rows}
        entries: list[JSON] = []
        for inst in rows:
            if state.known.get(inst.id) != current[inst.id]:
                entries.append(render(mb, inst))
        if state.watermark >= 0:
            for item_id in state.known:
                if item_id not in current:
                    entries.append(_tombstone(item_id))
            seen = set(current) | set(state.known)
            for rec in mb.events.values():
                if rec.kind == "seriesMaster" and not rec.deleted:
                    continue
                if rec.seq > state.watermark and rec.id not in seen:
                    entries.append(_tombstone(rec.id))
                    seen.add(rec.id)
        new_state = DeltaState(
            mailbox=mb.key, start=state.start, end=state.end, watermark=mb.seq, known=current
        )
        return entries, new_state

    def store_delta_token(self, state: DeltaState, keep: int = 8) -> str:
        """A deltatoken for `state`. A round without changes hands back the token it came with,
        so a client may replay a delta link; older states of a mailbox expire (then 410)."""
        mb = self.mailbox(state.mailbox)
        if state.token and self.delta_states.get(state.token) is state:
            mb.delta_tokens.move_to_end(state.token)
            return state.token
        token = "EMU-dt-" + ids.opaque_token(30)
        state.token = token
        self.delta_states[token] = state
        mb.delta_tokens[token] = None
        while len(mb.delta_tokens) > keep:
            old, _ = mb.delta_tokens.popitem(last=False)
            self.delta_states.pop(old, None)
        return token

    def expire_delta_tokens(self) -> int:
        n = len(self.delta_states) + len(self.delta_pages)
        self.delta_states.clear()
        self.delta_pages.clear()
        for mb in self.mailboxes.values():
            mb.delta_tokens.clear()
        return n

    # -- categories -------------------------------------------------------------------------------

    def add_category(self, mb_ref: str, display_name: str, color: str = "none") -> JSON:
        mb = self.mailbox(mb_ref)
        if not display_name:
            raise bad_request("displayName is required.")
        if any(c["displayName"].lower() == display_name.lower() for c in mb.categories.values()):
            raise GraphApiError(
                409, "ErrorDuplicateCategory", f"A category named '{display_name}' already exists."
            )
        _check_color(color)
        cat = {"id": str(uuid.uuid4()), "displayName": display_name, "color": color}
        mb.categories[cat["id"]] = cat
        return cat

    # -- subscriptions ----------------------------------------------------------------------------

    def add_subscription(self, sub: Subscription) -> None:
        self.subscriptions[sub.id] = sub
        self._subs_by_mailbox.setdefault(sub.mailbox, set()).add(sub.id)

    def remove_subscription(self, subscription_id: str) -> None:
        sub = self.subscriptions.pop(subscription_id, None)
        if sub is not None:
            self._subs_by_mailbox.get(sub.mailbox, set()).discard(subscription_id)

    def lifecycle_event(self, subscription_id: str, event: str) -> None:
        """Queue a lifecycle notification (`missed`, `subscriptionRemoved`,
        `reauthorizationRequired`) to the subscription's lifecycleNotificationUrl (A11, E4)."""
        from crmcal.sandbox.graph.subscriptions import queue_lifecycle

        queue_lifecycle(self, subscription_id, event)

    def subscription_mailbox(self, resource: str) -> Mailbox:
        m = re.match(r"^/?(?:users|Users)/([^/]+)/(?:calendar/)?(?:events|Events)$", resource)
        if not m:
            raise bad_request(f"Resource '{resource}' is not supported.", "InvalidRequest")
        return self.mailbox(m.group(1))


def _check_color(color: str) -> None:
    if color != "none" and not re.fullmatch(r"preset([0-9]|1[0-9]|2[0-4])", color):
        raise GraphApiError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{color}' to the expected type "
            "'microsoft.graph.categoryColor'.",
        )


def check_color(color: str) -> None:
    _check_color(color)


def _snapshot(rec: EventRecord) -> tuple[Any, ...]:
    return (
        copy.deepcopy(rec.props),
        rec.start,
        rec.end,
        rec.start_tz,
        rec.end_tz,
        rec.recurrence,
        rec.kind,
        dict(rec.ext),
        dict(rec.exceptions),
        set(rec.cancelled),
    )


def _restore(rec: EventRecord, saved: tuple[Any, ...]) -> None:
    (
        rec.props,
        rec.start,
        rec.end,
        rec.start_tz,
        rec.end_tz,
        rec.recurrence,
        rec.kind,
        rec.ext,
        rec.exceptions,
        rec.cancelled,
    ) = saved


def _overlaps(rec: EventRecord, start: datetime, end: datetime) -> bool:
    if rec.start == rec.end:
        return start <= rec.start < end
    return rec.start < end and rec.end > start


def _tombstone(item_id: str) -> JSON:
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": item_id,
        "@removed": {"reason": "deleted"},
    }
