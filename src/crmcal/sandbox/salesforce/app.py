"""The Salesforce REST emulator as an ASGI app (api-facts B3–B7, D5, D6).

``create_app(org)`` serves ``/services/oauth2/token``, ``/services/data[/vNN.N/...]`` and the
``/_sandbox/`` control API. Every ``/services/data`` response carries ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from crmcal.sandbox.salesforce.state import (
    ORG_ID,
    ApiError,
    SalesforceOrg,
    format_datetime,
    to_json,
)

_VERSION_RE = re.compile(r"^v(\d{2,3}\.\d)$")
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_JSON = "application/json;charset=UTF-8"
MAX_URL = 16_000
"""Longest path + query accepted (414 beyond); the HTTP server refuses heads over 16 KiB."""
MAX_COLLECTION = 200
MAX_COMPOSITE = 25
OLDEST_VERSION = 31
"""API versions 21.0-30.0 were retired in Summer '25 (Salesforce knowledge article "Salesforce
Platform API Versions 21.0 through 30.0 Retirement"); an org of late 2026 serves 31.0 upwards."""
NEWEST_VERSION = 68
"""E8: v66.0 Spring '26, v67.0 Summer '26, v68.0 Winter '27 (GA October 2026)."""
VERSIONS = tuple(f"{n}.0" for n in range(OLDEST_VERSION, NEWEST_VERSION + 1))


def release_label(version: str) -> str:
    """The label `GET /services/data/` gives a version: its release, e.g. "Winter '27" for 68.0
    (20.0 was Winter '11; three releases a year, the year turning with Winter)."""
    n = int(float(version)) - 20
    season = ("Winter", "Spring", "Summer")[n % 3]
    return f"{season} '{11 + n // 3:02d}"


Json = Any
"""Parsed JSON inside the emulator (request bodies are untrusted and checked where used)."""


@dataclass
class Result:
    status: int
    body: Json = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = _JSON


def _err(e: ApiError) -> Result:
    return Result(e.status, e.body())


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _pattern(segs: list[str]) -> str:
    """A request's endpoint kind for counters: ids and values replaced by placeholders."""
    if not segs:
        return "root"
    head = segs[0]
    if head in ("query", "queryAll"):
        return head if len(segs) == 1 else f"{head}/more"
    if head == "sobjects":
        if len(segs) <= 2:
            return "/".join(["sobjects", "{type}"][: len(segs)])
        if segs[2] in ("describe", "updated", "deleted"):
            return f"sobjects/{{type}}/{segs[2]}"
        if len(segs) == 3:
            return "sobjects/{type}/{id}"
        if len(segs) == 4 and segs[3] == "Body":
            return "sobjects/{type}/{id}/Body"
        return "sobjects/{type}/{field}/{value}"
    if head == "composite":
        if len(segs) == 1:
            return "composite"
        if len(segs) == 2:
            return "composite/sobjects"
        return "composite/sobjects/{type}" + ("/{field}" if len(segs) > 3 else "")
    return head


def _parse_dt(value: str | None, name: str) -> datetime:
    if not value:
        raise ApiError(400, "MISSING_ARGUMENT", f"{name} not specified")
    s = value.strip().replace(" ", "+")
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise ApiError(400, "INVALID_REPLICATION_DATE", f"invalid {name}: {value}") from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).astimezone(UTC)


class Api:
    """Dispatches one REST call (top-level or a composite subrequest) to the org."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org

    def call(
        self,
        method: str,
        version: str,
        segs: list[str],
        params: Mapping[str, str],
        body: Json,
        user_id: str,
        headers: Mapping[str, str],
    ) -> Result:
        try:
            return self._route(method, version, segs, params, body, user_id, headers)
        except ApiError as e:
            return _err(e)

    def _route(
        self,
        method: str,
        v: str,
        segs: list[str],
        params: Mapping[str, str],
        body: Json,
        user: str,
        headers: Mapping[str, str],
    ) -> Result:
        org = self.org
        n = len(segs)

        def allow(*methods: str) -> None:
            if method not in methods:
                raise ApiError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{method}' not allowed. Allowed are {','.join(methods)}",
                )

        if n == 0:
            allow("GET")
            base = f"/services/data/v{v}"
            return Result(
                200,
                {
                    k: f"{base}/{k}"
                    for k in ("sobjects", "query", "queryAll", "composite", "limits")
                },
            )
        head = segs[0]
        if head == "limits" and n == 1:
            allow("GET")
            return Result(200, org.limits())
        if head in ("query", "queryAll"):
            allow("GET")
            if n == 1:
                soql = params.get("q")
                if soql is None:
                    raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
                batch = None
                opts = headers.get("sforce-query-options", "")
                m = re.search(r"batchSize\s*=\s*(\d+)", opts)
                if m:
                    batch = int(m.group(1))
                page = org.query(
                    soql, include_deleted=head == "queryAll", version=v, batch_size=batch
                )
            elif n == 2:
                page = org.query_more(segs[1], v)
            else:
                raise _not_found()
            out: dict[str, object] = {"totalSize": page.total, "done": page.next_locator is None}
            if page.next_locator:
                out["nextRecordsUrl"] = f"/services/data/v{v}/{head}/{page.next_locator}"
            out["records"] = page.records
            return Result(200, out)
        if head == "sobjects":
            return self._sobjects(method, v, segs, params, body, user, allow)
        if head == "composite":
            if n == 1:
                allow("POST")
                return self._composite(v, body, user, headers)
            if segs[1] == "sobjects":
                return self._collections(method, v, segs[2:], params, body, user)
        raise _not_found()

    # ----------------------------------------------------------------------------- sobjects
    def _sobjects(
        self,
        method: str,
        v: str,
        segs: list[str],
        params: Mapping[str, str],
        body: Json,
        user: str,
        allow: Callable[..., None],
    ) -> Result:
        org = self.org
        n = len(segs)
        if n == 1:
            allow("GET")
            return Result(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [
                        {
                            k: d[k]
                            for k in (
                                "name",
                                "label",
                                "keyPrefix",
                                "createable",
                                "updateable",
                                "deletable",
                                "queryable",
                                "custom",
                            )
                        }
                        | {"urls": {"sobject": f"/services/data/v{v}/sobjects/{o.name}"}}
                        for o in org.objects.values()
                        for d in [o.describe()]
                    ],
                },
            )
        o = org.object_def(segs[1])
        if n == 2:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
                rid = org.create(o.name, body, user_id=user)
                return Result(
                    201,
                    {"id": rid, "success": True, "errors": []},
                    {"Location": org.url(v, o.name, rid)},
                )
            allow("GET", "POST")
            d = o.describe()
            return Result(
                200,
                {"objectDescribe": {k: d[k] for k in ("name", "label", "keyPrefix")},
                 "recentItems": []},
            )  # fmt: skip
        third = segs[2]
        if n == 3 and third == "describe":
            allow("GET")
            desc = o.describe(frozenset(org.required_fields.get(o.name, set())))
            if o.name == "Event" and org.shared_activities:
                # With Shared Activities, Event has the junction list of related Contacts/Leads
                # (api-facts B1); clients detect the feature by it.
                fields = desc["fields"]
                assert isinstance(fields, list)
                fields.append(_EVENT_WHO_IDS)
            return Result(200, desc)
        if n == 3 and third == "updated":
            allow("GET")
            ids, latest = org.updated_ids(
                o.name, _parse_dt(params.get("start"), "start"), _parse_dt(params.get("end"), "end")
            )
            return Result(200, {"ids": ids, "latestDateCovered": format_datetime(latest)})
        if n == 3 and third == "deleted":
            allow("GET")
            recs, earliest, latest = org.deleted_ids(
                o.name, _parse_dt(params.get("start"), "start"), _parse_dt(params.get("end"), "end")
            )
            return Result(
                200,
                {
                    "deletedRecords": [
                        {"id": rid, "deletedDate": format_datetime(when)} for rid, when in recs
                    ],
                    "earliestDateAvailable": format_datetime(earliest),
                    "latestDateCovered": format_datetime(latest),
                },
            )
        if n == 3:
            rid = third
            if method == "GET":
                row = org.get(o.name, rid)
                fields = [tuple(f.strip().split(".")) for f in params.get("fields", "").split(",")]
                fields = [f for f in fields if f != ("",)]
                for p in fields:
                    org.field_for(o.name, p)
                with org.lock:
                    return Result(200, org.serialize(o.name, row, v, fields or None))
            if method == "PATCH":
                if not isinstance(body, dict):
                    raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
                org.update(o.name, rid, body, user_id=user)
                return Result(204)
            if method == "DELETE":
                org.delete(o.name, rid)
                return Result(204)
            allow("GET", "PATCH", "DELETE")
        if n == 4 and segs[3] == "Body" and method == "GET":
            row = org.get(o.name, third)
            f = o.field("Body")
            if f is None or not isinstance(row.get("Body"), str):
                raise _not_found()
            return Result(
                200,
                raw=base64.b64decode(str(row["Body"])),
                content_type=str(row.get("ContentType") or "application/octet-stream"),
            )
        if n == 4:
            fname, value = segs[2], segs[3]
            if method == "PATCH":
                if not isinstance(body, dict):
                    raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
                try:
                    rid, created = org.upsert(o.name, fname, value, body, user_id=user)
                except ApiError as e:
                    if e.status == 300:
                        return Result(300, [org.url(v, o.name, i) for i in e.fields])
                    raise
                return Result(
                    201 if created else 200,
                    {"id": rid, "success": True, "errors": [], "created": created},
                )
            matches = org.find_by_external_id(o.name, fname, value)
            if len(matches) > 1:
                return Result(300, [org.url(v, o.name, m["Id"]) for m in matches])
            if not matches:
                raise _not_found()
            if method == "GET":
                with org.lock:
                    return Result(200, org.serialize(o.name, matches[0], v))
            if method == "DELETE":
                org.delete(o.name, str(matches[0]["Id"]))
                return Result(204)
            allow("GET", "PATCH", "DELETE")
        raise _not_found()

    # -------------------------------------------------------------------------- collections
    def _collections(
        self,
        method: str,
        v: str,
        rest: list[str],
        params: Mapping[str, str],
        body: Json,
        user: str,
    ) -> Result:
        org = self.org
        if not rest and method == "DELETE":
            ids = [i for i in params.get("ids", "").split(",") if i]
            if not ids:
                raise ApiError(400, "MISSING_ARGUMENT", "ids not specified")
            if len(ids) > MAX_COLLECTION:
                raise ApiError(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    f"record limit reached. cannot submit more than {MAX_COLLECTION} records "
                    "into this call",
                )
            all_or_none = params.get("allOrNone", "false").lower() == "true"
            return Result(
                200,
                self._per_record(
                    [{"Id": i} for i in ids], all_or_none, lambda r: self._delete_one(r)
                ),
            )
        if not rest and method in ("POST", "PATCH"):
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise ApiError(400, "JSON_PARSER_ERROR", "Expected {allOrNone, records: [...]}")
            records = body["records"]
            if len(records) > MAX_COLLECTION:
                raise ApiError(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    f"record limit reached. cannot submit more than {MAX_COLLECTION} records "
                    "into this call",
                )
            all_or_none = bool(body.get("allOrNone", False))
            op = self._create_one if method == "POST" else self._update_one
            return Result(200, self._per_record(records, all_or_none, lambda r: op(r, user)))
        if len(rest) == 1 and method == "GET":
            o = org.object_def(rest[0])
            ids = [i for i in params.get("ids", "").split(",") if i]
            fields = [tuple(f.strip().split(".")) for f in params.get("fields", "").split(",")]
            fields = [f for f in fields if f != ("",)]
            if not ids or not fields:
                raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
            for p in fields:
                org.field_for(o.name, p)
            out: list[object] = []
            with org.lock:
                for i in ids:
                    hit = org.find(i)
                    if hit is None or hit[0] != o.name or hit[1].get("IsDeleted"):
                        out.append(None)
                    else:
                        out.append(org.serialize(o.name, hit[1], v, fields))
            return Result(200, out)
        if len(rest) == 2 and method == "PATCH":
            o = org.object_def(rest[0])
            fname = rest[1]
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise ApiError(400, "JSON_PARSER_ERROR", "Expected {allOrNone, records: [...]}")
            records = body["records"]
            if len(records) > MAX_COLLECTION:
                raise ApiError(400, "EXCEEDED_ID_LIMIT", "cannot submit more than 200 records")
            f = o.field(fname)
            if f is None or not f.external_id:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"Field name provided, {fname} is not an External ID or indexed field "
                    f"for {o.name}",
                )
            return Result(
                200,
                self._per_record(
                    records,
                    bool(body.get("allOrNone", False)),
                    lambda r: self._upsert_one(o.name, f.name, r, user),
                ),
            )
        raise _not_found()

    def _per_record(
        self,
        records: list[Json],
        all_or_none: bool,
        op: Callable[[dict[str, Json]], dict[str, object]],
    ) -> list[dict[str, object]]:
        org = self.org
        results: list[dict[str, object]] = []
        failed = False
        with org.savepoint() as outer:
            for rec in records:
                rid = rec.get("Id") if isinstance(rec, dict) else None
                if failed and all_or_none:
                    results.append({"id": rid, "success": False, "errors": [self._rolled_back()]})
                    continue
                with org.savepoint() as journal:
                    try:
                        if not isinstance(rec, dict):
                            raise ApiError(400, "JSON_PARSER_ERROR", "record must be an object")
                        res: dict[str, object] = op(rec)
                        results.append(res)
                    except ApiError as e:
                        org.rollback(journal)
                        failed = True
                        results.append(
                            {"id": rid if isinstance(rid, str) else None, "success": False,
                             "errors": [e.collection_item()]}
                        )  # fmt: skip
            if failed and all_or_none:
                org.rollback(outer)
                for r in results:
                    if r["success"]:
                        r.update(success=False, errors=[self._rolled_back()])
                        if "created" in r:
                            r["created"] = False
        return results

    @staticmethod
    def _rolled_back() -> dict[str, object]:
        return {
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request "
            "was using AllOrNone header",
            "fields": [],
        }

    def _sobject_of(self, rec: Mapping[str, Json]) -> str:
        attrs = rec.get("attributes")
        t = attrs.get("type") if isinstance(attrs, dict) else None
        if not isinstance(t, str):
            raise ApiError(
                400, "INVALID_TYPE", "The sObject type must be set in attributes.type", []
            )
        return t

    def _create_one(self, rec: dict[str, Json], user: str) -> dict[str, object]:
        sobject = self._sobject_of(rec)
        if rec.get("Id"):
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        rid = self.org.create(sobject, rec, user_id=user)
        return {"id": rid, "success": True, "errors": []}

    def _update_one(self, rec: dict[str, Json], user: str) -> dict[str, object]:
        sobject = self._sobject_of(rec)
        rid = rec.get("Id")
        if not isinstance(rid, str) or not rid:
            raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        self.org.update(sobject, rid, rec, user_id=user)
        hit = self.org.find(rid)
        return {"id": hit[1]["Id"] if hit else rid, "success": True, "errors": []}

    def _delete_one(self, rec: dict[str, Json]) -> dict[str, object]:
        rid = str(rec["Id"])
        hit = self.org.find(rid)
        if hit is not None and hit[1].get("IsDeleted"):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if hit is None:
            raise ApiError(404, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        self.org.delete(None, rid)
        return {"id": hit[1]["Id"], "success": True, "errors": []}

    def _upsert_one(
        self, sobject: str, fname: str, rec: dict[str, Json], user: str
    ) -> dict[str, object]:
        value = next((val for k, val in rec.items() if k.lower() == fname.lower()), None)
        if not isinstance(value, str) or not value:
            raise ApiError(
                400, "MISSING_ARGUMENT", f"{fname} not specified in an upsert call", [fname]
            )
        try:
            rid, created = self.org.upsert(sobject, fname, value, rec, user_id=user)
        except ApiError as e:
            if e.status == 300:
                raise ApiError(
                    300,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{fname}: more than one record found for external id field: {e.fields}",
                    [fname],
                ) from None
            raise
        return {"id": rid, "success": True, "errors": [], "created": created}

    # ---------------------------------------------------------------------------- composite
    def _composite(self, v: str, body: Json, user: str, headers: Mapping[str, str]) -> Result:
        org = self.org
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
        subs = body["compositeRequest"]
        all_or_none = bool(body.get("allOrNone", False))
        if len(subs) > MAX_COMPOSITE:
            raise ApiError(
                400,
                "LIMIT_EXCEEDED",
                f"The composite request has more than {MAX_COMPOSITE} subrequests",
            )
        heavy = 0
        seen: set[str] = set()
        for s in subs:
            if not isinstance(s, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "subrequests must be objects")
            ref = s.get("referenceId")
            if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ref):
                raise ApiError(400, "INVALID_INPUT", f"invalid referenceId: {ref!r}")
            if ref in seen:
                raise ApiError(400, "INVALID_INPUT", f"duplicate referenceId: {ref}")
            seen.add(ref)
            url = s.get("url")
            if not isinstance(url, str) or not isinstance(s.get("method"), str):
                raise ApiError(400, "INVALID_INPUT", "method and url are required")
            hdrs = s.get("httpHeaders") or {}
            if isinstance(hdrs, dict) and any(
                k.lower() in ("accept", "authorization", "content-type") for k in hdrs
            ):
                raise ApiError(
                    400, "INVALID_INPUT", "httpHeaders may not set Accept, Authorization or "
                    "Content-Type",
                )  # fmt: skip
            path = urlsplit(url).path
            if re.search(r"/(query|queryAll)/?$|/composite/sobjects", path):
                heavy += 1
        if heavy > 5:
            raise ApiError(
                400,
                "LIMIT_EXCEEDED",
                "A composite request can contain at most 5 query or sObject Collection subrequests",
            )
        results: dict[str, Json] = {}
        out: list[dict[str, object]] = []
        failed = False
        halted = {
            "errorCode": "PROCESSING_HALTED",
            "message": "The transaction was rolled back since another operation in the same "
            "transaction failed.",
        }
        with org.savepoint() as journal:
            for s in subs:
                ref = s["referenceId"]
                if failed and all_or_none:
                    out.append({"body": [halted], "httpHeaders": {}, "httpStatusCode": 400,
                                "referenceId": ref})  # fmt: skip
                    continue
                try:
                    url = self._resolve(s["url"], results, url_mode=True)
                    sbody = self._resolve(s.get("body"), results)
                except ApiError as e:
                    failed = True
                    out.append({"body": e.body(), "httpHeaders": {}, "httpStatusCode": 400,
                                "referenceId": ref})  # fmt: skip
                    continue
                parts = urlsplit(str(url))
                m = re.match(r"^/services/data/(v[^/]+)(?:/(.*))?$", parts.path)
                if not m or not _VERSION_RE.match(m.group(1)) or m.group(1)[1:] not in VERSIONS:
                    res = _err(_not_found())  # a subrequest of a version the org doesn't serve
                else:
                    segs = [p for p in (m.group(2) or "").split("/") if p]
                    params = {k: vs[-1] for k, vs in parse_qs(parts.query).items()}
                    sub_headers = {
                        k.lower(): str(x) for k, x in (s.get("httpHeaders") or {}).items()
                    }
                    res = self.call(
                        s["method"].upper(), m.group(1)[1:], segs, params, sbody, user,
                        sub_headers,
                    )  # fmt: skip
                if res.status >= 400:
                    failed = True
                else:
                    results[ref] = res.body
                out.append(
                    {"body": res.body, "httpHeaders": res.headers,
                     "httpStatusCode": res.status, "referenceId": ref}
                )  # fmt: skip
            if failed and all_or_none:
                org.rollback(journal)
                for item in out:
                    if cast(int, item["httpStatusCode"]) < 400:
                        item.update(body=[halted], httpHeaders={}, httpStatusCode=400)
        return Result(200, {"compositeResponse": out})

    def _resolve(self, value: Json, results: Mapping[str, Json], url_mode: bool = False) -> Json:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                ref = m.group(1)
                if ref not in results:
                    raise ApiError(
                        400,
                        "PROCESSING_HALTED",
                        f"Invalid reference specified. No value for {ref} found in the "
                        "results of earlier subrequests.",
                    )
                cur: Json = results[ref]
                for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", m.group(2)):
                    try:
                        cur = cur[step[0]] if step[0] else cur[int(step[1])]
                    except (KeyError, IndexError, TypeError):
                        raise ApiError(
                            400,
                            "PROCESSING_HALTED",
                            f"Invalid reference specified. No value for {m.group(0)} found.",
                        ) from None
                return "" if cur is None else str(cur)

            whole = _REF_RE.fullmatch(value)
            if whole and not url_mode:
                text = sub(whole)
                return text
            return _REF_RE.sub(sub, value)
        if isinstance(value, dict):
            return {k: self._resolve(x, results) for k, x in value.items()}
        if isinstance(value, list):
            return [self._resolve(x, results) for x in value]
        return value


def _response(res: Result, limit_info: str) -> Response:
    headers = dict(res.headers)
    headers["Sforce-Limit-Info"] = limit_info
    if res.raw is not None:
        return Response(res.raw, res.status, headers, media_type=res.content_type)
    if res.status == 204 or res.body is None:
        return Response(None, res.status, headers)
    data = json.dumps(res.body, separators=(",", ":")).encode()
    return Response(data, res.status, headers, media_type=_JSON)


_EVENT_WHO_IDS: dict[str, object] = {
    "name": "EventWhoIds",
    "label": "Event Who Ids",
    "type": "junctionidlist",
    "length": 0,
    "nillable": True,
    "createable": True,
    "updateable": True,
    "defaultedOnCreate": False,
    "filterable": False,
    "sortable": False,
    "externalId": False,
    "idLookup": False,
    "custom": False,
    "picklistValues": [],
    "restrictedPicklist": False,
    "referenceTo": ["Contact", "Lead"],
    "relationshipName": None,
    "polymorphicForeignKey": False,
}


def create_app(org: SalesforceOrg | None = None) -> FastAPI:
    """The emulator app. ``app.state.org`` is the :class:`SalesforceOrg` it serves."""
    the_org = org or SalesforceOrg()
    api = Api(the_org)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="crmcal Salesforce")
    app.state.org = the_org

    async def faults() -> None:
        f = the_org.faults
        if f.latency_ms > 0:
            await asyncio.sleep(f.latency_ms / 1000)

    def injected_failure() -> Result | None:
        f = the_org.faults
        with the_org.lock:
            if f.fail_after is not None and f.fail_after > 0:
                f.fail_after -= 1
                return None
            if f.fail_after is not None:
                pass  # the outage goes on until `fail_after` is cleared
            elif f.fail_next > 0:
                f.fail_next -= 1
            elif not (f.fail_rate > 0 and random.random() < f.fail_rate):
                return None
        code = "SERVER_UNAVAILABLE" if f.fail_status == 503 else "UNKNOWN_EXCEPTION"
        return Result(
            f.fail_status,
            [{"message": "An unexpected error occurred. Please try again.", "errorCode": code}],
        )

    @app.get("/services/data")
    @app.get("/services/data/")
    async def versions() -> Response:
        # REST API Developer Guide, "List Available REST API Versions": label, url, version.
        return JSONResponse(
            [
                {"label": release_label(x), "url": f"/services/data/v{x}", "version": x}
                for x in VERSIONS
            ]
        )

    @app.api_route(
        "/services/data/{rest:path}", methods=["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]
    )
    async def data(request: Request, rest: str) -> Response:
        await faults()
        parts = rest.split("/")
        segs = [p for p in parts[1:] if p]
        the_org.counters[_pattern(segs)] += 1
        m = _VERSION_RE.match(parts[0])
        if not m or m.group(1) not in VERSIONS:
            # A version the org doesn't serve (retired, or not released yet) is a 404.
            return _response(_err(_not_found()), the_org.limit_info())
        version = m.group(1)
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        if len(target) > MAX_URL:
            return _response(
                Result(414, [{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}]),
                the_org.limit_info(),
            )
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else None
        try:
            user = the_org.check_token(token)
            the_org.charge()
        except ApiError as e:
            return _response(_err(e), the_org.limit_info())
        failure = injected_failure()
        if failure is not None:
            return _response(failure, the_org.limit_info())
        body: Json = None
        raw = await request.body()
        if raw and request.method in ("POST", "PATCH", "PUT"):
            try:
                body = json.loads(raw)
            except ValueError as e:
                return _response(
                    Result(400, [{"message": f"Unexpected character: {e}",
                                  "errorCode": "JSON_PARSER_ERROR"}]),
                    the_org.limit_info(),
                )  # fmt: skip
        params = dict(request.query_params.items())
        headers = {k.lower(): v for k, v in request.headers.items()}
        res = api.call(request.method, version, segs, params, body, user, headers)
        return _response(res, the_org.limit_info())

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        await faults()
        the_org.counters["oauth2/token"] += 1
        form = await request.form()
        data = {k: str(v) for k, v in form.items()}
        base = f"{request.url.scheme}://{request.url.netloc}"
        try:
            user_id = _grant(the_org, data, request.headers.get("authorization"), base)
        except _OAuthError as e:
            return JSONResponse(
                {"error": e.error, "error_description": e.description}, status_code=e.status
            )
        tok = the_org.issue_token(user_id)
        issued = str(int(the_org.now().timestamp() * 1000))
        out: dict[str, str] = {
            "access_token": tok,
            "scope": "id api",
            "instance_url": base,
            "id": f"{base}/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
        }
        if data.get("grant_type") == "client_credentials":
            out["issued_at"] = issued
            out["signature"] = base64.b64encode(
                hmac.digest(tok.encode(), issued.encode(), "sha256")
            ).decode()
        return JSONResponse(out)

    _control_routes(app, the_org)
    return app


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _grant(org: SalesforceOrg, data: Mapping[str, str], basic: str | None, base: str) -> str:
    grant = data.get("grant_type", "")
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        assertion = data.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        app = org.clients.get(str(claims.get("iss", "")))
        if app is None or not app.public_key_pem:
            raise _OAuthError("invalid_client_id", "client identifier invalid")
        try:
            claims = jwt.decode(
                assertion,
                app.public_key_pem,
                algorithms=["RS256"],
                audience=[
                    "https://login.salesforce.com",
                    "https://test.salesforce.com",
                    base,
                ],
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        user_id = org.user_by_username(str(claims["sub"]))
        if user_id is None:
            raise _OAuthError("invalid_grant", "user hasn't approved this consumer")
        return user_id
    if grant == "client_credentials":
        cid, secret = data.get("client_id"), data.get("client_secret")
        if basic and basic.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                raise _OAuthError("invalid_client", "invalid client credentials") from None
        app = org.clients.get(cid or "")
        if app is None:
            raise _OAuthError("invalid_client_id", "client identifier invalid")
        if not app.secret or not hmac.compare_digest(app.secret, secret or ""):
            raise _OAuthError("invalid_client", "invalid client credentials")
        return app.run_as_user_id or org.admin_user_id
    raise _OAuthError("unsupported_grant_type", "grant type not supported")


def _control_routes(app: FastAPI, org: SalesforceOrg) -> None:
    """The ``/_sandbox/`` control API: seed, reset, faults, tokens, org rules, stats."""

    async def body_of(request: Request) -> dict[str, Json]:
        raw = await request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        return data

    Handler = Callable[[dict[str, Json], Request], Json]

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            try:
                result = fn(await body_of(request), request)
            except ApiError as e:
                return JSONResponse(e.body(), status_code=e.status)
            except (TypeError, ValueError) as e:
                return JSONResponse(
                    [{"message": str(e), "errorCode": "INVALID_INPUT"}], status_code=400
                )
            return JSONResponse(result)

        return handler

    def info(_: dict[str, Json], request: Request) -> Json:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return {
            "org_id": ORG_ID,
            "instance_url": base,
            "login_url": base,
            "admin_user_id": org.admin_user_id,
            "users": [
                {"id": r["Id"], "email": r["Email"], "username": r["Username"]}
                for r in org.active_users()
            ],
        }

    def reset(_: dict[str, Json], __: Request) -> Json:
        org.reset()
        return {"ok": True}

    def seed(payload: dict[str, Json], _: Request) -> Json:
        return org.seed(payload)

    def faults(payload: dict[str, Json], request: Request) -> Json:
        f = org.faults
        known = {"latency_ms", "fail_rate", "fail_next", "fail_status", "api_max", "api_used"}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ApiError(400, "INVALID_INPUT", f"unknown fault settings: {', '.join(unknown)}")
        if request.method in ("POST", "PUT"):
            with org.lock:
                for k in ("latency_ms", "fail_rate"):
                    if k in payload:
                        setattr(f, k, float(payload[k]))
                for k in ("fail_next", "fail_status"):
                    if k in payload:
                        setattr(f, k, int(payload[k]))
                if "api_max" in payload:
                    org.api_max = int(payload["api_max"])
                if "api_used" in payload:
                    org.api_used = int(payload["api_used"])
        return {
            "latency_ms": f.latency_ms,
            "fail_next": f.fail_next,
            "fail_status": f.fail_status,
            "fail_rate": f.fail_rate,
            "api_max": org.api_max,
            "api_used": org.api_used,
        }

    def tokens(payload: dict[str, Json], _: Request) -> Json:
        uid = payload.get("user_id")
        return {"access_token": org.issue_token(uid if isinstance(uid, str) else None)}

    def expire(_: dict[str, Json], __: Request) -> Json:
        return {"expired": org.expire_tokens()}

    def clients(payload: dict[str, Json], _: Request) -> Json:
        app_ = org.add_client(
            str(payload["client_id"]),
            secret=payload.get("secret"),
            public_key_pem=payload.get("public_key_pem"),
            run_as_user_id=payload.get("run_as_user_id"),
        )
        return {"client_id": app_.client_id}

    def required(payload: dict[str, Json], request: Request) -> Json:
        sobject = request.path_params["sobject"]
        org.set_required_fields(sobject, [str(x) for x in payload.get("fields", [])])
        return {"sobject": sobject, "fields": sorted(org.required_fields.get(sobject, set()))}

    def rules(payload: dict[str, Json], request: Request) -> Json:
        sobject = request.path_params["sobject"]
        if request.method == "DELETE":
            org.clear_validation_rules(sobject)
            return {"ok": True}
        rule = org.add_validation_rule(
            sobject,
            str(payload["name"]),
            str(payload["condition"]),
            str(payload.get("message", "Validation failed")),
            [str(x) for x in payload.get("fields", [])],
        )
        return {"name": rule.name}

    def custom_fields(payload: dict[str, Json], request: Request) -> Json:
        org.add_custom_field(
            request.path_params["sobject"],
            str(payload["name"]),
            length=int(payload.get("length", 255)),
            external_id=bool(payload.get("external_id", False)),
        )
        return {"ok": True}

    def settings(payload: dict[str, Json], _: Request) -> Json:
        with org.lock:
            if "multiday_events" in payload:
                org.multiday_events = bool(payload["multiday_events"])
            if "shared_activities" in payload:
                org.shared_activities = bool(payload["shared_activities"])
        return {"multiday_events": org.multiday_events, "shared_activities": org.shared_activities}

    def stats(_: dict[str, Json], request: Request) -> Json:
        if request.method == "DELETE":
            with org.lock:
                org.counters.clear()
        return org.stats()

    routes: list[tuple[str, Handler, list[str]]] = [
        ("/_sandbox/info", info, ["GET"]),
        ("/_sandbox/reset", reset, ["POST"]),
        ("/_sandbox/seed", seed, ["POST"]),
        ("/_sandbox/faults", faults, ["GET", "POST", "PUT"]),
        ("/_sandbox/tokens", tokens, ["POST"]),
        ("/_sandbox/tokens/expire", expire, ["POST"]),
        ("/_sandbox/clients", clients, ["POST"]),
        ("/_sandbox/required-fields/{sobject}", required, ["PUT", "POST"]),
        ("/_sandbox/validation-rules/{sobject}", rules, ["POST", "DELETE"]),
        ("/_sandbox/custom-fields/{sobject}", custom_fields, ["POST"]),
        ("/_sandbox/settings", settings, ["POST"]),
        ("/_sandbox/stats", stats, ["GET", "DELETE"]),
    ]
    for path, fn, methods in routes:
        app.add_api_route(path, wrap(fn), methods=methods, include_in_schema=False)
    _mount_openapi(app)


def _mount_openapi(app: FastAPI) -> None:
    """`GET /_sandbox/openapi.json`: the control API's own OpenAPI (crmcal.sandbox.control_docs)."""
    from crmcal.sandbox import control_docs

    doc = control_docs.openapi("crmcal Salesforce sandbox: control API", control_docs.SALESFORCE)

    async def control_openapi(_: Request) -> Response:
        return JSONResponse(doc)

    app.add_api_route(
        "/_sandbox/openapi.json", control_openapi, methods=["GET"], include_in_schema=False
    )


__all__ = ["Api", "create_app", "to_json"]
