"""The Graph v1.0 calendar surface as a plain router over `GraphState`.

`dispatch()` takes a method, a path below `/v1.0`, query, headers and body and returns status,
headers and body. The HTTP app and `$batch` both call it, so inner batch requests behave exactly
like top-level ones.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from crmcal.sandbox.graph import ids
from crmcal.sandbox.graph.state import (
    JSON,
    Attachment,
    DeltaPage,
    DeltaState,
    EventRecord,
    GraphApiError,
    GraphState,
    Instance,
    Mailbox,
    Subscription,
    UploadSession,
    bad_request,
    check_color,
    ext_key,
    fmt_utc,
    not_found,
    parse_query_datetime,
)

DEFAULT_PAGE = 10
MAX_PAGE = 1000
SMALL_ATTACHMENT_LIMIT = 3 * 1024 * 1024
MAX_ATTACHMENT = 150 * 1024 * 1024


@dataclass
class ApiRequest:
    method: str
    path: str
    """Below the version segment, e.g. `/users/u1/events`."""
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: Any = None
    base: str = "https://graph.microsoft.com/v1.0"
    """The absolute base for links (`@odata.nextLink`)."""
    app_id: str = ""


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Handler = Callable[[GraphState, ApiRequest, dict[str, str]], ApiResponse]

_U = r"/users/(?P<user>[^/]+)"
_CAL = r"(?:/calendar|/calendars/[^/]+)?"
_E = _U + _CAL + r"/events/(?P<eid>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str, str]] = []


def route(method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile("^" + pattern + "$"), name, fn.__name__))
        _HANDLERS[fn.__name__] = fn
        return fn

    return deco


_HANDLERS: dict[str, Handler] = {}


def match(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    """(endpoint pattern name, handler, path params) or None."""
    for m, rx, name, fn in ROUTES:
        if m != method:
            continue
        mm = rx.match(path)
        if mm:
            return name, _HANDLERS[fn], {k: v for k, v in mm.groupdict().items() if v is not None}
    return None


def mailbox_of(path: str) -> str | None:
    m = re.match(r"^/users/([^/]+)", path)
    return m.group(1) if m else None


def error_body(code: str, message: str, request_id: str | None = None) -> JSON:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id or str(uuid.uuid4()),
                "client-request-id": request_id or str(uuid.uuid4()),
            },
        }
    }


_GROUP = re.compile(
    r"^/groups/(?P<group>[^/]+)(?P<rest>/calendar/events.*|/events.*|/calendarView"
    r"|/calendar/calendarView)$"
)


def _group_request(state: GraphState, req: ApiRequest) -> ApiRequest:
    """G2, api-facts A12: `/groups/{id}/calendar/events`, `/groups/{id}/events`,
    `/groups/{id}/calendarView` answer delegated tokens only (Group.Read.All or
    Group.ReadWrite.All); an app-only token gets 403. Served from the group's mailbox."""
    m = _GROUP.match(req.path)
    if m is None:
        raise GraphApiError(
            400, "BadRequest", f"Resource not found for the segment '{req.path.split('/')[-1]}'."
        )
    if state.delegated_user(req.headers.get("authorization")) is None:
        raise GraphApiError(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again. Application permissions are not "
            "supported for group calendars: use a delegated token with Group.Read.All.",
        )
    key = state.groups.get(m.group("group").lower())
    if key is None:
        raise GraphApiError(
            404, "Request_ResourceNotFound", f"Resource '{m.group('group')}' does not exist."
        )
    rest = m.group("rest").replace("/calendar/calendarView", "/calendarView")
    if req.method != "GET" and rest.endswith("/attachments"):
        raise bad_request("Group events can't have attachments.")
    return replace(req, path=f"/users/{key}{rest}")


def dispatch(state: GraphState, req: ApiRequest) -> tuple[str, ApiResponse]:
    """Run one API request; errors become Graph's envelope. Returns (endpoint name, response)."""
    if req.path.startswith("/groups/"):
        try:
            req = _group_request(state, req)
        except GraphApiError as e:
            return "groups", ApiResponse(e.status, error_body(e.code, e.message), dict(e.headers))
    found = match(req.method, req.path)
    if found is None:
        known_path = any(rx.match(req.path) for _, rx, _, _ in ROUTES)
        if known_path:
            return "405", ApiResponse(
                405,
                error_body("Request_BadRequest", f"The {req.method} method is not allowed here."),
            )
        return "404", ApiResponse(
            400,
            error_body(
                "BadRequest", f"Resource not found for the segment '{req.path.split('/')[-1]}'."
            ),
        )
    name, handler, params = found
    try:
        return name, handler(state, req, params)
    except GraphApiError as e:
        return name, ApiResponse(e.status, error_body(e.code, e.message), dict(e.headers))


# -- helpers --------------------------------------------------------------------------------------


def _prefer(req: ApiRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    raw = req.headers.get("prefer", "")
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", raw):
        if "=" in part:
            k, _, v = part.strip().partition("=")
            out[k.strip().lower()] = v.strip().strip('"')
        elif part.strip():
            out[part.strip().lower()] = ""
    return out


def _page_size(req: ApiRequest, applied: list[str]) -> int:
    pref = _prefer(req).get("odata.maxpagesize")
    if pref:
        try:
            n = max(1, min(int(pref), MAX_PAGE))
        except ValueError:
            return DEFAULT_PAGE
        applied.append(f"odata.maxpagesize={n}")
        return n
    return DEFAULT_PAGE


def _render_opts(req: ApiRequest, applied: list[str]) -> tuple[str | None, str | None]:
    prefs = _prefer(req)
    tz = prefs.get("outlook.timezone") or None
    if tz:
        applied.append(f'outlook.timezone="{tz}"')
    body = prefs.get("outlook.body-content-type") or None
    if body:
        body = body.lower()
        applied.append(f'outlook.body-content-type="{body}"')
    return tz, body


def _headers(applied: list[str]) -> dict[str, str]:
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def _context(req: ApiRequest, what: str) -> str:
    root = req.base.rsplit("/", 0)[0]
    return f"{root}/$metadata#{what}"


def _expand_ext(req: ApiRequest, inst: Instance, out: JSON) -> None:
    """`$expand=singleValueExtendedProperties($filter=id eq '…')` (A7)."""
    exp = req.query.get("$expand", "")
    if not exp.startswith("singleValueExtendedProperties"):
        return
    m = re.search(r"\$filter=id eq '([^']+)'", exp)
    props = inst.record.ext
    if m:
        key = ext_key(m.group(1))
        vals = [props[key]] if key in props else []
    else:
        raise bad_request(
            "The query specified in the URI is not valid. $expand on extended properties needs "
            "a $filter on id.",
            "ErrorInvalidUrlQuery",
        )
    if vals:
        out["singleValueExtendedProperties"] = [{"id": i, "value": v} for i, v in vals]


def _select(req: ApiRequest, obj: JSON) -> JSON:
    sel = req.query.get("$select")
    if not sel:
        return obj
    keep = {s.strip() for s in sel.split(",")} | {
        "id",
        "@odata.etag",
        "singleValueExtendedProperties",
    }
    return {k: v for k, v in obj.items() if k in keep}


def _window(req: ApiRequest) -> tuple[datetime, datetime]:
    # Query option names are case-insensitive in Graph: the documented delta example sends
    # `startdatetime`/`enddatetime` (api/event-delta.md, concepts/delta-query-events.md).
    q = {k.lower(): v for k, v in req.query.items()}
    s, e = q.get("startdatetime"), q.get("enddatetime")
    if not s or not e:
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        )
    try:
        return parse_query_datetime(s), parse_query_datetime(e)
    except ValueError as ex:
        raise bad_request(
            "The value of the parameter 'StartDateTime' or 'EndDateTime' is invalid.",
            "ErrorInvalidParameter",
        ) from ex


def _paged(
    req: ApiRequest,
    rows: Sequence[Any],
    context: str,
    applied: list[str],
    render: Callable[[Any], JSON] | None = None,
) -> ApiResponse:
    """One page of `rows` (rendered lazily: only the rows on the page)."""
    top = req.query.get("$top")
    size = _page_size(req, applied)
    if top:
        try:
            size = max(1, min(int(top), MAX_PAGE))
        except ValueError as e:
            raise bad_request("Invalid $top.", "ErrorInvalidUrlQuery") from e
    skip = int(req.query.get("$skip", "0") or 0)
    page = list(rows[skip : skip + size])
    if render is not None:
        page = [render(r) for r in page]
    body: JSON = {"@odata.context": context, "value": page}
    if skip + size < len(rows):
        q = {k: v for k, v in req.query.items() if k != "$skip"}
        q["$skip"] = str(skip + size)
        query = urlencode(q, safe="$", quote_via=quote)
        body["@odata.nextLink"] = f"{req.base}{req.path}?{query}"
    return ApiResponse(200, body, _headers(applied))


def _item_response(
    state: GraphState, req: ApiRequest, mb: Mailbox, inst: Instance, status: int = 200
) -> ApiResponse:
    applied: list[str] = []
    tz, bt = _render_opts(req, applied)
    out = state.render(mb, inst, tz=tz, body_type=bt)
    _expand_ext(req, inst, out)
    out = {"@odata.context": _context(req, f"users('{mb.address}')/events/$entity"), **out}
    return ApiResponse(status, _select(req, out), _headers(applied))


# -- events ---------------------------------------------------------------------------------------


_EXT_FILTER = re.compile(
    r"^singleValueExtendedProperties/Any\(\s*(\w+)\s*:\s*\1/id eq '([^']+)' and \1/value eq "
    r"'((?:[^']|'')*)'\s*\)$",
    re.I,
)


@route("GET", _U + _CAL + r"/events", "GET /users/{id}/events")
def list_events(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    applied: list[str] = []
    tz, bt = _render_opts(req, applied)
    recs = [r for r in mb.events.values() if not r.deleted and r.kind != "exception"]
    flt = req.query.get("$filter")
    if flt:
        m = _EXT_FILTER.match(flt.strip())
        if not m:
            raise bad_request(f"Unsupported filter: {flt}", "ErrorInvalidUrlQuery")
        key, value = ext_key(m.group(2)), m.group(3).replace("''", "'").lower()
        recs = [r for r in recs if key in r.ext and r.ext[key][1].lower() == value]
    recs.sort(key=lambda r: (r.start, r.id))

    def render(r: EventRecord) -> JSON:
        inst = Instance(r)
        out = state.render(mb, inst, tz=tz, body_type=bt)
        _expand_ext(req, inst, out)
        return _select(req, out)

    return _paged(req, recs, _context(req, f"users('{mb.address}')/events"), applied, render)


@route("POST", _U + _CAL + r"/events", "POST /users/{id}/events")
def create_event(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    rec = state.create_event(mb.key, req.body)
    return _item_response(state, req, mb, Instance(rec), 201)


@route("GET", _E, "GET /users/{id}/events/{id}")
def get_event(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    return _item_response(state, req, mb, state.resolve(mb, p["eid"]))


@route("PATCH", _E, "PATCH /users/{id}/events/{id}")
def patch_event(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    rec = state.update_event(mb.key, p["eid"], req.body)
    return _item_response(state, req, mb, Instance(rec))


@route("DELETE", _E, "DELETE /users/{id}/events/{id}")
def delete_event(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    state.delete_event(p["user"], p["eid"])
    return ApiResponse(204)


@route("POST", _E + r"/cancel", "POST /users/{id}/events/{id}/cancel")
def cancel_event(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    body = req.body if isinstance(req.body, dict) else {}
    state.cancel(p["user"], p["eid"], str(body.get("comment", "")))
    return ApiResponse(202)


def _responder(response: str) -> Handler:
    def handler(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        state.respond(p["user"], p["eid"], response, req.body)
        return ApiResponse(202)

    handler.__name__ = f"respond_{response}"
    return handler


for _verb, _resp in (
    ("accept", "accepted"),
    ("tentativelyAccept", "tentativelyAccepted"),
    ("decline", "declined"),
):
    route("POST", _E + "/" + _verb, "POST /users/{id}/events/{id}/" + _verb)(_responder(_resp))


@route("GET", _E + r"/instances", "GET /users/{id}/events/{id}/instances")
def instances(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    start, end = _window(req)
    inst = state.resolve(mb, p["eid"])
    if inst.record.kind != "seriesMaster" or inst.occurrence_start is not None:
        return _paged(req, [], _context(req, "Collection(event)"), [])
    applied: list[str] = []
    tz, bt = _render_opts(req, applied)
    rows = state.series_in(mb, inst.record, start, end, include_cancelled=False)
    rows.sort(key=lambda i: (state.start_of(i), i.id))
    out = [_select(req, state.render(mb, i, tz=tz, body_type=bt)) for i in rows]
    return _paged(
        req, out, _context(req, f"users('{mb.address}')/events('{inst.id}')/instances"), applied
    )


@route(
    "GET",
    _U + r"(?:/calendar|/calendars/[^/]+|/calendarGroups/[^/]+/calendars/[^/]+)?/calendarView",
    "GET /users/{id}/calendarView",
)
def calendar_view(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    start, end = _window(req)
    applied: list[str] = []
    tz, bt = _render_opts(req, applied)

    def render(inst: Instance) -> JSON:
        out = state.render(mb, inst, tz=tz, body_type=bt)
        _expand_ext(req, inst, out)
        return _select(req, out)

    rows = state.instances_in(mb, start, end)
    return _paged(req, rows, _context(req, f"users('{mb.address}')/calendarView"), applied, render)


_DELTA_UNSUPPORTED = ("$select", "$expand", "$filter", "$orderby", "$search", "$top", "$skip")


@route("GET", _U + r"(?:/calendar)?/calendarView/delta", "GET /users/{id}/calendarView/delta")
def calendar_view_delta(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    """A4: rounds of pages linked by `$skiptoken`, ending in a `$deltatoken` link."""
    mb = state.mailbox(p["user"])
    for q in _DELTA_UNSUPPORTED:
        if q in req.query:
            raise bad_request(
                f"The query parameter '{q}' is not supported with change tracking over the "
                "'CalendarView' resource.",
                "ErrorInvalidUrlQuery",
            )
    applied: list[str] = []
    size = _page_size(req, applied)
    tz, bt = _render_opts(req, applied)
    gone = GraphApiError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found. Please do a full sync with no sync state.",
    )

    def render(m: Mailbox, i: Instance) -> JSON:
        return state.render_delta(m, i, tz=tz, body_type=bt)

    skip = req.query.get("$skiptoken")
    if skip:
        page = state.delta_pages.pop(skip, None)
        if page is None or page.mailbox != mb.key:
            raise gone
    else:
        dtok = req.query.get("$deltatoken")
        if dtok:
            ds = state.delta_states.get(dtok)
            if ds is None or ds.mailbox != mb.key:
                raise gone
        else:
            start, end = _window(req)
            ds = state.delta_start(mb, start, end)
        entries, final = state.delta_compute(ds, render)
        page = DeltaPage(mailbox=mb.key, entries=entries, final=final, page_size=size)
    body: JSON = {"@odata.context": _context(req, "Collection(event)")}
    chunk, rest = page.entries[: page.page_size], page.entries[page.page_size :]
    link = f"{req.base}/users/{quote(p['user'], safe='@')}/calendarView/delta"
    if rest:
        token = "EMU-st-" + ids.opaque_token(24)
        state.delta_pages[token] = DeltaPage(mb.key, rest, page.final, page.page_size)
        body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
    else:
        token = state.store_delta_token(page.final)
        body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
    body["value"] = chunk
    return ApiResponse(200, body, _headers(applied))


# -- categories -----------------------------------------------------------------------------------


@route("GET", _U + r"/outlook/masterCategories", "GET /users/{id}/outlook/masterCategories")
def list_categories(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    return ApiResponse(
        200,
        {
            "@odata.context": _context(req, f"users('{mb.address}')/outlook/masterCategories"),
            "value": [dict(c) for c in mb.categories.values()],
        },
    )


@route("POST", _U + r"/outlook/masterCategories", "POST /users/{id}/outlook/masterCategories")
def add_category(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    body = req.body if isinstance(req.body, dict) else {}
    name = body.get("displayName")
    if not isinstance(name, str):
        raise bad_request("displayName is required.")
    mb = state.mailbox(p["user"])
    cat = state.add_category(mb.key, name, str(body.get("color", "none")))
    # As printed in api/outlookuser-post-mastercategories.md: with its @odata.context.
    ctx = _context(req, f"users('{mb.id}')/outlook/masterCategories/$entity")
    return ApiResponse(201, {"@odata.context": ctx, **cat})


def _category(state: GraphState, p: dict[str, str]) -> tuple[Mailbox, JSON]:
    mb = state.mailbox(p["user"])
    cat = mb.categories.get(p["cid"])
    if cat is None:
        raise not_found()
    return mb, cat


_CAT = _U + r"/outlook/masterCategories/(?P<cid>[^/]+)"


@route("GET", _CAT, "GET /users/{id}/outlook/masterCategories/{id}")
def get_category(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, dict(_category(state, p)[1]))


@route("PATCH", _CAT, "PATCH /users/{id}/outlook/masterCategories/{id}")
def patch_category(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    _, cat = _category(state, p)
    body = req.body if isinstance(req.body, dict) else {}
    if "displayName" in body and body["displayName"] != cat["displayName"]:
        raise bad_request("The displayName of a category can't be changed.")
    if "color" in body:
        check_color(str(body["color"]))
        cat["color"] = body["color"]
    return ApiResponse(200, dict(cat))


@route("DELETE", _CAT, "DELETE /users/{id}/outlook/masterCategories/{id}")
def delete_category(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb, cat = _category(state, p)
    del mb.categories[cat["id"]]
    return ApiResponse(204)


# -- attachments ----------------------------------------------------------------------------------


def _attachment_json(a: Attachment, *, with_bytes: bool) -> JSON:
    if a.kind == "reference":
        return {
            "@odata.type": "#microsoft.graph.referenceAttachment",
            "id": a.id,
            "lastModifiedDateTime": fmt_utc(a.modified),
            "name": a.name,
            "contentType": a.content_type,
            "size": len(a.data),
            "isInline": False,
            "sourceUrl": a.source_url,
        }
    out: JSON = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": a.id,
        "lastModifiedDateTime": fmt_utc(a.modified),
        "name": a.name,
        "contentType": a.content_type,
        "size": len(a.data),
        "isInline": a.is_inline,
        "contentId": a.content_id,
        "contentLocation": None,
    }
    if with_bytes:
        out["contentBytes"] = base64.b64encode(a.data).decode("ascii")
    return out


def _select_attachment(req: ApiRequest, obj: JSON) -> JSON:
    """`$select` on attachments: the listed properties, `id` and the `@odata.type` of the
    derived type (so clients can tell file, item and reference attachments apart)."""
    sel = req.query.get("$select")
    if not sel:
        return obj
    keep = {s.strip() for s in sel.split(",")} | {"id", "@odata.type"}
    return {k: v for k, v in obj.items() if k in keep}


def _event_record(state: GraphState, p: dict[str, str]) -> tuple[Mailbox, Instance]:
    mb = state.mailbox(p["user"])
    return mb, state.resolve(mb, p["eid"])


@route("GET", _E + r"/attachments", "GET /users/{id}/events/{id}/attachments")
def list_attachments(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    _, inst = _event_record(state, p)
    rows = [
        _select_attachment(req, _attachment_json(a, with_bytes=True))
        for a in inst.record.attachments.values()
    ]
    return ApiResponse(200, {"@odata.context": _context(req, "attachments"), "value": rows})


@route("POST", _E + r"/attachments", "POST /users/{id}/events/{id}/attachments")
def add_attachment(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb, inst = _event_record(state, p)
    body = req.body if isinstance(req.body, dict) else {}
    if body.get("@odata.type") == "#microsoft.graph.referenceAttachment":
        url = body.get("sourceUrl")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise bad_request("referenceAttachment needs an https sourceUrl.")
        ref = _store_attachment(state, mb, inst, str(body.get("name", "link")), "", b"", False)
        ref.kind, ref.source_url = "reference", url
        return ApiResponse(201, _attachment_json(ref, with_bytes=False))
    if body.get("@odata.type") != "#microsoft.graph.fileAttachment":
        raise bad_request(
            "Only fileAttachment and referenceAttachment are supported by the sandbox."
        )
    try:
        data = base64.b64decode(str(body.get("contentBytes", "")), validate=True)
    except ValueError as e:
        raise GraphApiError(400, "RequestBodyRead", "contentBytes is not valid base64.") from e
    if len(data) >= SMALL_ATTACHMENT_LIMIT:
        raise GraphApiError(
            413,
            "ErrorRequestEntityTooLarge",
            "The attachment is too large for a single request; use an upload session.",
        )
    att = _store_attachment(
        state,
        mb,
        inst,
        str(body.get("name", "attachment")),
        str(body.get("contentType") or "application/octet-stream"),
        data,
        bool(body.get("isInline", False)),
    )
    if isinstance(body.get("contentId"), str):
        att.content_id = str(body["contentId"])
    # As printed in api/event-post-attachments.md: with its @odata.context.
    eid = quote(p["eid"], safe="")
    ctx = _context(req, f"users('{mb.id}')/events('{eid}')/attachments/$entity")
    return ApiResponse(201, {"@odata.context": ctx, **_attachment_json(att, with_bytes=True)})


def _store_attachment(
    state: GraphState,
    mb: Mailbox,
    inst: Instance,
    name: str,
    content_type: str,
    data: bytes,
    inline: bool,
) -> Attachment:
    rec = inst.record
    if inst.occurrence_start is not None:
        rec = state._make_exception(mb, rec, inst.occurrence_start)
    att = Attachment(
        id=ids.new_item_id(mb.tag),
        name=name,
        content_type=content_type,
        data=data,
        modified=state.now(),
        is_inline=inline,
    )
    rec.attachments[att.id] = att
    state._touch(mb, rec, "updated")
    return att


_ATT = _E + r"/attachments/(?P<aid>[^/$]+)"


def _attachment(state: GraphState, p: dict[str, str]) -> tuple[Mailbox, Instance, Attachment]:
    mb, inst = _event_record(state, p)
    att = inst.record.attachments.get(p["aid"])
    if att is None:
        raise not_found()
    return mb, inst, att


@route("GET", _ATT, "GET /users/{id}/events/{id}/attachments/{id}")
def get_attachment(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, _attachment_json(_attachment(state, p)[2], with_bytes=True))


@route("GET", _ATT + r"/\$value", "GET /users/{id}/events/{id}/attachments/{id}/$value")
def get_attachment_value(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    att = _attachment(state, p)[2]
    if att.kind == "reference":
        raise bad_request("A reference attachment has no content; follow its sourceUrl.")
    return ApiResponse(200, raw=att.data, headers={"Content-Type": att.content_type})


@route("DELETE", _ATT, "DELETE /users/{id}/events/{id}/attachments/{id}")
def delete_attachment(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb, inst, att = _attachment(state, p)
    del inst.record.attachments[att.id]
    state._touch(mb, inst.record, "updated")
    return ApiResponse(204)


@route(
    "POST",
    _E + r"/attachments/createUploadSession",
    "POST /users/{id}/events/{id}/attachments/createUploadSession",
)
def create_upload_session(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb, inst = _event_record(state, p)
    body = req.body if isinstance(req.body, dict) else {}
    item = body.get("AttachmentItem")
    if not isinstance(item, dict) or item.get("attachmentType") != "file":
        raise bad_request("AttachmentItem with attachmentType 'file' is required.")
    size = item.get("size")
    if not isinstance(size, int) or size <= 0 or size > MAX_ATTACHMENT:
        raise bad_request("AttachmentItem.size must be between 1 byte and 150 MB.")
    sess = UploadSession(
        id=ids.opaque_token(32),
        mailbox=mb.key,
        event_id=inst.id,
        name=str(item.get("name", "attachment")),
        size=size,
        content_type=str(item.get("contentType") or "application/octet-stream"),
        expires=state.now() + timedelta(hours=2),
    )
    state.upload_sessions[sess.id] = sess
    root = req.base.rsplit("/v1.0", 1)[0]
    return ApiResponse(
        201,
        {
            "@odata.context": _context(req, "microsoft.graph.uploadSession"),
            "uploadUrl": f"{root}/_upload/{sess.id}",
            "expirationDateTime": fmt_utc(sess.expires),
            "nextExpectedRanges": ["0-"],
        },
    )


def upload_chunk(
    state: GraphState, session_id: str, content_range: str, data: bytes
) -> ApiResponse:
    """PUT uploadUrl (no Authorization): `Content-Range: bytes s-e/total`, in order (A6)."""
    sess = state.upload_sessions.get(session_id)
    if sess is None or sess.expires < state.now():
        return ApiResponse(
            404, error_body("ErrorItemNotFound", "The upload session was not found.")
        )
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range.strip())
    if not m:
        return ApiResponse(400, error_body("InvalidContentRange", "Content-Range is invalid."))
    s, e, total = (int(x) for x in m.groups())
    if total != sess.size or s != len(sess.data) or e - s + 1 != len(data):
        return ApiResponse(
            416,
            error_body("InvalidRange", f"Expected range starting at {len(sess.data)}."),
        )
    if len(data) > 4 * 1024 * 1024:
        return ApiResponse(413, error_body("RequestEntityTooLarge", "Chunks must be under 4 MB."))
    sess.data.extend(data)
    if len(sess.data) < sess.size:
        return ApiResponse(
            200,
            {
                "expirationDateTime": fmt_utc(sess.expires),
                "nextExpectedRanges": [f"{len(sess.data)}"],
            },
        )
    del state.upload_sessions[session_id]
    try:
        mb = state.mailbox(sess.mailbox)
        inst = state.resolve(mb, sess.event_id)
    except GraphApiError as ex:
        return ApiResponse(ex.status, error_body(ex.code, ex.message))
    att = _store_attachment(
        state, mb, inst, sess.name, sess.content_type, bytes(sess.data), inline=False
    )
    loc = f"https://outlook.office.com/api/v2.0/Users('{mb.id}')/Events('{inst.id}')/Attachments('{att.id}')"
    return ApiResponse(201, None, {"Location": loc})


# -- subscriptions --------------------------------------------------------------------------------


def subscription_json(state: GraphState, s: Subscription) -> JSON:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": s.id,
        "resource": s.resource,
        "applicationId": s.application_id,
        "changeType": ",".join(sorted(s.change_types)),
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "lifecycleNotificationUrl": s.lifecycle_url,
        "expirationDateTime": fmt_utc(s.expiration),
        "creatorId": s.application_id,
        "includeResourceData": s.include_resource_data,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
        # the default content type, as the create-subscription example prints it
        "notificationContentType": "application/json",
    }


MAX_SUBSCRIPTION_MINUTES = 10_080


def parse_subscription(state: GraphState, req: ApiRequest) -> Subscription:
    """Validate a POST /subscriptions body (validation handshake is done by the app)."""
    body = req.body if isinstance(req.body, dict) else {}
    for k in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not isinstance(body.get(k), str) or not body.get(k):
            raise bad_request(f"Subscription property '{k}' is required.", "InvalidRequest")
    types = frozenset(t.strip() for t in str(body["changeType"]).split(","))
    if not types <= {"created", "updated", "deleted"}:
        raise bad_request(f"Unsupported changeType '{body['changeType']}'.", "InvalidRequest")
    url = str(body["notificationUrl"])
    life = body.get("lifecycleNotificationUrl")
    # E4/A11: "a well-known and accessible HTTPS-secured endpoint" (change-notifications-delivery-
    # webhooks); loopback http is refused as Graph refuses it (the sandbox serves https).
    for u in (url, life):
        if u is not None and (not isinstance(u, str) or not u.startswith("https://")):
            raise bad_request("Subscription notificationUrl must be https.", "InvalidRequest")
    cs = body.get("clientState")
    if cs is not None and (not isinstance(cs, str) or len(cs) > 128):
        raise bad_request(
            "clientState must be a string of at most 128 characters.", "InvalidRequest"
        )
    exp = _parse_expiration(state, str(body["expirationDateTime"]))
    mb = state.subscription_mailbox(str(body["resource"]))
    return Subscription(
        id=str(uuid.uuid4()),
        resource=str(body["resource"]),
        mailbox=mb.key,
        change_types=types,
        notification_url=url,
        lifecycle_url=life,
        client_state=cs,
        expiration=exp,
        application_id=req.app_id,
    )


def _parse_expiration(state: GraphState, value: str) -> datetime:
    try:
        exp = parse_query_datetime(value)
    except ValueError as e:
        raise bad_request("expirationDateTime is invalid.", "InvalidRequest") from e
    now = state.now()
    if exp <= now:
        raise bad_request("Subscription expiration can only be in the future.", "InvalidRequest")
    if exp > now + timedelta(minutes=MAX_SUBSCRIPTION_MINUTES):
        raise bad_request(
            f"Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the "
            "future.",
            "InvalidRequest",
        )
    return exp


@route("GET", r"/subscriptions", "GET /subscriptions")
def list_subscriptions(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return ApiResponse(
        200,
        {
            "@odata.context": _context(req, "subscriptions"),
            "value": [subscription_json(state, s) for s in state.subscriptions.values()],
        },
    )


def _subscription(state: GraphState, p: dict[str, str]) -> Subscription:
    s = state.subscriptions.get(p["sid"])
    if s is None:
        raise GraphApiError(404, "ResourceNotFound", f"The object '{p['sid']}' doesn't exist.")
    return s


@route("GET", r"/subscriptions/(?P<sid>[^/]+)", "GET /subscriptions/{id}")
def get_subscription(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, subscription_json(state, _subscription(state, p)))


@route("PATCH", r"/subscriptions/(?P<sid>[^/]+)", "PATCH /subscriptions/{id}")
def renew_subscription(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    s = _subscription(state, p)
    body = req.body if isinstance(req.body, dict) else {}
    if not isinstance(body.get("expirationDateTime"), str):
        raise bad_request("expirationDateTime is required.", "InvalidRequest")
    s.expiration = _parse_expiration(state, body["expirationDateTime"])
    return ApiResponse(200, subscription_json(state, s))


@route("DELETE", r"/subscriptions/(?P<sid>[^/]+)", "DELETE /subscriptions/{id}")
def delete_subscription(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    s = _subscription(state, p)
    state.remove_subscription(s.id)
    return ApiResponse(204)


# -- users ----------------------------------------------------------------------------------------


@route("GET", _U, "GET /users/{id}")
def get_user(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.mailbox(p["user"])
    return ApiResponse(
        200,
        {
            "@odata.context": _context(req, "users/$entity"),
            "id": mb.id,
            "displayName": mb.display_name,
            "mail": mb.address,
            "userPrincipalName": mb.address,
        },
    )


__all__ = [
    "ApiRequest",
    "ApiResponse",
    "DeltaState",
    "dispatch",
    "error_body",
    "mailbox_of",
    "parse_subscription",
    "subscription_json",
    "upload_chunk",
]
