"""Issues: the page, its action form, and `/api/v1/issues`."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.connectors.errors import ConnectorError
from crmcal.state.models import IssueRow
from crmcal.web import models
from crmcal.web.context import (
    API_ERRORS,
    BUSY,
    UPSTREAM,
    ApiUser,
    Forbidden,
    IssueId,
    PageUser,
    Web,
    WebDep,
    do_action,
    event_url,
    flash,
    form_of,
    invalid,
    render_page,
    safe_next,
    scope_mailbox,
    visible_issue,
)
from crmcal.web.service import Busy, Invalid, NotFound

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["issues"], responses=API_ERRORS)


def issue_rows(web: Web, mailbox: str | None) -> list[IssueRow]:
    return web.store.open_issues(mailbox)


@pages.get("/", include_in_schema=False)
def home(p: PageUser) -> Response:
    return RedirectResponse("/issues", status_code=303)


@pages.get("/issues", response_class=HTMLResponse)
def issues_page(request: Request, web: WebDep, p: PageUser, user: str | None = None) -> Response:
    mb = scope_mailbox(p, user)
    rows = issue_rows(web, mb)
    return render_page(
        web,
        request,
        "issues.html",
        p,
        issues=[(r, event_url(web, r.event_id)) for r in rows],
        selected=mb,
        page="issues",
    )


@pages.post("/issues/{issue_id}/action")
async def issue_action_form(
    request: Request, web: WebDep, issue_id: IssueId, p: PageUser
) -> Response:
    form = await form_of(request)
    row = visible_issue(web, p, issue_id)
    action = form.get("action", "")
    if action == models.IssueAction.SHARE_ANYWAY:
        q = f"user={quote(row.mailbox)}&item={quote(row.item_id or '')}&issue={row.id}"
        return RedirectResponse(f"/save?{q}", status_code=303)
    try:
        req = models.ActionRequest(action=models.IssueAction(action))
        result = do_action(web, row, req, p)
        flash(request, result.message, "ok" if result.resolved else "warn")
    except (Invalid, Busy, NotFound, ValueError, ConnectorError, Forbidden) as exc:
        flash(request, f"{action}: {exc}", "error")
    back = form.get("back") or "/issues"
    return RedirectResponse(safe_next(back), status_code=303)


def issue_model(web: Web, r: IssueRow) -> models.Issue:
    return models.Issue(
        id=r.id, mailbox=r.mailbox, reason=r.reason, message=r.message, item_id=r.item_id,
        subject=r.subject, item_start=r.item_start, web_link=r.web_link, event_id=r.event_id,
        event_url=event_url(web, r.event_id), first_seen=r.first_seen, last_seen=r.last_seen,
        actions=[a.replace(" ", "_") for a in r.actions],
    )  # fmt: skip


@api.get("/issues", response_model=list[models.Issue])
def api_issues(web: WebDep, p: ApiUser, mailbox: str | None = None) -> list[models.Issue]:
    return [issue_model(web, r) for r in issue_rows(web, scope_mailbox(p, mailbox))]


@api.get("/issues/{issue_id}", response_model=models.Issue)
def api_issue(web: WebDep, p: ApiUser, issue_id: IssueId) -> models.Issue:
    return issue_model(web, visible_issue(web, p, issue_id))


@api.post(
    "/issues/{issue_id}/actions",
    response_model=models.ActionResult,
    responses={**BUSY, **UPSTREAM},
)
def api_issue_action(
    web: WebDep, p: ApiUser, issue_id: IssueId, body: models.ActionRequest
) -> models.ActionResult:
    row = visible_issue(web, p, issue_id)
    try:
        return do_action(web, row, body, p)
    except Forbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except Invalid as exc:
        raise invalid(exc) from None
    except Busy as exc:
        raise HTTPException(409, str(exc)) from None
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ConnectorError as exc:
        raise HTTPException(502, str(exc)) from None


@api.get("/siblings", response_model=list[models.Siblings])
def api_siblings(web: WebDep, p: ApiUser) -> list[models.Siblings]:
    return [
        models.Siblings.model_validate(g)
        for g in web.service.siblings(None if p.is_admin else p.mailbox)
    ]


@pages.get("/siblings", response_class=HTMLResponse)
def siblings_page(request: Request, web: WebDep, p: PageUser) -> Response:
    groups = web.service.siblings(None if p.is_admin else p.mailbox)
    return render_page(
        web,
        request,
        "siblings.html",
        p,
        groups=groups,
        event_url=lambda e: event_url(web, e),
        page="siblings",
    )
