"""What the routers share: the `Web` object, who is asking, forms, flashes and page rendering.

Every router reaches the `Web` of its app through `request.app.state.web` (the `WebDep`
dependency); the dependencies `PageUser`/`ApiUser` answer who is asking (Y2).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from crmcal import __version__
from crmcal.config import Config
from crmcal.connectors.errors import ConnectorError
from crmcal.domain.settings import AutoCreate, CreateRecordBy
from crmcal.state import StateStore
from crmcal.state.models import IssueRow, SessionRow, UserHealthRow
from crmcal.web import accounts, models
from crmcal.web.accounts import Principal
from crmcal.web.edge import RateLimit, Throttle
from crmcal.web.security import same
from crmcal.web.service import Invalid, NotFound, WebService

if TYPE_CHECKING:
    from crmcal.web.instant import InstantSync
    from crmcal.web.oidc import OidcClient

WAITING_REASONS = {
    "waiting_for_organizer",
    "unresolved_participants",
    "mass_delete_guard",
    "mass_delete_guard_series",
    "mass_delete_guard_group",
}


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


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
    templates: Jinja2Templates | None = None
    metrics_registry: Any = None
    login_throttle: Throttle = field(default_factory=Throttle)
    search_limit: RateLimit = field(default_factory=RateLimit)
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


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(get_web)]

# -- who is asking ----------------------------------------------------------------------------


def principal(request: Request) -> Principal | None:
    store = get_web(request).store
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


bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="token", description="An API token (`crmcal users token`)."
)
cookie_scheme = APIKeyCookie(
    name="crmcal_session",
    auto_error=False,
    scheme_name="session",
    description="The dashboard's session cookie; writes also need `X-CSRF-Token`.",
)


def api_user(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
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


def _err(text: str) -> dict[str, Any]:
    return {"model": models.Error, "description": text}


API_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("No session and no API token, or an unknown one"),
    403: _err("A write with the session cookie but without X-CSRF-Token, or admins only"),
    404: _err("No such thing, or not yours (Y2 answers the same)"),
}
"""The errors every `/api/v1` route may answer (the OpenAPI document lists them)."""
BUSY: dict[int | str, dict[str, Any]] = {
    409: _err("The user's session is running, or sync is paused or off")
}
UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: _err("Salesforce or Microsoft 365 did not answer as expected")
}


def invalid(exc: Exception) -> HTTPException:
    """A 422 whose body has the shape FastAPI's own 422s have (`HTTPValidationError`)."""
    return HTTPException(422, [{"loc": ["body"], "msg": str(exc), "type": "value_error"}])


IssueId = Annotated[int, Path(ge=1, le=2_147_483_647, description="An issue's id")]
AccountId = Annotated[int, Path(ge=1, le=2_147_483_647)]
"""Ids are 32-bit in the state store (PostgreSQL `integer`); larger ones are a 422, not a 500."""

PageUser = Annotated[Principal, Depends(page_user)]
ApiUser = Annotated[Principal, Depends(api_user)]


def search_quota(request: Request, p: ApiUser) -> None:
    """Record search costs Salesforce calls: each account gets `web.search_per_minute` of them
    (issue 19), so one person typing can't spend the org's daily allowance (O2)."""
    wait = get_web(request).search_limit.allow(f"account:{p.account_id}")
    if wait:
        raise HTTPException(
            429, "too many searches; wait a moment", {"Retry-After": str(int(wait) + 1)}
        )


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


def visible_issue(web: Web, p: Principal, issue_id: int) -> IssueRow:
    try:
        row = web.service.issue(issue_id)
    except NotFound:
        raise HTTPException(404, "not found") from None
    if not p.may_see(row.mailbox):
        raise HTTPException(404, "not found")  # Y2: the same answer as for no such issue
    return row


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append([kind, text])


def safe_next(n: str | None) -> str:
    return n if n and n.startswith("/") and not n.startswith("//") else "/issues"


def event_url(web: Web, event_id: str | None) -> str | None:
    return record_url(web, "Event", event_id)


def record_url(web: Web, sobject: str, record_id: str | None) -> str | None:
    """The record in Lightning Experience; None without an id or an instance URL."""
    if not record_id:
        return None
    try:
        return f"{web.service.crm.instance_url}/lightning/r/{sobject}/{record_id}/view"
    except ConnectorError:
        return None


def render_page(
    web: Web, request: Request, name: str, p: Principal | None, **ctx: Any
) -> HTMLResponse:
    assert web.templates is not None
    messages = request.session.pop("flash", []) if "flash" in request.session else []
    users = web.service.cfg.users
    return web.templates.TemplateResponse(
        request,
        name,
        {
            "me": p,
            "csrf": csrf(request),
            "csp_nonce": getattr(request.state, "csp_nonce", ""),
            "messages": messages,
            "oidc": web.oidc is not None,
            "users": [u for u in users if p is not None and p.may_see(u.mailbox)],
            "version": __version__,
            "fmt": _fmt,
            "status_class": status_class,
            "may_create": may_create_records(web, p),
            **ctx,
        },
    )


# -- shared between pages and the API --------------------------------------------------------


def run_force(web: Web, mb: str) -> SessionRow | None:
    svc = web.service
    r = svc.force_sync(mb)
    web.usage = svc.usage() or web.usage
    if r is None:
        return None
    with web.store.session() as s:
        return s.get(SessionRow, r.session_id)


def health_rows(web: Web, p: Principal) -> list[models.UserHealth]:
    with web.store.session() as s:
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
    for u in web.service.cfg.users:
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


class Forbidden(Exception):
    """The org's policy does not let this person do that."""


def may_create_records(web: Web, p: Principal | None) -> bool:
    """The org's `create_record_by`: `policy` follows autocreate (off: admins only)."""
    if p is None or p.is_admin:
        return p is not None
    org = web.service.cfg.org
    if org.create_record_by is CreateRecordBy.POLICY:
        return org.autocreate is not AutoCreate.OFF
    return org.create_record_by is CreateRecordBy.EVERYONE


def do_action(
    web: Web, row: IssueRow, req: models.ActionRequest, p: Principal | None = None
) -> models.ActionResult:
    svc, store = web.service, web.store
    a = req.action
    if a is models.IssueAction.CREATE_RECORD and not may_create_records(web, p):
        raise Forbidden("the org lets only admins create records; ask an admin")
    detail: dict[str, Any] = {}
    if a is models.IssueAction.DISMISS:
        svc.dismiss(row.id)
        return models.ActionResult(issue_id=row.id, action=a, resolved=True, message="Dismissed.")
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


# -- template helpers ------------------------------------------------------------------------


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


def summary(rows: list[SessionRow]) -> dict[str, Any]:
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
