"""The EWS emulator as an ASGI app: `POST /EWS/Exchange.asmx` (SOAP 1.1) and `/_sandbox/ews/`.

Operations (each per the EWS reference, https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-operations-in-exchange):
GetFolder, SyncFolderItems, FindItem (CalendarView), GetItem, CreateItem, UpdateItem, DeleteItem,
GetUserConfiguration, CreateUserConfiguration, UpdateUserConfiguration, GetAttachment.

Strictness (decision 0110): Basic credentials are required (401 otherwise); a request for another
user's mailbox needs the `ExchangeImpersonation` header and the ApplicationImpersonation role
(ErrorImpersonateUserDenied fault); only on-premises mailboxes are reachable
(ErrorNonExistentMailbox); calendar writes must name SendMeetingInvitations /
SendMeetingInvitationsOrCancellations / SendMeetingCancellations (the service refuses calendar
writes without them); SyncFolderItems and FindItem leave out Body, attendees, attachments and
occurrence lists ("SyncFolderItems is similar to FindItem in that it cannot return properties like
Body or Attachments", https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-synchronize-items-by-using-ews-in-exchange);
MaxChangesReturned outside 1-512 is ErrorInvalidArgument
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/maxchangesreturned).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from crmcal.sandbox.ews import items as X
from crmcal.sandbox.ews.state import EwsState, ServiceAccount, SyncState
from crmcal.sandbox.ews.xml import (
    REQUEST_VERSIONS,
    EwsFault,
    ItemFault,
    attr,
    envelope,
    error,
    fault,
    local,
    m,
    ok,
    parse,
    response,
    t,
    text,
)
from crmcal.sandbox.graph.state import (
    GraphApiError,
    GraphState,
    Instance,
    Mailbox,
    check_color,
    ext_key,
)

XML_TYPE = "text/xml; charset=utf-8"
COMPLEX = frozenset(
    {
        "Body",
        "Attachments",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "Recurrence",
        "ExtendedProperty",
    }
)
DEFAULT_SHAPE = frozenset(
    {
        "Subject",
        "Start",
        "End",
        "Location",
        "CalendarItemType",
        "Organizer",
        "HasAttachments",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "Sensitivity",
        "UID",
        "IsRecurring",
        "IsCancelled",
        "Categories",
    }
)
CALENDAR_FOLDER_CLASS = "IPF.Appointment"
MAX_SYNC = 512


def create_app(state: EwsState | None = None) -> FastAPI:
    st = state or EwsState(GraphState())
    app = FastAPI(title="crmcal EWS sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ews = st

    @app.post("/EWS/Exchange.asmx")
    async def exchange(request: Request) -> Response:
        acct = _authenticate(st, request.headers.get("authorization"))
        if acct is None:
            return Response(
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="127.0.0.1"'},
            )
        raw = await request.body()
        try:
            if st.faults.server_busy_next > 0:
                st.faults.server_busy_next -= 1
                raise EwsFault(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    st.faults.back_off_ms,
                )
            out = Dispatcher(st, acct).handle(parse(raw))
        except EwsFault as f:
            st.count("fault:" + f.code)
            return Response(
                fault(f.code, f.message, back_off_ms=f.back_off_ms),
                status_code=500,
                media_type=XML_TYPE,
            )
        return Response(envelope(out), media_type=XML_TYPE)

    @app.post("/_sandbox/ews/faults")
    async def set_faults(request: Request) -> JSONResponse:
        body = await request.json()
        for k in ("server_busy_next", "back_off_ms"):
            if k in body:
                setattr(st.faults, k, int(body[k]))
        return JSONResponse(
            {"server_busy_next": st.faults.server_busy_next, "back_off_ms": st.faults.back_off_ms}
        )

    @app.post("/_sandbox/ews/expire-sync-states")
    async def expire() -> JSONResponse:
        return JSONResponse({"expired": st.expire_sync_states()})

    @app.post("/_sandbox/ews/mailboxes")
    async def add_mailbox(request: Request) -> JSONResponse:
        body = await request.json()
        key = st.add_mailbox(str(body["address"]), str(body.get("displayName", "")))
        return JSONResponse({"address": key})

    @app.get("/_sandbox/ews/calls")
    async def calls() -> JSONResponse:
        return JSONResponse(dict(st.calls))

    return app


def _authenticate(st: EwsState, header: str | None) -> ServiceAccount | None:
    h = (header or "").strip()
    if not h.lower().startswith("basic "):
        return None
    try:
        user, _, pw = base64.b64decode(h[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    acct = st.accounts.get(user.lower())
    if acct is None or not _same(acct.password, pw):
        return None
    return acct


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


class Dispatcher:
    """One request: the SOAP header's version and impersonation, then the operation."""

    def __init__(self, st: EwsState, acct: ServiceAccount) -> None:
        self.st = st
        self.graph = st.graph
        self.acct = acct
        self.mailbox: Mailbox | None = None

    # -- envelope ---------------------------------------------------------------------------------

    def handle(self, env: ET.Element) -> str:
        if local(env.tag) != "Envelope":
            raise EwsFault("ErrorSchemaValidation", "The request is not a SOAP envelope.")
        header = env.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
        body = env.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        if body is None or len(body) != 1:
            raise EwsFault("ErrorSchemaValidation", "The SOAP body must hold one operation.")
        op = body[0]
        self._header(header)
        name = local(op.tag)
        handler = getattr(self, "op_" + name, None)
        if handler is None or not op.tag.startswith(
            "{http://schemas.microsoft.com/exchange/services/2006/messages}"
        ):
            raise EwsFault("ErrorInvalidRequest", f"The request is invalid: {name}.")
        self.st.count(name)
        result: str = handler(op)
        return result

    def _header(self, header: ET.Element | None) -> None:
        version = header.find(t("RequestServerVersion")) if header is not None else None
        if version is not None:
            self.st.count("RequestServerVersion:" + str(version.get("Version")))
        if version is not None and version.get("Version") not in REQUEST_VERSIONS:
            raise EwsFault(
                "ErrorInvalidServerVersion",
                "The specified server version is invalid.",
            )
        imp = header.find(t("ExchangeImpersonation")) if header is not None else None
        target = self.acct.address
        if imp is not None:
            sid = imp.find(t("ConnectingSID"))
            addr = None
            if sid is not None:
                for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                    addr = addr or sid.findtext(t(tag))
            if not addr:
                raise EwsFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "The impersonation header data is invalid.",
                )
            if not self.acct.impersonation:
                raise EwsFault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            target = addr.strip().lower()
        if target not in self.st.mailboxes:
            raise EwsFault(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        self.mailbox = self.graph.mailboxes[target]

    @property
    def mb(self) -> Mailbox:
        assert self.mailbox is not None
        return self.mailbox

    # -- folders ----------------------------------------------------------------------------------

    def _calendar_id(self) -> str:
        return base64.b64encode(b"\x00\x01\x2e\x00" + self.mb.tag + b"calendar").decode("ascii")

    def _check_folder(self, el: ET.Element | None) -> None:
        """A calendar folder reference: `t:DistinguishedFolderId Id="calendar"` (with this
        mailbox, if any) or the calendar's `t:FolderId`."""
        if el is None:
            raise ItemFault("ErrorInvalidArgument", "A folder id is required.")
        ref = el.find(t("DistinguishedFolderId"))
        if ref is None and local(el.tag) == "DistinguishedFolderId":
            ref = el
        if ref is not None:
            if ref.get("Id") != "calendar":
                raise ItemFault(
                    "ErrorCalendarFolderIsInvalidForCalendarView"
                    if False
                    else "ErrorFolderNotFound",
                    "The specified folder could not be found in the store.",
                )
            addr = ref.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if addr and addr.strip().lower() != self.mb.key:
                raise ItemFault(
                    "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
            return
        fid = el.find(t("FolderId"))
        if fid is None and local(el.tag) == "FolderId":
            fid = el
        if fid is None or fid.get("Id") != self._calendar_id():
            raise ItemFault(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )

    def _folder_xml(self) -> str:
        return (
            f'<t:CalendarFolder><t:FolderId Id="{self._calendar_id()}" ChangeKey="AgAAAA=="/>'
            f"<t:FolderClass>{CALENDAR_FOLDER_CLASS}</t:FolderClass>"
            "<t:DisplayName>Calendar</t:DisplayName><t:TotalCount>"
            f"{sum(1 for r in self.mb.events.values() if not r.deleted and r.kind != 'exception')}"
            "</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount></t:CalendarFolder>"
        )

    def _root_xml(self, ref: ET.Element) -> str | None:
        """The mailbox's `root` and `msgfolderroot` (clients resolve them before item reads)."""
        names = {"root": "", "msgfolderroot": "Top of Information Store"}
        if local(ref.tag) != "DistinguishedFolderId" or ref.get("Id") not in names:
            return None
        addr = ref.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        if addr and addr.strip().lower() != self.mb.key:
            raise ItemFault(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        fid = base64.b64encode(
            b"\x00\x01\x2e\x00" + self.mb.tag + str(ref.get("Id")).encode()
        ).decode("ascii")
        return (
            f'<t:Folder><t:FolderId Id="{fid}" ChangeKey="AQAAAA=="/>'
            f"<t:DisplayName>{names[str(ref.get('Id'))]}</t:DisplayName>"
            "<t:TotalCount>0</t:TotalCount><t:ChildFolderCount>1</t:ChildFolderCount></t:Folder>"
        )

    def op_GetFolder(self, op: ET.Element) -> str:
        ids = op.find(m("FolderIds"))
        msgs = []
        for ref in list(ids) if ids is not None else []:
            try:
                root = self._root_xml(ref)
                if root is not None:
                    msgs.append(ok("GetFolder", f"<m:Folders>{root}</m:Folders>"))
                    continue
                self._check_folder(ref)
                msgs.append(ok("GetFolder", f"<m:Folders>{self._folder_xml()}</m:Folders>"))
            except ItemFault as f:
                msgs.append(error("GetFolder", f.code, f.message))
        return response("GetFolder", msgs)

    # -- shapes and rendering ---------------------------------------------------------------------

    @staticmethod
    def _shape(op: ET.Element, tag: str) -> tuple[set[str] | None, set[str]]:
        shape = op.find(m(tag))
        base = shape.findtext(t("BaseShape")) if shape is not None else None
        if base not in ("IdOnly", "Default", "AllProperties"):
            raise EwsFault("ErrorSchemaValidation", f"The {tag} element is invalid.")
        wanted: set[str] | None = (
            {"ItemId"} if base == "IdOnly" else set(DEFAULT_SHAPE) if base == "Default" else None
        )
        ext: set[str] = set()
        extra = shape.find(t("AdditionalProperties")) if shape is not None else None
        for f in list(extra) if extra is not None else []:
            n = local(f.tag)
            if n == "FieldURI":
                uri = f.get("FieldURI", "")
                if wanted is not None:
                    wanted.add(uri.split(":", 1)[-1])
            elif n == "ExtendedFieldURI":
                ext.add(_ext_request_key(f))
        return wanted, ext

    def _render(
        self,
        inst: Instance,
        wanted: set[str] | None,
        ext: set[str],
        *,
        complex_ok: bool = True,
    ) -> str:
        mb = self.mb
        native = str((inst.record.props.get("body") or {}).get("contentType") or "html")
        g = self.graph.render(mb, inst, tz="UTC", body_type=native)
        rec = inst.record
        master = rec
        if rec.kind == "exception" and rec.series_master_id:
            master = mb.events.get(rec.series_master_id, rec)
        w: set[str] | frozenset[str] | None = wanted
        if not complex_ok:
            w = (set(wanted) if wanted is not None else _ALL) - COMPLEX
        deleted: list[datetime] = []
        modified: list[tuple[str, datetime, datetime, datetime]] = []
        if rec.kind == "seriesMaster" and inst.occurrence_start is None:
            deleted = sorted(rec.cancelled)
            for ostart, eid in sorted(rec.exceptions.items()):
                e = mb.events[eid]
                if not e.deleted:
                    modified.append((eid, e.start, e.end, ostart))
        atts = [
            (_attachment_id(mb.key, rec.id, a.id), a.name, a.content_type, len(a.data), a.is_inline)
            for a in rec.attachments.values()
            if a.kind == "file"
        ]
        return X.render_item(
            g,
            master_uid=master.ical_uid,
            ext=rec.ext if complex_ok else {},
            attachments=atts if (w is None or "Attachments" in w) else [],
            tz_id=rec.start_tz,
            mailbox_email=mb.email(),
            deleted_occurrences=deleted,
            modified_occurrences=modified,
            wanted=w,
            wanted_ext=ext if complex_ok else set(),
            change_key=self._version(inst),
        )

    def _version(self, inst: Instance) -> str:
        """The ChangeKey EWS shows. A master's changes when one of its exceptions or deleted
        occurrences changes (Exchange stores exceptions inside the master)."""
        rec = inst.record
        if inst.occurrence_start is not None:
            return rec.series_key
        if rec.kind != "seriesMaster":
            return rec.change_key
        parts = [rec.change_key, str(len(rec.cancelled))]
        parts += [self.mb.events[e].change_key for e in sorted(rec.exceptions.values())]
        if len(parts) == 2 and parts[1] == "0":
            return rec.change_key
        import hashlib

        return base64.b64encode(hashlib.sha256("|".join(parts).encode()).digest()[:24]).decode()

    # -- SyncFolderItems --------------------------------------------------------------------------

    def op_SyncFolderItems(self, op: ET.Element) -> str:
        wanted, ext = self._shape(op, "ItemShape")
        name = "SyncFolderItems"
        try:
            self._check_folder(op.find(m("SyncFolderId")))
            raw_max = op.findtext(m("MaxChangesReturned"))
            if raw_max is None:
                raise EwsFault("ErrorSchemaValidation", "MaxChangesReturned is required.")
            limit = int(raw_max)
            if not 1 <= limit <= MAX_SYNC:
                raise ItemFault(
                    "ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512."
                )
            token = (op.findtext(m("SyncState")) or "").strip()
            if token:
                prev = self.st.sync_states.get(token)
                if prev is None or prev.mailbox != self.mb.key:
                    raise ItemFault(
                        "ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid.",
                    )
                known = dict(prev.known)
            else:
                known = {}
        except ItemFault as f:
            # The message keeps SyncState (empty) and IncludesLastItemInRange, as the
            # SyncFolderItemsResponseMessage type lists them after DescriptiveLinkKey.
            tail = "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
            return response(name, [error(name, f.code, f.message, tail)])
        current: dict[str, Instance] = {
            r.id: Instance(r)
            for r in self.mb.events.values()
            if not r.deleted and r.kind in ("singleInstance", "seriesMaster")
        }
        changes: list[str] = []
        ordered = sorted(current.values(), key=lambda i: (i.record.seq, i.id))
        for inst in ordered:
            v = self._version(inst)
            if known.get(inst.id) == v:
                continue
            if len(changes) >= limit:
                break
            kind = "Update" if inst.id in known else "Create"
            body = self._render(inst, wanted, ext, complex_ok=False)
            changes.append(f"<t:{kind}>{body}</t:{kind}>")
            known[inst.id] = v
        for item_id in sorted(set(known) - set(current)):
            if len(changes) >= limit:
                break
            changes.append(f'<t:Delete><t:ItemId Id="{attr(item_id)}"/></t:Delete>')
            known.pop(item_id)
        pending = any(known.get(i) != self._version(c) for i, c in current.items()) or bool(
            set(known) - set(current)
        )
        new_token = self.st.new_sync_state(SyncState(self.mb.key, known))
        inner = (
            f"<m:SyncState>{new_token}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{'false' if pending else 'true'}"
            f"</m:IncludesLastItemInRange><m:Changes>{''.join(changes)}</m:Changes>"
        )
        return response(name, [ok(name, inner)])

    # -- FindItem (CalendarView) ------------------------------------------------------------------

    def op_FindItem(self, op: ET.Element) -> str:
        name = "FindItem"
        wanted, ext = self._shape(op, "ItemShape")
        if op.get("Traversal") != "Shallow":
            raise EwsFault("ErrorInvalidRequest", "Only a Shallow traversal is supported here.")
        view = op.find(m("CalendarView"))
        try:
            parents = op.find(m("ParentFolderIds"))
            if parents is None or len(parents) != 1:
                raise ItemFault("ErrorInvalidArgument", "One calendar folder is required.")
            self._check_folder(parents[0])
            if view is None:
                raise ItemFault(
                    "ErrorInvalidOperation", "This emulator's calendar answers CalendarView only."
                )
            start = X.parse_dt(view.get("StartDate"), "StartDate")
            end = X.parse_dt(view.get("EndDate"), "EndDate")
            if end < start:
                raise ItemFault(
                    "ErrorCalendarEndDateIsEarlierThanStartDate",
                    "EndDate is earlier than StartDate",
                )
            if end - start > timedelta(days=2 * 366):
                # A CalendarView spans at most two years (ErrorCalendarViewRangeTooBig).
                raise ItemFault(
                    "ErrorCalendarViewRangeTooBig",
                    "The time span between StartDate and EndDate is too big.",
                )
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)])
        rows = self.graph.instances_in(self.mb, start, end)
        limit = int(view.get("MaxEntriesReturned") or 0)
        complete = not limit or len(rows) <= limit
        if limit:
            rows = rows[:limit]
        body = "".join(self._render(i, wanted, ext, complex_ok=False) for i in rows)
        inner = (
            f'<m:RootFolder TotalItemsInView="{len(rows)}" IncludesLastItemInRange='
            f'"{"true" if complete else "false"}"><t:Items>{body}</t:Items></m:RootFolder>'
        )
        return response(name, [ok(name, inner)])

    # -- GetItem ----------------------------------------------------------------------------------

    def _resolve(self, ref: ET.Element) -> Instance:
        n = local(ref.tag)
        try:
            if n == "ItemId":
                return self.graph.resolve(self.mb, ref.get("Id") or "")
            if n == "OccurrenceItemId":
                master = self.graph.resolve(self.mb, ref.get("RecurringMasterId") or "").record
                index = int(ref.get("InstanceIndex") or "0")
                return self._nth(master, index)
            if n == "RecurringMasterItemId":
                inst = self.graph.resolve(self.mb, ref.get("OccurrenceId") or "")
                rec = inst.record
                if rec.kind == "exception":
                    rec = self.mb.events[rec.series_master_id or ""]
                if rec.kind != "seriesMaster":
                    raise ItemFault(
                        "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                return Instance(rec)
        except GraphApiError as e:
            if e.code == "ErrorInvalidIdMalformed":
                raise ItemFault("ErrorInvalidIdMalformed", "Id is malformed.") from e
            raise ItemFault(
                "ErrorItemNotFound", "The specified object was not found in the store."
            ) from e
        raise EwsFault("ErrorSchemaValidation", f"{n} is not an item id.")

    def _nth(self, master: Any, index: int) -> Instance:
        if master.kind != "seriesMaster" or index < 1:
            raise ItemFault(
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                "The occurrence index is out of the recurrence range.",
            )
        zi = self.graph._series_zone_for(master.recurrence, master)
        first = master.start.astimezone(zi).date()
        for i, ostart in enumerate(
            self.graph._occurrence_starts(master, first, first + timedelta(days=3660)), 1
        ):
            if i == index:
                if ostart in master.cancelled:
                    raise ItemFault(
                        "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                        "The occurrence was deleted from the recurrence.",
                    )
                if ostart in master.exceptions:
                    return Instance(self.mb.events[master.exceptions[ostart]])
                return Instance(master, ostart)
        raise ItemFault(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "The occurrence index is out of the recurrence range.",
        )

    def op_GetItem(self, op: ET.Element) -> str:
        name = "GetItem"
        wanted, ext = self._shape(op, "ItemShape")
        ids = op.find(m("ItemIds"))
        msgs = []
        for ref in list(ids) if ids is not None else []:
            try:
                inst = self._resolve(ref)
                msgs.append(ok(name, f"<m:Items>{self._render(inst, wanted, ext)}</m:Items>"))
            except ItemFault as f:
                msgs.append(error(name, f.code, f.message, "<m:Items/>"))
        return response(name, msgs)

    # -- CreateItem / UpdateItem / DeleteItem -----------------------------------------------------

    @staticmethod
    def _send_mode(op: ET.Element, attr_name: str, code: str) -> str:
        v = op.get(attr_name)
        if v is None:
            raise ItemFault(code, f"{attr_name} is required for calendar items.")
        if v not in (
            "SendToNone",
            "SendOnlyToAll",
            "SendOnlyToChanged",
            "SendToAllAndSaveCopy",
            "SendToChangedAndSaveCopy",
        ):
            raise EwsFault("ErrorSchemaValidation", f"The '{attr_name}' attribute is invalid.")
        return v

    def _graph_body(self, body: dict[str, Any], rec_attendees: list[Any] | None = None) -> None:
        groups = body.pop("_attendees", None)
        if groups is not None:
            old = [a for a in (rec_attendees or []) if a.get("type") not in groups]
            merged = [{"type": a["type"], "emailAddress": dict(a["emailAddress"])} for a in old]
            for kind in ("required", "optional", "resource"):
                merged += groups.get(kind, [])
            body["attendees"] = merged

    def op_CreateItem(self, op: ET.Element) -> str:
        name = "CreateItem"
        msgs = []
        items = op.find(m("Items"))
        try:
            send = self._send_mode(
                op, "SendMeetingInvitations", "ErrorSendMeetingInvitationsRequired"
            )
            saved = op.find(m("SavedItemFolderId"))
            if saved is not None:
                self._check_folder(saved)
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)] * max(1, len(items or [])))
        for el in list(items) if items is not None else []:
            try:
                if local(el.tag) != "CalendarItem":
                    raise ItemFault(
                        "ErrorInvalidItemForOperationCreateItem",
                        "This item type can't be created in the calendar folder.",
                    )
                body = X.calendar_item_to_body(el)
                self._graph_body(body)
                rec = self.graph.create_event(self.mb.key, body, send_copies=send != "SendToNone")
                msgs.append(
                    ok(
                        name,
                        f'<m:Items><t:CalendarItem><t:ItemId Id="{attr(rec.id)}" '
                        f'ChangeKey="{attr(self._version(Instance(rec)))}"/></t:CalendarItem>'
                        "</m:Items>",
                    )
                )
            except ItemFault as f:
                msgs.append(error(name, f.code, f.message, "<m:Items/>"))
            except GraphApiError as e:
                msgs.append(error(name, _ews_code(e), e.message, "<m:Items/>"))
        return response(name, msgs)

    def op_UpdateItem(self, op: ET.Element) -> str:
        name = "UpdateItem"
        changes = op.find(m("ItemChanges"))
        rows = list(changes) if changes is not None else []
        try:
            send = self._send_mode(
                op,
                "SendMeetingInvitationsOrCancellations",
                "ErrorSendMeetingInvitationsOrCancellationsRequired",
            )
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)] * max(1, len(rows)))
        resolution = op.get("ConflictResolution")
        if resolution not in ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite"):
            raise EwsFault("ErrorSchemaValidation", "ConflictResolution is required.")
        msgs = []
        for ch in rows:
            try:
                ref = next(c for c in ch if local(c.tag) != "Updates")
                inst = self._resolve(ref)
                ck = ref.get("ChangeKey")
                if ck and ck != self._version(inst) and resolution == "NeverOverwrite":
                    raise ItemFault(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change "
                        "key passed in the request does not match the current change key for "
                        "the item.",
                    )
                body = self._updates(ch.find(t("Updates")), inst)
                rec = self.graph.update_event(
                    self.mb.key, inst.id, body, send_copies=send != "SendToNone"
                )
                msgs.append(
                    ok(
                        name,
                        f'<m:Items><t:CalendarItem><t:ItemId Id="{attr(rec.id)}" '
                        f'ChangeKey="{attr(self._version(Instance(rec)))}"/></t:CalendarItem>'
                        "</m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
                    )
                )
            except ItemFault as f:
                msgs.append(error(name, f.code, f.message, "<m:Items/>"))
            except GraphApiError as e:
                msgs.append(error(name, _ews_code(e), e.message, "<m:Items/>"))
        return response(name, msgs)

    def _updates(self, updates: ET.Element | None, inst: Instance) -> dict[str, Any]:
        if updates is None:
            raise EwsFault("ErrorSchemaValidation", "Updates is required.")
        rec = inst.record
        body: dict[str, Any] = {}
        for u in updates:
            kind = local(u.tag)
            uri_el = u.find(t("FieldURI"))
            ext_el = u.find(t("ExtendedFieldURI"))
            field = (uri_el.get("FieldURI") or "").split(":", 1)[-1] if uri_el is not None else ""
            if kind == "DeleteItemField":
                if ext_el is not None:
                    key = X.ext_key(ext_el)
                    if key:
                        body.setdefault("singleValueExtendedProperties", []).append(
                            {"id": key, "value": ""}
                        )
                    continue
                body.update(_deleted_field(field))
                continue
            if kind not in ("SetItemField", "AppendToItemField"):
                raise EwsFault("ErrorSchemaValidation", f"{kind} is not a valid update.")
            item_el = u.find(t("CalendarItem"))
            if item_el is None:
                raise ItemFault("ErrorInvalidPropertySet", "The update names no calendar item.")
            part = X.calendar_item_to_body(item_el, current_tz=rec.start_tz)
            self._graph_body(part, rec.props.get("attendees"))
            if kind == "AppendToItemField" and "categories" in part:
                part["categories"] = list(rec.props.get("categories", [])) + part["categories"]
            for k, v in part.items():
                if k == "singleValueExtendedProperties":
                    body.setdefault(k, []).extend(v)
                else:
                    body[k] = v
        if ("start" in body) != ("end" in body):
            # The model takes start and end as a pair; keep the other where it is.
            zone = rec.start_tz
            other = "end" if "start" in body else "start"
            dt = (
                (inst.occurrence_start or rec.start)
                if other == "start"
                else ((inst.occurrence_start or rec.start) + (rec.end - rec.start))
            )
            body[other] = X._local(dt, zone)
        return body

    def op_DeleteItem(self, op: ET.Element) -> str:
        name = "DeleteItem"
        ids = op.find(m("ItemIds"))
        refs = list(ids) if ids is not None else []
        try:
            send = self._send_mode(
                op, "SendMeetingCancellations", "ErrorSendMeetingCancellationsRequired"
            )
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)] * max(1, len(refs)))
        if op.get("DeleteType") not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
            raise EwsFault("ErrorSchemaValidation", "DeleteType is required.")
        msgs = []
        for ref in refs:
            try:
                inst = self._resolve(ref)
                self.graph.delete_event(self.mb.key, inst.id, notify_attendees=send != "SendToNone")
                msgs.append(ok(name))
            except ItemFault as f:
                msgs.append(error(name, f.code, f.message))
            except GraphApiError as e:
                msgs.append(error(name, _ews_code(e), e.message))
        return response(name, msgs)

    # -- user configuration (CategoryList) --------------------------------------------------------

    def _config_name(self, op: ET.Element) -> str:
        el = op.find(m("UserConfigurationName"))
        if el is None:
            conf = op.find(m("UserConfiguration"))
            el = conf.find(t("UserConfigurationName")) if conf is not None else None
        if el is None:
            raise EwsFault("ErrorSchemaValidation", "UserConfigurationName is required.")
        self._check_folder(el)
        name = el.get("Name") or ""
        if name != "CategoryList":
            raise ItemFault("ErrorItemNotFound", "The specified object was not found in the store.")
        return name

    def op_GetUserConfiguration(self, op: ET.Element) -> str:
        name = "GetUserConfiguration"
        try:
            self._config_name(op)
            if self.mb.key not in self.st.category_lists and not self.mb.categories:
                raise ItemFault(
                    "ErrorItemNotFound", "The specified object was not found in the store."
                )
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)])
        data = base64.b64encode(_category_xml(self.mb).encode("utf-8")).decode("ascii")
        inner = (
            '<m:UserConfiguration><t:UserConfigurationName Name="CategoryList">'
            '<t:DistinguishedFolderId Id="calendar"/></t:UserConfigurationName>'
            f"<t:XmlData>{data}</t:XmlData></m:UserConfiguration>"
        )
        return response(name, [ok(name, inner)])

    def _save_config(self, op: ET.Element, name: str, *, create: bool) -> str:
        try:
            self._config_name(op)
            exists = self.mb.key in self.st.category_lists or bool(self.mb.categories)
            if create and exists:
                raise ItemFault("ErrorItemSave", "The user configuration object already exists.")
            if not create and not exists:
                raise ItemFault(
                    "ErrorItemNotFound", "The specified object was not found in the store."
                )
            conf = op.find(m("UserConfiguration"))
            raw = conf.findtext(t("XmlData")) if conf is not None else None
            if raw is not None:
                _read_categories(self.mb, base64.b64decode(raw))
            self.st.category_lists.add(self.mb.key)
        except ItemFault as f:
            return response(name, [error(name, f.code, f.message)])
        except (ValueError, ET.ParseError, binascii.Error):
            return response(
                name,
                [error(name, "ErrorInvalidRequest", "The CategoryList XmlData is not valid.")],
            )
        return response(name, [ok(name)])

    def op_CreateUserConfiguration(self, op: ET.Element) -> str:
        return self._save_config(op, "CreateUserConfiguration", create=True)

    def op_UpdateUserConfiguration(self, op: ET.Element) -> str:
        return self._save_config(op, "UpdateUserConfiguration", create=False)

    # -- GetAttachment ----------------------------------------------------------------------------

    def op_GetAttachment(self, op: ET.Element) -> str:
        name = "GetAttachment"
        ids = op.find(m("AttachmentIds"))
        msgs = []
        for ref in list(ids) if ids is not None else []:
            try:
                key, item_id, att_id = _parse_attachment_id(ref.get("Id") or "")
                rec = self.mb.events.get(item_id)
                if (
                    key != self.mb.key
                    or rec is None
                    or rec.deleted
                    or att_id not in rec.attachments
                ):
                    raise ItemFault(
                        "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                a = rec.attachments[att_id]
                content = base64.b64encode(a.data).decode("ascii")
                msgs.append(
                    ok(
                        name,
                        "<m:Attachments><t:FileAttachment>"
                        f'<t:AttachmentId Id="{attr(ref.get("Id"))}"/>'
                        f"<t:Name>{text(a.name)}</t:Name><t:ContentType>{text(a.content_type)}"
                        f"</t:ContentType><t:Size>{len(a.data)}</t:Size><t:IsInline>"
                        f"{'true' if a.is_inline else 'false'}</t:IsInline>"
                        f"<t:Content>{content}</t:Content></t:FileAttachment></m:Attachments>",
                    )
                )
            except ItemFault as f:
                msgs.append(error(name, f.code, f.message))
        return response(name, msgs)


_ALL = frozenset(
    {
        "ItemId",
        "ItemClass",
        "Subject",
        "Sensitivity",
        "Body",
        "Attachments",
        "DateTimeCreated",
        "Categories",
        "Importance",
        "HasAttachments",
        "ReminderIsSet",
        "ReminderMinutesBeforeStart",
        "LastModifiedTime",
        "UID",
        "RecurrenceId",
        "Start",
        "End",
        "OriginalStart",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "Location",
        "IsMeeting",
        "IsCancelled",
        "IsRecurring",
        "CalendarItemType",
        "MyResponseType",
        "Organizer",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Recurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "StartTimeZone",
        "EndTimeZone",
    }
)


def _deleted_field(field: str) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {
        "Location": {"location": {"displayName": ""}},
        "Categories": {"categories": []},
        "Recurrence": {"recurrence": None},
        "Body": {"body": {"contentType": "text", "content": ""}},
        "RequiredAttendees": {"_drop": "required"},
        "OptionalAttendees": {"_drop": "optional"},
        "Resources": {"_drop": "resource"},
    }
    if field not in table:
        raise ItemFault("ErrorInvalidPropertyDelete", f"The property {field} can't be deleted.")
    out = dict(table[field])
    if "_drop" in out:
        raise ItemFault("ErrorInvalidPropertyDelete", f"Set {field} to an empty list instead.")
    return out


def _ews_code(e: GraphApiError) -> str:
    """The model's refusals under their EWS ResponseCode names."""
    return {
        "ErrorCalendarEndDateIsEarlierThanStartDate": "ErrorCalendarEndDateIsEarlierThanStartDate",
        "ErrorOccurrenceCrossingBoundary": "ErrorOccurrenceCrossingBoundary",
        "TimeZoneNotSupportedException": "ErrorTimeZone",
        "ErrorItemNotFound": "ErrorItemNotFound",
        "ErrorPropertyValidationFailure": "ErrorCalendarInvalidRecurrence",
    }.get(e.code, "ErrorInvalidPropertySet")


def _ext_request_key(f: ET.Element) -> str:
    if f.get("DistinguishedPropertySetId") == "Meeting" and f.get("PropertyId") in ("3", "0x3"):
        return f"binary {{{X.PSETID_MEETING}}} id 3"
    key = X.ext_key(f)
    if key is None:
        raise EwsFault("ErrorSchemaValidation", "The ExtendedFieldURI is not valid.")
    return ext_key(key)


def _attachment_id(mailbox: str, item_id: str, att_id: str) -> str:
    raw = f"{mailbox}\x00{item_id}\x00{att_id}".encode()
    return base64.b64encode(b"\x00\x03\x24\x00\x01" + raw).decode("ascii")


def _parse_attachment_id(value: str) -> tuple[str, str, str]:
    try:
        raw = base64.b64decode(value)
        parts = raw[5:].decode().split("\x00")
        if not raw.startswith(b"\x00\x03\x24\x00\x01") or len(parts) != 3:
            raise ValueError(value)
    except (ValueError, binascii.Error) as e:
        raise ItemFault("ErrorInvalidIdMalformed", "Id is malformed.") from e
    return parts[0], parts[1], parts[2]


def _color(graph_color: str) -> int:
    return -1 if graph_color == "none" else int(graph_color.removeprefix("preset"))


def _category_xml(mb: Mailbox) -> str:
    """The CategoryList configuration's XmlData (the master category list Outlook keeps;
    Graph's outlook/masterCategories is a view of the same list)."""
    rows = "".join(
        f'<category name="{attr(c["displayName"])}" color="{_color(c["color"])}" '
        f'keyboardShortcut="0" guid="{{{attr(c["id"])}}}" renameOnFirstUse="0"/>'
        for c in mb.categories.values()
    )
    return (
        '<?xml version="1.0"?><categories default="" lastSavedSession="0" '
        f'xmlns="CategoryList.xsd">{rows}</categories>'
    )


def _read_categories(mb: Mailbox, data: bytes) -> None:
    root = ET.fromstring(data)  # noqa: S314 - our own client's XML; no DTD accepted below
    if b"<!DOCTYPE" in data:
        raise ValueError("DTD")
    cats: dict[str, dict[str, str]] = {}
    for c in root:
        if local(c.tag) != "category":
            continue
        name = c.get("name") or ""
        color = int(c.get("color", "-1"))
        if not name or not -1 <= color <= 24:
            raise ValueError(f"category {name!r} color {color}")
        gc = "none" if color < 0 else f"preset{color}"
        check_color(gc)
        cid = (c.get("guid") or "").strip("{}")
        import uuid

        cid = cid or str(uuid.uuid4())
        cats[cid] = {"id": cid, "displayName": name, "color": gc}
    mb.categories.clear()
    mb.categories.update(cats)
