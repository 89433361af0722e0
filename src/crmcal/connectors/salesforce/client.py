"""The production Salesforce connector: sync httpx, thread-safe, bulk-first (api-facts B3–B7).

Reads are SOQL with every literal escaped (SPEC L7) and IN lists split at the URL/SOQL length
limits; writes are sObject Collections of 200. The usage gauge comes from ``Sforce-Limit-Info``
on every response (O2). Errors map onto :mod:`crmcal.connectors.salesforce.errors`.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from crmcal.connectors.results import WriteResult
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import soql
from crmcal.connectors.salesforce.auth import AccessToken, AuthMode, OAuthConfig, fetch_token
from crmcal.connectors.salesforce.errors import (
    SalesforceAuthError,
    SalesforceBadResponse,
    SalesforceError,
    SalesforceItemError,
    SalesforceTransientError,
    error_from,
)
from crmcal.connectors.salesforce.feeds import feed_record_from_json
from crmcal.connectors.salesforce.mapping import (
    EVENT_FIELDS,
    GUID_OWNER_SEPARATOR,
    JsonObject,
    JsonValue,
    MappingError,
    Scalar,
    calendar_from_json,
    describe_from_json,
    event_from_json,
    event_to_json,
    guid_of,
    opportunity_from_json,
    parse_datetime,
    ref_from_json,
    relation_from_json,
    relation_to_json,
    user_from_json,
)
from crmcal.connectors.salesforce.versions import check_version, served_versions
from crmcal.connectors.tls import ssl_verify
from crmcal.domain.crm import (
    ApiUsage,
    CrmChanges,
    CrmEvent,
    CrmObjectDescribe,
    CrmOpportunity,
    CrmUser,
    EventRelation,
    PublicCalendar,
    RecordRef,
    RecordType,
    record_type_of,
)
from crmcal.domain.feeds import FeedChanges, FeedRecord
from crmcal.domain.ids import is_valid_id, valid_ids
from crmcal.domain.settings import CalendarObject

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200
COMPOSITE_QUERIES = 5
QUERY_PAGE = 2000
_USAGE_RE = re.compile(r"api-usage=(\d+)/(\d+)")
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
K = TypeVar("K")


_RECORD_HEADS: dict[RecordType, tuple[str, str]] = {
    RecordType.CONTACT: ("Contact", "SELECT Id, Name, Email, AccountId FROM Contact WHERE Id IN "),
    RecordType.LEAD: ("Lead", "SELECT Id, Name, Email FROM Lead WHERE Id IN "),
    RecordType.ACCOUNT: ("Account", "SELECT Id, Name FROM Account WHERE Id IN "),
    RecordType.OPPORTUNITY: (
        "Opportunity",
        "SELECT Id, Name, AccountId FROM Opportunity WHERE Id IN ",
    ),
}


def _by_record_type(ids: Sequence[str]) -> dict[RecordType, list[str]]:
    by_type: dict[RecordType, list[str]] = {}
    for rid in valid_ids(ids, "records by id"):
        t = record_type_of(rid)
        if t in _RECORD_HEADS:
            by_type.setdefault(t, []).append(rid)
    return by_type


class SalesforceClient:
    """One org's REST API. Construct once per org and share between threads."""

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        auth: AuthMode,
        username: str | None = None,
        private_key: str | bytes | None = None,
        client_secret: str | None = None,
        api_version: str = "68.0",
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        audience: str | None = None,
        guid_field: str | None = None,
        extra_event_fields: Sequence[str] = (),
        change_overlap: timedelta = timedelta(minutes=2),
        timeout: float = 60.0,
        verify: bool | str = True,
    ) -> None:
        if not re.fullmatch(r"\d{2,3}\.\d", api_version):
            raise ValueError(f"bad api_version {api_version!r}")
        self._cfg = OAuthConfig(
            login_url=login_url.rstrip("/"),
            client_id=client_id,
            mode=auth,
            username=username,
            private_key=private_key,
            client_secret=client_secret,
            audience=audience,
        )
        self.api_version = api_version
        self._retry = retry or RetryPolicy()
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=timeout, verify=ssl_verify(verify))
        self._timeout = timeout
        self.guid_field = soql.identifier(guid_field) if guid_field else None
        self.extra_event_fields = tuple(soql.identifier(f) for f in extra_event_fields)
        self.change_overlap = change_overlap
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._usage: ApiUsage | None = None
        self.calls: Counter[str] = Counter()
        self._mine = threading.local()  # calls by the current thread (a session's own, I2)
        """HTTP requests made, by endpoint kind (``query``, ``collections:POST``, ...)."""
        self._describes: dict[str, CrmObjectDescribe] = {}
        self._version_checked = False

    # ------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self._cfg.login_url!r}, auth={self._cfg.mode!r})"

    @property
    def usage(self) -> ApiUsage | None:
        """From the last ``Sforce-Limit-Info: api-usage=N/M`` header seen."""
        return self._usage

    @property
    def instance_url(self) -> str:
        return self._ensure_token().instance_url

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def calls_this_thread(self) -> int:
        """Calls the current thread has made through this client (a session runs on one
        thread, so its own count is exact beside other sessions, I2)."""
        return int(getattr(self._mine, "n", 0))

    def _count_mine(self) -> None:
        self._mine.n = getattr(self._mine, "n", 0) + 1

    # ------------------------------------------------------------------------------ HTTP
    def _ensure_token(self, stale: AccessToken | None = None) -> AccessToken:
        with self._lock:
            if self._token is None or (stale is not None and self._token is stale):
                self.calls["oauth2/token"] += 1
                self._count_mine()
                self._token = fetch_token(self._cfg, self._http, timeout=self._timeout)
            return self._token

    def served_versions(self) -> tuple[str, ...] | None:
        """The REST API versions the org serves (``GET /services/data/``, read once per process
        and instance, not counted as an API call), or None when the list could not be read."""
        tok = self._ensure_token()
        return served_versions(self._http, tok.instance_url, timeout=self._timeout)

    def check_version(self) -> None:
        """Raise `UnservedApiVersion` when the org doesn't serve ``api_version`` (issue 17):
        every call would be a 404 NOT_FOUND otherwise."""
        served = self.served_versions()
        if served is not None:
            check_version(self.api_version, served, self.instance_url)

    def _path(self, rest: str) -> str:
        return f"/services/data/v{self.api_version}/{rest}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Mapping[str, str] | None = None,
        json: JsonValue = None,
    ) -> httpx.Response:
        attempt = 0
        refreshed = False
        waited = 0.0
        # Creating records is not idempotent: after a timeout or a 5xx the server may have done
        # it. Such requests are retried only when they surely never arrived (connection refused);
        # otherwise the error surfaces and the journaled intent is reconciled next session (O5).
        idempotent = not (method == "POST" and kind.startswith(("collections", "sobject:")))
        if not self._version_checked:
            self.check_version()  # raises again on every call while the version isn't served
            self._version_checked = True
        while True:
            attempt += 1
            tok = self._ensure_token()
            url = path if path.startswith("http") else tok.instance_url + path
            with self._lock:
                self.calls[kind] += 1
            self._count_mine()
            try:
                resp = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {tok.access_token}"},
                )
            except httpx.TransportError as e:
                delay = self._retry.delay(attempt)
                never_arrived = isinstance(e, httpx.ConnectError | httpx.ConnectTimeout)
                if (
                    (idempotent or never_arrived)
                    and attempt < self._retry.max_attempts
                    and waited + delay <= self._retry.max_total_wait
                ):
                    waited += delay
                    self._retry.sleep(delay)
                    continue
                raise SalesforceTransientError(f"{method} {kind}: {type(e).__name__}") from None
            self._read_usage(resp)
            status = resp.status_code
            if status == 401 and not refreshed:
                refreshed = True
                self._ensure_token(stale=tok)
                attempt -= 1
                continue
            if idempotent and status in _RETRY_STATUSES and status in self._retry.retry_statuses:
                delay = self._retry.delay(attempt)
                if self._retry.should_retry(status, attempt) and (
                    waited + delay <= self._retry.max_total_wait
                ):
                    waited += delay
                    log.info("salesforce %s %s: HTTP %s, retrying", method, kind, status)
                    self._retry.sleep(delay)
                    continue
            if status >= 400 or status == 300:
                raise self._error(resp)
            return resp

    def _read_usage(self, resp: httpx.Response) -> None:
        m = _USAGE_RE.search(resp.headers.get("sforce-limit-info", ""))
        if m:
            self._usage = ApiUsage(int(m.group(1)), int(m.group(2)))

    def _error(self, resp: httpx.Response) -> SalesforceError:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return error_from(resp.status_code, data[0])
        if resp.status_code == 300:
            return error_from(300, {"errorCode": "MULTIPLE_RECORDS", "message": "several matches"})
        return error_from(resp.status_code, {"message": f"HTTP {resp.status_code}"})

    @staticmethod
    def _json(resp: httpx.Response) -> JsonValue:
        try:
            data: JsonValue = resp.json()
        except ValueError:
            raise SalesforceBadResponse("response is not JSON", status=resp.status_code) from None
        return data

    # ----------------------------------------------------------------------------- query
    def query(self, soql_text: str, *, include_deleted: bool = False) -> Iterator[JsonObject]:
        """Rows of a SOQL query, following ``nextRecordsUrl``. Internal building block."""
        kind = "queryAll" if include_deleted else "query"
        resp = self._send("GET", self._path(kind), kind=kind, params={"q": soql_text})
        yield from self._pages(self._json(resp))

    def _pages(self, page: JsonValue) -> Iterator[JsonObject]:
        while True:
            if not isinstance(page, dict) or not isinstance(page.get("records"), list):
                raise SalesforceBadResponse("query response without records")
            for rec in page["records"]:  # type: ignore[union-attr]
                if isinstance(rec, dict):
                    yield rec
            nxt = page.get("nextRecordsUrl")
            if page.get("done") is True or not isinstance(nxt, str):
                return
            if not nxt.startswith("/services/data/"):
                raise SalesforceBadResponse("unexpected nextRecordsUrl")
            page = self._json(self._send("GET", nxt, kind="query_more"))

    def _query_in(
        self,
        head: str,
        values: Sequence[soql.SoqlValue],
        tail: str = "",
        *,
        include_deleted: bool = False,
    ) -> Iterator[JsonObject]:
        """Rows of ``head + IN-list + tail`` for all values, split at the length limits."""
        queries = [
            head + soql.in_list(chunk) + tail for chunk in soql.chunk_values(values, head, tail)
        ]
        for rows in self._run_queries(queries, include_deleted=include_deleted):
            yield from rows

    def _run_queries(
        self, queries: Sequence[str], *, include_deleted: bool = False
    ) -> Iterator[list[JsonObject]]:
        """Each query's rows, in order: a lone query goes as itself, several go in composite
        requests of up to 5 (one API call each)."""
        if len(queries) == 1:
            yield list(self.query(queries[0], include_deleted=include_deleted))
            return
        for i in range(0, len(queries), COMPOSITE_QUERIES):
            yield from self._composite_queries(
                queries[i : i + COMPOSITE_QUERIES], include_deleted=include_deleted
            )

    def _composite_queries(
        self, queries: Sequence[str], *, include_deleted: bool = False
    ) -> list[list[JsonObject]]:
        """Up to 5 queries in one API call (composite), each followed to its last page."""
        resource = self._path("queryAll" if include_deleted else "query")
        body: JsonObject = {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": httpx.URL(resource, params={"q": q}).raw_path.decode(),
                    "referenceId": f"q{i}",
                }
                for i, q in enumerate(queries)
            ],
        }
        data = self._json(self._send("POST", self._path("composite"), kind="composite", json=body))
        items = data.get("compositeResponse") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(queries):
            raise SalesforceBadResponse("composite response has the wrong shape")
        out: list[list[JsonObject]] = []
        for item in items:
            if not isinstance(item, dict):
                raise SalesforceBadResponse("composite item is not an object")
            code = item.get("httpStatusCode")
            sub = item.get("body")
            if not isinstance(code, int) or code >= 400:
                err = sub[0] if isinstance(sub, list) and sub and isinstance(sub[0], dict) else {}
                raise error_from(code if isinstance(code, int) else None, err)
            out.append(list(self._pages(sub)))
        return out

    # ---------------------------------------------------------------------------- events
    def event_fields(self) -> tuple[str, ...]:
        extra = tuple(
            f for f in (self.guid_field, *self.extra_event_fields) if f and f not in EVENT_FIELDS
        )
        return EVENT_FIELDS + extra

    def _event(self, rec: JsonObject) -> CrmEvent:
        return event_from_json(
            rec, guid_field=self.guid_field, extra_fields=self.extra_event_fields
        )

    def _events(
        self, rows: Iterable[JsonObject], rejected: list[tuple[str, str]] | None = None
    ) -> list[CrmEvent]:
        out: list[CrmEvent] = []
        for rec in rows:
            try:
                out.append(self._event(rec))
            except MappingError as e:
                rid = rec.get("Id")
                if rejected is None:
                    raise SalesforceBadResponse(f"unreadable Event {rid}: {e}") from None
                rejected.append((rid if isinstance(rid, str) else "", str(e)))
        return out

    def events_changed_since(self, cursor: datetime | None, owner_ids: Sequence[str]) -> CrmChanges:
        """One org-wide read (queryAll, so deletions show) of Events owned by ``owner_ids``
        whose SystemModstamp is after ``cursor - change_overlap``: one call per 2,000 rows.

        When the owner list is too long for one query, an incremental read drops the owner
        filter and keeps the owners' rows client-side (still one query); a first read
        (``cursor=None``) splits the list and sends the parts in composite requests of 5."""
        owners = valid_ids(owner_ids, "Event owners")
        if not owners:
            return CrmChanges(cursor=cursor)
        select = f"SELECT {', '.join(self.event_fields())} FROM Event WHERE "  # noqa: S608
        since = cursor - self.change_overlap if cursor is not None else None
        stamp = f"SystemModstamp > {soql.literal(since)}" if since is not None else ""
        tail = " ORDER BY SystemModstamp"
        head = select + (stamp + " AND " if stamp else "") + "OwnerId IN "
        events: list[CrmEvent] = []
        deleted: list[str] = []
        rejected: list[tuple[str, str]] = []
        high = cursor
        rows: Iterable[JsonObject]
        if stamp and len(list(soql.chunk_values(owners, head, tail))) > 1:
            # Too many owners for one query: read the org's changes once and keep the owners'.
            keys = {o[:15] for o in owners}
            rows = (
                r
                for r in self.query(select + stamp + tail, include_deleted=True)
                if str(r.get("OwnerId") or "")[:15] in keys
            )
        else:
            rows = self._query_in(head, owners, tail, include_deleted=True)
        for ev in self._events(rows, rejected):
            if since is not None and ev.system_modstamp is not None and ev.system_modstamp <= since:
                continue  # the SOQL literal has whole seconds; drop what the cursor already covers
            if ev.system_modstamp and (high is None or ev.system_modstamp > high):
                high = ev.system_modstamp
            if ev.is_deleted:
                assert ev.id is not None
                deleted.append(ev.id)
            else:
                events.append(ev)
        return CrmChanges(tuple(events), tuple(deleted), high, tuple(rejected))

    def events_by_ids(self, ids: Sequence[str]) -> list[CrmEvent]:
        wanted = valid_ids(ids, "Events by id")
        if not wanted:
            return []
        head = f"SELECT {', '.join(self.event_fields())} FROM Event WHERE Id IN "  # noqa: S608
        return self._events(self._query_in(head, wanted))

    def series_events(
        self,
        classic_ids: Sequence[str],
        lightning: Sequence[tuple[str, datetime]] = (),
        window: tuple[datetime, datetime] | None = None,
    ) -> list[CrmEvent]:
        """Occurrence Events of series (issue 7): the children of Classic series records
        (`RecurrenceActivityId IN ...`, one query) and the Events of Lightning series, which have
        no series id and are found by owner and `Recurrence2PatternStartDate` (one query), both
        limited to starts in `window` when given."""
        fields = ", ".join(self.event_fields())
        rng = ""
        if window is not None:
            rng = (
                f" AND StartDateTime >= {soql.literal(window[0])}"
                f" AND StartDateTime <= {soql.literal(window[1])}"
            )
        out: list[CrmEvent] = []
        wanted = valid_ids(classic_ids, "series ids")
        if wanted:
            head = f"SELECT {fields} FROM Event WHERE IsChild = false{rng} AND "  # noqa: S608
            out += self._events(self._query_in(head + "RecurrenceActivityId IN ", wanted))
        keys = {(o[:15], s.astimezone(UTC).replace(microsecond=0)) for o, s in lightning}
        if keys:
            owners = valid_ids((o for o, _s in lightning), "series owners")
            lo, hi = min(k[1] for k in keys), max(k[1] for k in keys)
            head = (
                f"SELECT {fields} FROM Event WHERE IsRecurrence2 = true AND IsChild = false"  # noqa: S608
                f" AND Recurrence2PatternStartDate >= {soql.literal(lo)}"
                f" AND Recurrence2PatternStartDate <= {soql.literal(hi)}{rng} AND OwnerId IN "
            )
            for ev in self._events(self._query_in(head, owners)):
                lr = ev.lightning_recurrence
                at = lr.start_date if lr is not None else None
                if at is None:
                    continue
                if (ev.owner_id[:15], at.astimezone(UTC).replace(microsecond=0)) in keys:
                    out.append(ev)
        return out

    def events_by_guid(self, guids: Sequence[str], field: str | None = None) -> list[CrmEvent]:
        """Events whose GUID field (D3; default: the configured ``guid_field``) is one of
        ``guids``."""
        fname = soql.identifier(field or self.guid_field or "ClientGuid")
        wanted = sorted(set(guids))
        if not wanted:
            return []
        fields = self.event_fields()
        if fname not in fields:
            fields = (*fields, fname)
        # Stored values are `GUID|owner` (D3 keys written by crmcal) or a bare GUID (other tools).
        terms = [
            f"{fname} = {soql.literal(g)} OR "
            f"{fname} LIKE {soql.like_literal(g + GUID_OWNER_SEPARATOR, suffix='%')}"
            for g in wanted
        ]
        head = f"SELECT {', '.join(fields)} FROM Event WHERE ("  # noqa: S608
        want = set(wanted)
        out: list[CrmEvent] = []
        for chunk in soql.chunk_terms(terms, head, ")", " OR "):
            rows = list(self.query(head + " OR ".join(chunk) + ")"))
            for row, ev in zip(rows, self._events(rows), strict=True):
                raw = row.get(fname)
                if isinstance(raw, str) and guid_of(raw) in want:
                    out.append(ev)
        return out

    def events_matching(
        self, owner_id: str, subject: str, start: datetime, *, window: timedelta | None = None
    ) -> list[CrmEvent]:
        """Events of ``owner_id`` with this subject starting at ``start`` (or within
        ``window`` of it): D2's natural key, to link an existing Event instead of duplicating."""
        cond = [f"OwnerId = {soql.literal(owner_id)}", f"Subject = {soql.literal(subject)}"]
        if window:
            cond.append(f"StartDateTime >= {soql.literal(start - window)}")
            cond.append(f"StartDateTime <= {soql.literal(start + window)}")
        else:
            cond.append(f"StartDateTime = {soql.literal(start)}")
        q = f"SELECT {', '.join(self.event_fields())} FROM Event WHERE {' AND '.join(cond)}"  # noqa: S608
        return self._events(self.query(q))

    def events_by_natural_keys(
        self, owner_ids: Sequence[str], starts: Sequence[datetime]
    ) -> list[CrmEvent]:
        """D2 candidates for many items in one query: Events of these owners starting at any of
        these instants (read as a range, then matched exactly here)."""
        owners = valid_ids(owner_ids, "D2 owners")
        wanted = {s.astimezone(UTC).replace(microsecond=0) for s in starts}
        if not owners or not wanted:
            return []
        lo, hi = min(wanted), max(wanted)
        head = f"SELECT {', '.join(self.event_fields())} FROM Event WHERE "  # noqa: S608
        head += f"StartDateTime >= {soql.literal(lo)} AND StartDateTime <= {soql.literal(hi)}"
        head += " AND OwnerId IN "
        out: list[CrmEvent] = []
        unreadable: list[tuple[str, str]] = []  # skipped: one bad Event must not stop D2 (Y3)
        for ev in self._events(self._query_in(head, owners), unreadable):
            at = ev.start
            if ev.is_all_day and ev.activity_date is not None:  # midnight UTC of its date
                d = ev.activity_date
                at = datetime(d.year, d.month, d.day, tzinfo=UTC)
            if at is not None and at.astimezone(UTC).replace(microsecond=0) in wanted:
                out.append(ev)
        return out

    def records_by_ids(self, ids: Sequence[str]) -> list[RecordRef]:
        """Contacts, Leads, Accounts and Opportunities by id (L4: ids found in appointments);
        one query per object type present, unknown ids skipped."""
        out: list[RecordRef] = []
        for t, wanted in _by_record_type(ids).items():
            sobject, head = _RECORD_HEADS[t]
            for rec in self._query_in(head, wanted):
                try:
                    out.append(ref_from_json(rec, sobject))
                except MappingError:
                    continue
        return out

    def records_and_subjects(
        self, ids: Sequence[str], event_ids: Sequence[str]
    ) -> tuple[list[RecordRef], dict[str, str]]:
        """`records_by_ids(ids)` and the Subject of each Event in `event_ids`, in as few API
        calls as the queries allow: the four record queries and the Event query fit in one
        composite request (the calendar page, issue 19)."""
        queries: list[tuple[str, str]] = []
        for t, wanted in _by_record_type(ids).items():
            sobject, head = _RECORD_HEADS[t]
            queries += [
                (sobject, head + soql.in_list(c)) for c in soql.chunk_values(wanted, head, "")
            ]
        ev_head = "SELECT Id, Subject FROM Event WHERE Id IN "
        evs = valid_ids(event_ids, "events by id")
        if evs:
            queries += [
                ("Event", ev_head + soql.in_list(c)) for c in soql.chunk_values(evs, ev_head, "")
            ]
        out: list[RecordRef] = []
        subjects: dict[str, str] = {}
        rows_of = self._run_queries([q for _, q in queries]) if queries else iter(())
        for (sobject, _), rows in zip(queries, rows_of, strict=True):
            for rec in rows:
                if sobject == "Event":
                    if isinstance(rec.get("Id"), str):
                        subjects[str(rec["Id"])] = str(rec.get("Subject") or "")
                    continue
                try:
                    out.append(ref_from_json(rec, sobject))
                except MappingError:
                    continue
        return out, subjects

    # -------------------------------------------------------------------- linking reads
    def find_people(self, emails: Iterable[str]) -> list[RecordRef]:
        """Contacts and Leads by e-mail, case-insensitively (L2). The Contact and Lead queries
        of each chunk of addresses go in composite requests (up to 5 queries per API call), so
        up to ~1,000 addresses cost one call."""
        wanted = sorted({e.strip().casefold() for e in emails if e and e.strip()})
        if not wanted:
            return []
        c_head = "SELECT Id, Name, Email, AccountId FROM Contact WHERE Email IN "
        l_head = "SELECT Id, Name, Email FROM Lead WHERE IsConverted = false AND Email IN "
        queries: list[tuple[str, str]] = []
        for chunk in soql.chunk_values(wanted, l_head, ""):
            lst = soql.in_list(chunk)
            queries += [("Contact", c_head + lst), ("Lead", l_head + lst)]
        out: list[RecordRef] = []
        seen: set[str] = set()
        for i in range(0, len(queries), COMPOSITE_QUERIES):
            group = queries[i : i + COMPOSITE_QUERIES]
            results = self._composite_queries([q for _, q in group])
            for (sobject, _), rows in zip(group, results, strict=True):
                for rec in rows:
                    try:
                        ref = ref_from_json(rec, sobject)
                    except MappingError:
                        continue
                    if ref.email.casefold() in wanted and ref.id not in seen:
                        seen.add(ref.id)
                        out.append(ref)
        return out

    def accounts_by_domain(self, domains: Iterable[str]) -> dict[str, list[RecordRef]]:
        """Accounts whose Website's host is the domain (or www.domain) (L3)."""
        wanted = sorted({_clean_domain(d) for d in domains if d and _clean_domain(d)})
        result: dict[str, list[RecordRef]] = {d: [] for d in wanted}
        if not wanted:
            return result
        terms = [f"Website LIKE {soql.like_literal(d, prefix='%', suffix='%')}" for d in wanted]
        head = "SELECT Id, Name, Website FROM Account WHERE ("
        tail = ")"
        for chunk in soql.chunk_terms(terms, head, tail, " OR "):
            for rec in self.query(head + " OR ".join(chunk) + tail):
                site = rec.get("Website")
                host = _host_of(site) if isinstance(site, str) else ""
                if host in result:
                    try:
                        result[host].append(ref_from_json(rec, "Account"))
                    except MappingError:
                        continue
        return result

    def account_ids_with_contacts(self, account_ids: Sequence[str]) -> set[str]:
        """K2 `smart`: which of these Accounts have at least one Contact (one query per chunk)."""
        wanted = valid_ids(account_ids, "accounts with contacts")
        if not wanted:
            return set()
        head = "SELECT AccountId FROM Contact WHERE AccountId IN "
        out: set[str] = set()
        for rec in self._query_in(head, wanted):
            aid = rec.get("AccountId")
            if isinstance(aid, str):
                out.add(aid)
        return out

    def find_accounts_by_domains(self, domains: Iterable[str]) -> list[RecordRef]:
        out: list[RecordRef] = []
        for refs in self.accounts_by_domain(domains).values():
            out.extend(refs)
        return out

    def open_opportunities(
        self, account_ids: Sequence[str], *, closed_within_days: int = 365
    ) -> list[CrmOpportunity]:
        """Opportunities of the Accounts that are open or closed recently (for L6), most
        recently modified first."""
        wanted = sorted(set(account_ids))
        if not wanted:
            return []
        head = (
            "SELECT Id, Name, AccountId, OwnerId, StageName, IsClosed, IsWon, CloseDate, "
            "LastModifiedDate FROM Opportunity WHERE AccountId IN "
        )
        tail = (
            f" AND (IsClosed = false OR CloseDate = LAST_N_DAYS:{int(closed_within_days)})"
            " ORDER BY LastModifiedDate DESC"
        )
        out = [opportunity_from_json(r) for r in self._query_in(head, wanted, tail)]
        out.sort(
            key=lambda o: o.last_modified.timestamp() if o.last_modified else 0.0, reverse=True
        )
        return out

    def users(
        self, emails: Iterable[str] = (), ids: Iterable[str] = (), *, active_only: bool = False
    ) -> list[CrmUser]:
        fields = "SELECT Id, Email, Name, Username, IsActive FROM User WHERE "
        tail = " AND IsActive = true" if active_only else ""
        out: dict[str, CrmUser] = {}
        em = sorted({e.strip().casefold() for e in emails if e and e.strip()})
        for rec in self._query_in(fields + "Email IN ", em, tail) if em else ():
            u = user_from_json(rec)
            out[u.id] = u
        id_list = valid_ids(ids, "users by id")
        for rec in self._query_in(fields + "Id IN ", id_list, tail) if id_list else ():
            u = user_from_json(rec)
            out[u.id] = u
        return list(out.values())

    def public_calendars(self) -> list[PublicCalendar]:
        q = (
            "SELECT Id, Name, Type, IsActive FROM Calendar "
            "WHERE Type IN ('Public','Resource') AND IsActive = true ORDER BY Name"
        )
        return [calendar_from_json(r) for r in self.query(q)]

    def calendar_events(
        self, calendar_id: str, since: datetime | None, start: datetime, end: datetime
    ) -> FeedChanges:
        """G1: a public calendar's Events. Incremental after ``since`` (queryAll, so deletions
        show), else a full read of the window. One call per 2,000 rows."""
        if not is_valid_id(calendar_id):
            # One bad calendar id must not fail the org's read (the caller reports the feed).
            raise SalesforceItemError(
                f"public calendar: not a Salesforce id: {calendar_id!r}", code="MALFORMED_ID"
            )
        cols = ", ".join(self.event_fields())
        owner = f"OwnerId = {soql.literal(calendar_id)}"
        if since is not None:
            stamp = soql.literal(since - self.change_overlap)
            where = f"{owner} AND SystemModstamp > {stamp}"
        else:
            where = (
                f"{owner} AND EndDateTime >= {soql.literal(start)} "
                f"AND StartDateTime <= {soql.literal(end)}"
            )
        q = f"SELECT {cols} FROM Event WHERE {where} ORDER BY SystemModstamp"  # noqa: S608
        rejected: list[tuple[str, str]] = []
        rows = self._events(self.query(q, include_deleted=since is not None), rejected)
        return _feed_changes(
            [
                FeedRecord(
                    id=e.id or "",
                    owner_id=e.owner_id,
                    is_deleted=e.is_deleted,
                    system_modstamp=e.system_modstamp,
                )
                for e in rows
            ],
            since,
            rejected,
            events=tuple(e for e in rows if not e.is_deleted),
        )

    def object_records(
        self, obj: CalendarObject, fields: Sequence[str], since: datetime | None,
        start: datetime, end: datetime,
    ) -> FeedChanges:  # fmt: skip
        """G4: records of a configured object with the fields its items need. Incremental after
        ``since`` (queryAll), else a full read of the window."""
        names = ["Id", "OwnerId", "SystemModstamp", "IsDeleted"]
        names += [soql.identifier(f) for f in fields if f.lower() not in {n.lower() for n in names}]
        table = soql.identifier(obj.object)
        if since is not None:
            where = f"SystemModstamp > {soql.literal(since - self.change_overlap)}"
        elif obj.date_field is not None:
            f = soql.identifier(obj.date_field)
            where = f"{f} >= {soql.literal(start.date())} AND {f} <= {soql.literal(end.date())}"
        else:
            assert obj.start_field is not None
            assert obj.end_field is not None
            where = (
                f"{soql.identifier(obj.end_field)} >= {soql.literal(start)} AND "
                f"{soql.identifier(obj.start_field)} <= {soql.literal(end)}"
            )
        q = f"SELECT {', '.join(names)} FROM {table} WHERE {where} ORDER BY SystemModstamp"  # noqa: S608
        out: list[FeedRecord] = []
        rejected: list[tuple[str, str]] = []
        for rec in self.query(q, include_deleted=since is not None):
            try:
                out.append(feed_record_from_json(rec, obj))
            except MappingError as e:
                rid = rec.get("Id")
                rejected.append((rid if isinstance(rid, str) else "", str(e)))
        return _feed_changes(out, since, rejected)

    def invitee_changes_since(self, since: datetime) -> tuple[list[EventRelation], datetime]:
        """P5 `invitation_mode`: invitee relations created, changed or deleted in the org after
        ``since`` (queryAll; one call per 2,000 rows), and the new high-water mark."""
        q = (
            "SELECT Id, EventId, RelationId, IsInvitee, IsParent, IsWhat, Status, Response, "  # noqa: S608
            "IsDeleted, SystemModstamp FROM EventRelation WHERE IsInvitee = true AND "
            f"SystemModstamp > {soql.literal(since - self.change_overlap)} ORDER BY SystemModstamp"
        )
        high = since
        out: list[EventRelation] = []
        for rec in self.query(q, include_deleted=True):
            stamp = parse_datetime(rec.get("SystemModstamp"))
            if stamp is not None and stamp > high:
                high = stamp
            out.append(relation_from_json(rec))
        return out, high

    def relations_for(self, event_ids: Sequence[str]) -> list[EventRelation]:
        """EventRelation rows (invitees, and Who/What relations with Shared Activities)."""
        wanted = valid_ids(event_ids, "relations")
        if not wanted:
            return []
        head = (
            "SELECT Id, EventId, RelationId, IsInvitee, IsParent, IsWhat, Status, Response "
            "FROM EventRelation WHERE EventId IN "
        )
        return [relation_from_json(r) for r in self._query_in(head, wanted)]

    # ---------------------------------------------------------------------------- writes
    def _collection(
        self,
        method: str,
        keys: Sequence[K],
        records: Sequence[JsonObject],
        *,
        path: str = "composite/sobjects",
    ) -> list[WriteResult[K]]:
        results: list[WriteResult[K]] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = list(records[start : start + COLLECTION_SIZE])
            ckeys = keys[start : start + COLLECTION_SIZE]
            body: JsonObject = {"allOrNone": False, "records": list(chunk)}
            results.extend(
                self._collection_call(
                    ckeys,
                    lambda b=body: self._send(  # type: ignore[misc]
                        method, self._path(path), kind=f"collections:{method}", json=b
                    ),
                )
            )
        return results

    def _collection_call(
        self, keys: Sequence[K], call: Callable[[], httpx.Response]
    ) -> list[WriteResult[K]]:
        try:
            resp = call()
        except SalesforceItemError as e:
            # The whole request was refused (e.g. malformed): every item fails with that reason.
            return [WriteResult(k, False, error=e) for k in keys]
        try:
            data = self._json(resp)
        except SalesforceBadResponse as e:
            return [WriteResult(k, False, error=e) for k in keys]
        if not isinstance(data, list):
            bad = SalesforceBadResponse("collection result is not a list")
            return [WriteResult(k, False, error=bad) for k in keys]
        # Y3: an answer that doesn't fit the request is a per-item error (the write may or may not
        # have happened: callers treat BadResponse as "unknown", O5 reconciles it).
        out: list[WriteResult[K]] = []
        for i, key in enumerate(keys):
            item = data[i] if i < len(data) else None
            if not isinstance(item, dict) or len(data) != len(keys):
                bad = SalesforceBadResponse("collection result does not match the request")
                rid_any = item.get("id") if isinstance(item, dict) else None
                out.append(
                    WriteResult(
                        key, False, rid_any if isinstance(rid_any, str) else None, error=bad
                    )
                )
                continue
            rid = item.get("id")
            rid_s = rid if isinstance(rid, str) else None
            created = item.get("created") is True
            if item.get("success") is True:
                out.append(WriteResult(key, True, rid_s, created=created))
                continue
            errs = item.get("errors")
            first = errs[0] if isinstance(errs, list) and errs and isinstance(errs[0], dict) else {}
            out.append(WriteResult(key, False, rid_s, error=error_from(None, first)))
        return out

    def create_events(self, events: Sequence[CrmEvent]) -> list[WriteResult[int]]:
        """Insert in collections of 200; results keyed by position, in order."""
        recs: list[JsonObject] = [
            {"attributes": {"type": "Event"}, **event_to_json(e, guid_field=self.guid_field)}
            for e in events
        ]
        return self._collection("POST", list(range(len(events))), recs)

    def update_events(self, events: Sequence[CrmEvent]) -> list[WriteResult[str]]:
        """Update (results keyed by Event id). Every event needs its id."""
        recs: list[JsonObject] = []
        keys: list[str] = []
        for e in events:
            if not e.id:
                raise ValueError("update_events needs ids")
            fields = event_to_json(e, guid_field=self.guid_field, for_update=True)
            recs.append({"attributes": {"type": "Event"}, "Id": e.id, **fields})
            keys.append(e.id)
        return self._collection("PATCH", keys, recs)

    def upsert_events(
        self, events: Sequence[CrmEvent], ext_field: str | None = None
    ) -> list[WriteResult[int]]:
        """Create-or-update by an External ID field carrying the GUID (D3); ``created`` says
        which. Results keyed by position."""
        fname = soql.identifier(ext_field or self.guid_field or "")
        recs: list[JsonObject] = []
        for e in events:
            if not e.guid:
                raise ValueError("upsert_events needs a guid on every event")
            fields = event_to_json(e, guid_field=fname, for_update=False)
            recs.append({"attributes": {"type": "Event"}, **fields})
        return self._collection(
            "PATCH", list(range(len(events))), recs, path=f"composite/sobjects/Event/{fname}"
        )

    def delete_records(self, ids: Sequence[str]) -> list[WriteResult[str]]:
        """Delete any records by id, 200 per call; results keyed by id, in order."""
        bad = {i for i in ids if not is_valid_id(i)}
        valid = [i for i in ids if i not in bad]
        done: dict[str, WriteResult[str]] = {
            i: WriteResult(i, False, error=SalesforceItemError("malformed id", code="MALFORMED_ID"))
            for i in bad
        }
        for start in range(0, len(valid), COLLECTION_SIZE):
            chunk = valid[start : start + COLLECTION_SIZE]
            params = {"ids": ",".join(chunk), "allOrNone": "false"}
            for r in self._collection_call(
                chunk,
                lambda p=params: self._send(  # type: ignore[misc]
                    "DELETE",
                    self._path("composite/sobjects"),
                    kind="collections:DELETE",
                    params=p,
                ),
            ):
                done[r.key] = r
        return [done[i] for i in ids]

    def delete_events(self, ids: Sequence[str]) -> list[WriteResult[str]]:
        return self.delete_records(ids)

    def create_relations(self, relations: Sequence[EventRelation]) -> list[WriteResult[int]]:
        recs: list[JsonObject] = [
            {"attributes": {"type": "EventRelation"}, **relation_to_json(r)} for r in relations
        ]
        return self._collection("POST", list(range(len(relations))), recs)

    def delete_relations(self, ids: Sequence[str]) -> list[WriteResult[str]]:
        return self.delete_records(ids)

    def create_records(
        self, sobject: str, records: Sequence[Mapping[str, Scalar]]
    ) -> list[WriteResult[int]]:
        """Insert Contacts, Leads, Accounts, Opportunities, Attachments (base64 ``Body``)..."""
        name = soql.identifier(sobject)
        recs: list[JsonObject] = [{"attributes": {"type": name}, **dict(r)} for r in records]
        return self._collection("POST", list(range(len(records))), recs)

    def attachments_of(self, parent_ids: Sequence[str]) -> list[tuple[str, str, str, int]]:
        """T1: (ParentId, Id, Name, BodyLength) of the Attachments under these records."""
        wanted = valid_ids(parent_ids, "attachments")
        if not wanted:
            return []
        head = "SELECT Id, ParentId, Name, BodyLength FROM Attachment WHERE ParentId IN "
        out: list[tuple[str, str, str, int]] = []
        for rec in self._query_in(head, wanted):
            pid, rid, name, size = (rec.get(k) for k in ("ParentId", "Id", "Name", "BodyLength"))
            if isinstance(pid, str) and isinstance(rid, str):
                out.append((pid, rid, str(name or ""), int(size) if isinstance(size, int) else -1))
        return out

    def create_attachment(
        self,
        parent_id: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        description: str = "",
    ) -> str:
        """T1: one `Attachment` (base64 Body in a JSON body, up to 37.5 MB of base64, api-facts
        B8) under a parent record; returns its Id. One request per file: a collection of large
        bodies would only add risk to a request whose cost is the upload anyway."""
        rec: JsonObject = {
            "ParentId": parent_id,
            "Name": name[:255],
            "Body": base64.b64encode(data).decode("ascii"),
            "ContentType": content_type[:120],
        }
        if description:
            rec["Description"] = description[:500]
        resp = self._send("POST", self._path("sobjects/Attachment"), kind="sobject:POST", json=rec)
        data_json = self._json(resp)
        rid = data_json.get("id") if isinstance(data_json, dict) else None
        if not isinstance(rid, str):
            raise SalesforceBadResponse("Attachment create answer has no id")
        return rid

    def update_records(
        self, sobject: str, records: Sequence[Mapping[str, Scalar]]
    ) -> list[WriteResult[str]]:
        name = soql.identifier(sobject)
        keys: list[str] = []
        for r in records:
            rid = r.get("Id")
            if not isinstance(rid, str):
                raise ValueError("update_records needs Id on every record")
            keys.append(rid)
        recs: list[JsonObject] = [{"attributes": {"type": name}, **dict(r)} for r in records]
        return self._collection("PATCH", keys, recs)

    # ------------------------------------------------------------------- describe, limits
    def describe(self, sobject: str) -> CrmObjectDescribe:
        name = soql.identifier(sobject)
        cached = self._describes.get(name)
        if cached is not None:
            return cached
        data = self._json(
            self._send("GET", self._path(f"sobjects/{name}/describe"), kind="describe")
        )
        if not isinstance(data, dict):
            raise SalesforceBadResponse("describe is not an object")
        try:
            d = describe_from_json(data)
        except MappingError as e:
            raise SalesforceBadResponse(str(e)) from None
        self._describes[name] = d
        return d

    def limits(self) -> ApiUsage:
        data = self._json(self._send("GET", self._path("limits"), kind="limits"))
        daily = data.get("DailyApiRequests") if isinstance(data, dict) else None
        if not isinstance(daily, dict):
            raise SalesforceBadResponse("limits without DailyApiRequests")
        mx, rem = daily.get("Max"), daily.get("Remaining")
        if not isinstance(mx, int) or not isinstance(rem, int):
            raise SalesforceBadResponse("limits with non-numeric DailyApiRequests")
        return ApiUsage(mx - rem, mx)

    def updated_ids(
        self, sobject: str, start: datetime, end: datetime
    ) -> tuple[list[str], datetime]:
        """getUpdated: ids changed in [start, end) and ``latestDateCovered``."""
        data = self._replication(sobject, "updated", start, end)
        ids = data.get("ids")
        latest = parse_datetime(data.get("latestDateCovered"))
        if not isinstance(ids, list) or latest is None:
            raise SalesforceBadResponse("getUpdated response has the wrong shape")
        return [str(i) for i in ids], latest

    def deleted_ids(
        self, sobject: str, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, datetime]], datetime, datetime]:
        """getDeleted: (id, deletedDate) pairs, ``earliestDateAvailable``, ``latestDateCovered``."""
        data = self._replication(sobject, "deleted", start, end)
        recs = data.get("deletedRecords")
        earliest = parse_datetime(data.get("earliestDateAvailable"))
        latest = parse_datetime(data.get("latestDateCovered"))
        if not isinstance(recs, list) or earliest is None or latest is None:
            raise SalesforceBadResponse("getDeleted response has the wrong shape")
        out: list[tuple[str, datetime]] = []
        for r in recs:
            if isinstance(r, dict) and isinstance(r.get("id"), str):
                when = parse_datetime(r.get("deletedDate"))
                if when is not None:
                    out.append((str(r["id"]), when))
        return out, earliest, latest

    def _replication(self, sobject: str, kind: str, start: datetime, end: datetime) -> JsonObject:
        name = soql.identifier(sobject)
        params = {"start": start.isoformat(), "end": end.isoformat()}
        data = self._json(
            self._send("GET", self._path(f"sobjects/{name}/{kind}/"), kind=kind, params=params)
        )
        if not isinstance(data, dict):
            raise SalesforceBadResponse(f"get{kind} response is not an object")
        return data


def _feed_changes(
    records: Sequence[FeedRecord],
    since: datetime | None,
    rejected: Sequence[tuple[str, str]],
    *,
    events: tuple[CrmEvent, ...] = (),
) -> FeedChanges:
    """A feed read as `FeedChanges`: deletions apart, the highest SystemModstamp as cursor."""
    high = since
    for r in records:
        if r.system_modstamp is not None and (high is None or r.system_modstamp > high):
            high = r.system_modstamp
    return FeedChanges(
        records=tuple(r for r in records if not r.is_deleted),
        deleted_ids=tuple(r.id for r in records if r.is_deleted),
        cursor=high,
        full=since is None,
        rejected=tuple(rejected),
        events=events,
    )


def _clean_domain(domain: str) -> str:
    d = domain.strip().lower().lstrip("@").rstrip(".")
    return d[4:] if d.startswith("www.") else d


def _host_of(website: str) -> str:
    site = website.strip()
    if "://" not in site:
        site = "http://" + site
    try:
        host = urlsplit(site).hostname or ""
    except ValueError:
        return ""
    return _clean_domain(host)


__all__ = ["COLLECTION_SIZE", "QUERY_PAGE", "SalesforceAuthError", "SalesforceClient"]
