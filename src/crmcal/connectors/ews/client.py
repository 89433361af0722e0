"""`EwsClient`: the calendar port over Exchange Web Services, built on exchangelib.

For on-premises (and hybrid on-premises) Exchange Server mailboxes: one service account holding
the ApplicationImpersonation role reaches every mailbox (`ExchangeImpersonation`), over https with
NTLM or Basic (OAuth where the server offers it). The EWS URL is configured or found by
Autodiscover; a CA bundle can be trusted for in-house certificates. No SOAP is written here:
exchangelib sends it.

Calls (what a session costs, benchmarks/bench_ews.py counts them):
- `delta`: one SyncFolderItems per mailbox when nothing changed; with changes, GetItem for the
  changed items (up to `batch_size` per call) and one FindItem CalendarView when a series changed.
- writes: CreateItem / UpdateItem / DeleteItem with `batch_size` items per call, invitations
  `SendToNone` unless `send_invitations` (P5's invitation mode).
- ErrorServerBusy: the server's BackOffMilliseconds is waited out in full (never shortened) and the
  request is sent again, until the retry policy's total budget would be exceeded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests.adapters
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    OAuth2Credentials,
    Version,
)
from exchangelib import errors as x
from exchangelib.attachments import AttachmentId
from exchangelib.folders import Calendar, Root
from exchangelib.properties import (
    DistinguishedFolderId,
    ItemId,
    RecurringMasterItemId,
)
from exchangelib.properties import Mailbox as XMailbox
from exchangelib.protocol import BaseProtocol

from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.ews.errors import (
    EwsBadResponse,
    EwsItemError,
    EwsNotFound,
    EwsThrottled,
    SyncStateInvalid,
    from_exchangelib,
)
from crmcal.connectors.ews.mapping import (
    READ_FIELDS,
    EwsMappingError,
    draft_to_ews,
    item_from_ews,
    patch_to_ews,
)
from crmcal.connectors.graph.client import AttachmentInfo, CallCounter
from crmcal.connectors.results import WriteResult
from crmcal.connectors.retry import RetryPolicy
from crmcal.domain.calendar import (
    CalendarChanges,
    Item,
    ItemDraft,
    ItemError,
    ItemPatch,
    ItemRemoved,
    ItemType,
)

T = TypeVar("T")
MAX_SYNC_CHANGES = 512
"""SyncFolderItems' MaxChangesReturned ceiling."""
CURSOR_PREFIX = "ews1:"
AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth": OAUTH2}
COLORS = {f"preset{i}": i for i in range(25)} | {"none": -1}
"""Graph's preset names as the CategoryList's colour numbers (C1-C4 use the same presets)."""


# -- trusting an in-house CA (requests adapter, per endpoint host) --------------------------------

_ca_lock = threading.Lock()
_ca_by_host: dict[str, str] = {}


class _CaBundleAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's documented hook for custom CAs (`BaseProtocol.HTTP_ADAPTER_CLS`): the CA
    bundle configured for the endpoint's host is the one verified against."""

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        host = urlsplit(url).netloc.lower()
        with _ca_lock:
            ca = _ca_by_host.get(host)
        super().cert_verify(conn=conn, url=url, verify=ca or verify, cert=cert)  # type: ignore[no-untyped-call]


def _trust(endpoint: str, ca_bundle: str) -> None:
    with _ca_lock:
        _ca_by_host[urlsplit(endpoint).netloc.lower()] = ca_bundle
    BaseProtocol.HTTP_ADAPTER_CLS = _CaBundleAdapter


# -- the cursor -----------------------------------------------------------------------------------


def _pack(sync_state: str, occurrences: Mapping[str, Sequence[str]]) -> str:
    raw = json.dumps({"s": sync_state, "o": occurrences}, separators=(",", ":")).encode()
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def _unpack(cursor: str | None) -> tuple[str | None, dict[str, list[str]]]:
    """(SyncState, occurrence ids reported per series master). A cursor that is not ours (a Graph
    delta link after a backend switch) starts over."""
    if not cursor or not cursor.startswith(CURSOR_PREFIX):
        return None, {}
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor[len(CURSOR_PREFIX) :]))
        occ = {str(k): [str(i) for i in v] for k, v in dict(body.get("o") or {}).items()}
        return str(body["s"]), occ
    except (ValueError, KeyError, TypeError):
        return None, {}


class EwsClient:
    """The calendar side of crmcal over EWS (Exchange Server 2016/2019/Subscription Edition)."""

    def __init__(
        self,
        *,
        username: str,
        password: str = "",
        ews_url: str | None = None,
        autodiscover: bool = False,
        auth_type: str = "ntlm",
        impersonation: bool = True,
        ca_bundle: str | None = None,
        server_build: tuple[int, int] = (15, 2),
        oauth_client_id: str = "",
        oauth_client_secret: str = "",
        oauth_tenant_id: str = "",
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        send_invitations: bool = False,
        max_connections: int = 4,
    ) -> None:
        if not ews_url and not autodiscover:
            raise ValueError("give the EWS URL or turn Autodiscover on")
        if auth_type not in AUTH_TYPES:
            raise ValueError(f"auth_type must be one of {sorted(AUTH_TYPES)}")
        self.ews_url = ews_url
        self.autodiscover = autodiscover and not ews_url
        self.retry = retry or RetryPolicy()
        self.batch_size = max(1, min(batch_size, 1000))
        self.send_invitations = send_invitations
        self.access_type = IMPERSONATION if impersonation else DELEGATE
        self.calls = CallCounter()
        """EWS requests made, per operation (an ErrorServerBusy resend counts again)."""
        credentials: Any
        if auth_type == "oauth":
            credentials = OAuth2Credentials(
                client_id=oauth_client_id,
                client_secret=oauth_client_secret,
                tenant_id=oauth_tenant_id,
            )
        else:
            credentials = Credentials(username=username, password=password)
        if ca_bundle and ews_url:
            _trust(ews_url, ca_bundle)
        self._config = Configuration(
            service_endpoint=ews_url or None,
            credentials=credentials,
            auth_type=AUTH_TYPES[auth_type],
            version=Version(build=Build(*server_build)),
            retry_policy=FailFast(),
            max_connections=max_connections,
        )
        self._accounts: dict[str, tuple[Account, Calendar]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EwsClient(ews_url={self.ews_url!r}, autodiscover={self.autodiscover})"

    def close(self) -> None:
        with self._lock:
            accounts = [a for a, _ in self._accounts.values()]
            self._accounts.clear()
        for a in accounts:
            with contextlib.suppress(Exception):  # closing pooled sessions is best effort
                a.protocol.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _account(self, mailbox: str) -> tuple[Account, Calendar]:
        key = mailbox.strip().lower()
        with self._lock:
            got = self._accounts.get(key)
        if got is not None:
            return got
        acct = Account(
            primary_smtp_address=mailbox.strip(),
            config=None if self.autodiscover else self._config,
            credentials=self._config.credentials if self.autodiscover else None,
            autodiscover=self.autodiscover,
            access_type=self.access_type,
        )
        owner = XMailbox(email_address=mailbox.strip())
        # The distinguished folders by reference: no GetFolder per session.
        root = Root(
            account=acct, _distinguished_id=DistinguishedFolderId(id="msgfolderroot", mailbox=owner)
        )
        cal = Calendar(
            root=root, _distinguished_id=DistinguishedFolderId(id="calendar", mailbox=owner)
        )
        with self._lock:
            self._accounts.setdefault(key, (acct, cal))
            return self._accounts[key]

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        """One EWS request, sent again after ErrorServerBusy's BackOffMilliseconds."""
        policy = self.retry
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            self.calls.add(op)
            try:
                return fn()
            except x.ErrorServerBusy as e:
                wait = e.back_off if e.back_off is not None else policy.delay(attempt)
                if attempt >= policy.max_attempts or waited + wait > policy.max_total_wait:
                    raise EwsThrottled(f"{op}: {e}", back_off=e.back_off) from e
                policy.sleep(wait)
                waited += wait
            except ConnectorError:
                raise
            except (x.EWSError, OSError, requests.RequestException) as e:
                raise from_exchangelib(e, op) from e

    # -- reading ----------------------------------------------------------------------------------

    def delta(
        self, mailbox: str, window_start: datetime, window_end: datetime, cursor: str | None
    ) -> CalendarChanges:
        """SyncFolderItems from the cursor's sync state, then the changed items read in full and,
        for changed series, their occurrences in the window (CalendarView). A sync state the server
        no longer accepts (ErrorInvalidSyncStateData) starts over from nothing and `full_resync`
        is set; the engine then sees every item again, once (O3)."""
        state, occ_known = _unpack(cursor)
        full_resync = False
        try:
            changes, new_state = self._sync(mailbox, state)
        except SyncStateInvalid:
            full_resync = state is not None
            occ_known = {}
            changes, new_state = self._sync(mailbox, None)
        changed: dict[str, str] = {}
        deleted: list[str] = []
        for kind, ref in changes:
            if kind == "delete":
                deleted.append(ref)
                changed.pop(ref, None)
            else:
                changed[ref] = kind
        items: dict[str, Item] = {}
        removed: dict[str, ItemRemoved] = {}
        errors: list[ItemError] = []
        got, bad = self._fetch(mailbox, list(changed))
        errors.extend(bad)
        masters = {i.id: i for i in got if i.type is ItemType.SERIES_MASTER}
        for it in got:
            if it.type is ItemType.SERIES_MASTER:
                continue
            if it.start < window_end and (
                it.end > window_start or it.start == it.end == window_start
            ):
                items[it.id] = it
            else:
                removed[it.id] = ItemRemoved(it.id, mailbox, "left the window")
        occ_new = {k: v for k, v in occ_known.items() if k not in masters and k not in deleted}
        if masters:
            for master_id, rows in self._occurrences(
                mailbox, masters, window_start, window_end
            ).items():
                occ_new[master_id] = [i.id for i in rows]
                items.update({i.id: i for i in rows})
        for mid in [*masters, *deleted]:
            for oid in occ_known.get(mid, []):
                if oid not in items:
                    removed[oid] = ItemRemoved(oid, mailbox, "deleted")
        for rid in deleted:
            removed[rid] = ItemRemoved(rid, mailbox, "deleted")
        return CalendarChanges(
            mailbox=mailbox,
            items=tuple(items.values()),
            removed=tuple(removed.values()),
            cursor=_pack(new_state, occ_new),
            full_resync=full_resync,
            errors=tuple(errors),
        )

    def _sync(self, mailbox: str, state: str | None) -> tuple[list[tuple[str, str]], str]:
        _, cal = self._account(mailbox)
        out: list[tuple[str, str]] = []
        current = state
        while True:

            def page(s: str | None = current) -> tuple[list[tuple[str, str]], str, bool]:
                rows: list[tuple[str, str]] = []
                from exchangelib.folders.base import FieldPath
                from exchangelib.services import SyncFolderItems

                svc = SyncFolderItems(account=cal.account)
                fields = {FieldPath(field=cal.get_item_field_by_fieldname("type"))}
                for kind, obj in svc.call(
                    folder=cal,
                    shape="IdOnly",
                    additional_fields=fields,
                    sync_state=s,
                    ignore=None,
                    max_changes_returned=MAX_SYNC_CHANGES,
                    sync_scope=None,
                ):
                    if isinstance(obj, Exception):
                        raise obj
                    if kind == "read_flag_change":
                        continue
                    rows.append((kind, str(obj.id)))
                return rows, str(svc.sync_state), bool(svc.includes_last_item_in_range)

            try:
                rows, new_state, last = self._call("SyncFolderItems", page)
            except ConnectorError:
                raise
            out.extend(rows)
            if last or new_state == current:
                return out, new_state
            current = new_state

    def _fetch(
        self, mailbox: str, ids: Sequence[str], *, masters_for: bool = True
    ) -> tuple[list[Item], list[ItemError]]:
        """GetItem in batches; missing items are left out, unreadable ones become errors (Y3).
        Occurrences and exceptions get their series master's id (one more GetItem per batch,
        `RecurringMasterItemId`, ids only)."""
        acct, cal = self._account(mailbox)
        items: list[Item] = []
        errors: list[ItemError] = []
        raw: list[Any] = []
        for i in range(0, len(ids), self.batch_size):
            chunk = ids[i : i + self.batch_size]

            def get(c: Sequence[str] = chunk) -> list[Any]:
                return list(
                    acct.fetch(ids=[ItemId(id=j) for j in c], folder=cal, only_fields=READ_FIELDS)
                )

            for item_id, obj in zip(chunk, self._call("GetItem", get), strict=False):
                if isinstance(obj, x.ErrorItemNotFound):
                    continue
                if isinstance(obj, Exception):
                    err = from_exchangelib(obj)
                    if not isinstance(err, EwsItemError | EwsNotFound | EwsBadResponse):
                        raise err
                    errors.append(ItemError(mailbox, item_id, str(err)))
                    continue
                raw.append(obj)
        master_of = (
            self._masters_of(mailbox, [o for o in raw if o.type in ("Occurrence", "Exception")])
            if masters_for
            else {}
        )
        for obj in raw:
            try:
                items.append(item_from_ews(mailbox, obj, master_of.get(str(obj.id))))
            except EwsMappingError as e:
                errors.append(ItemError(mailbox, e.item_id or str(obj.id), e.reason))
        return items, errors

    def _masters_of(self, mailbox: str, occurrences: Sequence[Any]) -> dict[str, str]:
        if not occurrences:
            return {}
        acct, cal = self._account(mailbox)
        out: dict[str, str] = {}
        for i in range(0, len(occurrences), self.batch_size):
            chunk = occurrences[i : i + self.batch_size]

            def get(c: Sequence[Any] = chunk) -> list[Any]:
                return list(
                    acct.fetch(
                        ids=[RecurringMasterItemId(id=o.id, changekey=o.changekey) for o in c],
                        folder=cal,
                        only_fields=["type"],
                    )
                )

            for occ, master in zip(chunk, self._call("GetItem", get), strict=False):
                if not isinstance(master, Exception) and master.id:
                    out[str(occ.id)] = str(master.id)
        return out

    def _occurrences(
        self, mailbox: str, masters: Mapping[str, Item], start: datetime, end: datetime
    ) -> dict[str, list[Item]]:
        """Each master's occurrences and exceptions in the window: one CalendarView for all of
        them (matched by the series' UID), then their full properties."""
        _, cal = self._account(mailbox)
        by_uid: dict[str, str] = {}
        for mid in masters:
            by_uid.setdefault(self._uid_of(mailbox, mid), mid)

        def view() -> list[Any]:
            return list(
                cal.view(start=start.astimezone(UTC), end=end.astimezone(UTC)).only("uid", "type")
            )

        wanted: dict[str, str] = {}
        for row in self._call("FindItem", view):
            if isinstance(row, Exception):
                raise from_exchangelib(row, "FindItem")
            if row.type in ("Occurrence", "Exception") and row.uid in by_uid:
                wanted[str(row.id)] = by_uid[row.uid]
        got, _ = self._fetch(mailbox, list(wanted), masters_for=False)
        out: dict[str, list[Item]] = {m: [] for m in masters}
        from dataclasses import replace

        for it in got:
            out[wanted[it.id]].append(replace(it, series_master_id=wanted[it.id]))
        return out

    def _uid_of(self, mailbox: str, item_id: str) -> str:
        acct, cal = self._account(mailbox)

        def get() -> list[Any]:
            return list(acct.fetch(ids=[ItemId(id=item_id)], folder=cal, only_fields=["uid"]))

        rows = self._call("GetItem", get)
        if not rows or isinstance(rows[0], Exception):
            raise EwsNotFound(f"series master {item_id} is gone")
        return str(rows[0].uid)

    def fetch_items(self, mailbox: str, ids: Sequence[str]) -> tuple[list[Item], list[ItemError]]:
        return self._fetch(mailbox, list(ids))

    def calendar_view(self, mailbox: str, start: datetime, end: datetime) -> list[Item]:
        """All singles, occurrences and exceptions in a window (FindItem CalendarView, then
        GetItem for their full properties)."""
        _, cal = self._account(mailbox)

        def view() -> list[Any]:
            return list(cal.view(start=start.astimezone(UTC), end=end.astimezone(UTC)).only("type"))

        ids = [str(r.id) for r in self._call("FindItem", view) if not isinstance(r, Exception)]
        got = {i.id: i for i in self._fetch(mailbox, ids)[0]}
        return [got[i] for i in ids if i in got]

    def get_items(self, mailbox: str, ids: Sequence[str]) -> list[Item]:
        return self._fetch(mailbox, list(ids))[0]

    def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[Item]:
        """Occurrences and exceptions of one series in a window (cancelled ones excluded, as the
        Graph connector's `/instances`)."""
        got = self._fetch(mailbox, [master_id], masters_for=False)[0]
        masters = {i.id: i for i in got if i.type is ItemType.SERIES_MASTER}
        if not masters:
            return []
        rows = self._occurrences(mailbox, masters, start, end).get(master_id, [])
        return sorted((i for i in rows if not i.is_cancelled), key=lambda i: i.start)

    # -- writing ----------------------------------------------------------------------------------

    def _mode(self) -> str:
        return "SendToAllAndSaveCopy" if self.send_invitations else "SendToNone"

    def create_items(self, mailbox: str, drafts: Sequence[ItemDraft]) -> list[WriteResult[int]]:
        """CreateItem, `batch_size` items per call; key = position in `drafts`."""
        acct, cal = self._account(mailbox)
        out: list[WriteResult[int]] = []
        todo: list[tuple[int, Any]] = []
        for i, d in enumerate(drafts):
            try:
                todo.append((i, draft_to_ews(d, acct, cal)))
            except (ValueError, x.EWSError) as e:
                out.append(WriteResult(key=i, ok=False, error=EwsItemError(f"draft {i}: {e}")))
        for n in range(0, len(todo), self.batch_size):
            chunk = todo[n : n + self.batch_size]

            def create(c: Sequence[tuple[int, Any]] = chunk) -> list[Any]:
                return list(
                    acct.bulk_create(
                        folder=cal,
                        items=[it for _, it in c],
                        send_meeting_invitations=self._mode(),
                        chunk_size=len(c),
                    )
                )

            for (key, _), res in zip(chunk, self._call("CreateItem", create), strict=True):
                if isinstance(res, Exception):
                    out.append(WriteResult(key=key, ok=False, error=from_exchangelib(res)))
                else:
                    out.append(WriteResult(key=key, ok=True, id=str(res.id), created=True))
        return sorted(out, key=lambda r: r.key)

    def update_items(
        self, mailbox: str, changes: Sequence[tuple[str, ItemPatch]]
    ) -> list[WriteResult[str]]:
        """UpdateItem with only the changed fields; key = item id; empty patches cost nothing."""
        acct, cal = self._account(mailbox)
        out: list[WriteResult[str]] = []
        todo: list[tuple[str, Any, list[str]]] = []
        for item_id, patch in changes:
            try:
                item, names = patch_to_ews(item_id, patch, acct, cal)
            except (ValueError, x.EWSError) as e:
                out.append(
                    WriteResult(key=item_id, ok=False, error=EwsItemError(f"{item_id}: {e}"))
                )
                continue
            if not names:
                out.append(WriteResult(key=item_id, ok=True, id=item_id))
                continue
            todo.append((item_id, item, names))
        for n in range(0, len(todo), self.batch_size):
            chunk = todo[n : n + self.batch_size]

            def update(c: Sequence[tuple[str, Any, list[str]]] = chunk) -> list[Any]:
                return list(
                    acct.bulk_update(
                        items=[(it, names) for _, it, names in c],
                        conflict_resolution="AutoResolve",
                        send_meeting_invitations_or_cancellations=self._mode(),
                        chunk_size=len(c),
                    )
                )

            for (key, _, _), res in zip(chunk, self._call("UpdateItem", update), strict=True):
                if isinstance(res, Exception):
                    out.append(WriteResult(key=key, ok=False, error=from_exchangelib(res)))
                else:
                    out.append(WriteResult(key=key, ok=True, id=str(res[0]) if res else key))
        return out

    def delete_items(self, mailbox: str, ids: Sequence[str]) -> list[WriteResult[str]]:
        """DeleteItem (to Deleted Items, as Outlook does), cancellations `SendToNone` unless
        invitation mode is on."""
        acct, _ = self._account(mailbox)
        out: list[WriteResult[str]] = []
        for n in range(0, len(ids), self.batch_size):
            chunk = list(ids[n : n + self.batch_size])

            def delete(c: Sequence[str] = chunk) -> list[Any]:
                return list(
                    acct.bulk_delete(
                        ids=[ItemId(id=i) for i in c],
                        delete_type="MoveToDeletedItems",
                        send_meeting_cancellations=self._mode(),
                        affected_task_occurrences="AllOccurrences",
                        chunk_size=len(c),
                    )
                )

            for key, res in zip(chunk, self._call("DeleteItem", delete), strict=True):
                if isinstance(res, Exception):
                    out.append(WriteResult(key=key, ok=False, error=from_exchangelib(res)))
                else:
                    out.append(WriteResult(key=key, ok=True, id=key))
        return out

    def set_categories(
        self, mailbox: str, categories: Mapping[str, Sequence[str]]
    ) -> list[WriteResult[str]]:
        return self.update_items(
            mailbox, [(i, ItemPatch(categories=tuple(c))) for i, c in categories.items()]
        )

    # -- categories (the CategoryList user configuration) ----------------------------------------

    def ensure_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        """Add the missing master categories (name -> Graph preset colour) to the calendar
        folder's CategoryList configuration; existing ones are left as they are (C4)."""
        acct, cal = self._account(mailbox)
        from exchangelib.properties import (
            UserConfiguration,
            UserConfigurationName,
            UserConfigurationNameMNS,
        )
        from exchangelib.services import (
            CreateUserConfiguration,
            GetUserConfiguration,
            UpdateUserConfiguration,
        )

        def read() -> Any:
            return GetUserConfiguration(account=acct).get(
                user_configuration_name=UserConfigurationNameMNS(name="CategoryList", folder=cal),
                properties="XmlData",
            )

        try:
            conf = self._call("GetUserConfiguration", read)
            data = conf.xml_data if conf is not None else None
            exists = True
        except EwsNotFound:
            data, exists = None, False
        root = _category_root(data)
        have = {(c.get("name") or "").lower() for c in root}
        missing = [(n, c) for n, c in wanted.items() if n.lower() not in have]
        if not missing:
            return []
        import uuid

        for name, color in missing:
            ET.SubElement(
                root,
                "{CategoryList.xsd}category",
                {
                    "name": name,
                    "color": str(COLORS.get(color, -1)),
                    "keyboardShortcut": "0",
                    "guid": "{" + str(uuid.uuid4()) + "}",
                    "renameOnFirstUse": "0",
                },
            )
        ET.register_namespace("", "CategoryList.xsd")
        xml = b'<?xml version="1.0"?>' + ET.tostring(root)
        op = "UpdateUserConfiguration" if exists else "CreateUserConfiguration"

        def save() -> Any:
            conf = UserConfiguration(
                user_configuration_name=UserConfigurationName(name="CategoryList", folder=cal),
                xml_data=xml,
            )
            svc = UpdateUserConfiguration if exists else CreateUserConfiguration
            return svc(account=acct).get(user_configuration=conf)

        self._call(op, save)
        return [n for n, _ in missing]

    # -- attachments ------------------------------------------------------------------------------

    def list_attachments(self, mailbox: str, item_id: str) -> list[AttachmentInfo]:
        acct, cal = self._account(mailbox)

        def get() -> list[Any]:
            return list(
                acct.fetch(ids=[ItemId(id=item_id)], folder=cal, only_fields=["attachments"])
            )

        rows = self._call("GetItem", get)
        if not rows or isinstance(rows[0], Exception):
            raise from_exchangelib(rows[0]) if rows else EwsNotFound(item_id)
        out = []
        for a in rows[0].attachments or []:
            kind = "item" if type(a).__name__ == "ItemAttachment" else "file"
            out.append(
                AttachmentInfo(
                    id=str(a.attachment_id.id),
                    name=a.name or "",
                    content_type=a.content_type or "application/octet-stream",
                    size=int(a.size or 0),
                    is_inline=bool(a.is_inline),
                    kind=kind,
                )
            )
        return out

    def get_attachment_bytes(self, mailbox: str, item_id: str, attachment_id: str) -> bytes:
        """GetAttachment (the file's content, base64 in the answer)."""
        acct, _ = self._account(mailbox)
        from exchangelib.services import GetAttachment

        def get() -> list[Any]:
            return list(
                GetAttachment(account=acct).call(
                    items=[AttachmentId(id=attachment_id)],
                    include_mime_content=False,
                    body_type=None,
                    filter_html_content=None,
                    additional_fields=None,
                )
            )

        rows = self._call("GetAttachment", get)
        if not rows or isinstance(rows[0], Exception):
            raise from_exchangelib(rows[0]) if rows else EwsNotFound(attachment_id)
        content = getattr(rows[0], "content", None)
        return bytes(content or b"")


def _category_root(data: bytes | None) -> ET.Element:
    if not data:
        return ET.Element("{CategoryList.xsd}categories", {"default": "", "lastSavedSession": "0"})
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise EwsBadResponse("CategoryList XmlData carries a DTD")
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs refused above
    except ET.ParseError as e:
        raise EwsBadResponse(f"CategoryList XmlData is not XML: {e}") from e
