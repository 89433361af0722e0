"""The FastAPI app of `crmcal serve`: dashboard pages, `/api/v1`, webhooks, `/metrics`.

Authentication (Y2): a signed session cookie (Starlette `SessionMiddleware`, itsdangerous) after a
local sign-in or an Entra ID sign-in, or `Authorization: Bearer <API token>`. Every POST form
carries the session's CSRF token; API calls made with the session cookie send it as
`X-CSRF-Token` (bearer calls need none: browsers never add that header by themselves). A user sees
and acts on their own mailbox only; anything else answers 404, as if it did not exist. Admins see
everything.
"""

import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from starlette.middleware.sessions import SessionMiddleware

from crmcal import __version__
from crmcal.config import Config
from crmcal.connectors.errors import ConnectorError
from crmcal.domain.settings import OrgSettings, UserSettings
from crmcal.state import StateStore
from crmcal.state.models import IssueRow, LinkRow, SessionRow, UserHealthRow
from crmcal.state.models_web import ORG_SCOPE
from crmcal.web import accounts, models
from crmcal.web.accounts import Principal
from crmcal.web.instant import InstantSync
from crmcal.web.metrics import StateCollector, registry, render
from crmcal.web.oidc import OidcClient, OidcError
from crmcal.web.overrides import form_fields, load_overrides, parse_form, store_overrides
from crmcal.web.security import same
from crmcal.web.service import Busy, Invalid, NotFound, WebService

log = logging.getLogger("crmcal.web")

MAX_WEBHOOK_BYTES = 1_000_000
WAITING_REASONS = {
    "waiting_for_organizer",
    "unresolved_participants",
    "mass_delete_guard",
    "mass_delete_guard_series",
}


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def session_secret(cfg: Config) -> str:
    """`server.session_secret`, else a random one kept in `<data_dir>/web-secret` (0600)."""
    if cfg.server.session_secret is not None and cfg.server.session_secret.get_secret_value():
        return cfg.server.session_secret.get_secret_value()
    path = cfg.storage.data_dir / "web-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)
    return value


@dataclass
class Web:
    """Everything the routes share; `start()`/`stop()` run the background work."""

    cfg: Config
    store: StateStore
    service: WebService
    public_url: str | None
    instant: InstantSync | None = None
    oidc: OidcClient | None = None
    usage: tuple[int, int] | None = None
    _started: bool = field(default=False)

    def start(self, *, subscribe: bool = True) -> None:
        if self._started:
            return
        self._started = True
        if self.instant is not None:
            self.instant.start(subscribe=subscribe)

    def stop(self) -> None:
        if self.instant is not None:
            self.instant.stop()
        self.service.close()
        self._started = False


def create_app(
    cfg: Config,
    store: StateStore | None = None,
    *,
    service: WebService | None = None,
    public_url: str | None = None,
) -> FastAPI:
    store = store or StateStore(cfg.storage.url())
    store.migrate()
    svc = service or WebService(cfg, store)
    base = (public_url or cfg.server.public_url or "").rstrip("/") or None
    web = Web(cfg, store, svc, base)
    if cfg.org.instant_sync and base:
        web.instant = InstantSync(
            svc, f"{base}/webhooks/graph", lifecycle_url=f"{base}/webhooks/graph/lifecycle"
        )
    if cfg.web.oidc_enabled:
        sec = cfg.web.secret()
        web.oidc = OidcClient(
            cfg.web.oidc_authority,
            cfg.web.oidc_client_id,
            sec.get_secret_value() if sec else "",
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        web.start()
        yield
        web.stop()

    app = FastAPI(
        title="crmcal",
        version=__version__,
        description="Dashboard and HTTP API of crmcal (Outlook calendars and Salesforce Events).",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN; the dashboard uses no external resources
        redoc_url=None,
    )
    app.state.web = web
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(cfg),
        session_cookie="crmcal_session",
        max_age=12 * 3600,
        same_site="lax",
        https_only=bool(base and base.startswith("https://")),
    )
    pkg = resources.files("crmcal.web")
    templates = Jinja2Templates(directory=str(Path(str(pkg / "templates"))))
    templates.env.filters["web_url"] = web_url
    app.mount("/static", StaticFiles(directory=str(Path(str(pkg / "static")))), name="static")
    collector = StateCollector(
        store,
        usage=lambda: svc.usage() or web.usage,
        process_calls=svc.api_calls,
        notifications=lambda: dict(web.instant.counts) if web.instant else {},
    )
    metrics_registry = registry(collector)

    # -- who is asking ------------------------------------------------------------------------

    def principal(request: Request) -> Principal | None:
        h = request.headers.get("authorization", "")
        if h.lower().startswith("bearer "):
            request.state.via = "token"
            return accounts.by_token(store, h[7:].strip())
        uid = request.session.get("uid")
        request.state.via = "session"
        if isinstance(uid, int):
            return accounts.by_id(store, uid)
        return None

    def page_user(request: Request) -> Principal:
        p = principal(request)
        if p is None:
            raise LoginRequired(
                str(request.url.path) + ("?" + request.url.query if request.url.query else "")
            )
        return p

    def api_user(request: Request) -> Principal:
        p = principal(request)
        if p is None:
            raise HTTPException(401, "sign in or send an API token", {"WWW-Authenticate": "Bearer"})
        unsafe = request.method not in ("GET", "HEAD") and request.state.via == "session"
        if unsafe and not same(request.headers.get("x-csrf-token"), request.session.get("csrf")):
            raise HTTPException(403, "missing or wrong X-CSRF-Token")
        return p

    def admin_api(p: Annotated[Principal, Depends(api_user)]) -> Principal:
        if not p.is_admin:
            raise HTTPException(403, "admins only")
        return p

    PageUser = Annotated[Principal, Depends(page_user)]
    ApiUser = Annotated[Principal, Depends(api_user)]

    def csrf(request: Request) -> str:
        tok = request.session.get("csrf")
        if not isinstance(tok, str):
            tok = secrets.token_urlsafe(32)
            request.session["csrf"] = tok
        return tok

    async def form_of(request: Request) -> dict[str, str]:
        """The POSTed form, after the CSRF check (403 without a valid token)."""
        form = await request.form()
        data = {k: str(v) for k, v in form.items()}
        if not same(data.get("csrf"), request.session.get("csrf")):
            raise HTTPException(403, "the form expired or did not come from this site; reload it")
        return data

    def scope_mailbox(p: Principal, wanted: str | None) -> str | None:
        """The mailbox a request is about: users get theirs; admins the one asked for (or all)."""
        if wanted:
            w = wanted.strip().lower()
            if not p.may_see(w):
                raise HTTPException(404, "not found")
            return w
        return None if p.is_admin else p.mailbox

    def own_mailbox(p: Principal, wanted: str | None) -> str:
        mb = scope_mailbox(p, wanted)
        if mb is None:
            raise HTTPException(400, "name the user (mailbox)")
        return mb

    def visible_issue(p: Principal, issue_id: int) -> IssueRow:
        try:
            row = svc.issue(issue_id)
        except NotFound:
            raise HTTPException(404, "not found") from None
        if not p.may_see(row.mailbox):
            raise HTTPException(404, "not found")  # Y2: the same answer as for no such issue
        return row

    def flash(request: Request, text: str, kind: str = "ok") -> None:
        request.session.setdefault("flash", []).append([kind, text])

    def event_url(event_id: str | None) -> str | None:
        if not event_id:
            return None
        try:
            return f"{svc.crm.instance_url}/lightning/r/Event/{event_id}/view"
        except ConnectorError:
            return None

    def render_page(request: Request, name: str, p: Principal | None, **ctx: Any) -> HTMLResponse:
        messages = request.session.pop("flash", []) if "flash" in request.session else []
        users = web.service.cfg.users
        return templates.TemplateResponse(
            request,
            name,
            {
                "me": p,
                "csrf": csrf(request),
                "messages": messages,
                "oidc": web.oidc is not None,
                "users": [u for u in users if p is not None and p.may_see(u.mailbox)],
                "version": __version__,
                "fmt": _fmt,
                "status_class": status_class,
                **ctx,
            },
        )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    # -- sign-in ------------------------------------------------------------------------------

    def safe_next(n: str | None) -> str:
        return n if n and n.startswith("/") and not n.startswith("//") else "/issues"

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
        return render_page(request, "login.html", None, next=safe_next(next), error=error)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await form_of(request)
        p = accounts.authenticate(store, form.get("username", ""), form.get("password", ""))
        if p is None:
            return render_page(
                request,
                "login.html",
                None,
                next=safe_next(form.get("next")),
                error="Wrong username or password.",
            )
        request.session.clear()
        request.session["uid"] = p.account_id
        return RedirectResponse(safe_next(form.get("next")), status_code=303)

    def redirect_uri(request: Request) -> str:
        root = web.public_url or str(request.base_url).rstrip("/")
        return f"{root}/auth/callback"

    @app.get("/login/entra", include_in_schema=False)
    def login_entra(request: Request, next: str | None = None) -> Response:
        if web.oidc is None:
            raise HTTPException(404, "Entra ID sign-in is not configured")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        request.session["oidc"] = {"state": state, "nonce": nonce, "next": safe_next(next)}
        try:
            url = web.oidc.authorize_url(redirect_uri(request), state, nonce)
        except OidcError as exc:
            return RedirectResponse(f"/login?error={quote(str(exc))}", status_code=303)
        return RedirectResponse(url, status_code=303)

    @app.get("/auth/callback", include_in_schema=False)
    def auth_callback(
        request: Request, code: str = "", state: str = "", error_description: str = ""
    ) -> Response:
        pending = request.session.pop("oidc", None)
        if web.oidc is None or not isinstance(pending, dict):
            return RedirectResponse("/login?error=sign-in+expired", status_code=303)
        if error_description or not code or not same(state, pending.get("state")):
            msg = error_description or "sign-in was interrupted; try again"
            return RedirectResponse(f"/login?error={quote(msg)}", status_code=303)
        try:
            who = web.oidc.redeem(code, redirect_uri(request), str(pending.get("nonce")))
        except OidcError as exc:
            return RedirectResponse(f"/login?error={quote(str(exc))}", status_code=303)
        is_admin = who.username in cfg.web.admins
        mailbox = who.username if svc.cfg.user(who.username) is not None else None
        if not is_admin and mailbox is None:
            msg = f"{who.username} is not a crmcal user; ask an admin to add you"
            return RedirectResponse(f"/login?error={quote(msg)}", status_code=303)
        p = accounts.sign_in_external(store, who.username, is_admin=is_admin, mailbox=mailbox)
        request.session.clear()
        request.session["uid"] = p.account_id
        return RedirectResponse(safe_next(str(pending.get("next"))), status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        await form_of(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- pages --------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def home(p: PageUser) -> Response:
        return RedirectResponse("/issues", status_code=303)

    def issue_rows(mailbox: str | None) -> list[IssueRow]:
        return store.open_issues(mailbox)

    @app.get("/issues", response_class=HTMLResponse, include_in_schema=False)
    def issues_page(request: Request, p: PageUser, user: str | None = None) -> Response:
        mb = scope_mailbox(p, user)
        rows = issue_rows(mb)
        return render_page(
            request,
            "issues.html",
            p,
            issues=[(r, event_url(r.event_id)) for r in rows],
            selected=mb,
            page="issues",
        )

    @app.post("/issues/{issue_id}/action", include_in_schema=False)
    async def issue_action_form(request: Request, issue_id: int, p: PageUser) -> Response:
        form = await form_of(request)
        row = visible_issue(p, issue_id)
        action = form.get("action", "")
        if action == models.IssueAction.SHARE_ANYWAY:
            q = f"user={quote(row.mailbox)}&item={quote(row.item_id or '')}&issue={row.id}"
            return RedirectResponse(f"/save?{q}", status_code=303)
        try:
            result = do_action(row, models.ActionRequest(action=models.IssueAction(action)))
            flash(request, result.message, "ok" if result.resolved else "warn")
        except (Invalid, Busy, NotFound, ValueError, ConnectorError) as exc:
            flash(request, f"{action}: {exc}", "error")
        back = form.get("back") or "/issues"
        return RedirectResponse(safe_next(back), status_code=303)

    def do_action(row: IssueRow, req: models.ActionRequest) -> models.ActionResult:
        a = req.action
        detail: dict[str, Any] = {}
        if a is models.IssueAction.DISMISS:
            svc.dismiss(row.id)
            return models.ActionResult(
                issue_id=row.id, action=a, resolved=True, message="Dismissed."
            )
        if a is models.IssueAction.SHARE_ANYWAY:
            if not row.item_id:
                raise Invalid("this issue is not about an item")
            if not req.who_id and not req.what_id:
                raise Invalid("share anyway needs a Name (who_id) or a Related To (what_id)")
            out = svc.save(row.mailbox, row.item_id, req.who_id, req.what_id)
            detail = {"save": out.status}
            svc.sync_named(row.mailbox, [row.item_id], trigger="share")
        elif a is models.IssueAction.CREATE_RECORD:
            created = svc.create_record(row)
            detail = {"created": [str(getattr(c, "record_id", c)) for c in created]}
        elif a is models.IssueAction.CONFIRM_DELETE:
            r = svc.confirm_deletions(row)
            if r is None:
                raise Invalid("sync is paused or off for this user")
            detail = {"session_id": r.session_id, "deleted": r.outcome.deleted}
        else:
            r = svc.retry(row)
            if r is None:
                raise Invalid("sync is paused or off for this user")
            detail = {"session_id": r.session_id, "status": str(r.status)}
        with store.session() as s:
            now = s.get(IssueRow, row.id)
            resolved = now is not None and now.resolved_at is not None
        msg = "Resolved." if resolved else "Done; the issue is still open: " + row.message
        return models.ActionResult(
            issue_id=row.id, action=a, resolved=resolved, message=msg, detail=detail
        )

    @app.get("/calendar", response_class=HTMLResponse, include_in_schema=False)
    def calendar_page(request: Request, p: PageUser, user: str | None = None) -> Response:
        mb = own_mailbox(
            p, user or p.mailbox or (svc.cfg.users[0].mailbox if svc.cfg.users else None)
        )
        now = datetime.now(UTC)
        error = None
        items = []
        try:
            items = svc.calendar.calendar_view(
                mb, now - timedelta(days=1), now + timedelta(days=14)
            )
        except ConnectorError as exc:
            error = str(exc)
        with store.session() as s:
            links = {r.item_id: r for r in s.scalars(select(LinkRow).where(LinkRow.mailbox == mb))}
        rows = sorted(items, key=lambda i: i.start)
        return render_page(
            request, "calendar.html", p, items=rows, links=links, selected=mb, error=error,
            page="calendar", event_url=event_url,
        )  # fmt: skip

    @app.get("/save", response_class=HTMLResponse, include_in_schema=False)
    def save_page(
        request: Request, p: PageUser, item: str, user: str | None = None, issue: int | None = None
    ) -> Response:
        mb = own_mailbox(p, user)
        try:
            it = svc.fetch_item(mb, item)
        except NotFound:
            raise HTTPException(404, "not found") from None
        with store.session() as s:
            link = s.scalars(
                select(LinkRow).where(LinkRow.mailbox == mb, LinkRow.item_id == item)
            ).first()
        return render_page(
            request, "save.html", p, item=it, link=link, selected=mb, issue=issue, page="calendar"
        )

    @app.post("/save", include_in_schema=False)
    async def save_form(request: Request, p: PageUser) -> Response:
        form = await form_of(request)
        mb = own_mailbox(p, form.get("user"))
        item = form.get("item", "")
        try:
            out = svc.save(mb, item, form.get("who_id"), form.get("what_id"))
            flash(request, out.message)
        except (Invalid, NotFound, Busy, ConnectorError) as exc:
            flash(request, f"Save failed: {exc}", "error")
            return RedirectResponse(f"/save?user={quote(mb)}&item={quote(item)}", status_code=303)
        return RedirectResponse(f"/calendar?user={quote(mb)}", status_code=303)

    @app.get("/sessions", response_class=HTMLResponse, include_in_schema=False)
    def sessions_page(request: Request, p: PageUser, user: str | None = None) -> Response:
        mb = scope_mailbox(p, user)
        rows = store.recent_sessions(mb, limit=50)
        return render_page(
            request, "sessions.html", p, sessions=rows, summary=_summary(rows), selected=mb,
            page="sessions",
        )  # fmt: skip

    def health_rows(p: Principal) -> list[models.UserHealth]:
        with store.session() as s:
            health = {r.mailbox: r for r in s.scalars(select(UserHealthRow))}
            counts = {
                str(mb): int(n)
                for mb, n in s.execute(
                    select(IssueRow.mailbox, func.count())
                    .where(IssueRow.resolved_at.is_(None), IssueRow.dismissed.is_(False))
                    .group_by(IssueRow.mailbox)
                )
            }
        out = []
        for u in svc.cfg.users:
            if not p.may_see(u.mailbox):
                continue
            h = health.get(u.mailbox)
            out.append(
                models.UserHealth(
                    mailbox=u.mailbox,
                    display_name=u.display_name or u.mailbox,
                    enabled=u.enabled,
                    paused=u.settings.paused,
                    last_success_at=h.last_success_at if h else None,
                    last_failure_at=h.last_failure_at if h else None,
                    consecutive_failures=h.consecutive_failures if h else 0,
                    unhealthy=h.unhealthy if h else False,
                    unhealthy_reason=h.unhealthy_reason if h else None,
                    open_issues=int(counts.get(u.mailbox, 0)),
                )
            )
        return out

    @app.get("/health", response_class=HTMLResponse, include_in_schema=False)
    def health_page(request: Request, p: PageUser) -> Response:
        return render_page(
            request,
            "health.html",
            p,
            rows=health_rows(p),
            usage=svc.usage() or web.usage,
            page="health",
        )

    @app.post("/users/{mailbox}/sync", include_in_schema=False)
    async def sync_form(request: Request, mailbox: str, p: PageUser) -> Response:
        form = await form_of(request)
        mb = own_mailbox(p, mailbox)
        try:
            r = run_force(mb)
            flash(request, f"Session {r.id}: {r.status}." if r else "Sync is paused for this user.")
        except (Busy, NotFound, ConnectorError) as exc:
            flash(request, f"Sync failed: {exc}", "error")
        return RedirectResponse(safe_next(form.get("back") or "/health"), status_code=303)

    @app.post("/users/{mailbox}/pause", include_in_schema=False)
    async def pause_form(request: Request, mailbox: str, p: PageUser) -> Response:
        form = await form_of(request)
        mb = own_mailbox(p, mailbox)
        paused = form.get("paused") == "true"
        svc.set_paused(mb, paused)
        flash(request, f"Sync {'paused' if paused else 'resumed'} for {mb}.")
        return RedirectResponse(safe_next(form.get("back") or "/health"), status_code=303)

    @app.get("/settings", response_class=HTMLResponse, include_in_schema=False)
    def settings_page(request: Request, p: PageUser, user: str | None = None) -> Response:
        mb = own_mailbox(
            p, user or p.mailbox or (svc.cfg.users[0].mailbox if svc.cfg.users else None)
        )
        u = svc.user(mb)
        return render_page(
            request, "settings.html", p, fields=form_fields(UserSettings, u.settings),
            selected=mb, overrides=load_overrides(store).get(mb, {}), page="settings",
        )  # fmt: skip

    @app.post("/settings", include_in_schema=False)
    async def settings_save(request: Request, p: PageUser, user: str | None = None) -> Response:
        form = await form_of(request)
        mb = own_mailbox(p, form.get("user") or user)
        base_user = cfg.user(mb)
        if base_user is None:
            raise HTTPException(404, "not found")
        wanted, errors = parse_form(UserSettings, svc.user(mb).settings, form)
        if wanted is None:
            cur = svc.user(mb).settings
            return render_page(
                request, "settings.html", p, fields=form_fields(UserSettings, cur, errors),
                selected=mb, overrides={}, page="settings", invalid=True,
            )  # fmt: skip
        store_overrides(store, mb, base_user.settings, wanted, p.username)
        flash(request, "Settings saved; the next session uses them.")
        return RedirectResponse(f"/settings?user={quote(mb)}", status_code=303)

    @app.get("/admin/org", response_class=HTMLResponse, include_in_schema=False)
    def org_page(request: Request, p: PageUser) -> Response:
        if not p.is_admin:
            raise HTTPException(403, "admins only")
        return render_page(
            request, "org.html", p, fields=form_fields(OrgSettings, svc.cfg.org),
            overrides=load_overrides(store).get(ORG_SCOPE, {}), page="org",
        )  # fmt: skip

    @app.post("/admin/org", include_in_schema=False)
    async def org_save(request: Request, p: PageUser) -> Response:
        form = await form_of(request)
        if not p.is_admin:
            raise HTTPException(403, "admins only")
        wanted, errors = parse_form(OrgSettings, svc.cfg.org, form)
        if wanted is None:
            return render_page(
                request, "org.html", p, fields=form_fields(OrgSettings, svc.cfg.org, errors),
                overrides={}, page="org", invalid=True,
            )  # fmt: skip
        store_overrides(store, ORG_SCOPE, cfg.org, wanted, p.username)
        flash(request, "Org settings saved; the next session uses them.")
        return RedirectResponse("/admin/org", status_code=303)

    @app.get("/siblings", response_class=HTMLResponse, include_in_schema=False)
    def siblings_page(request: Request, p: PageUser) -> Response:
        groups = svc.siblings(None if p.is_admin else p.mailbox)
        return render_page(
            request, "siblings.html", p, groups=groups, event_url=event_url, page="siblings"
        )

    # -- API ----------------------------------------------------------------------------------

    def issue_model(r: IssueRow) -> models.Issue:
        return models.Issue(
            id=r.id, mailbox=r.mailbox, reason=r.reason, message=r.message, item_id=r.item_id,
            subject=r.subject, item_start=r.item_start, web_link=r.web_link, event_id=r.event_id,
            event_url=event_url(r.event_id), first_seen=r.first_seen, last_seen=r.last_seen,
            actions=[a.replace(" ", "_") for a in r.actions],
        )  # fmt: skip

    def session_model(r: SessionRow) -> models.Session:
        return models.Session(
            id=r.id, mailbox=r.mailbox, trigger=r.trigger, status=str(r.status),
            started_at=r.started_at, finished_at=r.finished_at, stats=dict(r.stats or {}),
            error=r.error,
        )  # fmt: skip

    def run_force(mb: str) -> SessionRow | None:
        r = svc.force_sync(mb)
        web.usage = svc.usage() or web.usage
        if r is None:
            return None
        with store.session() as s:
            return s.get(SessionRow, r.session_id)

    @app.get("/api/v1/me", response_model=models.Me, tags=["account"])
    def api_me(p: ApiUser) -> models.Me:
        return models.Me(username=p.username, is_admin=p.is_admin, mailbox=p.mailbox)

    @app.get("/api/v1/health", response_model=models.Health, tags=["health"])
    def api_health(p: ApiUser) -> models.Health:
        rows = health_rows(p)
        u = svc.usage() or web.usage
        return models.Health(
            status="unhealthy" if any(r.unhealthy for r in rows) else "ok",
            users=rows,
            salesforce_api_used=u[0] if u else None,
            salesforce_api_max=u[1] if u else None,
        )

    @app.get("/api/v1/issues", response_model=list[models.Issue], tags=["issues"])
    def api_issues(p: ApiUser, mailbox: str | None = None) -> list[models.Issue]:
        return [issue_model(r) for r in issue_rows(scope_mailbox(p, mailbox))]

    @app.get("/api/v1/issues/{issue_id}", response_model=models.Issue, tags=["issues"])
    def api_issue(p: ApiUser, issue_id: int) -> models.Issue:
        return issue_model(visible_issue(p, issue_id))

    @app.post(
        "/api/v1/issues/{issue_id}/actions", response_model=models.ActionResult, tags=["issues"]
    )
    def api_issue_action(
        p: ApiUser, issue_id: int, body: models.ActionRequest
    ) -> models.ActionResult:
        row = visible_issue(p, issue_id)
        try:
            return do_action(row, body)
        except Invalid as exc:
            raise HTTPException(422, str(exc)) from None
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except ConnectorError as exc:
            raise HTTPException(502, str(exc)) from None

    @app.post("/api/v1/save", response_model=models.SaveResponse, tags=["save"])
    def api_save(p: ApiUser, body: models.SaveRequest) -> models.SaveResponse:
        """M2: on an unshared item, store the choice (the next session shares it with exactly
        these links); on a linked item, update the Event now."""
        mb = own_mailbox(p, body.mailbox)
        try:
            out = svc.save(mb, body.item_id, body.who_id, body.what_id)
        except Invalid as exc:
            raise HTTPException(422, str(exc)) from None
        except NotFound:
            raise HTTPException(404, "not found") from None
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None
        except ConnectorError as exc:
            raise HTTPException(502, str(exc)) from None
        return models.SaveResponse(
            status=models.SaveStatus(out.status), item_id=out.item_id, event_id=out.event_id,
            who_id=out.who_id, what_id=out.what_id, message=out.message,
        )  # fmt: skip

    @app.get("/api/v1/records/search", response_model=list[models.Record], tags=["save"])
    def api_search(
        p: ApiUser,
        q: Annotated[str, Query(min_length=1, max_length=80)],
        kind: models.RecordKind = models.RecordKind.WHO,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> list[models.Record]:
        try:
            refs = svc.search_records(q, kind.value, limit)
        except ConnectorError as exc:
            raise HTTPException(502, str(exc)) from None
        return [
            models.Record(
                id=r.id, type=r.sobject, name=r.name, email=r.email, account_id=r.account_id
            )
            for r in refs
        ]

    @app.get("/api/v1/sessions", response_model=list[models.Session], tags=["sessions"])
    def api_sessions(
        p: ApiUser, mailbox: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[models.Session]:
        return [session_model(r) for r in store.recent_sessions(scope_mailbox(p, mailbox), limit)]

    @app.post("/api/v1/users/{mailbox}/sync", response_model=models.Session, tags=["sessions"])
    def api_force(p: ApiUser, mailbox: str) -> models.Session:
        """O1: run the user's session now."""
        mb = own_mailbox(p, mailbox)
        try:
            row = run_force(mb)
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None
        except NotFound:
            raise HTTPException(404, "not found") from None
        if row is None:
            raise HTTPException(409, "sync is paused or off for this user")
        return session_model(row)

    @app.post("/api/v1/users/{mailbox}/pause", response_model=models.UserHealth, tags=["sessions"])
    def api_pause(p: ApiUser, mailbox: str, body: models.PauseRequest) -> models.UserHealth:
        """O1: pause or resume the user's sync."""
        mb = own_mailbox(p, mailbox)
        try:
            svc.set_paused(mb, body.paused)
        except NotFound:
            raise HTTPException(404, "not found") from None
        return next(r for r in health_rows(p) if r.mailbox == mb)

    @app.get("/api/v1/siblings", response_model=list[models.Siblings], tags=["issues"])
    def api_siblings(p: ApiUser) -> list[models.Siblings]:
        return [
            models.Siblings.model_validate(g)
            for g in svc.siblings(None if p.is_admin else p.mailbox)
        ]

    # -- webhooks (O4) ------------------------------------------------------------------------

    async def webhook_body(request: Request) -> dict[str, Any] | Response:
        token = request.query_params.get("validationToken")
        if token is not None:  # Graph's validation handshake: echo the token as text/plain
            return PlainTextResponse(token[:1024], status_code=200)
        raw = await request.body()
        if len(raw) > MAX_WEBHOOK_BYTES:
            return Response(status_code=413)
        try:
            import json as _json

            body = _json.loads(raw)
        except ValueError:
            return Response(status_code=400)
        return body if isinstance(body, dict) else {}

    @app.post("/webhooks/graph", include_in_schema=False)
    async def webhook(request: Request) -> Response:
        got = await webhook_body(request)
        if isinstance(got, Response):
            return got
        if web.instant is None:
            return Response(status_code=404)
        accepted, rejected = web.instant.accept(got)
        if rejected and not accepted:
            log.warning("dropped %d change notifications with a wrong clientState", rejected)
        return Response(status_code=202)

    @app.post("/webhooks/graph/lifecycle", include_in_schema=False)
    async def webhook_lifecycle(request: Request) -> Response:
        got = await webhook_body(request)
        if isinstance(got, Response):
            return got
        if web.instant is None:
            return Response(status_code=404)
        inst = web.instant
        threading.Thread(target=inst.lifecycle, args=(got,), daemon=True).start()
        return Response(status_code=202)

    # -- operations ---------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(admin_api)])
    def metrics() -> Response:
        return Response(render(metrics_registry), media_type="text/plain; version=0.0.4")

    return app


def web_url(value: str | None) -> str:
    """Links that came from the APIs (Outlook `webLink`) are shown only when they are https."""
    return value if value and value.startswith("https://") else ""


def _fmt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


NOTICE_REASONS = {"no_record_for_participants"}
"""Low-severity issues: nothing failed or waits; the user may act (issue 18's silent skip)."""


def status_class(reason: str) -> str:
    """Issue colours match the Outlook categories (C1-C3): waiting yellow, errors red; notices
    gray (they have no Outlook category)."""
    if reason in NOTICE_REASONS:
        return "notice"
    return "waiting" if reason in WAITING_REASONS else "error"


def _summary(rows: list[SessionRow]) -> dict[str, Any]:
    done = [r for r in rows if r.finished_at is not None]
    secs = [float((r.stats or {}).get("seconds", 0) or 0) for r in done]
    keys = ("read", "created", "updated", "deleted", "issues", "graph_calls", "salesforce_calls")
    totals = {k: sum(int((r.stats or {}).get(k, 0) or 0) for r in done) for k in keys}
    ok = sum(1 for r in done if str(r.status) in ("succeeded", "partial"))
    return {
        "count": len(rows),
        "ok": ok,
        "failed": sum(1 for r in done if str(r.status) == "failed"),
        "avg_seconds": round(sum(secs) / len(secs), 2) if secs else 0.0,
        "totals": totals,
        "success_rate": round(100.0 * ok / len(done)) if done else None,
    }
