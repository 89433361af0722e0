"""`GraphClient`: the production Microsoft Graph connector (sync httpx, thread-safe).

Everything goes to `graph_url` (graph.microsoft.com in production, 127.0.0.1 in the sandbox);
nothing here knows which one it talks to. Retries follow the injected `RetryPolicy` and honour
`Retry-After`; at most `max_concurrency_per_mailbox` requests per mailbox are in flight (A10).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from crmcal.connectors.graph.auth import StaticTokenProvider, TokenProvider, default_token_provider
from crmcal.connectors.graph.batch import (
    MAX_BATCH,
    BatchRequest,
    BatchResponse,
    chunks,
    parse_batch_response,
)
from crmcal.connectors.graph.errors import (
    GraphBadResponse,
    GraphError,
    GraphItemError,
    GraphServiceError,
    SyncStateNotFound,
    error_from_text,
)
from crmcal.connectors.graph.mapping import (
    SALESFORCE_PROPERTY_EXPAND,
    SALESFORCE_PROPERTY_ID,
    MappingError,
    draft_to_graph,
    item_from_graph,
    patch_to_graph,
    salesforce_property,
)
from crmcal.connectors.results import WriteResult
from crmcal.connectors.retry import RetryPolicy, parse_retry_after
from crmcal.connectors.tls import ssl_verify
from crmcal.domain.calendar import (
    CalendarChanges,
    Item,
    ItemDraft,
    ItemError,
    ItemPatch,
    ItemRemoved,
    ItemType,
)

K = TypeVar("K")
SMALL_ATTACHMENT = 3 * 1024 * 1024
UPLOAD_CHUNK = 3 * 1024 * 1024 + 320 * 1024  # a multiple of 320 KiB under 4 MB


@dataclass(frozen=True)
class Subscription:
    """A change-notification subscription as Graph confirmed it (A11)."""

    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    expiration: datetime
    client_state: str | None


@dataclass(frozen=True)
class AttachmentInfo:
    id: str
    name: str
    content_type: str
    size: int
    is_inline: bool
    kind: str = "file"
    """`file`, `item` (an attached message or event) or `reference` (a cloud link) (T2)."""


_ATTACHMENT_KINDS = {
    "#microsoft.graph.fileAttachment": "file",
    "#microsoft.graph.itemAttachment": "item",
    "#microsoft.graph.referenceAttachment": "reference",
}


class CallCounter:
    """HTTP requests made, per endpoint kind (thread-safe), and by the calling thread (a session
    runs on one thread, so its own calls are exact even when sessions run side by side, I2)."""

    def __init__(self) -> None:
        self._c: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._mine = threading.local()

    def add(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._c[kind] += n
        self._mine.n = getattr(self._mine, "n", 0) + n

    @property
    def this_thread(self) -> int:
        """Requests the current thread has made through this counter."""
        return int(getattr(self._mine, "n", 0))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._c)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._c.values())

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._c[kind]

    def reset(self) -> None:
        with self._lock:
            self._c.clear()


def _utc_query(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphClient:
    """The calendar side of crmcal over Microsoft Graph v1.0."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_url: str = "https://login.microsoftonline.com",
        graph_url: str = "https://graph.microsoft.com/v1.0",
        retry: RetryPolicy | None = None,
        max_concurrency_per_mailbox: int = 4,
        page_size: int = 100,
        http: httpx.Client | None = None,
        token_provider: TokenProvider | str | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        prefer_timezone: str | None = None,
        batch_mode: str = "sequential",
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.prefer_timezone = prefer_timezone
        if batch_mode not in ("sequential", "parallel"):
            raise ValueError("batch_mode is 'sequential' or 'parallel'")
        self.batch_mode = batch_mode
        """How `$batch` calls run inside Graph: chained by `dependsOn` (one in flight, no
        concurrency 429s) or in parallel (inner 429s past 4 per mailbox, retried; E3)."""
        """Sent as `Prefer: outlook.timezone` on reads when set; Graph then answers in that
        zone (else UTC). Either way all-day dates come out right (E2, `parse_all_day`)."""
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self.max_concurrency_per_mailbox = max_concurrency_per_mailbox
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout, verify=ssl_verify(verify))
        if isinstance(token_provider, str):
            self._tokens: TokenProvider = StaticTokenProvider(token_provider)
        elif token_provider is not None:
            self._tokens = token_provider
        else:
            self._tokens = default_token_provider(
                tenant_id=tenant_id,
                client_id=client_id,
                client_secret=client_secret,
                authority_url=authority_url,
                verify=verify,
            )
        self._sems: dict[str, threading.BoundedSemaphore] = {}
        self._sems_lock = threading.Lock()
        self.calls = CallCounter()
        """HTTP requests made to Graph, per endpoint kind (token requests excluded)."""

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close connections this client opened (its httpx client and msal's session)."""
        closer = getattr(self._tokens, "close", None)
        if callable(closer):
            closer()
        if self._own_http:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphClient(graph_url={self.graph_url!r})"

    # -- transport --------------------------------------------------------------------------------

    @contextmanager
    def _slot(self, mailbox: str | None) -> Iterator[None]:
        if not mailbox:
            yield
            return
        key = mailbox.strip().lower()
        with self._sems_lock:
            sem = self._sems.get(key)
            if sem is None:
                sem = threading.BoundedSemaphore(self.max_concurrency_per_mailbox)
                self._sems[key] = sem
        with sem:
            yield

    def _prefer(self, *, paged: bool) -> str:
        parts = [f"odata.maxpagesize={self.page_size}"] if paged else []
        if self.prefer_timezone:
            parts.append(f'outlook.timezone="{self.prefer_timezone}"')
        return ", ".join(parts)

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.graph_url + path

    @staticmethod
    def _user(mailbox: str) -> str:
        return "/users/" + quote(mailbox.strip(), safe="@")

    def _send(
        self,
        method: str,
        url: str,
        *,
        mailbox: str | None,
        kind: str,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        authenticate: bool = True,
    ) -> httpx.Response:
        """One logical request with retries (429/5xx with Retry-After, one token renewal on 401)."""
        policy = self.retry
        attempt = 0
        waited = 0.0
        renewed = False
        while True:
            attempt += 1
            h: dict[str, str] = {"Accept": "application/json", **(headers or {})}
            if authenticate:
                h["Authorization"] = "Bearer " + self._tokens.token()
            response: httpx.Response | None = None
            failure: httpx.HTTPError | None = None
            with self._slot(mailbox):
                self.calls.add(kind)
                try:
                    response = self._http.request(
                        method, self._url(url), json=json, headers=h, params=params, content=content
                    )
                except httpx.HTTPError as e:
                    failure = e
            if response is None:
                if attempt < policy.max_attempts:
                    d = policy.delay(attempt)
                    if waited + d <= policy.max_total_wait:
                        policy.sleep(d)
                        waited += d
                        continue
                raise GraphServiceError(f"{method} {kind}: {type(failure).__name__}") from failure
            if response.status_code == 401 and authenticate and not renewed:
                renewed = True
                self._tokens.invalidate()
                continue
            if policy.should_retry(response.status_code, attempt):
                d = policy.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
                if waited + d <= policy.max_total_wait:
                    policy.sleep(d)
                    waited += d
                    continue
            return response

    def _call(
        self, method: str, url: str, *, mailbox: str | None, kind: str, **kw: Any
    ) -> httpx.Response:
        r = self._send(method, url, mailbox=mailbox, kind=kind, **kw)
        if r.is_success:
            return r
        raise error_from_text(
            r.status_code,
            r.text,
            retry_after=parse_retry_after(r.headers.get("Retry-After")),
            context=f"{method} {kind}",
        )

    @staticmethod
    def _json(r: httpx.Response) -> dict[str, Any]:
        try:
            body = r.json()
        except ValueError as e:
            raise GraphBadResponse(f"answer is not JSON (HTTP {r.status_code})") from e
        if not isinstance(body, dict):
            raise GraphBadResponse("answer is not a JSON object")
        return body

    def _pages(
        self, url: str, *, mailbox: str, kind: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        headers = {"Prefer": self._prefer(paged=True)}
        next_url: str | None = url
        first = True
        while next_url:
            r = self._call(
                "GET",
                next_url,
                mailbox=mailbox,
                kind=kind,
                headers=headers,
                params=params if first else None,
            )
            first = False
            body = self._json(r)
            value = body.get("value")
            if not isinstance(value, list):
                raise GraphBadResponse(f"{kind}: page without a value array")
            yield from (v for v in value if isinstance(v, dict))
            link = body.get("@odata.nextLink")
            next_url = link if isinstance(link, str) and link else None

    # -- batch ------------------------------------------------------------------------------------

    def batch(
        self, mailbox: str, requests: Sequence[BatchRequest], *, kind: str = "$batch"
    ) -> dict[str, BatchResponse]:
        """Run requests through `$batch` (20 per call); inner 429/5xx are resent after their own
        `Retry-After` until the retry policy gives up. Returns the last response for every id.

        Graph runs a batch's inner requests together unless `dependsOn` chains them, and counts
        them against the mailbox's 4 concurrent requests, so a parallel batch of 20 to one
        mailbox lands about 4 and throttles the rest with inner 429s (E3,
        microsoft-graph-docs#2886). So by default (`batch_mode="sequential"`) each call's
        requests are chained, the documented "fully sequential" form: one in flight at a time,
        20 per HTTP call. A chained request after a failed one gets 424 without running; it is
        resent, rechained, at once. A round in which some requests landed does not use up an
        attempt, so the batch drains however the mailbox throttles, bounded by `len(requests)`
        such rounds plus the policy's attempts and `max_total_wait`. Only requests answered
        429/5xx/424 are resent (none of them ran; 5xx as before), so each write lands once."""
        policy = self.retry
        results: dict[str, BatchResponse] = {}
        pending = list(requests)
        attempt = 0
        waited = 0.0
        rounds = 0
        while pending and rounds <= len(requests) + policy.max_attempts:
            rounds += 1
            attempt += 1
            for chunk in chunks(pending, MAX_BATCH):
                r = self._call(
                    "POST",
                    "/$batch",
                    mailbox=mailbox,
                    kind=kind,
                    json={"requests": self._batch_json(chunk)},
                )
                results.update(parse_batch_response(self._json(r), chunk))
            throttled = [q for q in pending if policy.should_retry(results[q.id].status, attempt)]
            skipped = [q for q in pending if results[q.id].status == 424 and not q.depends_on]
            retry = [q for q in pending if q in throttled or q in skipped]
            if not retry:
                break
            if len(retry) < len(pending):  # progress: not a failed attempt
                attempt -= 1
            if throttled:
                waits = [results[q.id].retry_after for q in throttled]
                known = [w for w in waits if w is not None]
                d = policy.delay(max(attempt, 1), max(known) if known else None)
                if waited + d > policy.max_total_wait:
                    break
                policy.sleep(d)
                waited += d
            pending = retry
        return results

    def _batch_json(self, chunk: Sequence[BatchRequest]) -> list[dict[str, Any]]:
        """The inner requests, chained by `dependsOn` in sequential mode (callers' own
        `depends_on` chains are kept as they are)."""
        out = [q.to_json() for q in chunk]
        if self.batch_mode == "sequential" and not any(q.depends_on for q in chunk):
            for prev, cur in itertools.pairwise(out):
                cur["dependsOn"] = [prev["id"]]
        return out

    def _write(
        self,
        mailbox: str,
        keyed: Sequence[tuple[K, BatchRequest | GraphError]],
        *,
        created: bool = False,
    ) -> list[WriteResult[K]]:
        reqs = [r for _, r in keyed if isinstance(r, BatchRequest)]
        answers = self.batch(mailbox, reqs) if reqs else {}
        out: list[WriteResult[K]] = []
        for key, r in keyed:
            if isinstance(r, GraphError):
                out.append(WriteResult(key=key, ok=False, error=r))
                continue
            a = answers[r.id]
            if a.ok:
                new_id = a.body.get("id") if isinstance(a.body, dict) else None
                out.append(
                    WriteResult(
                        key=key,
                        ok=True,
                        id=str(new_id) if new_id else (None if created else str(key)),
                        created=created,
                    )
                )
            else:
                out.append(WriteResult(key=key, ok=False, error=a.error(f"{r.method} {r.url}")))
        return out

    # -- reading ----------------------------------------------------------------------------------

    def delta(
        self,
        mailbox: str,
        window_start: datetime,
        window_end: datetime,
        cursor: str | None,
    ) -> CalendarChanges:
        """One calendarView delta round (A4): follow nextLinks to the deltaLink.

        With a cursor, the window is the one the cursor was made for. On 410 SyncStateNotFound the
        round starts over from the window and `full_resync` is set. Within a round the last word on
        an id wins (an item then a tombstone means removed; a tombstone can also mean "left the
        window" or a change outside it, so the engine treats removals of unknown ids as noise).
        Malformed items become `errors` (Y3) and the round goes on.
        """
        start_url = (
            f"{self._user(mailbox)}/calendarView/delta?startDateTime={_utc_query(window_start)}"
            f"&endDateTime={_utc_query(window_end)}"
        )
        url = cursor or start_url
        full_resync = False
        restarts = 0
        headers = {"Prefer": self._prefer(paged=True)}
        items: dict[str, Item] = {}
        removed: dict[str, ItemRemoved] = {}
        errors: dict[str, ItemError] = {}
        sparse: set[str] = set()
        while True:
            try:
                r = self._call("GET", url, mailbox=mailbox, kind="delta", headers=headers)
            except SyncStateNotFound:
                restarts += 1
                if restarts > 2:
                    raise
                full_resync = full_resync or cursor is not None
                items.clear()
                removed.clear()
                errors.clear()
                sparse.clear()
                url = start_url
                continue
            body = self._json(r)
            value = body.get("value")
            if not isinstance(value, list):
                raise GraphBadResponse("delta page without a value array")
            for obj in value:
                self._delta_entry(mailbox, obj, items, removed, errors)
                if isinstance(obj, dict) and "subject" not in obj and "@removed" not in obj:
                    sparse.add(str(obj.get("id")))  # E1: a sparse occurrence or exception row
            next_link = body.get("@odata.nextLink")
            if isinstance(next_link, str) and next_link:
                url = next_link
                continue
            delta_link = body.get("@odata.deltaLink")
            if isinstance(delta_link, str) and delta_link:
                self._hydrate_exceptions(mailbox, items, errors, sparse)
                return CalendarChanges(
                    mailbox=mailbox,
                    items=tuple(items.values()),
                    removed=tuple(removed.values()),
                    cursor=delta_link,
                    full_resync=full_resync,
                    errors=tuple(errors.values()),
                )
            raise GraphBadResponse("delta page has neither @odata.nextLink nor @odata.deltaLink")

    def _hydrate_exceptions(
        self,
        mailbox: str,
        items: dict[str, Item],
        errors: dict[str, ItemError],
        sparse: set[str],
    ) -> None:
        """Delta sends exceptions sparse (E1): only id, type, seriesMasterId, start and end. An
        exception's own subject, categories and body matter (R2: an occurrence given the
        category is an exception; R5), so they are read by id in `$batch` (20 per call, one
        call for most rounds). Sparse occurrences are left as they are: an occurrence has
        nothing of its own beyond its times, the series engine reads its master."""
        ids = [i.id for i in items.values() if i.type is ItemType.EXCEPTION and i.id in sparse]
        if not ids:
            return
        got, bad = self.fetch_items(mailbox, ids, kind="$batch/exceptions")
        full = {i.id: i for i in got}
        for item_id in ids:
            if item_id in full:
                items[item_id] = full[item_id]
            else:  # gone since the round (the next one tombstones it) or unreadable
                items.pop(item_id, None)
        for e in bad:
            errors[e.item_id] = e

    @staticmethod
    def _delta_entry(
        mailbox: str,
        obj: object,
        items: dict[str, Item],
        removed: dict[str, ItemRemoved],
        errors: dict[str, ItemError],
    ) -> None:
        if not isinstance(obj, dict):
            errors[f"#{len(errors)}"] = ItemError(mailbox, "", "delta entry is not an object")
            return
        if "@removed" in obj:
            rid = obj.get("id")
            if isinstance(rid, str) and rid:
                info = obj.get("@removed")
                reason = info.get("reason") if isinstance(info, dict) else None
                items.pop(rid, None)
                errors.pop(rid, None)
                removed[rid] = ItemRemoved(rid, mailbox, str(reason or "deleted"))
            return
        try:
            item = item_from_graph(mailbox, obj)
        except MappingError as e:
            key = e.item_id or f"#{len(errors)}"
            errors[key] = ItemError(mailbox, e.item_id, e.reason)
            items.pop(e.item_id, None)
            return
        removed.pop(item.id, None)
        errors.pop(item.id, None)
        items[item.id] = item

    def calendar_view(self, mailbox: str, start: datetime, end: datetime) -> list[Item]:
        """All singles, occurrences and exceptions in a window (no delta state)."""
        url = (
            f"{self._user(mailbox)}/calendarView?startDateTime={_utc_query(start)}"
            f"&endDateTime={_utc_query(end)}"
        )
        return [
            item_from_graph(mailbox, o)
            for o in self._pages(url, mailbox=mailbox, kind="calendarView")
        ]

    def group_calendar_view(
        self, group: str, start: datetime, end: datetime
    ) -> tuple[list[Item], list[ItemError]]:
        """G2: a Microsoft 365 group's calendar in a window (`/groups/{id}/calendarView`; needs a
        delegated token: app-only tokens get 403, api-facts A12). Items carry the group's id or
        address as their mailbox; malformed ones come back as errors."""
        url = (
            f"/groups/{quote(group.strip(), safe='@')}/calendarView?"
            f"startDateTime={_utc_query(start)}&endDateTime={_utc_query(end)}"
        )
        items: list[Item] = []
        errors: list[ItemError] = []
        for o in self._pages(url, mailbox=group, kind="groups/calendarView"):
            try:
                items.append(item_from_graph(group, o))
            except MappingError as e:
                errors.append(ItemError(group, str(o.get("id", "")), e.reason))
        return items, errors

    def group_event_exists(self, group: str, item_id: str) -> bool:
        """G2: whether a group event still exists (404: deleted); delegated token."""
        r = self._send(
            "GET",
            f"/groups/{quote(group.strip(), safe='@')}/events/{quote(item_id, safe='')}?$select=id",
            mailbox=group,
            kind="groups/events",
        )
        if r.status_code == 404:
            return False
        if r.is_success:
            return True
        raise error_from_text(r.status_code, r.text, context="GET groups/events")

    def fetch_items(
        self, mailbox: str, ids: Sequence[str], *, kind: str = "$batch"
    ) -> tuple[list[Item], list[ItemError]]:
        """Items by id via `$batch`, with crmcal's Salesforce-id property expanded. Missing items
        are left out; malformed ones and refused requests are returned as errors."""
        reqs = [
            BatchRequest(
                id=str(i),
                method="GET",
                url=f"{self._user(mailbox)}/events/{quote(item_id, safe='')}"
                f"?$expand={SALESFORCE_PROPERTY_EXPAND}",
                headers={"Prefer": self._prefer(paged=False)} if self.prefer_timezone else {},
            )
            for i, item_id in enumerate(ids)
        ]
        answers = self.batch(mailbox, reqs, kind=kind) if reqs else {}
        items: list[Item] = []
        errors: list[ItemError] = []
        for i, item_id in enumerate(ids):
            a = answers[str(i)]
            if a.status == 404:
                continue
            if not a.ok:
                err = a.error()
                if not isinstance(err, GraphItemError):
                    raise err
                errors.append(ItemError(mailbox, item_id, str(err)))
                continue
            try:
                if not isinstance(a.body, dict):
                    raise MappingError(item_id, "answer is not an object")
                items.append(item_from_graph(mailbox, a.body))
            except MappingError as e:
                errors.append(ItemError(mailbox, item_id, e.reason))
        return items, errors

    def get_items(self, mailbox: str, ids: Sequence[str]) -> list[Item]:
        """Items by id (`$batch`, 20 per call), SF Event id included; missing ones left out."""
        return self.fetch_items(mailbox, ids)[0]

    def find_by_salesforce_id(self, mailbox: str, sf_id: str) -> list[Item]:
        """Items whose crmcal property holds this Salesforce Event id (A7 `$filter` … `Any`)."""
        value = sf_id.replace("'", "''")
        flt = (
            f"singleValueExtendedProperties/Any(ep: ep/id eq '{SALESFORCE_PROPERTY_ID}' and "
            f"ep/value eq '{value}')"
        )
        params = {"$filter": flt, "$expand": SALESFORCE_PROPERTY_EXPAND}
        return [
            item_from_graph(mailbox, o)
            for o in self._pages(
                f"{self._user(mailbox)}/events", mailbox=mailbox, kind="events", params=params
            )
        ]

    def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[Item]:
        """Occurrences and exceptions of one series in a window (cancelled ones excluded)."""
        url = (
            f"{self._user(mailbox)}/events/{quote(master_id, safe='')}/instances?"
            f"startDateTime={_utc_query(start)}&endDateTime={_utc_query(end)}"
        )
        return [
            item_from_graph(mailbox, o) for o in self._pages(url, mailbox=mailbox, kind="instances")
        ]

    def instances_many(
        self, mailbox: str, master_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Item] | GraphError]:
        """`instances` of several series in `$batch` (20 per call instead of one call each);
        a page that goes on is followed with its nextLink. A series whose read failed on its
        own maps to its error (judged next session); throttling past the policy raises."""
        window = f"startDateTime={_utc_query(start)}&endDateTime={_utc_query(end)}"
        prefer = {"Prefer": self._prefer(paged=True)}
        reqs = [
            BatchRequest(
                str(i),
                "GET",
                f"{self._user(mailbox)}/events/{quote(mid, safe='')}/instances?{window}",
                headers=prefer,
            )
            for i, mid in enumerate(master_ids)
        ]
        answers = self.batch(mailbox, reqs, kind="$batch/instances") if reqs else {}
        out: dict[str, list[Item] | GraphError] = {}
        for i, mid in enumerate(master_ids):
            a = answers[str(i)]
            if not a.ok or not isinstance(a.body, dict):
                err = a.error(f"instances of {mid}")
                if not isinstance(err, GraphItemError):
                    raise err
                out[mid] = err
                continue
            rows = [v for v in a.body.get("value") or [] if isinstance(v, dict)]
            link = a.body.get("@odata.nextLink")
            if isinstance(link, str) and link:
                rows += list(self._pages(link, mailbox=mailbox, kind="instances"))
            try:
                out[mid] = [item_from_graph(mailbox, o) for o in rows]
            except MappingError as e:
                out[mid] = GraphItemError(f"instances of {mid}: {e.reason}")
        return out

    # -- writing ----------------------------------------------------------------------------------

    def create_items(self, mailbox: str, drafts: Sequence[ItemDraft]) -> list[WriteResult[int]]:
        """POST events via `$batch`; key = position in `drafts`. Each create carries a
        `transactionId` so a resend after an ambiguous failure cannot duplicate it."""
        keyed: list[tuple[int, BatchRequest | GraphError]] = []
        for i, d in enumerate(drafts):
            try:
                body = draft_to_graph(d)
            except ValueError as e:
                keyed.append((i, GraphItemError(f"draft {i}: {e}")))
                continue
            body.setdefault("transactionId", str(uuid.uuid4()))
            keyed.append((i, BatchRequest(str(i), "POST", f"{self._user(mailbox)}/events", body)))
        return self._write(mailbox, keyed, created=True)

    def update_items(
        self, mailbox: str, changes: Sequence[tuple[str, ItemPatch]]
    ) -> list[WriteResult[str]]:
        """PATCH only the changed fields; key = item id. Empty patches cost nothing."""
        keyed: list[tuple[str, BatchRequest | GraphError]] = []
        out_empty: list[WriteResult[str]] = []
        for i, (item_id, patch) in enumerate(changes):
            try:
                body = patch_to_graph(patch)
            except ValueError as e:
                keyed.append((item_id, GraphItemError(f"{item_id}: {e}")))
                continue
            if not body:
                out_empty.append(WriteResult(key=item_id, ok=True, id=item_id))
                continue
            keyed.append(
                (
                    item_id,
                    BatchRequest(
                        str(i),
                        "PATCH",
                        f"{self._user(mailbox)}/events/{quote(item_id, safe='')}",
                        body,
                    ),
                )
            )
        return out_empty + self._write(mailbox, keyed)

    def delete_items(self, mailbox: str, ids: Sequence[str]) -> list[WriteResult[str]]:
        keyed: list[tuple[str, BatchRequest | GraphError]] = [
            (
                item_id,
                BatchRequest(
                    str(i), "DELETE", f"{self._user(mailbox)}/events/{quote(item_id, safe='')}"
                ),
            )
            for i, item_id in enumerate(ids)
        ]
        return self._write(mailbox, keyed)

    def set_categories(
        self, mailbox: str, categories: Mapping[str, Sequence[str]]
    ) -> list[WriteResult[str]]:
        """Replace the `categories` of several items (one PATCH each, batched)."""
        return self.update_items(
            mailbox, [(i, ItemPatch(categories=tuple(c))) for i, c in categories.items()]
        )

    def set_salesforce_event_id(self, mailbox: str, item_id: str, sf_id: str | None) -> None:
        """Store (or clear, with None) the Salesforce Event id in crmcal's extended property."""
        self._call(
            "PATCH",
            f"{self._user(mailbox)}/events/{quote(item_id, safe='')}",
            mailbox=mailbox,
            kind="events",
            json={"singleValueExtendedProperties": salesforce_property(sf_id)},
        )

    def set_salesforce_event_ids(
        self, mailbox: str, ids: Mapping[str, str | None]
    ) -> list[WriteResult[str]]:
        """Batched `set_salesforce_event_id`."""
        return self.update_items(
            mailbox, [(i, ItemPatch(salesforce_event_id=sf or "")) for i, sf in ids.items()]
        )

    def ensure_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        """Create the master categories that are missing (name → preset colour); returns the names
        created. Existing categories are left as they are (C4)."""
        r = self._call(
            "GET",
            f"{self._user(mailbox)}/outlook/masterCategories",
            mailbox=mailbox,
            kind="categories",
        )
        value = self._json(r).get("value")
        have = {
            str(c.get("displayName", "")).lower()
            for c in (value if isinstance(value, list) else [])
            if isinstance(c, dict)
        }
        missing = [(n, c) for n, c in wanted.items() if n.lower() not in have]
        if not missing:
            return []
        reqs = [
            BatchRequest(
                str(i),
                "POST",
                f"{self._user(mailbox)}/outlook/masterCategories",
                {"displayName": n, "color": c},
            )
            for i, (n, c) in enumerate(missing)
        ]
        answers = self.batch(mailbox, reqs)
        created = []
        for i, (name, _) in enumerate(missing):
            a = answers[str(i)]
            if a.ok:
                created.append(name)
            elif a.status != 409:
                raise a.error(f"create category {name!r}")
        return created

    # -- meeting actions --------------------------------------------------------------------------

    def _action(self, mailbox: str, item_id: str, action: str, body: dict[str, Any]) -> None:
        self._call(
            "POST",
            f"{self._user(mailbox)}/events/{quote(item_id, safe='')}/{action}",
            mailbox=mailbox,
            kind=action,
            json=body,
        )

    def cancel(self, mailbox: str, item_id: str, comment: str = "") -> None:
        """Organizer only; attendees get a cancellation (A5)."""
        self._action(mailbox, item_id, "cancel", {"comment": comment})

    def accept(
        self, mailbox: str, item_id: str, comment: str = "", send_response: bool = True
    ) -> None:
        self._action(
            mailbox, item_id, "accept", {"comment": comment, "sendResponse": send_response}
        )

    def tentatively_accept(
        self, mailbox: str, item_id: str, comment: str = "", send_response: bool = True
    ) -> None:
        self._action(
            mailbox,
            item_id,
            "tentativelyAccept",
            {"comment": comment, "sendResponse": send_response},
        )

    def decline(
        self, mailbox: str, item_id: str, comment: str = "", send_response: bool = True
    ) -> None:
        self._action(
            mailbox, item_id, "decline", {"comment": comment, "sendResponse": send_response}
        )

    # -- subscriptions ----------------------------------------------------------------------------

    @staticmethod
    def _subscription(body: dict[str, Any]) -> Subscription:
        try:
            exp = datetime.fromisoformat(str(body["expirationDateTime"]).replace("Z", "+00:00"))
            return Subscription(
                id=str(body["id"]),
                resource=str(body.get("resource", "")),
                change_types=tuple(str(body.get("changeType", "")).split(",")),
                notification_url=str(body.get("notificationUrl", "")),
                expiration=exp if exp.tzinfo else exp.replace(tzinfo=UTC),
                client_state=body.get("clientState"),
            )
        except (KeyError, ValueError) as e:
            raise GraphBadResponse(f"subscription answer is malformed: {e}") from e

    def create_subscription(
        self,
        mailbox: str,
        notification_url: str,
        expiration: datetime,
        client_state: str,
        *,
        change_types: Sequence[str] = ("created", "updated", "deleted"),
        lifecycle_url: str | None = None,
    ) -> Subscription:
        """Subscribe to a mailbox's events; Graph validates `notification_url` first (A11)."""
        body: dict[str, Any] = {
            "changeType": ",".join(change_types),
            "notificationUrl": notification_url,
            "resource": f"/users/{mailbox.strip()}/events",
            "expirationDateTime": _utc_query(expiration),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        r = self._call("POST", "/subscriptions", mailbox=None, kind="subscriptions", json=body)
        return self._subscription(self._json(r))

    def renew_subscription(self, subscription_id: str, expiration: datetime) -> Subscription:
        r = self._call(
            "PATCH",
            f"/subscriptions/{quote(subscription_id, safe='')}",
            mailbox=None,
            kind="subscriptions",
            json={"expirationDateTime": _utc_query(expiration)},
        )
        return self._subscription(self._json(r))

    def delete_subscription(self, subscription_id: str) -> None:
        self._call(
            "DELETE",
            f"/subscriptions/{quote(subscription_id, safe='')}",
            mailbox=None,
            kind="subscriptions",
        )

    # -- mail (I3) --------------------------------------------------------------------------------

    def send_mail(
        self,
        sender: str,
        *,
        to: Sequence[str],
        subject: str,
        text: str,
        cc: Sequence[str] = (),
        save_to_sent_items: bool = True,
    ) -> None:
        """`POST /users/{sender}/sendMail` with a plain-text message (202, no body); the
        documented JSON shape (user-sendmail, example 1). Needs the `Mail.Send` permission."""

        def rcpt(addrs: Sequence[str]) -> list[dict[str, Any]]:
            return [{"emailAddress": {"address": a}} for a in addrs]

        message: dict[str, Any] = {
            "subject": subject,
            "body": {"contentType": "Text", "content": text},
            "toRecipients": rcpt(to),
        }
        if cc:
            message["ccRecipients"] = rcpt(cc)
        body: dict[str, Any] = {"message": message}
        if not save_to_sent_items:  # "specify it only if the parameter is false"
            body["saveToSentItems"] = False
        self._call(
            "POST", self._user(sender) + "/sendMail", mailbox=sender, kind="sendMail", json=body
        )

    # -- attachments ------------------------------------------------------------------------------

    def _attachments_url(self, mailbox: str, item_id: str) -> str:
        return f"{self._user(mailbox)}/events/{quote(item_id, safe='')}/attachments"

    def list_attachments(self, mailbox: str, item_id: str) -> list[AttachmentInfo]:
        """The item's attachments of every kind, without their content (`$select` leaves
        `contentBytes` out; T1 reads the chosen files one by one with `$value`)."""
        out = []
        params = {"$select": "id,name,contentType,size,isInline,lastModifiedDateTime"}
        for a in self._pages(
            self._attachments_url(mailbox, item_id),
            mailbox=mailbox,
            kind="attachments",
            params=params,
        ):
            out.append(
                AttachmentInfo(
                    id=str(a.get("id", "")),
                    name=str(a.get("name", "")),
                    content_type=str(a.get("contentType") or "application/octet-stream"),
                    size=int(a.get("size") or 0),
                    is_inline=bool(a.get("isInline")),
                    kind=_ATTACHMENT_KINDS.get(str(a.get("@odata.type")), "file"),
                )
            )
        return out

    def get_attachment_bytes(self, mailbox: str, item_id: str, attachment_id: str) -> bytes:
        r = self._call(
            "GET",
            f"{self._attachments_url(mailbox, item_id)}/{quote(attachment_id, safe='')}/$value",
            mailbox=mailbox,
            kind="attachments",
        )
        return r.content

    def upload_attachment(
        self,
        mailbox: str,
        item_id: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Attach a file: one POST under 3 MB, else an upload session in chunks (A6). Returns the
        attachment id."""
        url = self._attachments_url(mailbox, item_id)
        if len(data) < SMALL_ATTACHMENT:
            r = self._call(
                "POST",
                url,
                mailbox=mailbox,
                kind="attachments",
                json={
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": name,
                    "contentType": content_type,
                    "contentBytes": base64.b64encode(data).decode("ascii"),
                },
            )
            return str(self._json(r).get("id", ""))
        r = self._call(
            "POST",
            url + "/createUploadSession",
            mailbox=mailbox,
            kind="attachments",
            json={
                "AttachmentItem": {
                    "attachmentType": "file",
                    "name": name,
                    "size": len(data),
                    "contentType": content_type,
                }
            },
        )
        upload_url = self._json(r).get("uploadUrl")
        if not isinstance(upload_url, str):
            raise GraphBadResponse("createUploadSession answer has no uploadUrl")
        pos = 0
        while pos < len(data):
            chunk = data[pos : pos + UPLOAD_CHUNK]
            end = pos + len(chunk) - 1
            resp = self._send(
                "PUT",
                upload_url,
                mailbox=mailbox,
                kind="upload",
                content=chunk,
                headers={
                    "Content-Range": f"bytes {pos}-{end}/{len(data)}",
                    "Content-Type": "application/octet-stream",
                },
                authenticate=False,
            )
            if not resp.is_success:
                raise error_from_text(resp.status_code, resp.text, context="upload chunk")
            pos = end + 1
            if resp.status_code == 201:
                loc = resp.headers.get("Location", "")
                m = re.search(r"Attachments\('([^']+)'\)", loc)
                return m.group(1) if m else ""
        raise GraphBadResponse("upload session ended without 201 Created")
