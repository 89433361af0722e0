"""The calendar page and the Save dialog (M2), with `/api/v1/save` and the record search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from crmcal.connectors.errors import ConnectorError
from crmcal.state.models import EventRow, LinkRow
from crmcal.web import accounts, calendar_view, models, save_view
from crmcal.web.context import (
    API_ERRORS,
    BUSY,
    UPSTREAM,
    ApiUser,
    PageUser,
    WebDep,
    event_url,
    flash,
    form_of,
    invalid,
    own_mailbox,
    record_url,
    render_page,
    search_quota,
)
from crmcal.web.service import Busy, Invalid, NotFound

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["save"], responses=API_ERRORS)


@pages.get("/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, web: WebDep, p: PageUser, user: str | None = None) -> Response:
    svc, store = web.service, web.store
    mb = own_mailbox(p, user or p.mailbox or (svc.cfg.users[0].mailbox if svc.cfg.users else None))
    now = datetime.now(UTC)
    error = None
    items = []
    try:
        items = svc.calendar.calendar_view(mb, now - timedelta(days=1), now + timedelta(days=14))
    except ConnectorError as exc:
        error = str(exc)
    with store.session() as s:
        links = {r.item_id: r for r in s.scalars(select(LinkRow).where(LinkRow.mailbox == mb))}
        eids = [str(links[i.id].event_id) for i in items if i.id in links and links[i.id].event_id]
        events = {e.event_id: e for e in s.scalars(
            select(EventRow).where(EventRow.event_id.in_(eids)))} if eids else {}  # fmt: skip
    named = calendar_view.linked_names(svc.crm, links, events, {i.id for i in items})
    chosen = accounts.time_zone(store, p.account_id)
    zone_name = chosen or calendar_view.mailbox_zone(items)
    zone = ZoneInfo(zone_name)
    return render_page(
        web, request, "calendar.html", p, days=calendar_view.by_day(items, zone), links=links,
        named=named, record_url=lambda o, r: record_url(web, o, r), selected=mb, error=error,
        page="calendar", event_url=lambda e: event_url(web, e),
        zone=zone_name, zone_chosen=bool(chosen), zones=calendar_view.ZONES,
        when=lambda it: calendar_view.when(it, zone), category_class=calendar_view.category_class,
    )  # fmt: skip


@pages.post("/account/zone")
async def zone_form(request: Request, web: WebDep, p: PageUser) -> Response:
    """The viewer's time zone for the dashboard (empty: the mailbox's)."""
    form = await form_of(request)
    raw = form.get("zone", "").strip()
    zone = calendar_view.valid_zone(raw) if raw else None
    if raw and zone is None:
        flash(request, f"{raw[:60]!r} is not a time zone name (e.g. Europe/Berlin).", "error")
    else:
        accounts.set_time_zone(web.store, p.account_id, zone)
        flash(request, f"Times are shown in {zone}." if zone else "Times follow the mailbox.")
    back = form.get("back") or "/calendar"
    return RedirectResponse(back if back.startswith("/calendar") else "/calendar", status_code=303)


@pages.get("/save", response_class=HTMLResponse)
def save_page(
    request: Request,
    web: WebDep,
    p: PageUser,
    item: str,
    user: str | None = None,
    issue: int | None = None,
) -> Response:
    svc, store = web.service, web.store
    mb = own_mailbox(p, user)
    try:
        it = svc.fetch_item(mb, item)
    except NotFound:
        raise HTTPException(404, "not found") from None
    with store.session() as s:
        link = s.scalars(
            select(LinkRow).where(LinkRow.mailbox == mb, LinkRow.item_id == item)
        ).first()
    current = save_view.current_links(svc, link.event_id if link else None)
    people, answered = save_view.participants(svc, mb, it)
    return render_page(
        web, request, "save.html", p, item=it, link=link, selected=mb, issue=issue,
        page="calendar", current=current, people=people, people_ok=answered,
        event_url=lambda e: event_url(web, e),
    )  # fmt: skip


@pages.post("/save")
async def save_form(request: Request, web: WebDep, p: PageUser) -> Response:
    svc = web.service
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


@api.post(
    "/save",
    response_model=models.SaveResponse,
    responses={
        400: {"model": models.Error, "description": "An admin must name the mailbox"},
        **BUSY,
        **UPSTREAM,
    },
)
def api_save(web: WebDep, p: ApiUser, body: models.SaveRequest) -> models.SaveResponse:
    """M2: on an unshared item, store the choice (the next session shares it with exactly
    these links); on a linked item, update the Event now."""
    svc = web.service
    mb = own_mailbox(p, body.mailbox)
    try:
        out = svc.save(mb, body.item_id, body.who_id, body.what_id)
    except Invalid as exc:
        raise invalid(exc) from None
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


@api.get(
    "/records/search",
    response_model=list[models.Record],
    dependencies=[Depends(search_quota)],
    responses={
        429: {"model": models.Error, "description": "Too many searches from this account"},
        **UPSTREAM,
    },
)
def api_search(
    web: WebDep,
    p: ApiUser,
    q: Annotated[str, Query(min_length=1, max_length=80)],
    kind: models.RecordKind = models.RecordKind.WHO,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[models.Record]:
    try:
        refs = web.service.search_records(q, kind.value, limit)
    except ConnectorError as exc:
        raise HTTPException(502, str(exc)) from None
    return [
        models.Record(id=r.id, type=r.sobject, name=r.name, email=r.email, account_id=r.account_id)
        for r in refs
    ]
