"""Sessions and health: the pages, run-now and pause (O1), and their API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from crmcal.connectors.errors import ConnectorError
from crmcal.state.models import IntentRow, SessionRow
from crmcal.web import models
from crmcal.web.context import (
    API_ERRORS,
    BUSY,
    ApiUser,
    PageUser,
    Web,
    WebDep,
    event_url,
    flash,
    form_of,
    health_rows,
    own_mailbox,
    render_page,
    run_force,
    safe_next,
    scope_mailbox,
    summary,
)
from crmcal.web.service import Busy, NotFound

pages = APIRouter(include_in_schema=False)
SessionId = Annotated[int, Path(ge=1, le=2_147_483_647)]
api = APIRouter(prefix="/api/v1", tags=["sessions"], responses=API_ERRORS)


@pages.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, web: WebDep, p: PageUser, user: str | None = None) -> Response:
    mb = scope_mailbox(p, user)
    rows = web.store.recent_sessions(mb, limit=50)
    return render_page(
        web, request, "sessions.html", p, sessions=rows, summary=summary(rows), selected=mb,
        page="sessions",
    )  # fmt: skip


def _writes(web: Web, session_id: int) -> list[dict[str, Any]]:
    """What the session wrote (its O5 intents): side, action, the item's subject, the Event."""
    with web.store.session() as s:
        rows = list(
            s.scalars(
                select(IntentRow).where(IntentRow.session_id == session_id).order_by(IntentRow.id)
            )
        )
    out = []
    for r in rows:
        res, pay = dict(r.result or {}), dict(r.payload or {})
        ev = res.get("id") or res.get("event_id") or pay.get("event_id")
        if not ev and r.key.startswith("00U"):
            ev = r.key
        out.append(
            {
                "side": r.side,
                "action": r.action.replace("_", " "),
                "status": str(r.status),
                "subject": pay.get("Subject") or pay.get("subject") or "",
                "event_id": ev if isinstance(ev, str) else None,
            }
        )
    return out


@pages.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, web: WebDep, p: PageUser, session_id: SessionId) -> Response:
    """I2: one session: what it read, created, updated and deleted, with links."""
    with web.store.session() as s:
        row = s.get(SessionRow, session_id)
    if row is None or not (p.is_admin or (row.mailbox and p.may_see(row.mailbox))):
        raise HTTPException(404, "not found")  # Y2: the same answer as for no such session
    return render_page(
        web, request, "session.html", p, s=row, writes=_writes(web, session_id),
        event_url=lambda e: event_url(web, e), page="sessions",
    )  # fmt: skip


@pages.get("/health", response_class=HTMLResponse)
def health_page(request: Request, web: WebDep, p: PageUser) -> Response:
    return render_page(
        web,
        request,
        "health.html",
        p,
        rows=health_rows(web, p),
        usage=web.service.usage() or web.usage,
        page="health",
    )


@pages.post("/users/{mailbox}/sync")
async def sync_form(request: Request, web: WebDep, mailbox: str, p: PageUser) -> Response:
    form = await form_of(request)
    mb = own_mailbox(p, mailbox)
    try:
        r = run_force(web, mb)
        if r is not None and str(r.status) == "failed":  # red, with the reason (issue 19)
            flash(request, f"Session {r.id} failed: {r.error or 'see Sessions'}", "error")
        else:
            flash(request, f"Session {r.id}: {r.status}." if r else "Sync is paused for this user.")
    except (Busy, NotFound, ConnectorError) as exc:
        flash(request, f"Sync failed: {exc}", "error")
    return RedirectResponse(safe_next(form.get("back") or "/health"), status_code=303)


@pages.post("/users/{mailbox}/pause")
async def pause_form(request: Request, web: WebDep, mailbox: str, p: PageUser) -> Response:
    form = await form_of(request)
    mb = own_mailbox(p, mailbox)
    paused = form.get("paused") == "true"
    web.service.set_paused(mb, paused)
    flash(request, f"Sync {'paused' if paused else 'resumed'} for {mb}.")
    return RedirectResponse(safe_next(form.get("back") or "/health"), status_code=303)


def session_model(r: SessionRow) -> models.Session:
    return models.Session(
        id=r.id, mailbox=r.mailbox, trigger=r.trigger, status=str(r.status),
        started_at=r.started_at, finished_at=r.finished_at, stats=dict(r.stats or {}),
        error=r.error,
    )  # fmt: skip


@api.get("/me", response_model=models.Me, tags=["account"])
def api_me(p: ApiUser) -> models.Me:
    return models.Me(username=p.username, is_admin=p.is_admin, mailbox=p.mailbox)


@api.get("/health", response_model=models.Health, tags=["health"])
def api_health(web: WebDep, p: ApiUser) -> models.Health:
    rows = health_rows(web, p)
    u = web.service.usage() or web.usage
    return models.Health(
        status="unhealthy" if any(r.unhealthy for r in rows) else "ok",
        users=rows,
        salesforce_api_used=u[0] if u else None,
        salesforce_api_max=u[1] if u else None,
    )


@api.get("/sessions", response_model=list[models.Session])
def api_sessions(
    web: WebDep,
    p: ApiUser,
    mailbox: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[models.Session]:
    return [session_model(r) for r in web.store.recent_sessions(scope_mailbox(p, mailbox), limit)]


@api.post("/users/{mailbox}/sync", response_model=models.Session, responses=BUSY)
def api_force(web: WebDep, p: ApiUser, mailbox: str) -> models.Session:
    """O1: run the user's session now."""
    mb = own_mailbox(p, mailbox)
    try:
        row = run_force(web, mb)
    except Busy as exc:
        raise HTTPException(409, str(exc)) from None
    except NotFound:
        raise HTTPException(404, "not found") from None
    if row is None:
        raise HTTPException(409, "sync is paused or off for this user")
    return session_model(row)


@api.post("/users/{mailbox}/pause", response_model=models.UserHealth)
def api_pause(
    web: WebDep, p: ApiUser, mailbox: str, body: models.PauseRequest
) -> models.UserHealth:
    """O1: pause or resume the user's sync."""
    mb = own_mailbox(p, mailbox)
    try:
        web.service.set_paused(mb, body.paused)
    except NotFound:
        raise HTTPException(404, "not found") from None
    return next(r for r in health_rows(web, p) if r.mailbox == mb)
