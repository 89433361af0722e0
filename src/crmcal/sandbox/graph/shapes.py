"""Shape checks for Graph answers, as the API reference prints them (issue 16).

The same checks run over Microsoft's documented examples (tests/graph/fixtures/, each with its
source URL) and over what the emulator answers, so the emulator cannot drift from the documented
shapes. Each function returns the problems it found (empty: the shape is right).

Sources: resources/event.md (enums, lowerCamelCase casing), resources/datetimetimezone.md,
api/event-delta.md and concepts/delta-query-events.md (delta pages and `@removed`),
microsoft-graph-docs#7632, #22197, #2182, docs-contrib #34, #5602 (sparse occurrence rows, E1),
concepts/json-batching.md ($batch), resources/outlookcategory.md, resources/fileattachment.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SPARSE_DELTA_KEYS = frozenset(
    {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
)
"""The only properties calendarView/delta sends for an occurrence or exception (E1)."""
EVENT_TYPE = "#microsoft.graph.event"
ATTACHMENT_TYPES = frozenset(
    {
        "#microsoft.graph.fileAttachment",
        "#microsoft.graph.itemAttachment",
        "#microsoft.graph.referenceAttachment",
    }
)
_ENUMS: dict[str, frozenset[str]] = {
    "type": frozenset({"singleInstance", "occurrence", "exception", "seriesMaster"}),
    "showAs": frozenset({"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}),
    "sensitivity": frozenset({"normal", "personal", "private", "confidential"}),
    "importance": frozenset({"low", "normal", "high"}),
}
_RESPONSES = frozenset(
    {"none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"}
)
_ATTENDEE_TYPES = frozenset({"required", "optional", "resource"})
_LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?$")
_ETAG = re.compile(r'^W/"[^"]+"$')
_COLOR = re.compile(r"^(none|preset([0-9]|1[0-9]|2[0-4]))$")


def _dtz(obj: Mapping[str, Any], key: str, where: str) -> list[str]:
    v = obj.get(key)
    if not isinstance(v, Mapping):
        return [f"{where}: {key} is not a dateTimeTimeZone"]
    out = []
    if not isinstance(v.get("dateTime"), str) or not _LOCAL.match(v["dateTime"]):
        out.append(f"{where}: {key}.dateTime {v.get('dateTime')!r} is not a local date-time")
    if not isinstance(v.get("timeZone"), str) or not v["timeZone"]:
        out.append(f"{where}: {key}.timeZone is missing")
    return out


def check_event(obj: object, where: str = "event") -> list[str]:
    """A full event (GET, list, calendarView, instances, single rows of delta)."""
    if not isinstance(obj, Mapping):
        return [f"{where}: not an object"]
    out: list[str] = []
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        out.append(f"{where}: no id")
    if "@odata.etag" in obj and not _ETAG.match(str(obj["@odata.etag"])):
        out.append(f'{where}: @odata.etag {obj["@odata.etag"]!r} is not W/"..."')
    for key in ("start", "end"):
        if key in obj:
            out += _dtz(obj, key, where)
    for key, allowed in _ENUMS.items():
        if key in obj and obj[key] not in allowed:
            out.append(f"{where}: {key} {obj[key]!r} is not one of the documented values")
    for a in obj.get("attendees") or []:
        if a.get("type") not in _ATTENDEE_TYPES:
            out.append(f"{where}: attendee type {a.get('type')!r}")
        status = a.get("status") or {}
        if status and status.get("response") not in _RESPONSES:
            out.append(f"{where}: attendee response {status.get('response')!r}")
    return out


def check_delta_row(obj: object, where: str = "delta row") -> list[str]:
    """One row of calendarView/delta: a tombstone, a sparse occurrence/exception, or a full
    single item; `@odata.type` on every row; never a series master (E1)."""
    if not isinstance(obj, Mapping):
        return [f"{where}: not an object"]
    out: list[str] = []
    if obj.get("@odata.type") != EVENT_TYPE:
        out.append(f"{where}: @odata.type is {obj.get('@odata.type')!r}")
    if "@removed" in obj:
        extra = set(obj) - {"@odata.type", "id", "@removed"}
        if extra:
            out.append(f"{where}: a tombstone with {sorted(extra)}")
        reason = obj["@removed"].get("reason") if isinstance(obj["@removed"], Mapping) else None
        if reason not in ("deleted", "changed"):
            out.append(f"{where}: @removed reason {reason!r}")
        return out
    kind = obj.get("type")
    if kind == "seriesMaster":
        out.append(f"{where}: a series master in calendarView/delta")
    if kind in ("occurrence", "exception"):
        if set(obj) != SPARSE_DELTA_KEYS:
            diff = sorted(set(obj) ^ SPARSE_DELTA_KEYS)
            out.append(f"{where}: an {kind} row must carry exactly the sparse keys ({diff})")
        out += _dtz(obj, "start", where) + _dtz(obj, "end", where)
        if not isinstance(obj.get("seriesMasterId"), str):
            out.append(f"{where}: no seriesMasterId")
        return out
    return out + check_event(obj, where)


def check_delta_page(body: object, *, rows: bool = True) -> list[str]:
    """A delta page: `value`, and either a `$skiptoken` nextLink or a `$deltatoken` deltaLink."""
    if not isinstance(body, Mapping) or not isinstance(body.get("value"), list):
        return ["delta page: no value array"]
    out: list[str] = []
    nxt, dl = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
    if (nxt is None) == (dl is None):
        out.append("delta page: needs exactly one of @odata.nextLink and @odata.deltaLink")
    if nxt is not None and "$skiptoken=" not in str(nxt):
        out.append("delta page: nextLink without $skiptoken")
    if dl is not None and "$deltatoken=" not in str(dl):
        out.append("delta page: deltaLink without $deltatoken")
    if rows:
        for i, row in enumerate(body["value"]):
            out += check_delta_row(row, f"row {i}")
    return out


def check_batch_response(body: object, request_ids: Iterable[str]) -> list[str]:
    """`{"responses": [{"id", "status", "headers", "body"?}]}`, one per request, any order."""
    if not isinstance(body, Mapping) or not isinstance(body.get("responses"), list):
        return ["$batch: no responses array"]
    out: list[str] = []
    seen: list[str] = []
    for r in body["responses"]:
        if not isinstance(r, Mapping) or not isinstance(r.get("id"), str):
            out.append("$batch: a response without a string id")
            continue
        seen.append(r["id"])
        if not isinstance(r.get("status"), int):
            out.append(f"$batch {r['id']}: status is not an integer")
        if "headers" in r and not isinstance(r["headers"], Mapping):
            out.append(f"$batch {r['id']}: headers is not an object")
    if sorted(seen) != sorted(request_ids):
        out.append(f"$batch: response ids {sorted(seen)} do not match the requests")
    return out


def check_category(obj: object) -> list[str]:
    if not isinstance(obj, Mapping):
        return ["category: not an object"]
    out = []
    if not isinstance(obj.get("id"), str) or not isinstance(obj.get("displayName"), str):
        out.append("category: needs id and displayName")
    if not _COLOR.match(str(obj.get("color"))):
        out.append(f"category: color {obj.get('color')!r} (lowercase preset0..preset24/none)")
    return out


def check_attachment(obj: object) -> list[str]:
    if not isinstance(obj, Mapping):
        return ["attachment: not an object"]
    out = []
    if obj.get("@odata.type") not in ATTACHMENT_TYPES:
        out.append(f"attachment: @odata.type {obj.get('@odata.type')!r}")
    for key, typ in (("id", str), ("name", str), ("size", int), ("isInline", bool)):
        if not isinstance(obj.get(key), typ):
            out.append(f"attachment: {key} missing or not {typ.__name__}")
    if not isinstance(obj.get("lastModifiedDateTime"), str):
        out.append("attachment: no lastModifiedDateTime")
    return out
