"""The emulated Salesforce org, in memory: records, indexes, tokens, allowance, faults, counters.

Usable in-process (``org.add_user(...)``, ``org.add_contact(...)``, ``org.issue_token()``) and
through the ``/_sandbox/`` control API of :mod:`crmcal.sandbox.salesforce.app`.
"""

from __future__ import annotations

import base64
import itertools
import math
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

from crmcal.sandbox.salesforce import soql as q
from crmcal.sandbox.salesforce.schema import (
    MONTHS,
    FieldDef,
    ObjectDef,
    custom_field,
    standard_objects,
    system_fields,
)

Value = q.Value
Record = q.Record
JsonScalar = str | int | float | bool | None


JSON_BASE64_MAX = 39_321_600
"""api-facts B8: 37.5 MB of base64 in a JSON body."""

ORG_ID = "00D5g000004ABCDEAA"
_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id18(id15: str) -> str:
    """The 18-character, case-insensitive-safe form of a 15-character Salesforce id."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, c in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << i
        suffix += _CHECK[bits]
    return id15 + suffix


def format_datetime(v: datetime) -> str:
    v = v.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"


def to_json(v: Value) -> JsonScalar:
    if isinstance(v, datetime):
        return format_datetime(v)
    if isinstance(v, date):
        return v.isoformat()
    return v


class ApiError(Exception):
    """A Salesforce REST error: HTTP status plus ``[{message, errorCode, fields}]``."""

    def __init__(self, status: int, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)

    def body(self) -> list[dict[str, object]]:
        item: dict[str, object] = {"message": self.message, "errorCode": self.code}
        if self.fields or self.code not in ("INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED"):
            item["fields"] = self.fields
        return [item]

    def collection_item(self) -> dict[str, object]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def _bad(code: str, message: str, fields: Sequence[str] = ()) -> ApiError:
    return ApiError(400, code, message, fields)


@dataclass
class ValidationRule:
    name: str
    condition: str
    """A SOQL condition; the record is refused when it is true (like a validation formula)."""
    message: str
    fields: tuple[str, ...] = ()
    active: bool = True
    _pred: Callable[[Record], bool] | None = field(default=None, repr=False)


@dataclass
class ClientApp:
    client_id: str
    secret: str | None = None
    public_key_pem: str | None = None
    run_as_user_id: str | None = None
    """Client credentials flow: the connected app's "run as" user."""


@dataclass
class Token:
    user_id: str
    expires_at: datetime


@dataclass
class Faults:
    latency_ms: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    fail_rate: float = 0.0
    fail_after: int | None = None
    """Let this many more data requests through, then fail every one (an outage from request k)."""


@dataclass
class Cursor:
    sobject: str
    rows: list[Record]
    fields: tuple[q.Path, ...]
    pos: int
    batch: int


@dataclass
class QueryPage:
    total: int
    records: list[dict[str, object]]
    next_locator: str | None


_INDEXED: dict[str, tuple[str, ...]] = {
    "User": ("Email", "Username"),
    "Contact": ("Email", "AccountId"),
    "Lead": ("Email",),
    "Account": ("Name",),
    "Opportunity": ("AccountId",),
    "Event": ("OwnerId", "ClientGuid", "RecurrenceActivityId"),
    "EventRelation": ("EventId", "RelationId"),
    "Attachment": ("ParentId",),
}

_NAME_FIELDS = {
    "Id": "id", "Name": "string", "Type": "picklist", "Email": "email", "FirstName": "string",
    "LastName": "string", "IsActive": "boolean", "Username": "string", "Alias": "string",
    "Title": "string", "Phone": "phone",
}  # fmt: skip
_RULE_PARTS = (
    "FREQ", "BYMONTH", "BYMONTHDAY", "BYDAY", "WKST", "BYSETPOS", "BYWEEKNO", "BYYEARDAY",
    "INTERVAL", "UNTIL", "COUNT",
)  # fmt: skip
_OCCURRENCE_CAPS = {"Daily": 100, "Weekly": 53, "Monthly": 59, "Yearly": 9}
_LIGHTNING_SERIES_FIELDS = (
    "Subject", "Location", "Description", "ShowAs", "IsPrivate", "WhoId", "WhatId", "Type",
    "IsReminderSet",
)  # fmt: skip
"""What a change to a future Lightning occurrence carries to the rest of the series."""
LIGHTNING_HORIZON = timedelta(days=730)
"""How far after its start an open-ended Lightning series gets occurrence Events (emulator)."""
MAX_EVENT_MINUTES = 14 * 24 * 60
EVENT_LINK_FIELDS = (
    "Subject", "StartDateTime", "EndDateTime", "ActivityDateTime", "ActivityDate",
    "DurationInMinutes", "EndDate", "IsAllDayEvent", "Location", "Description", "ShowAs",
    "IsPrivate", "WhoId", "WhatId", "AccountId", "Type",
)  # fmt: skip
"""Fields copied from a group event onto its invitees' child events."""


class SalesforceOrg:
    """One emulated org. All public methods are thread-safe."""

    def __init__(
        self,
        *,
        api_max: int = 15_000,
        now: Callable[[], datetime] | None = None,
        token_ttl: timedelta = timedelta(hours=2),
        default_batch_size: int = 2000,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = now or (lambda: datetime.now(UTC))
        self.token_ttl = token_ttl
        self.default_batch_size = default_batch_size
        self.api_max = api_max
        self.reset()

    # ------------------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, ObjectDef] = standard_objects()
            self._obj_lower = {k.lower(): v for k, v in self.objects.items()}
            self.tables: dict[str, dict[str, Record]] = {k: {} for k in self.objects}
            self._all: dict[str, tuple[str, str]] = {}
            """15-char id -> (sobject, 18-char id)."""
            self._indexes: dict[tuple[str, str], dict[object, set[str]]] = {
                (o, f): {} for o, fs in _INDEXED.items() for f in fs
            }
            self._counter = itertools.count(1)
            self.clients: dict[str, ClientApp] = {}
            self.tokens: dict[str, Token] = {}
            self.api_used = 0
            self.required_fields: dict[str, set[str]] = {}
            self.validation_rules: dict[str, list[ValidationRule]] = {}
            self.delete_log: list[tuple[datetime, str, str]] = []
            self.counters: Counter[str] = Counter()
            self.faults = Faults()
            self.cursors: OrderedDict[str, Cursor] = OrderedDict()
            self._journal: list[Callable[[], None]] | None = None
            self._indexed: dict[str, list[str]] = {k: list(v) for k, v in _INDEXED.items()}
            self.admin_user_id = ""
            self._last_stamp = datetime(2000, 1, 1, tzinfo=UTC)
            self.multiday_events = True
            self.shared_activities = True
            self.admin_user_id = self.add_user(
                "admin@sandbox.example", first_name="Sandbox", last_name="Admin"
            )

    def now(self) -> datetime:
        return self.clock()

    def _stamp(self) -> datetime:
        t = self.now().astimezone(UTC)
        t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
        if t < self._last_stamp:
            t = self._last_stamp
        self._last_stamp = t
        return t

    # ---------------------------------------------------------------------------------- ids
    def new_id(self, sobject: str) -> str:
        prefix = self.objects[sobject].key_prefix
        n = next(self._counter)
        body = ""
        while n:
            n, r = divmod(n, 62)
            body = _B62[r] + body
        id15 = prefix + "5g" + body.rjust(10, "0")
        return id18(id15)

    def find(self, record_id: str) -> tuple[str, Record] | None:
        hit = self._all.get(q.id15_of(record_id) or record_id[:15])
        if hit is None:
            return None
        sobject, rid = hit
        row = self.tables[sobject].get(rid)
        return (sobject, row) if row is not None else None

    def object_def(self, name: str) -> ObjectDef:
        o = self._obj_lower.get(name.lower())
        if o is None:
            # REST API Developer Guide, Status Codes and Error Responses: 404 "The requested
            # resource couldn't be found. Check the URI for errors" (sobjects/Nope__c/...).
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return o

    # ------------------------------------------------------------------------- primitives
    def _index_keys(self, sobject: str, row: Record) -> Iterator[tuple[tuple[str, str], object]]:
        for fname in self._indexed.get(sobject, ()):
            v = row.get(fname)
            if isinstance(v, str):
                short = fname.endswith("Id") and not fname.endswith("__c")
                yield (sobject, fname), (v[:15] if short else v.casefold())

    def _put(self, sobject: str, rid: str, row: Record | None) -> None:
        """The only mutation of record storage; journaled for allOrNone rollback."""
        table = self.tables[sobject]
        old = table.get(rid)
        if self._journal is not None:
            self._journal.append(lambda: self._put_raw(sobject, rid, old))
        self._put_raw(sobject, rid, row)

    def _put_raw(self, sobject: str, rid: str, row: Record | None) -> None:
        table = self.tables[sobject]
        old = table.get(rid)
        if old is not None:
            for key, v in self._index_keys(sobject, old):
                ids = self._indexes[key].get(v)
                if ids is not None:
                    ids.discard(rid)
        if row is None:
            table.pop(rid, None)
            self._all.pop(rid[:15], None)
            return
        table[rid] = row
        self._all[rid[:15]] = (sobject, rid)
        for key, v in self._index_keys(sobject, row):
            self._indexes[key].setdefault(v, set()).add(rid)

    def _log_delete(self, when: datetime, sobject: str, rid: str) -> None:
        self.delete_log.append((when, sobject, rid))
        if self._journal is not None:
            self._journal.append(lambda: self.delete_log.remove((when, sobject, rid)))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Roll every record change back if the block raises (allOrNone)."""
        with self.lock:
            outer = self._journal
            self._journal = []
            try:
                yield
            except BaseException:
                for undo in reversed(self._journal):
                    undo()
                raise
            finally:
                done = self._journal
                self._journal = outer
                if outer is not None and done is not None:
                    outer.extend(done)

    @contextmanager
    def savepoint(self) -> Iterator[list[Callable[[], None]]]:
        """Like transaction, but the caller decides to roll back with :meth:`rollback`."""
        with self.lock:
            outer = self._journal
            self._journal = []
            journal = self._journal
            try:
                yield journal
            finally:
                self._journal = outer
                if outer is not None:
                    outer.extend(journal)

    @staticmethod
    def rollback(journal: list[Callable[[], None]]) -> None:
        for undo in reversed(journal):
            undo()
        journal.clear()

    # ------------------------------------------------------------------ field resolution
    def field_for(self, sobject: str, path: q.Path) -> FieldDef:
        o = self.object_def(sobject)
        if len(path) == 1:
            f = o.field(path[0])
            if f is None:
                raise _bad(
                    "INVALID_FIELD",
                    f"No such column '{path[0]}' on entity '{o.name}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field name.",
                )
            return f
        rel = o.relationship(path[0])
        if rel is None:
            raise _bad(
                "INVALID_FIELD",
                f"Didn't understand relationship '{path[0]}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name.",
            )
        if rel.polymorphic:
            if len(path) != 2 or path[1] not in _NAME_FIELDS:
                raise _bad("INVALID_FIELD", f"No such column '{path[-1]}' on entity 'Name'.")
            return FieldDef(path[1], _NAME_FIELDS[path[1]])  # type: ignore[arg-type]
        return self.field_for(rel.reference_to[0], path[1:])

    def getter(self, sobject: str, path: q.Path) -> Callable[[Record], Value]:
        o = self.object_def(sobject)
        if len(path) == 1:
            f = o.field(path[0])
            assert f is not None
            name = f.name
            return lambda r: r.get(name)
        rel = o.relationship(path[0])
        assert rel is not None
        ref = rel.name
        if rel.polymorphic:
            leaf = path[1]

            def poly(r: Record) -> Value:
                v = r.get(ref)
                if not isinstance(v, str):
                    return None
                hit = self.find(v)
                if hit is None:
                    return None
                if leaf == "Type":
                    return hit[0]
                return hit[1].get(leaf)

            return poly
        inner = self.getter(rel.reference_to[0], path[1:])

        def follow(r: Record) -> Value:
            v = r.get(ref)
            if not isinstance(v, str):
                return None
            hit = self.find(v)
            return inner(hit[1]) if hit else None

        return follow

    # ------------------------------------------------------------------------ serialisation
    def url(self, version: str, sobject: str, rid: object) -> str:
        return f"/services/data/v{version}/sobjects/{sobject}/{rid}"

    def serialize(
        self, sobject: str, row: Record, version: str, fields: Sequence[q.Path] | None = None
    ) -> dict[str, object]:
        o = self.objects[sobject]
        out: dict[str, object] = {
            "attributes": {"type": sobject, "url": self.url(version, sobject, row["Id"])}
        }
        if fields is None:
            for fname, f in o.fields.items():
                v = row.get(fname)
                if f.type == "base64" and v is not None:
                    out[fname] = self.url(version, sobject, row["Id"]) + f"/{fname}"
                else:
                    out[fname] = to_json(v)
            return out
        for path in fields:
            self._ser_path(o, row, path, out, version)
        return out

    def _ser_path(
        self, o: ObjectDef, row: Record, path: q.Path, out: dict[str, object], version: str
    ) -> None:
        if len(path) == 1:
            f = o.field(path[0])
            assert f is not None
            v = row.get(f.name)
            if f.type == "base64" and v is not None:
                out[f.name] = self.url(version, o.name, row["Id"]) + f"/{f.name}"
            else:
                out[f.name] = to_json(v)
            return
        rel = o.relationship(path[0])
        assert rel is not None
        ref = row.get(rel.name)
        hit = self.find(ref) if isinstance(ref, str) else None
        rname = rel.relationship_name or path[0]
        if hit is None:
            out[rname] = None
            return
        tsob, trow = hit
        sub: dict[str, object]
        existing = out.get(rname)
        if isinstance(existing, dict):
            sub = existing
        else:
            sub = {
                "attributes": {
                    "type": "Name" if rel.polymorphic else tsob,
                    "url": self.url(version, tsob, trow["Id"]),
                }
            }
            out[rname] = sub
        if rel.polymorphic:
            sub[path[1]] = tsob if path[1] == "Type" else to_json(trow.get(path[1]))
        else:
            self._ser_path(self.objects[tsob], trow, path[1:], sub, version)

    # -------------------------------------------------------------------------------- query
    def query(
        self,
        soql: str,
        *,
        include_deleted: bool = False,
        version: str = "62.0",
        batch_size: int | None = None,
    ) -> QueryPage:
        with self.lock:
            if len(soql) > 100_000:
                raise _bad("MALFORMED_QUERY", "Query is too long: more than 100000 characters")
            try:
                parsed = q.parse(soql, self.now())
                o = self._obj_lower.get(parsed.sobject.lower())
                if o is None:
                    raise _bad(
                        "INVALID_TYPE",
                        f"\n{soql[:80]}\n^\nERROR at Row:1:Column:1\nsObject type "
                        f"'{parsed.sobject}' is not supported. If you are attempting to use a "
                        "custom object, be sure to append the '__c' after the entity name.",
                    )
                for p in parsed.fields:
                    self.field_for(o.name, p)
                rows = self._candidates(o, parsed.where)
                if not include_deleted:
                    rows = [r for r in rows if not r.get("IsDeleted") and not r.get("IsArchived")]
                if parsed.where is not None:
                    pred = q.compile_cond(parsed.where, o.name, self)
                    rows = [r for r in rows if pred(r)]
                if parsed.count_only:
                    return QueryPage(len(rows), [], None)
                if parsed.order:
                    rows = q.sort_rows(rows, parsed.order, o.name, self)
            except q.SoqlError as e:
                raise _bad(e.code, e.message) from None
            if parsed.offset:
                rows = rows[parsed.offset :]
            if parsed.limit is not None:
                rows = rows[: parsed.limit]
            batch = max(200, min(batch_size or self.default_batch_size, 2000))
            cur = Cursor(o.name, rows, parsed.fields, 0, batch)
            return self._page(cur, version)

    def _page(self, cur: Cursor, version: str, locator: str | None = None) -> QueryPage:
        chunk = cur.rows[cur.pos : cur.pos + cur.batch]
        records = [self.serialize(cur.sobject, r, version, cur.fields) for r in chunk]
        cur.pos += len(chunk)
        nxt = None
        if cur.pos < len(cur.rows):
            base = locator.rsplit("-", 1)[0] if locator else id18("01g5g" + secrets.token_hex(5))
            nxt = f"{base}-{cur.pos}"
            self.cursors[nxt] = cur
            while len(self.cursors) > 500:
                self.cursors.popitem(last=False)
        return QueryPage(len(cur.rows), records, nxt)

    def query_more(self, locator: str, version: str) -> QueryPage:
        with self.lock:
            cur = self.cursors.pop(locator, None)
            if cur is None:
                raise _bad("INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(cur, version, locator)

    def _candidates(self, o: ObjectDef, where: q.Cond | None) -> list[Record]:
        if o.derived_from == "EventRelation":
            out: list[Record] = []
            for r in self.tables["EventRelation"].values():
                if r.get("IsParent") and not r.get("IsWhat"):
                    hit = self._all.get(str(r["RelationId"])[:15])
                    out.append({**r, "Type": hit[0] if hit else None})
            return out
        table = self.tables[o.name]
        for term in q.indexable_terms(where):
            if len(term.path) != 1:
                continue
            values = q.term_values(term)
            if values is None:
                continue
            f = o.field(term.path[0])
            if f is None:
                continue
            if f.name == "Id":
                found: list[Record] = []
                for v in values:
                    hit = self._all.get(q.id15_of(v) or v[:15])
                    if hit and hit[0] == o.name:
                        found.append(table[hit[1]])
                return found
            idx = self._indexes.get((o.name, f.name))
            if idx is None:
                continue
            ids: set[str] = set()
            for v in values:
                short = f.name.endswith("Id") and not f.custom
                key = (q.id15_of(v) or v[:15]) if short else v.casefold()
                ids |= idx.get(key, set())
            return [table[i] for i in ids if i in table]
        return list(table.values())

    # -------------------------------------------------------------------------- coercion
    def _coerce(self, f: FieldDef, raw: object) -> Value:
        if raw is None:
            return None
        t = f.type
        try:
            if t == "boolean":
                if isinstance(raw, bool):
                    return raw
                raise ValueError
            if t in ("int",):
                if isinstance(raw, bool):
                    raise ValueError
                if isinstance(raw, int):
                    return raw
                if isinstance(raw, float) and raw.is_integer():
                    return int(raw)
                if isinstance(raw, str):
                    return int(raw)
                raise ValueError
            if t in ("double", "currency"):
                if isinstance(raw, bool):
                    raise ValueError
                if isinstance(raw, int | float):
                    return float(raw)
                if isinstance(raw, str):
                    return float(raw)
                raise ValueError
            if t == "datetime":
                if not isinstance(raw, str):
                    raise ValueError
                s = raw.strip()
                if s.endswith("Z"):
                    s = s[:-1] + "+00:00"
                if len(s) >= 5 and s[-5] in "+-" and s[-4:].isdigit() and ":" not in s[-5:]:
                    s = s[:-2] + ":" + s[-2:]
                d = datetime.fromisoformat(s)
                if d.tzinfo is None:
                    d = d.replace(tzinfo=UTC)
                d = d.astimezone(UTC)
                return d.replace(microsecond=(d.microsecond // 1000) * 1000)
            if t == "date":
                if not isinstance(raw, str):
                    raise ValueError
                return date.fromisoformat(raw[:10])
            if not isinstance(raw, str):
                raise ValueError
            if raw == "" and t != "base64":
                return None
        except (ValueError, TypeError):
            raise _bad(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {t} from {type(raw).__name__} value {raw!r} "
                f"for field {f.name}",
                [f.name],
            ) from None
        if t == "base64":
            if len(raw) > JSON_BASE64_MAX:
                # api-facts B8: a JSON (non-multipart) body carries at most 37.5 MB of base64.
                raise _bad(
                    "STRING_TOO_LONG",
                    f"{f.name}: base64 value too large for a JSON request (max 37.5 MB)",
                    [f.name],
                )
            try:
                base64.b64decode(raw, validate=True)
            except ValueError:
                raise _bad("JSON_PARSER_ERROR", "Body: invalid base64", [f.name]) from None
            return raw
        if f.length and len(raw) > f.length:
            raise _bad(
                "STRING_TOO_LONG",
                f"{f.label or f.name}: data value too large: {raw[:40]}... (max length={f.length})",
                [f.name],
            )
        if f.restricted and raw not in f.picklist:
            raise _bad(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label or f.name}: bad value for restricted picklist field: {raw}",
                [f.name],
            )
        if t in ("id", "reference"):
            if len(raw) not in (15, 18) or not raw.isalnum():
                raise _bad("MALFORMED_ID", f"{f.name}: id value of incorrect type: {raw}", [f.name])
            hit = self._all.get(raw[:15])
            if hit is None:
                raise _bad(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {raw}",
                    [f.name],
                )
            if f.reference_to and hit[0] not in f.reference_to:
                raise _bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{f.name}: id value of incorrect type: {raw}",
                    [f.name],
                )
            target = self.tables[hit[0]].get(hit[1])
            if target is not None and target.get("IsDeleted"):
                raise _bad("ENTITY_IS_DELETED", f"entity is deleted: {raw}", [f.name])
            if (
                f.name == "OwnerId"
                and hit[0] in ("User", "Calendar")
                and target is not None
                and target.get("IsActive") is False
            ):
                raise _bad(
                    "INACTIVE_OWNER_OR_USER", "operation performed with inactive user", [f.name]
                )
            return hit[1]
        return raw

    def _parse_body(
        self, o: ObjectDef, body: Mapping[str, object], *, creating: bool, system: bool
    ) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = o.field(key)
            if f is None:
                raise _bad(
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {o.name}",
                    [key],
                )
            if f.name == "Id":
                continue
            if not system and not (f.createable if creating else f.updateable):
                raise _bad(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to {'create' if creating else 'update'} fields: {f.name}. Please "
                    "check the security settings of this field and verify that it is "
                    "read/write for your profile or permission set.",
                    [f.name],
                )
            values[f.name] = self._coerce(f, raw)
        return values

    # ------------------------------------------------------------------------------- writes
    def create(
        self,
        sobject: str,
        body: Mapping[str, object],
        *,
        user_id: str | None = None,
        system: bool = False,
    ) -> str:
        with self.lock:
            o = self.object_def(sobject)
            if o.derived_from or (not o.createable and not system):
                raise _bad(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type {o.name} does not support insert"
                )
            user = user_id or self.admin_user_id
            values = self._parse_body(o, body, creating=True, system=system)
            row: Record = dict.fromkeys(o.fields)
            for fname, f in o.fields.items():
                if f.type == "boolean":
                    row[fname] = False
            row.update(values)
            if "OwnerId" in o.fields and row.get("OwnerId") is None:
                row["OwnerId"] = user
            self._defaults(o.name, row)
            rid = self.new_id(o.name)
            row["Id"] = rid
            user = user or rid
            self._check_required(o, row, values)
            children = self._validate(o.name, row, None, values)
            self._check_rules(o.name, row)
            stamp = self._stamp()
            row.update(
                CreatedDate=stamp,
                LastModifiedDate=stamp,
                SystemModstamp=stamp,
                CreatedById=user,
                LastModifiedById=user,
                IsDeleted=False,
            )
            self._put(o.name, rid, row)
            self._after_insert(o.name, row, children, user)
            if o.name == "Event":
                self._sync_link_rows(rid, None)
            return rid

    def update(
        self,
        sobject: str,
        rid: str,
        body: Mapping[str, object],
        *,
        user_id: str | None = None,
        system: bool = False,
    ) -> None:
        with self.lock:
            o = self.object_def(sobject)
            if o.derived_from or (not o.updateable and not system):
                raise _bad(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type {o.name} does not support update"
                )
            old = self._get_live(o.name, rid)
            values = self._parse_body(o, body, creating=False, system=system)
            if o.name == "Event" and old.get("IsChild") and not system:
                bad = [k for k in values if k not in ("IsReminderSet", "ReminderDateTime")]
                if bad:
                    raise _bad(
                        "FIELD_INTEGRITY_EXCEPTION",
                        "You can't edit this field on an invitee's event: " + ", ".join(bad),
                        bad,
                    )
            row = dict(old)
            row.update(values)
            self._check_required(o, row, values)
            self._validate(o.name, row, old, values)
            self._check_rules(o.name, row)
            stamp = self._stamp()
            row.update(
                LastModifiedDate=stamp,
                SystemModstamp=stamp,
                LastModifiedById=user_id or self.admin_user_id,
            )
            self._put(o.name, old["Id"], row)  # type: ignore[arg-type]
            if o.name == "Event":
                self._sync_link_rows(str(old["Id"]), old)
                hit = self.find(str(old["Id"]))
                assert hit is not None
                row = hit[1]
                self._propagate_to_children(row)
                if old.get("_SeriesId") and not system:
                    self._lightning_edit(old, row, values)

    def delete(self, sobject: str | None, rid: str) -> None:
        with self.lock:
            hit = self.find(rid)
            if (
                hit is None
                or hit[1].get("IsDeleted")
                or (sobject is not None and hit[0] != self.object_def(sobject).name)
            ):
                if hit is not None and hit[1].get("IsDeleted"):
                    raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist", [])
            name, row = hit
            o = self.objects[name]
            if o.derived_from or not o.deletable:
                raise _bad(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type {name} does not support delete"
                )
            self._soft_delete(name, row)

    def _soft_delete(self, name: str, row: Record, *, promote: bool = True) -> None:
        stamp = self._stamp()
        rid = str(row["Id"])
        new = dict(row)
        new.update(IsDeleted=True, SystemModstamp=stamp, LastModifiedDate=stamp)
        self._put(name, rid, new)
        self._log_delete(stamp, name, rid)
        if name == "Event":
            for child in list(self._children_of(rid)):
                self._soft_delete("Event", child)
            for rel in list(self._by_index("EventRelation", "EventId", rid)):
                if not rel.get("IsDeleted"):
                    self._soft_delete("EventRelation", rel)
            if row.get("IsRecurrence"):
                for occ in list(self._by_index("Event", "RecurrenceActivityId", rid)):
                    if not occ.get("IsDeleted"):
                        self._soft_delete("Event", occ)
            if row.get("_SeriesId") == rid:  # the first Event of a Lightning series
                for occ in list(self.tables["Event"].values()):
                    if occ.get("_SeriesId") != rid or occ["Id"] == rid or occ.get("IsDeleted"):
                        continue
                    self._soft_delete("Event", occ)
        elif name == "EventRelation":
            if promote:
                self._relation_gone(row)
            child_id = row.get("_ChildEventId")
            if isinstance(child_id, str):
                hit = self.find(child_id)
                if hit and not hit[1].get("IsDeleted"):
                    self._soft_delete("Event", hit[1])
            self._refresh_group_flag(str(row["EventId"]))

    def get(self, sobject: str, rid: str) -> Record:
        with self.lock:
            return self._get_live(self.object_def(sobject).name, rid)

    def _get_live(self, sobject: str, rid: str) -> Record:
        hit = self.find(rid)
        if hit is None or hit[0] != sobject:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist", [])
        if hit[1].get("IsDeleted"):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return hit[1]

    def _by_index(self, sobject: str, fname: str, value: str) -> list[Record]:
        idx = self._indexes[(sobject, fname)]
        key = value[:15] if fname.endswith("Id") and not fname.endswith("__c") else value.casefold()
        table = self.tables[sobject]
        return [table[i] for i in idx.get(key, ()) if i in table]

    def find_by_external_id(self, sobject: str, fname: str, value: str) -> list[Record]:
        with self.lock:
            o = self.object_def(sobject)
            f = o.field(fname)
            if f is None or not (f.external_id or f.name == "Id"):
                # Upsert by a field that isn't an External ID: 404 NOT_FOUND (REST API
                # Developer Guide, "Insert or Update (Upsert) a Record Using an External ID").
                raise ApiError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {fname}",
                )
            if f.name == "Id":
                hit = self.find(value)
                return [hit[1]] if hit and hit[0] == o.name and not hit[1]["IsDeleted"] else []
            if (o.name, f.name) in self._indexes:
                rows = self._by_index(o.name, f.name, value)
            else:
                rows = [
                    r
                    for r in self.tables[o.name].values()
                    if isinstance(r.get(f.name), str)
                    and str(r[f.name]).casefold() == value.casefold()
                ]
            return [r for r in rows if not r.get("IsDeleted")]

    def upsert(
        self,
        sobject: str,
        fname: str,
        value: str,
        body: Mapping[str, object],
        *,
        user_id: str | None = None,
    ) -> tuple[str, bool]:
        """Returns (id, created); raises 300 when several records match."""
        with self.lock:
            o = self.object_def(sobject)
            matches = self.find_by_external_id(sobject, fname, value)
            if len(matches) > 1:
                raise ApiError(
                    300,
                    "MULTIPLE_RECORDS",
                    f"Multiple records found for {fname}={value}",
                    [str(m["Id"]) for m in matches],
                )
            f = o.field(fname)
            assert f is not None
            data = {k: v for k, v in body.items() if k != "attributes"}
            if any(k.lower() == f.name.lower() for k in data) and f.name != "Id":
                given = next(v for k, v in data.items() if k.lower() == f.name.lower())
                if given != value:
                    raise _bad(
                        "INVALID_FIELD",
                        f"The value of {f.name} in the body doesn't match the URL",
                        [f.name],
                    )
            if matches:
                rid = str(matches[0]["Id"])
                self.update(o.name, rid, data, user_id=user_id)
                return rid, False
            if f.name == "Id":
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist", [])
            data[f.name] = value
            return self.create(o.name, data, user_id=user_id), True

    # ---------------------------------------------------------------------------- validation
    def _defaults(self, sobject: str, row: Record) -> None:
        o = self.objects[sobject]
        for fname, f in o.fields.items():
            if row.get(fname) is None and f.defaulted_on_create and f.picklist and f.createable:
                row[fname] = f.picklist[0]
        if sobject == "Lead" and row.get("Status") is None:
            row["Status"] = "Open - Not Contacted"

    def _check_required(self, o: ObjectDef, row: Record, values: Mapping[str, Value]) -> None:
        org_req = self.required_fields.get(o.name, set())
        missing = [
            f.name
            for f in o.fields.values()
            if row.get(f.name) in (None, "")
            and (
                f.name in org_req or (not f.nillable and f.createable and not f.defaulted_on_create)
            )
        ]
        if missing:
            raise _bad(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_rules(self, sobject: str, row: Record) -> None:
        for rule in self.validation_rules.get(sobject, []):
            if rule.active and rule._pred is not None and rule._pred(row):
                raise _bad("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, rule.fields)

    def _validate(
        self, sobject: str, row: Record, old: Record | None, values: Mapping[str, Value]
    ) -> list[Record]:
        """Object rules and derived fields. Returns rows to insert afterwards (occurrences)."""
        if sobject == "Event":
            return self._validate_event(row, old, values)
        if sobject in ("Contact", "Lead", "User"):
            first = row.get("FirstName") or ""
            row["Name"] = f"{first} {row.get('LastName') or ''}".strip()
        if sobject == "Opportunity":
            stage = row.get("StageName")
            row["IsClosed"] = isinstance(stage, str) and stage.startswith("Closed")
            row["IsWon"] = stage == "Closed Won"
        if sobject == "Attachment":
            b = row.get("Body")
            row["BodyLength"] = len(base64.b64decode(b)) if isinstance(b, str) else 0
        if sobject == "EventRelation" and old is None:
            self._validate_relation(row, values)
        return []

    def _validate_event(
        self, row: Record, old: Record | None, values: Mapping[str, Value]
    ) -> list[Record]:
        def integrity(msg: str, *fields: str) -> ApiError:
            return _bad("FIELD_INTEGRITY_EXCEPTION", msg, fields)

        if row.get("IsChild"):
            return []
        start = row.get("StartDateTime")
        adt = values.get("ActivityDateTime")
        given_day = values.get("ActivityDate")
        given_start = values.get("StartDateTime") or adt
        if (
            isinstance(given_day, date)
            and isinstance(given_start, datetime)
            and given_start.date() != given_day
        ):
            # Event, ActivityDate: "The value for this field and StartDateTime must match, or
            # one of them must be null."
            raise integrity(
                "Due Date Only: must match the date of the Start Date Time", "ActivityDate"
            )
        if isinstance(adt, datetime):
            if "StartDateTime" in values and start != adt:
                raise integrity(
                    "Activity Date Time: must be null or equal to the start time",
                    "ActivityDateTime",
                )
            row["StartDateTime"] = start = adt
        if row.get("IsAllDayEvent"):
            ad = row.get("ActivityDate")
            if "StartDateTime" in values and isinstance(start, datetime):
                ad = start.date()
            if not isinstance(ad, date):
                raise _bad(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [ActivityDate]",
                    ["ActivityDate"],
                )
            end = row.get("EndDateTime")
            dur = row.get("DurationInMinutes")
            if "EndDateTime" in values and isinstance(end, datetime):
                end_day = end.date()
            elif "DurationInMinutes" in values and isinstance(dur, int):
                end_day = ad + timedelta(days=max(math.ceil(dur / 1440), 1) - 1)
            elif (
                old is not None
                and isinstance(old.get("EndDate"), date)
                and isinstance(old.get("ActivityDate"), date)
            ):
                old_end, old_day = old["EndDate"], old["ActivityDate"]
                assert isinstance(old_end, date)
                assert isinstance(old_day, date)
                end_day = ad + (old_end - old_day)
            else:
                end_day = ad
            if end_day < ad:
                raise integrity("End Date Time: must be after the start", "EndDateTime")
            days = (end_day - ad).days + 1
            row.update(
                ActivityDate=ad,
                ActivityDateTime=None,
                StartDateTime=datetime(ad.year, ad.month, ad.day, tzinfo=UTC),
                EndDateTime=datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC),
                DurationInMinutes=days * 1440,
                EndDate=end_day,
            )
            minutes = days * 1440
        else:
            if not isinstance(start, datetime):
                raise _bad(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [ActivityDateTime]",
                    ["ActivityDateTime"],
                )
            end = row.get("EndDateTime")
            dur = row.get("DurationInMinutes")
            if "EndDateTime" in values and isinstance(end, datetime):
                pass
            elif "DurationInMinutes" in values and isinstance(dur, int):
                end = start + timedelta(minutes=dur)
            elif old is not None and isinstance(old.get("DurationInMinutes"), int):
                end = start + timedelta(minutes=int(old["DurationInMinutes"]))  # type: ignore[arg-type]
            elif not isinstance(end, datetime):
                raise _bad(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [DurationInMinutes]",
                    ["DurationInMinutes"],
                )
            assert isinstance(end, datetime)
            if end < start:
                raise integrity(
                    "End Date Time: The end time can't be before the start time", "EndDateTime"
                )
            minutes = int((end - start).total_seconds() // 60)
            if (
                "DurationInMinutes" in values
                and "EndDateTime" in values
                and isinstance(dur, int)
                and dur != minutes
            ):
                raise integrity(
                    "Duration: doesn't match the start and end times", "DurationInMinutes"
                )
            row.update(
                EndDateTime=end,
                DurationInMinutes=minutes,
                ActivityDateTime=start,
                ActivityDate=start.date(),
                EndDate=end.date(),
            )
        if minutes > MAX_EVENT_MINUTES:
            raise integrity(
                "Event duration can't exceed 14 days (20160 minutes)", "DurationInMinutes"
            )
        if minutes > 1440 and not self.multiday_events:
            raise integrity("Event duration can't exceed 1440 minutes", "DurationInMinutes")
        self._check_links(row, old, values)
        row["AccountId"] = self._derived_account(row)
        row["WhoCount"] = 1 if row.get("WhoId") else 0
        row["WhatCount"] = 1 if row.get("WhatId") else 0
        if row.get("GroupEventType") is None:
            row["GroupEventType"] = "0"
        if row.get("Recurrence2PatternText") is not None and (
            old is None or "Recurrence2PatternText" in values
        ):
            if row.get("IsRecurrence"):
                raise integrity(
                    "An event can't be both a Classic and a Lightning series",
                    "Recurrence2PatternText",
                )
            self._normalise_recurrence2(row, minutes)
            if old is None:
                return self._lightning_occurrences(row, minutes)
        if old is None and row.get("IsRecurrence"):
            return self._classic_occurrences(row, minutes)
        if old is None:
            for k in (
                "RecurrenceType", "RecurrenceInterval", "RecurrenceDayOfWeekMask",
                "RecurrenceDayOfMonth", "RecurrenceInstance", "RecurrenceMonthOfYear",
                "RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceTimeZoneSidKey",
            ):  # fmt: skip
                if row.get(k) is not None:
                    raise integrity(f"{k} is only valid when IsRecurrence is true", k)
        return []

    def _derived_account(self, row: Record) -> str | None:
        what = row.get("WhatId")
        if isinstance(what, str):
            hit = self.find(what)
            if hit and hit[0] == "Account":
                return what
            if hit and hit[0] == "Opportunity":
                acc = hit[1].get("AccountId")
                return acc if isinstance(acc, str) else None
        who = row.get("WhoId")
        if isinstance(who, str):
            hit = self.find(who)
            if hit and hit[0] == "Contact":
                acc = hit[1].get("AccountId")
                return acc if isinstance(acc, str) else None
        return None

    # ------------------------------------------------------------- Who/What links (E6, E7)
    def _type_of(self, rid: object) -> str | None:
        if not isinstance(rid, str) or not rid:
            return None
        hit = self._all.get(q.id15_of(rid) or rid[:15])
        return hit[0] if hit else None

    def _link_rows(self, event_id: str) -> list[Record]:
        """Live `IsParent` EventRelation rows of an Event (Who and What), oldest first."""
        rows = [
            r
            for r in self._by_index("EventRelation", "EventId", event_id)
            if not r.get("IsDeleted") and r.get("IsParent")
        ]
        return sorted(rows, key=lambda r: (str(r.get("CreatedDate")), str(r["Id"])))

    def _check_links(self, row: Record, old: Record | None, values: Mapping[str, Value]) -> None:
        """Object Reference, Event: "If the WhoId refers to a lead, then the WhatId field must
        be empty"; EventRelation/EventWhoRelation: "up to 50 contacts or one lead"; Event,
        IsPrivate: private events can't be associated with contacts, leads, accounts or
        opportunities (Shared Activities help: the other related people count too)."""
        who, what = row.get("WhoId"), row.get("WhatId")
        who_type = self._type_of(who)
        if who_type == "Lead" and what:
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: WhoId, WhatId (a lead can't have a Related To)",
                ["WhoId", "WhatId"],
            )
        kept: list[Record] = []
        if old is not None and self.shared_activities:
            gone = set()
            for fname in ("WhoId", "WhatId"):
                prev = old.get(fname)
                if isinstance(prev, str) and fname in values and values[fname] != prev:
                    gone.add(prev[:15])
            kept = [
                r for r in self._link_rows(str(old["Id"])) if str(r["RelationId"])[:15] not in gone
            ]
        if row.get("IsPrivate") and (who or what or kept):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "You can't assign a private event to other records",
                ["IsPrivate"],
            )
        people = {str(r["RelationId"])[:15] for r in kept if not r.get("IsWhat")}
        if isinstance(who, str):
            people.add(who[:15])
        types = [self._type_of(p) for p in people]
        if ("Lead" in types and len(types) > 1) or len(types) > 50:
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "An event can relate to up to 50 contacts or 1 lead",
                ["WhoId"],
            )
        if what and any(r.get("IsWhat") and r["RelationId"] != what for r in kept):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION", "An event can relate to one other record", ["WhatId"]
            )

    def _new_link_row(self, event: Record, relation_id: str, *, is_what: bool) -> None:
        o = self.objects["EventRelation"]
        rel: Record = dict.fromkeys(o.fields)
        for fname, f in o.fields.items():
            if f.type == "boolean":
                rel[fname] = False
        rid = self.new_id("EventRelation")
        stamp = self._stamp()
        rel.update(
            Id=rid,
            EventId=event["Id"],
            RelationId=relation_id,
            IsParent=True,
            IsWhat=is_what,
            IsInvitee=False,
            AccountId=event.get("AccountId"),
            Status="New",
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
            CreatedById=event.get("LastModifiedById"),
            LastModifiedById=event.get("LastModifiedById"),
        )
        self._put("EventRelation", rid, rel)

    def _sync_link_rows(self, event_id: str, old: Record | None) -> None:
        """Shared Activities: the WhoId and the WhatId are EventRelation rows themselves
        (`IsParent` true; `IsWhat` false for the Who, true for the What). A new WhoId replaces
        the old one's row; clearing WhoId promotes the next related person, as deleting its
        row does (EventRelation: "another Who, if any, from the event's EventWhoIds field will
        be promoted to the WhoId")."""
        if not self.shared_activities:
            return
        hit = self.find(event_id)
        if hit is None or hit[1].get("IsChild"):
            return
        event = hit[1]
        rows = {str(r["RelationId"])[:15]: r for r in self._link_rows(event_id)}
        invitees = {
            str(r["RelationId"])[:15]: r
            for r in self._by_index("EventRelation", "EventId", event_id)
            if not r.get("IsDeleted") and r.get("IsInvitee")
        }
        promote = False
        for fname, is_what in (("WhoId", False), ("WhatId", True)):
            new, prev = event.get(fname), (old or {}).get(fname)
            if isinstance(prev, str) and prev != new and prev[:15] in rows:
                r = rows.pop(prev[:15])
                if r.get("IsInvitee"):
                    self._put("EventRelation", str(r["Id"]), {**r, "IsParent": False})
                else:
                    self._soft_delete("EventRelation", r, promote=False)
                promote = promote or (fname == "WhoId" and new is None)
            if isinstance(new, str) and new[:15] not in rows:
                inv = invitees.get(new[:15])
                if inv is not None:
                    self._put("EventRelation", str(inv["Id"]), {**inv, "IsParent": True})
                else:
                    self._new_link_row(event, new, is_what=is_what)
        if promote:
            self._promote_who(event_id)
        self._refresh_link_counts(event_id)

    def _promote_who(self, event_id: str) -> None:
        hit = self.find(event_id)
        if hit is None or hit[1].get("IsDeleted"):
            return
        people = [r for r in self._link_rows(event_id) if not r.get("IsWhat")]
        new = dict(hit[1])
        new["WhoId"] = people[0]["RelationId"] if people else None
        new["AccountId"] = self._derived_account(new)
        self._put("Event", event_id, new)

    def _refresh_link_counts(self, event_id: str) -> None:
        hit = self.find(event_id)
        if hit is None:
            return
        rows = self._link_rows(event_id)
        who = sum(1 for r in rows if not r.get("IsWhat"))
        what = sum(1 for r in rows if r.get("IsWhat"))
        row = hit[1]
        if self.shared_activities and (row.get("WhoCount"), row.get("WhatCount")) != (who, what):
            self._put("Event", event_id, {**row, "WhoCount": who, "WhatCount": what})

    def _relation_added(self, rel: Record) -> None:
        """The first related person becomes the WhoId, a related record the WhatId."""
        event_id = str(rel["EventId"])
        hit = self.find(event_id)
        if hit is None:
            return
        event = hit[1]
        field = "WhatId" if rel.get("IsWhat") else "WhoId"
        if event.get(field) is None:
            new = {**event, field: rel["RelationId"]}
            new["AccountId"] = self._derived_account(new)
            self._put("Event", event_id, new)
        self._refresh_link_counts(event_id)
        hit = self.find(event_id)
        if hit is not None:
            self._propagate_to_children(hit[1])

    def _relation_gone(self, rel: Record) -> None:
        """EventRelation: deleting the row behind the WhoId promotes another Who or clears it;
        deleting the row behind WhatId clears it."""
        if not rel.get("IsParent"):
            return
        event_id = str(rel["EventId"])
        hit = self.find(event_id)
        if hit is None or hit[1].get("IsDeleted"):
            return
        event = hit[1]
        rid = str(rel["RelationId"])[:15]
        if rel.get("IsWhat") and str(event.get("WhatId") or "")[:15] == rid:
            new = {**event, "WhatId": None}
            new["AccountId"] = self._derived_account(new)
            self._put("Event", event_id, new)
        elif not rel.get("IsWhat") and str(event.get("WhoId") or "")[:15] == rid:
            self._promote_who(event_id)
        self._refresh_link_counts(event_id)
        hit = self.find(event_id)
        if hit is not None:
            self._propagate_to_children(hit[1])

    def _user_tz(self, user_id: object) -> str:
        if isinstance(user_id, str):
            hit = self.find(user_id)
            if hit and isinstance(hit[1].get("TimeZoneSidKey"), str):
                return str(hit[1]["TimeZoneSidKey"])
        return "America/Los_Angeles"

    def _normalise_recurrence2(self, row: Record, minutes: int) -> None:
        text = str(row["Recurrence2PatternText"]).strip()

        def bad(msg: str) -> ApiError:
            return _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Recurrence2PatternText: {msg}",
                ["Recurrence2PatternText"],
            )

        if text.upper().startswith("RRULE:"):
            text = text[6:]
        parts: dict[str, str] = {}
        for piece in filter(None, text.split(";")):
            if "=" not in piece:
                raise bad(f"invalid rule part '{piece}'")
            k, v = piece.split("=", 1)
            k = k.strip().upper()
            if k not in _RULE_PARTS:
                raise bad(f"unsupported rule part '{k}'")
            parts[k] = v.strip().upper()
        freq = parts.get("FREQ")
        if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
            raise bad("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
        parts.setdefault("INTERVAL", "1")
        if not parts["INTERVAL"].isdigit():
            raise bad("INTERVAL must be a number")
        interval = int(parts["INTERVAL"])
        hi = {"DAILY": 999, "WEEKLY": 99, "MONTHLY": 99, "YEARLY": 1}[freq]
        if not 1 <= interval <= hi:
            raise bad(f"INTERVAL must be between 1 and {hi} for {freq}")
        if "UNTIL" in parts and "COUNT" in parts:
            raise bad("UNTIL and COUNT can't be used together")
        if "COUNT" in parts and not (parts["COUNT"].isdigit() and 1 <= int(parts["COUNT"]) <= 999):
            raise bad("COUNT must be between 1 and 999")
        if "UNTIL" in parts:
            try:
                datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ")
            except ValueError:
                raise bad("UNTIL must look like yyyyMMddTHHmmssZ") from None
        byday = [d for d in parts.get("BYDAY", "").split(",") if d]
        numbered = [d for d in byday if d[:-2]]
        if freq == "WEEKLY" and (not byday or numbered):
            raise bad("WEEKLY requires BYDAY without numeric prefixes")
        if numbered and "BYSETPOS" in parts:
            raise bad("numbered BYDAY can't be combined with BYSETPOS")
        nums = {d[:-2] for d in numbered}
        if len(nums) > 1 or any(n not in ("-1", "1", "2", "3", "4", "+1") for n in nums):
            raise bad("numbered BYDAY takes one of -1,1,2,3,4")
        if "BYSETPOS" in parts and parts["BYSETPOS"] not in ("-1", "1", "2", "3", "4"):
            raise bad("BYSETPOS takes one of -1,1,2,3,4")
        if minutes > 1440:
            raise bad("each occurrence must last 24 hours or less")
        norm = ";".join(f"{k}={parts[k]}" for k in _RULE_PARTS if k in parts)
        row["Recurrence2PatternText"] = "RRULE:" + norm
        row["IsRecurrence2"] = True
        row["Recurrence2PatternVersion"] = "1"
        row["Recurrence2PatternStartDate"] = row.get("StartDateTime")
        row["GroupEventType"] = "3"
        if not row.get("Recurrence2PatternTimeZone"):
            row["Recurrence2PatternTimeZone"] = self._user_tz(row.get("OwnerId"))

    def _lightning_edit(self, old: Record, row: Record, values: Mapping[str, Value]) -> None:
        """api-facts B1 (API 58+): changing a future occurrence of a LEX series changes the whole
        series (its other future occurrences follow: fields copied, times shifted alike);
        changing a past one marks it `IsRecurrence2Exception`."""
        start = old.get("StartDateTime")
        rid = str(row["Id"])
        if not isinstance(start, datetime) or start <= self.now():
            new = dict(row)
            new["IsRecurrence2Exception"] = True
            self._put("Event", rid, new)
            return
        keys = [k for k in values if k in _LIGHTNING_SERIES_FIELDS]
        new_start, new_end = row.get("StartDateTime"), row.get("EndDateTime")
        shift = (
            new_start - start
            if isinstance(new_start, datetime) and new_start != start
            else timedelta(0)
        )
        length = (
            new_end - new_start
            if isinstance(new_end, datetime) and isinstance(new_start, datetime)
            else None
        )
        for other in list(self.tables["Event"].values()):
            ostart = other.get("StartDateTime")
            if (
                other.get("_SeriesId") != old.get("_SeriesId")
                or other["Id"] == rid
                or other.get("IsDeleted")
                or other.get("IsRecurrence2Exception")
                or not isinstance(ostart, datetime)
                or ostart <= self.now()
            ):
                continue
            new = dict(other)
            for k in keys:
                new[k] = row.get(k)
            if length is not None and (shift or "EndDateTime" in values):
                st = ostart + shift
                new.update(
                    StartDateTime=st,
                    ActivityDateTime=st,
                    ActivityDate=st.date(),
                    EndDateTime=st + length,
                    EndDate=(st + length).date(),
                    DurationInMinutes=int(length.total_seconds() // 60),
                )
            new.update(
                SystemModstamp=row["SystemModstamp"],
                LastModifiedDate=row["LastModifiedDate"],
                LastModifiedById=row.get("LastModifiedById"),
            )
            self._put("Event", str(other["Id"]), new)

    def _lightning_occurrences(self, row: Record, minutes: int) -> list[Record]:
        """The further occurrence Events of a new Lightning series (the record created is the
        first). LEX series have no series id (api-facts B1): the rows share the pattern fields and
        owner; the emulator keeps a hidden `_SeriesId` so that deleting the first Event deletes
        the series. Open-ended series are materialised for `LIGHTNING_HORIZON` after their start
        (docs/decisions/0061-salesforce-emulator-series.md)."""
        start = row.get("StartDateTime")
        if not isinstance(start, datetime):
            return []
        tzname = str(row.get("Recurrence2PatternTimeZone") or "UTC")
        try:
            tz = ZoneInfo(tzname)
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "Recurrence2PatternTimeZone: bad time zone",
                ["Recurrence2PatternTimeZone"],
            ) from None
        local = start.astimezone(tz).replace(tzinfo=None)
        parts = dict(
            piece.split("=", 1) for piece in str(row["Recurrence2PatternText"])[6:].split(";")
        )
        days = {"SU": rrule.SU, "MO": rrule.MO, "TU": rrule.TU, "WE": rrule.WE,
                "TH": rrule.TH, "FR": rrule.FR, "SA": rrule.SA}  # fmt: skip
        freq = {"DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY, "MONTHLY": rrule.MONTHLY,
                "YEARLY": rrule.YEARLY}[parts["FREQ"]]  # fmt: skip

        def ints(key: str) -> list[int] | None:
            return [int(v) for v in parts[key].split(",")] if key in parts else None

        kw: dict[str, object] = {"dtstart": local, "interval": int(parts.get("INTERVAL", "1"))}
        if "BYDAY" in parts:
            kw["byweekday"] = [
                days[d[-2:]](int(d[:-2])) if d[:-2] else days[d[-2:]]
                for d in parts["BYDAY"].split(",")
            ]
        for key, arg in (("BYMONTH", "bymonth"), ("BYSETPOS", "bysetpos"),
                         ("BYWEEKNO", "byweekno"), ("BYYEARDAY", "byyearday")):  # fmt: skip
            if (v := ints(key)) is not None:
                kw[arg] = v
        mdays = ints("BYMONTHDAY")
        if mdays is not None:
            if len(mdays) == 1 and mdays[0] > 28 and "BYSETPOS" not in parts:
                # LEX: BYMONTHDAY past a month's end falls on its last day (api-facts B1).
                kw.update(bymonthday=list(range(28, mdays[0] + 1)), bysetpos=-1)
            else:
                kw["bymonthday"] = mdays
        if "WKST" in parts:
            kw["wkst"] = days[parts["WKST"]]
        if "COUNT" in parts:
            kw["count"] = int(parts["COUNT"])
        elif "UNTIL" in parts:
            until = datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            kw["until"] = until.astimezone(tz).replace(tzinfo=None)
        else:
            kw["until"] = local + LIGHTNING_HORIZON
        starts = list(itertools.islice(rrule.rrule(freq, **kw), 999))  # type: ignore[arg-type]
        out: list[Record] = []
        for wall in starts:
            st = wall.replace(tzinfo=tz).astimezone(UTC)
            if st == start:
                continue
            child = dict(row)
            child.update(
                StartDateTime=st,
                ActivityDateTime=st,
                ActivityDate=st.date(),
                EndDateTime=st + timedelta(minutes=minutes),
                EndDate=(st + timedelta(minutes=minutes)).date(),
                GroupEventType="0",
                ClientGuid=None,
            )
            out.append(child)
        return out

    def _classic_occurrences(self, row: Record, minutes: int) -> list[Record]:
        def integrity(msg: str, *fields: str) -> ApiError:
            return _bad("FIELD_INTEGRITY_EXCEPTION", msg, fields)

        rtype = row.get("RecurrenceType")
        required = {
            "RecursDaily": ("RecurrenceInterval",),
            "RecursEveryWeekday": ("RecurrenceDayOfWeekMask",),
            "RecursMonthly": ("RecurrenceDayOfMonth", "RecurrenceInterval"),
            "RecursMonthlyNth": (
                "RecurrenceInterval", "RecurrenceInstance", "RecurrenceDayOfWeekMask",
            ),
            "RecursWeekly": ("RecurrenceInterval", "RecurrenceDayOfWeekMask"),
            "RecursYearly": ("RecurrenceDayOfMonth", "RecurrenceMonthOfYear"),
            "RecursYearlyNth": (
                "RecurrenceDayOfWeekMask", "RecurrenceInstance", "RecurrenceMonthOfYear",
            ),
        }  # fmt: skip
        base = ["RecurrenceType", "RecurrenceStartDateTime", "RecurrenceEndDateOnly"]
        missing = [k for k in base if row.get(k) is None]
        if not missing and isinstance(rtype, str):
            missing = [k for k in required[rtype] if row.get(k) is None]
        if missing:
            raise _bad(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        assert isinstance(rtype, str)
        all_opt = {k for ks in required.values() for k in ks}
        extra = sorted(k for k in all_opt - set(required[rtype]) if row.get(k) is not None)
        if extra:
            raise integrity(
                f"Recurrence fields not used by {rtype} must be null: {', '.join(extra)}", *extra
            )
        if minutes > 1440:
            raise integrity(
                "Each occurrence of a recurring event must last 24 hours or less",
                "DurationInMinutes",
            )
        mask = row.get("RecurrenceDayOfWeekMask")
        if isinstance(mask, int) and not 1 <= mask <= 127:
            raise integrity("RecurrenceDayOfWeekMask must be 1..127", "RecurrenceDayOfWeekMask")
        if rtype == "RecursEveryWeekday" and isinstance(mask, int) and mask & 65:
            raise integrity(
                "RecursEveryWeekday can't include Saturday or Sunday", "RecurrenceDayOfWeekMask"
            )
        rstart = row["RecurrenceStartDateTime"]
        rend = row["RecurrenceEndDateOnly"]
        assert isinstance(rstart, datetime)
        assert isinstance(rend, date)
        if rend < rstart.date():
            raise integrity(
                "Recurrence start must precede the recurrence end", "RecurrenceEndDateOnly"
            )
        tzname = row.get("RecurrenceTimeZoneSidKey") or self._user_tz(row.get("OwnerId"))
        row["RecurrenceTimeZoneSidKey"] = tzname
        try:
            tz = ZoneInfo(str(tzname))
        except ZoneInfoNotFoundError:
            raise integrity("bad time zone", "RecurrenceTimeZoneSidKey") from None
        local = rstart.astimezone(tz).replace(tzinfo=None)
        days = [rrule.SU, rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA]
        wd = [days[i] for i in range(7) if isinstance(mask, int) and mask & (1 << i)]
        inst = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
        n = inst.get(str(row.get("RecurrenceInstance")), 1)
        interval = int(row.get("RecurrenceInterval") or 1)  # type: ignore[arg-type]
        month = row.get("RecurrenceMonthOfYear")
        month_n = MONTHS.index(str(month)) + 1 if month in MONTHS else None
        dom = row.get("RecurrenceDayOfMonth")
        freq_kind: str
        # Weeks count from Sunday; day 29-31 falls on the last day of shorter months; Nth of a
        # day set is the Nth day of the month in that set (docs/decisions/0061-*.md).
        kw: dict[str, object] = {"dtstart": local, "interval": interval, "wkst": rrule.SU}

        def monthday(day: object) -> dict[str, object]:
            if isinstance(day, int) and day > 28:
                return {"bymonthday": list(range(28, day + 1)), "bysetpos": -1}
            return {"bymonthday": day}

        if rtype == "RecursDaily":
            freq, freq_kind = rrule.DAILY, "Daily"
        elif rtype in ("RecursEveryWeekday", "RecursWeekly"):
            freq, freq_kind = (rrule.WEEKLY if rtype == "RecursWeekly" else rrule.DAILY), "Weekly"
            kw["byweekday"] = wd
            if rtype == "RecursEveryWeekday":
                freq_kind = "Daily"
                kw["interval"] = 1
        elif rtype == "RecursMonthly":
            freq, freq_kind = rrule.MONTHLY, "Monthly"
            kw.update(monthday(dom))
        elif rtype == "RecursMonthlyNth":
            freq, freq_kind = rrule.MONTHLY, "Monthly"
            kw.update(byweekday=wd, bysetpos=n)
        elif rtype == "RecursYearly":
            freq, freq_kind = rrule.YEARLY, "Yearly"
            kw.update(bymonth=month_n, interval=1, **monthday(dom))
        else:
            freq, freq_kind = rrule.YEARLY, "Yearly"
            kw.update(bymonth=month_n, byweekday=wd, bysetpos=n, interval=1)
        until = datetime(rend.year, rend.month, rend.day, 23, 59, 59)
        cap = _OCCURRENCE_CAPS[freq_kind]
        starts = list(itertools.islice(rrule.rrule(freq, until=until, **kw), cap + 1))  # type: ignore[arg-type]
        if len(starts) > cap:
            raise integrity(
                f"A {freq_kind.lower()} recurring event can't have more than {cap} occurrences",
                "RecurrenceEndDateOnly",
            )
        if not starts:
            raise integrity("The recurrence pattern has no occurrences", "RecurrenceType")
        occ: list[Record] = []
        for s in starts:
            st = s.replace(tzinfo=tz).astimezone(UTC)
            child = dict(row)
            child.update(
                IsRecurrence=False,
                StartDateTime=st,
                ActivityDateTime=st,
                ActivityDate=st.date(),
                EndDateTime=st + timedelta(minutes=minutes),
                EndDate=(st + timedelta(minutes=minutes)).date(),
            )
            for k in required["RecursMonthlyNth"] + required["RecursYearly"] + (
                "RecurrenceType", "RecurrenceStartDateTime", "RecurrenceEndDateOnly",
                "RecurrenceTimeZoneSidKey", "RecurrenceDayOfWeekMask",
            ):  # fmt: skip
                child[k] = None
            occ.append(child)
        return occ

    def _validate_relation(self, row: Record, values: Mapping[str, Value]) -> None:
        ev_id = str(row["EventId"])
        hit = self.find(ev_id)
        if hit is None or hit[1].get("IsDeleted"):
            raise _bad(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {ev_id}", ["EventId"]
            )
        event = hit[1]
        if event.get("IsChild"):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "EventRelation can't be created for a child event",
                ["EventId"],
            )
        rel_id = str(row["RelationId"])
        rel_type = self._all[rel_id[:15]][0]
        if "IsInvitee" not in values:
            # EventRelation, IsInvitee: "The default value is false" (E7).
            row["IsInvitee"] = False
        if rel_type not in ("User", "Calendar", "Contact", "Lead"):
            # Shared Activities: an account, opportunity or other record with activities.
            row.update(IsWhat=True, IsInvitee=False, IsParent=True)
        elif rel_type in ("Contact", "Lead") and not row.get("IsInvitee"):
            row["IsParent"] = True
        if row.get("IsParent") and event.get("IsPrivate"):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "You can't assign a private event to other records",
                ["RelationId"],
            )
        lead_who = self._type_of(event.get("WhoId")) == "Lead"
        if row.get("IsParent") and (
            (rel_type == "Lead" and event.get("WhatId")) or (row.get("IsWhat") and lead_who)
        ):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: WhoId, WhatId (a lead can't have a Related To)",
                ["RelationId"],
            )
        if row.get("IsWhat") and event.get("WhatId") and event["WhatId"] != rel_id:
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION",
                "An event can relate to one other record",
                ["RelationId"],
            )
        existing = [
            r for r in self._by_index("EventRelation", "EventId", ev_id) if not r.get("IsDeleted")
        ]
        if any(str(r["RelationId"])[:15] == rel_id[:15] for r in existing):
            raise _bad(
                "DUPLICATE_VALUE",
                f"duplicate value found: RelationId duplicates value on record with id: {rel_id}",
                ["RelationId"],
            )
        if row.get("IsInvitee"):
            cap = 100 if (event.get("IsRecurrence") or event.get("IsRecurrence2")) else 1000
            if sum(1 for r in existing if r.get("IsInvitee")) >= cap:
                raise _bad(
                    "LIMIT_EXCEEDED",
                    f"An event can't have more than {cap} invitees",
                    ["RelationId"],
                )
        if row.get("IsParent") and not row.get("IsWhat"):
            whos = [r for r in existing if r.get("IsParent") and not r.get("IsWhat")]
            types = [self._all[str(r["RelationId"])[:15]][0] for r in whos] + [rel_type]
            if not self.shared_activities and len(types) > 1:
                raise _bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Without Shared Activities an event relates to one contact or lead",
                    ["RelationId"],
                )
            if "Lead" in types and len(types) > 1:
                raise _bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "An event can relate to up to 50 contacts or 1 lead",
                    ["RelationId"],
                )
            if len(types) > 50:
                raise _bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "An event can relate to up to 50 contacts or 1 lead",
                    ["RelationId"],
                )
        if rel_type == "Calendar" and row.get("Status") not in (None, "New", "Accepted"):
            raise _bad(
                "FIELD_INTEGRITY_EXCEPTION", "Resources can only be Accepted invitees", ["Status"]
            )
        row["AccountId"] = event.get("AccountId")
        if row.get("Status") is None:
            row["Status"] = "New"

    def _after_insert(self, sobject: str, row: Record, children: list[Record], user: str) -> None:
        if sobject == "EventRelation" and row.get("IsParent"):
            self._relation_added(row)
        if sobject == "Event" and row.get("IsRecurrence2"):
            row["_SeriesId"] = row["Id"]
            self._put("Event", str(row["Id"]), row)
        if sobject == "Event" and children:
            for child in children:
                cid = self.new_id("Event")
                child["Id"] = cid
                if row.get("IsRecurrence2"):
                    child["_SeriesId"] = row["Id"]
                else:
                    child["RecurrenceActivityId"] = row["Id"]
                self._put("Event", cid, child)
        if sobject == "EventRelation" and row.get("IsInvitee"):
            rel_type = self._all[str(row["RelationId"])[:15]][0]
            ev = self.find(str(row["EventId"]))
            assert ev is not None
            if rel_type == "User" and ev[1].get("OwnerId") != row["RelationId"]:
                child = dict(ev[1])
                cid = self.new_id("Event")
                child.update(
                    Id=cid,
                    IsChild=True,
                    IsGroupEvent=True,
                    GroupEventType="1",
                    OwnerId=row["RelationId"],
                    _ParentEventId=ev[1]["Id"],
                    ClientGuid=None,
                )
                for fname, f in self.objects["Event"].fields.items():
                    if f.custom:
                        child[fname] = None
                self._put("Event", cid, child)
                new_rel = dict(row)
                new_rel["_ChildEventId"] = cid
                self._put("EventRelation", str(row["Id"]), new_rel)
            self._refresh_group_flag(str(row["EventId"]))

    def _children_of(self, event_id: str) -> list[Record]:
        out = []
        for rel in self._by_index("EventRelation", "EventId", event_id):
            cid = rel.get("_ChildEventId")
            if isinstance(cid, str):
                hit = self.find(cid)
                if hit and not hit[1].get("IsDeleted"):
                    out.append(hit[1])
        return out

    def _propagate_to_children(self, row: Record) -> None:
        for child in self._children_of(str(row["Id"])):
            new = dict(child)
            for k in EVENT_LINK_FIELDS:
                new[k] = row.get(k)
            new["SystemModstamp"] = row["SystemModstamp"]
            new["LastModifiedDate"] = row["LastModifiedDate"]
            self._put("Event", str(child["Id"]), new)

    def _refresh_group_flag(self, event_id: str) -> None:
        hit = self.find(event_id)
        if hit is None or hit[1].get("IsDeleted"):
            return
        invitees = any(
            r.get("IsInvitee") and not r.get("IsDeleted")
            for r in self._by_index("EventRelation", "EventId", event_id)
        )
        row = hit[1]
        if bool(row.get("IsGroupEvent")) != invitees:
            new = dict(row)
            new["IsGroupEvent"] = invitees
            if row.get("GroupEventType") in ("0", "1", None):
                new["GroupEventType"] = "1" if invitees else "0"
            stamp = self._stamp()
            new["SystemModstamp"] = stamp
            self._put("Event", event_id, new)

    # ------------------------------------------------------------------- replication
    def updated_ids(
        self, sobject: str, start: datetime, end: datetime
    ) -> tuple[list[str], datetime]:
        with self.lock:
            o = self.object_def(sobject)
            now = self.now()
            self._check_window(start, end, now, days=30)
            end = min(end, now).replace(second=0, microsecond=0)
            start = start.replace(second=0, microsecond=0)
            ids = [
                str(r["Id"])
                for r in self.tables[o.name].values()
                if not r.get("IsDeleted")
                and isinstance(r.get("SystemModstamp"), datetime)
                and start <= r["SystemModstamp"] < end  # type: ignore[operator]
            ]
            if len(ids) > 600_000:
                raise _bad("EXCEEDED_ID_LIMIT", "too many ids: narrow the window")
            return ids, end

    def deleted_ids(
        self, sobject: str, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, datetime]], datetime, datetime]:
        with self.lock:
            o = self.object_def(sobject)
            now = self.now()
            self._purge_delete_log(now)
            self._check_window(start, end, now, days=15, check_start=False)
            end = min(end, now).replace(second=0, microsecond=0)
            start = start.replace(second=0, microsecond=0)
            # the delete log is trimmed to 15 days (see _purge_delete_log)
            earliest = (now - timedelta(days=15)).replace(second=0, microsecond=0)
            out = [
                (rid, when)
                for when, sob, rid in self.delete_log
                if sob == o.name and start <= when < end
            ]
            return out, earliest, end

    def _check_window(
        self, start: datetime, end: datetime, now: datetime, *, days: int, check_start: bool = True
    ) -> None:
        if start >= end:
            raise _bad("INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if check_start and start < now - timedelta(days=days):
            raise _bad(
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {days} days ago",
            )

    def _purge_delete_log(self, now: datetime) -> None:
        cutoff = now - timedelta(days=15)
        while self.delete_log and self.delete_log[0][0] < cutoff:
            _, sob, rid = self.delete_log.pop(0)
            row = self.tables[sob].get(rid)
            if row is not None and row.get("IsDeleted"):
                self._put_raw(sob, rid, None)

    # ---------------------------------------------------------------------- auth, limits
    def add_client(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        public_key_pem: str | None = None,
        run_as_user_id: str | None = None,
    ) -> ClientApp:
        with self.lock:
            app = ClientApp(client_id, secret, public_key_pem, run_as_user_id or self.admin_user_id)
            self.clients[client_id] = app
            return app

    def issue_token(self, user_id: str | None = None) -> str:
        with self.lock:
            token = f"{ORG_ID[:15]}!AR{secrets.token_urlsafe(48)}"
            self.tokens[token] = Token(user_id or self.admin_user_id, self.now() + self.token_ttl)
            return token

    def check_token(self, token: str | None) -> str:
        """The token's user id, or 401 INVALID_SESSION_ID."""
        with self.lock:
            info = self.tokens.get(token or "")
            if info is None or info.expires_at <= self.now():
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return info.user_id

    def expire_tokens(self) -> int:
        with self.lock:
            n = len(self.tokens)
            self.tokens.clear()
            return n

    def user_by_username(self, username: str) -> str | None:
        rows = self._by_index("User", "Username", username)
        live = [r for r in rows if r.get("IsActive") and not r.get("IsDeleted")]
        return str(live[0]["Id"]) if live else None

    def charge(self) -> None:
        """Count one API call against the daily allowance, or refuse it."""
        with self.lock:
            if self.api_used >= self.api_max:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1

    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.api_max}"

    def limits(self) -> dict[str, dict[str, int]]:
        rem = max(self.api_max - self.api_used, 0)
        return {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "DailyApiRequests": {"Max": self.api_max, "Remaining": rem},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "SingleEmail": {"Max": 15, "Remaining": 15},
        }

    # ----------------------------------------------------------------- org configuration
    def set_required_fields(self, sobject: str, fields: Sequence[str]) -> None:
        with self.lock:
            o = self.object_def(sobject)
            names = set()
            for fname in fields:
                f = o.field(fname)
                if f is None:
                    raise _bad("INVALID_FIELD", f"No such field {fname}", [fname])
                names.add(f.name)
            self.required_fields[o.name] = names

    def add_validation_rule(
        self,
        sobject: str,
        name: str,
        condition: str,
        message: str,
        fields: Sequence[str] = (),
    ) -> ValidationRule:
        with self.lock:
            o = self.object_def(sobject)
            try:
                parsed = q.parse(f"SELECT Id FROM {o.name} WHERE {condition}", self.now())  # noqa: S608
                assert parsed.where is not None
                pred = q.compile_cond(parsed.where, o.name, self)
            except q.SoqlError as e:
                raise _bad(e.code, e.message) from None
            rule = ValidationRule(name, condition, message, tuple(fields), True, pred)
            rules = [r for r in self.validation_rules.get(o.name, []) if r.name != name]
            rules.append(rule)
            self.validation_rules[o.name] = rules
            return rule

    def clear_validation_rules(self, sobject: str | None = None) -> None:
        with self.lock:
            if sobject is None:
                self.validation_rules.clear()
            else:
                self.validation_rules.pop(self.object_def(sobject).name, None)

    def add_custom_field(
        self, sobject: str, name: str, *, length: int = 255, external_id: bool = False
    ) -> None:
        with self.lock:
            o = self.object_def(sobject)
            if not name.endswith("__c"):
                raise _bad("INVALID_FIELD", "custom field names end with __c", [name])
            o.add(custom_field(name, length, external_id=external_id))
            for row in self.tables[o.name].values():
                row.setdefault(name, None)
            key = (o.name, name)
            if external_id and key not in self._indexes:
                self._indexed.setdefault(o.name, []).append(name)
                self._indexes[key] = {}
                for rid, row in self.tables[o.name].items():
                    v = row.get(name)
                    if isinstance(v, str):
                        self._indexes[key].setdefault(v.casefold(), set()).add(rid)

    def add_custom_object(
        self,
        name: str,
        fields: Mapping[str, str],
        *,
        key_prefix: str = "a00",
        activities: bool = False,
    ) -> None:
        """A custom object (`Site_Visit__c`) with Name, OwnerId, the system fields and the given
        custom fields (name -> type: string, date, datetime, boolean, double, textarea). With
        ``activities`` ("Allow Activities") its records can be an Event's WhatId."""
        with self.lock:
            if not name.endswith("__c"):
                raise _bad("INVALID_TYPE", "custom object names end with __c", [name])
            o = ObjectDef(name, key_prefix, custom=True)
            o.add(FieldDef("Id", "id", 18, nillable=False, defaulted_on_create=True,
                           createable=False, updateable=False))  # fmt: skip
            o.add(FieldDef("Name", "string", 80))
            o.add(FieldDef("OwnerId", "reference", 18, reference_to=("User",),
                           relationship_name="Owner", nillable=False,
                           defaulted_on_create=True))  # fmt: skip
            for fname, ftype in fields.items():
                if not fname.endswith("__c"):
                    raise _bad("INVALID_FIELD", "custom field names end with __c", [fname])
                length = 255 if ftype == "string" else 32000 if ftype == "textarea" else 0
                o.add(FieldDef(fname, ftype, length, custom=True))  # type: ignore[arg-type]
            system_fields(o)
            self.objects[name] = o
            self._obj_lower[name.lower()] = o
            self.tables[name] = {}
            what = self.objects["Event"].fields["WhatId"]
            if activities and name not in what.reference_to:
                what.reference_to = (*what.reference_to, name)

    # ------------------------------------------------------------------------- seeding
    def add_user(
        self,
        email: str,
        *,
        first_name: str = "",
        last_name: str | None = None,
        username: str | None = None,
        is_active: bool = True,
        time_zone: str = "Europe/Berlin",
    ) -> str:
        return self.create(
            "User",
            {
                "Email": email,
                "FirstName": first_name or None,
                "LastName": last_name or email.split("@")[0],
                "Username": username or email,
                "IsActive": is_active,
                "TimeZoneSidKey": time_zone,
                "Alias": (email.split("@")[0] or "user")[:8],
                "UserType": "Standard",
            },
            system=True,
        )

    def add_calendar(self, name: str, *, type: str = "Public", is_active: bool = True) -> str:
        return self.create(
            "Calendar", {"Name": name, "Type": type, "IsActive": is_active}, system=True
        )

    def add_account(self, name: str, *, website: str | None = None, **fields: JsonScalar) -> str:
        return self.create("Account", {"Name": name, "Website": website, **fields}, system=True)

    def add_contact(
        self,
        last_name: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        account_id: str | None = None,
        **fields: JsonScalar,
    ) -> str:
        body = {"LastName": last_name, "FirstName": first_name, "Email": email,
                "AccountId": account_id, **fields}  # fmt: skip
        return self.create("Contact", body, system=True)

    def add_lead(
        self,
        last_name: str,
        *,
        email: str | None = None,
        company: str = "Unknown",
        first_name: str | None = None,
        **fields: JsonScalar,
    ) -> str:
        body = {"LastName": last_name, "FirstName": first_name, "Email": email,
                "Company": company, **fields}  # fmt: skip
        return self.create("Lead", body, system=True)

    def add_opportunity(
        self,
        name: str,
        *,
        account_id: str | None,
        stage: str = "Prospecting",
        close_date: date | None = None,
        owner_id: str | None = None,
        **fields: JsonScalar,
    ) -> str:
        body = {"Name": name, "AccountId": account_id, "StageName": stage,
                "CloseDate": (close_date or self.now().date()).isoformat(),
                "OwnerId": owner_id, **fields}  # fmt: skip
        return self.create("Opportunity", body, system=True)

    def add_event(
        self,
        owner_id: str,
        subject: str,
        start: datetime,
        end: datetime,
        **fields: JsonScalar,
    ) -> str:
        body = {"OwnerId": owner_id, "Subject": subject,
                "StartDateTime": format_datetime(start), "EndDateTime": format_datetime(end),
                **fields}  # fmt: skip
        return self.create("Event", body, user_id=owner_id)

    def seed(self, payload: Mapping[str, object]) -> dict[str, list[str]]:
        """Seed from JSON: ``{"users":[{"email":..}], "Contact":[{field: value}], ...}``.

        ``users`` and ``calendars`` take the keyword arguments of :meth:`add_user` /
        :meth:`add_calendar`; any sObject name takes raw field maps (created as the admin, read-only
        fields allowed).
        """
        out: dict[str, list[str]] = {}
        with self.transaction():
            for key, items in payload.items():
                if not isinstance(items, list):
                    raise _bad("JSON_PARSER_ERROR", f"{key} must be a list")
                ids: list[str] = []
                for item in items:
                    if not isinstance(item, dict):
                        raise _bad("JSON_PARSER_ERROR", f"{key} items must be objects")
                    if key == "users":
                        ids.append(self.add_user(**item))
                    elif key == "calendars":
                        ids.append(self.add_calendar(**item))
                    else:
                        ids.append(self.create(key, item, system=True))
                out[key] = ids
        return out

    def stats(self) -> dict[str, object]:
        with self.lock:
            return {
                "api_used": self.api_used,
                "api_max": self.api_max,
                "requests": dict(self.counters),
                "records": {k: len(v) for k, v in self.tables.items()},
            }

    def active_users(self) -> list[Record]:
        return [r for r in self.tables["User"].values() if r.get("IsActive")]

    def occurrences(self, series_id: str) -> list[Record]:
        return [
            r
            for r in self._by_index("Event", "RecurrenceActivityId", series_id)
            if not r.get("IsDeleted")
        ]
