"""The Outlook add-in (M7): manifest, icons, task pane and the pane's small API, under `/addin/`.

`crmcal serve` mounts `router(web)` (one include line in web/app.py). Everything here sets its own
security headers: the task pane is framed by Outlook on the web (so `frame-ancestors` names
Outlook's hosts, not `'none'` like the dashboard), loads Office.js from Microsoft's CDN (the only
script from elsewhere, as Microsoft requires) and talks to nothing but crmcal and Entra ID.

The pane's API (`/addin/api/...`) takes `Authorization: Bearer <token>`: an Entra access token
(Nested App Authentication, Exchange Online) or a crmcal API token (Exchange Server), see
`addin_auth.py`. It acts on the signed-in user's own mailbox only (Y2) and calls the same
`WebService` functions as `/api/v1` (record search, Save, issues' Create record); Unsync sets the
`Salesforce Unsync` category (M5) and, for a linked item, runs the targeted session at once.

Item identity: Outlook gives the pane an EWS id (`item.itemId`); the pane also sends
`convertToRestId(itemId, v2.0)`, the id Graph uses. crmcal looks its link up under either form and
reads the item from the calendar backend by the form that backend uses (decision 0140).
"""

import html
import json
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from crmcal import __version__
from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.tls import verify_of
from crmcal.domain import Item
from crmcal.domain.calendar import Sensitivity
from crmcal.rules import categories as cat
from crmcal.state.models import EventRow, IssueRow, LinkRow
from crmcal.sync.plan import UNSYNCED
from crmcal.web import accounts
from crmcal.web.accounts import Principal
from crmcal.web.addin_auth import EntraTokens, TokenError, looks_like_jwt
from crmcal.web.service import Busy, Invalid, NotFound, Paused, WebService

if TYPE_CHECKING:
    from crmcal.web.app import Web

OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
"""Microsoft requires add-ins to load Office.js from its CDN (AppSource policy 1120.2)."""
ICON_SIZES = (16, 32, 64, 80, 128)
FRAME_ANCESTORS = (
    "'self' https://outlook.office.com https://outlook.office365.com https://outlook.live.com "
    "https://*.outlook.com https://*.office.com https://*.office365.com https://*.microsoft.com "
    "https://*.cloud.microsoft"
)
STATIC = Path(str(resources.files("crmcal.web") / "addin_static"))
WHO_TYPES = {"Contact", "Lead"}


def headers(public_url: str | None, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The add-in's own policy (Outlook frames the pane; the dashboard forbids any framing).
    `extra`: `web.addin_frame_ancestors` (Exchange Server's Outlook on the web)."""
    own = "".join(f" {o}" for o in extra)
    if public_url:
        p = urlsplit(public_url)
        own += f" {p.scheme}://{p.netloc}"
    csp = (
        "default-src 'self'; "
        f"script-src 'self' {OFFICE_JS.rsplit('/lib/', 1)[0]}; "
        "style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' https://login.microsoftonline.com; "
        "frame-src https://login.microsoftonline.com; "
        f"frame-ancestors {FRAME_ANCESTORS}{own}; base-uri 'none'; form-action 'self'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


# -- request and answer shapes ---------------------------------------------------------------


class ItemRef(BaseModel):
    rest_id: str | None = Field(default=None, max_length=1024, description="convertToRestId(v2.0)")
    ews_id: str | None = Field(default=None, max_length=1024, description="item.itemId (EWS)")
    mailbox: str | None = Field(default=None, description="userProfile.emailAddress")


class PaneSave(ItemRef):
    who_id: str | None = Field(default=None, max_length=18)
    what_id: str | None = Field(default=None, max_length=18)


class RecordOut(BaseModel):
    id: str
    type: str
    name: str
    url: str | None = None
    email: str = ""


class SiblingOut(BaseModel):
    event_id: str
    owner: str
    url: str | None = None


class ItemStatus(BaseModel):
    item_id: str
    subject: str
    state: str
    """shared, marked, waiting, unresolved, error, unsynced, not_shared."""
    status: str
    """In the words of the item's status category (C3) when it has one."""
    notes: list[str] = []
    event_id: str | None = None
    event_url: str | None = None
    who: RecordOut | None = None
    what: RecordOut | None = None
    siblings: list[SiblingOut] = []
    issue_id: int | None = None
    can_create_record: bool = False
    unresolved: list[str] = []
    is_occurrence: bool = False
    series_master_id: str | None = None


class PaneAnswer(BaseModel):
    ok: bool
    message: str
    status: ItemStatus | None = None


# -- ids -------------------------------------------------------------------------------------


def rest_of(ews_id: str) -> str:
    """What `convertToRestId(id, v2.0)` does: EWS ids are base64, REST ids URL-safe base64."""
    return ews_id.replace("/", "-").replace("+", "_")


def ews_of(rest_id: str) -> str:
    return rest_id.replace("-", "/").replace("_", "+")


@dataclass(frozen=True, slots=True)
class Pane:
    web: "Web"

    @property
    def svc(self) -> WebService:
        return self.web.service

    def item_id(self, mailbox: str, ref: ItemRef) -> str:
        """The id crmcal knows the item by: a link's id in either form, else the REST form (the
        Graph backend's ids)."""
        forms = [f for f in (ref.rest_id, ref.ews_id) if f]
        if ref.ews_id:
            forms.append(rest_of(ref.ews_id))
        if ref.rest_id:
            forms.append(ews_of(ref.rest_id))
        if not forms:
            raise HTTPException(422, "the item has no id yet: save it in Outlook first")
        with self.web.store.session() as s:
            row = s.scalars(
                select(LinkRow.item_id).where(
                    LinkRow.mailbox == mailbox, LinkRow.item_id.in_(forms)
                )
            ).first()
        if row:
            return str(row)
        return ref.rest_id or rest_of(ref.ews_id or "")

    def link(self, mailbox: str, item_id: str) -> LinkRow | None:
        with self.web.store.session() as s:
            return s.scalars(
                select(LinkRow).where(LinkRow.mailbox == mailbox, LinkRow.item_id == item_id)
            ).first()

    def issue(self, mailbox: str, item_id: str) -> IssueRow | None:
        with self.web.store.session() as s:
            return s.scalars(
                select(IssueRow)
                .where(
                    IssueRow.mailbox == mailbox,
                    IssueRow.item_id == item_id,
                    IssueRow.resolved_at.is_(None),
                    IssueRow.dismissed.is_(False),
                )
                .order_by(IssueRow.id.desc())
            ).first()

    def url(self, sobject: str, rid: str | None) -> str | None:
        if not rid:
            return None
        try:
            return f"{self.svc.crm.instance_url}/lightning/r/{sobject}/{rid}/view"
        except ConnectorError:
            return None

    def records(self, *ids: str | None) -> dict[str, RecordOut]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        try:
            refs = self.svc.crm.records_by_ids(wanted)
        except ConnectorError:
            refs = []
        out = {
            r.id: RecordOut(id=r.id, type=r.sobject, name=r.name, email=r.email,
                            url=self.url(r.sobject, r.id))
            for r in refs
        }  # fmt: skip
        for i in wanted:  # any object that can own activities: shown by id
            out.setdefault(i, RecordOut(id=i, type="Record", name=i, url=self.url("Record", i)))
        return out

    def status(self, mailbox: str, item: Item, *, may_create: bool = True) -> ItemStatus:
        """`may_create`: the org's `create_record_by` lets this user create records (issue 19);
        otherwise the pane does not offer Create record (the API would answer 403)."""
        link = self.link(mailbox, item.id)
        issue = self.issue(mailbox, item.id)
        who_id, what_id = self._links(link)
        recs = self.records(who_id, what_id)
        st = ItemStatus(
            item_id=item.id,
            subject=item.subject,
            state="not_shared",
            status="Not shared with Salesforce.",
            is_occurrence=item.series_master_id is not None,
            series_master_id=item.series_master_id,
        )
        if link is not None:
            st.who = recs.get(who_id or "")
            st.what = recs.get(what_id or "")
            st.event_id = link.event_id
            st.event_url = self.url("Event", link.event_id)
        words = next((c[len(cat.STATUS_PREFIX) :] for c in item.categories
                      if c.startswith(cat.STATUS_PREFIX)), None)  # fmt: skip
        self._state(st, item, link, issue, words)
        st.can_create_record = st.can_create_record and may_create
        st.notes = self._notes(mailbox, item)
        if st.event_id:
            st.siblings = self._siblings(mailbox, item, st.event_id)
        return st

    def _links(self, link: LinkRow | None) -> tuple[str | None, str | None]:
        """The Name and Related To: on a linked item what the Event carries (Initial Search's
        or the user's choice, as last written); on a marked one the stored choice; else none."""
        if link is None:
            return None, None
        if link.event_id:
            with self.web.store.session() as s:
                ev = s.get(EventRow, link.event_id)
            if ev is not None:
                return (ev.who_ids[0] if ev.who_ids else link.who_id), ev.what_id or link.what_id
            return link.who_id, link.what_id
        if link.status == UNSYNCED:
            return None, None
        return link.who_id, link.what_id

    def _state(
        self,
        st: ItemStatus,
        item: Item,
        link: LinkRow | None,
        issue: IssueRow | None,
        words: str | None,
    ) -> None:
        marked = cat.SALESFORCE in item.categories
        if cat.UNSYNC in item.categories and link is not None and link.event_id:
            st.state = "unsynced"
            st.status = "Unsync requested: the next session removes the Event."
        elif link is not None and link.event_id:
            st.state, st.status = "shared", words or "Shared with Salesforce."
        elif issue is not None:
            st.state = "unresolved" if issue.reason == "unresolved_participants" else (
                "waiting" if issue.reason == "waiting_for_organizer" else "error")  # fmt: skip
            st.status = words or issue.message
            st.issue_id = issue.id
            st.can_create_record = "create record" in (issue.actions or [])
            if st.state == "unresolved":
                st.unresolved = [a.strip() for a in (words or issue.message).split(":", 1)[-1]
                                 .split(",") if "@" in a]  # fmt: skip
        elif words:
            st.state = "error" if words.startswith("Not synced") else "waiting"
            st.status = words
        elif link is not None and link.status == UNSYNCED and not marked:
            st.status = "Unshared: crmcal removed its Event. Save shares it again."
        elif marked or (link is not None and link.share_mode == "save"):
            st.state, st.status = "marked", "Marked: the next session shares it with Salesforce."

    def _notes(self, mailbox: str, item: Item) -> list[str]:
        notes = []
        if item.sensitivity is not Sensitivity.NORMAL:
            notes.append("Private: never shared automatically; Save keeps it private (A3, M6).")
        org = self.svc.cfg.org
        people = [a.email.address for a in item.attendees]
        if item.organizer is not None:
            people.append(item.organizer.address)
        people = [p for p in people if p and p.lower() != mailbox]
        if item.attendees and all(org.is_internal(p) for p in people):
            notes.append("Internal: no external participants; shared only when you Save (A4).")
        return notes

    def _siblings(self, mailbox: str, item: Item, event_id: str) -> list[SiblingOut]:
        for g in self.svc.siblings(mailbox):
            if any(e["event_id"] == event_id for e in g["events"]):
                return [
                    SiblingOut(event_id=e["event_id"], owner=str(e["owner"]),
                               url=self.url("Event", e["event_id"]))
                    for e in g["events"]
                ]  # fmt: skip
        return []


# -- icons -----------------------------------------------------------------------------------


@cache
def icon_png(size: int) -> bytes:
    """crmcal's icon: a blue rounded tile with a white calendar sheet (drawn, no binary file)."""
    blue, white, none = (0, 95, 184, 255), (255, 255, 255, 255), (0, 0, 0, 0)
    r = max(2, size // 6)
    rows = []
    for y in range(size):
        row = bytearray(b"\0")
        for x in range(size):
            cx = min(x, size - 1 - x)
            cy = min(y, size - 1 - y)
            corner = cx < r and cy < r and (r - cx) ** 2 + (r - cy) ** 2 > r * r
            px = none if corner else blue
            m = size // 5
            if m <= x < size - m and m + size // 10 <= y < size - m:
                px = white
                band = m + size // 10 + max(1, size // 8)
                if y < band:
                    px = (255, 214, 0, 255)
            row.extend(bytes(px))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# -- the router ------------------------------------------------------------------------------


class _PaneRoutes:
    """What the add-in's routes share: the pane, its headers, who is asking and their item."""

    def __init__(self, web: "Web") -> None:
        self.web = web
        self.pane = Pane(web)
        self.cfg = cfg = web.cfg
        self.entra: EntraTokens | None = None
        if cfg.web.oidc_enabled:
            self.entra = EntraTokens(
                cfg.web.oidc_authority,
                cfg.web.oidc_client_id,
                public_url=web.public_url,
                verify=verify_of(cfg.graph.ca_bundle),
            )
        self.hdrs = headers(web.public_url, cfg.web.addin_frame_ancestors)

    def base(self, request: Request) -> str:
        return self.web.public_url or str(request.base_url).rstrip("/")

    def pane_user(self, request: Request) -> Principal:
        h = request.headers.get("authorization", "")
        token = h[7:].strip() if h.lower().startswith("bearer ") else ""
        if not token:
            raise HTTPException(401, "Sign in to crmcal first.", {"WWW-Authenticate": "Bearer"})
        if looks_like_jwt(token):
            return self._entra_user(token)
        p = accounts.by_token(self.web.store, token)
        if p is None:
            raise HTTPException(401, "This crmcal token is not valid (it may have been replaced).")
        return p

    def _entra_user(self, token: str) -> Principal:
        if self.entra is None:
            raise HTTPException(401, "Entra ID sign-in is not set up on this crmcal server.")
        try:
            who = self.entra.validate(token)
        except TokenError as exc:
            raise HTTPException(401, f"Sign-in was refused: {exc}.") from None
        u = self.web.service.cfg.user(who.username)
        if u is None:
            raise HTTPException(403, f"{who.username} is not a crmcal user; ask an admin.")
        return accounts.sign_in_external(
            self.web.store,
            who.username,
            is_admin=who.username in self.cfg.web.admins,
            mailbox=u.mailbox,
        )

    @staticmethod
    def mailbox_of(p: Principal, ref: "ItemRef") -> str:
        if not p.mailbox:
            raise HTTPException(403, f"The crmcal account {p.username} has no mailbox.")
        if ref.mailbox and ref.mailbox.strip().lower() != p.mailbox:
            raise HTTPException(
                403, f"You are signed in to crmcal as {p.mailbox}, not as {ref.mailbox.strip()}."
            )
        return p.mailbox

    def fetch(self, mb: str, item_id: str) -> Item:
        try:
            return self.pane.svc.fetch_item(mb, item_id)
        except NotFound:
            raise HTTPException(404, "crmcal cannot find this item in your calendar.") from None
        except ConnectorError as exc:
            raise HTTPException(502, f"Outlook did not answer: {exc}") from None

    def answer(self, model: BaseModel) -> JSONResponse:
        return JSONResponse(model.model_dump(mode="json"), headers=self.hdrs)

    def status(self, p: Principal, mb: str, item: Item | str) -> ItemStatus:
        """The item's status for `p`, Create record offered only where `p` may use it."""
        from crmcal.web.context import may_create_records

        got = item if isinstance(item, Item) else self.fetch(mb, item)
        return self.pane.status(mb, got, may_create=may_create_records(self.web, p))


def router(web: "Web") -> APIRouter:
    r = APIRouter(prefix="/addin", include_in_schema=False)
    rt = _PaneRoutes(web)
    user = Annotated[Principal, Depends(rt.pane_user)]
    _file_routes(r, rt)
    _read_routes(r, rt, user)
    _write_routes(r, rt, user)
    return r


def _file_routes(r: APIRouter, rt: _PaneRoutes) -> None:
    """The manifest, icons, the task pane page and its files."""
    cfg, entra, hdrs, base = rt.cfg, rt.entra, rt.hdrs, rt.base

    @r.get("/manifest.xml")
    def manifest(request: Request) -> Response:
        from crmcal.web.addin_manifest import manifest_xml

        root = base(request)
        xml = manifest_xml(root, version=__version__, client_id=cfg.web.oidc_client_id)
        return Response(
            xml,
            media_type="application/xml",
            headers={**hdrs, "Content-Disposition": 'attachment; filename="crmcal-manifest.xml"'},
        )

    @r.get("/icon-{size}.png")
    def icon(size: int) -> Response:
        if size not in ICON_SIZES:
            raise HTTPException(404, "not found")
        return Response(icon_png(size), media_type="image/png", headers=hdrs)

    @r.get("/taskpane.html", response_class=HTMLResponse)
    def taskpane(request: Request, demo: str | None = None) -> Response:
        page = (STATIC / "taskpane.html").read_text(encoding="utf-8")
        settings = {
            "clientId": cfg.web.oidc_client_id if entra else "",
            "authority": cfg.web.oidc_authority.removesuffix("/v2.0") if entra else "",
            "scope": entra.audiences[-1] + "/" + "access_as_user" if entra else "",
            "demo": demo is not None,
        }
        host = "/addin/demo-host.js" if demo is not None else OFFICE_JS
        page = page.replace("{{OFFICE_JS}}", html.escape(host)).replace(
            "{{SETTINGS}}", html.escape(json.dumps(settings), quote=False)
        )
        return HTMLResponse(page, headers=hdrs)

    @r.get("/{name}.{ext}")
    def asset(name: str, ext: str) -> Response:
        kinds = {"js": "text/javascript", "css": "text/css"}
        path = STATIC / f"{name}.{ext}"
        if ext not in kinds or not name.replace("-", "").isalnum() or not path.is_file():
            raise HTTPException(404, "not found")
        return Response(path.read_bytes(), media_type=kinds[ext], headers=hdrs)


def _read_routes(r: APIRouter, rt: _PaneRoutes, User: Any) -> None:
    """The pane's reads: who is signed in, items, an item's status, record search."""
    pane, hdrs, mailbox_of, fetch, answer = rt.pane, rt.hdrs, rt.mailbox_of, rt.fetch, rt.answer

    @r.get("/api/me")
    def me(p: User) -> JSONResponse:
        return JSONResponse({"username": p.username, "mailbox": p.mailbox}, headers=hdrs)

    @r.get("/api/items")
    def items(p: User) -> JSONResponse:
        """Demo mode's item picker: the user's items of the next two weeks."""
        mb = mailbox_of(p, ItemRef())
        now = datetime.now(UTC)
        try:
            got = pane.svc.calendar.calendar_view(
                mb, now - timedelta(days=1), now + timedelta(days=14)
            )
        except ConnectorError as exc:
            raise HTTPException(502, f"Outlook did not answer: {exc}") from None
        out = [{"id": i.id, "subject": i.subject, "start": i.start.isoformat()}
               for i in sorted(got, key=lambda i: i.start)]  # fmt: skip
        return JSONResponse(out, headers=hdrs)

    @r.post("/api/item")
    def item_status(p: User, ref: ItemRef) -> JSONResponse:
        mb = mailbox_of(p, ref)
        item = fetch(mb, pane.item_id(mb, ref))
        return answer(rt.status(p, mb, item))

    @r.get("/api/records")
    def records(
        p: User,
        q: Annotated[str, Query(min_length=1, max_length=80)],
        kind: Annotated[str, Query(pattern="^(who|what)$")] = "who",
    ) -> JSONResponse:
        try:
            refs = pane.svc.search_records(q, kind, 10)
        except ConnectorError as exc:
            raise HTTPException(502, f"Salesforce did not answer: {exc}") from None
        out = [
            RecordOut(id=x.id, type=x.sobject, name=x.name, email=x.email,
                      url=pane.url(x.sobject, x.id)).model_dump()
            for x in refs
        ]  # fmt: skip
        return JSONResponse(out, headers=hdrs)


def _write_routes(r: APIRouter, rt: _PaneRoutes, User: Any) -> None:
    """The pane's writes: Save, Unsync, Create record."""
    pane, mailbox_of, fetch, answer = rt.pane, rt.mailbox_of, rt.fetch, rt.answer

    @r.post("/api/save")
    def save(p: User, body: PaneSave) -> JSONResponse:
        mb = mailbox_of(p, body)
        item_id = pane.item_id(mb, body)
        try:
            out = pane.svc.save(mb, item_id, body.who_id, body.what_id)
        except Invalid as exc:
            return answer(PaneAnswer(ok=False, message=str(exc)))
        except NotFound:
            raise HTTPException(404, "crmcal cannot find this item in your calendar.") from None
        except Busy as exc:
            raise HTTPException(409, f"{exc}; try again in a minute.") from None
        except ConnectorError as exc:
            raise HTTPException(502, f"Salesforce or Outlook did not answer: {exc}") from None
        st = rt.status(p, mb, out.item_id)
        return answer(PaneAnswer(ok=True, message=out.message, status=st))

    @r.post("/api/unsync")
    def unsync(p: User, ref: ItemRef) -> JSONResponse:
        """M5: the `Salesforce Unsync` category; a linked item is unshared at once."""
        mb = mailbox_of(p, ref)
        item = fetch(mb, pane.item_id(mb, ref))
        link = pane.link(mb, item.id)
        if link is None or link.event_id is None:
            return answer(PaneAnswer(ok=False, message="This item is not shared; nothing to undo."))
        try:
            if cat.UNSYNC not in item.categories:
                pane.svc.calendar.set_categories(mb, {item.id: [*item.categories, cat.UNSYNC]})
            msg = "Unshared: crmcal removed the Event it had created."
            try:
                pane.svc.sync_items(mb, [item.id], trigger="unsync")
            except Paused:
                msg = "Sync is paused: the Event is removed when sync resumes."
        except Busy as exc:
            raise HTTPException(409, f"{exc}; try again in a minute.") from None
        except ConnectorError as exc:
            raise HTTPException(502, f"Salesforce or Outlook did not answer: {exc}") from None
        return answer(PaneAnswer(ok=True, message=msg, status=rt.status(p, mb, item.id)))

    @r.post("/api/create-record")
    def create_record(p: User, ref: ItemRef) -> JSONResponse:
        """M4/K: records for the unresolved participants, then the item is looked at again."""
        from crmcal.web.context import may_create_records

        if not may_create_records(rt.web, p):  # the org's create_record_by, as in the dashboard
            raise HTTPException(403, "Your admin has not allowed you to create records.")
        mb = mailbox_of(p, ref)
        item_id = pane.item_id(mb, ref)
        issue = pane.issue(mb, item_id)
        if issue is None or "create record" not in (issue.actions or []):
            return answer(PaneAnswer(ok=False, message="No participant of this item needs one."))
        try:
            made = pane.svc.create_record(issue)
        except Invalid as exc:
            return answer(PaneAnswer(ok=False, message=str(exc)))
        except Busy as exc:
            raise HTTPException(409, f"{exc}; try again in a minute.") from None
        except ConnectorError as exc:
            raise HTTPException(502, f"Salesforce did not answer: {exc}") from None
        n = len(made)
        msg = f"Created {n} record{'s' if n != 1 else ''} in Salesforce."
        return answer(PaneAnswer(ok=True, message=msg, status=rt.status(p, mb, item_id)))
