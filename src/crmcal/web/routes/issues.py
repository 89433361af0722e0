"""Issues: the page, its action form, and `/api/v1/issues`."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.connectors.errors import ConnectorError
from crmcal.state.models import IssueRow
from crmcal.web import issue_views, models
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
    may_create_records,
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
    return RedirectResponse("/overview" if p.is_admin else "/issues", status_code=303)


@pages.get("/issues", response_class=HTMLResponse)
def issues_page(
    request: Request,
    web: WebDep,
    p: PageUser,
    user: str | None = None,
    reason: str | None = None,
    view: str | None = None,
) -> Response:
    mb = scope_mailbox(p, user)
    gone = view == "dismissed"
    rows = issue_views.dismissed(web.store, mb) if gone else issue_rows(web, mb)
    by_reason, by_user = issue_views.counts(rows)
    if reason:
        rows = [r for r in rows if r.reason == reason]
    may = may_create_records(web, p)
    return render_page(
        web,
        request,
        "issues.html",
        p,
        issues=[(r, event_url(web, r.event_id)) for r in rows],
        offered={r.id: issue_views.offered(r, may_create=may) for r in rows},
        hints={r.id: issue_views.hint(r) for r in rows},
        by_reason=sorted(by_reason.items()),
        by_user=sorted(by_user.items()),
        reason=reason or "",
        view="dismissed" if gone else "open",
        undo=request.session.pop("undo", None) or [],
        selected=mb,
        page="issues",
    )


def _back(p: PageUser, form: dict[str, str]) -> str:
    return safe_next(form.get("back") or "/issues")


@pages.post("/issues/bulk")
async def issues_bulk(request: Request, web: WebDep, p: PageUser) -> Response:
    """Retry or Dismiss the ticked issues; a dismissal can be undone."""
    form = await form_of(request)
    raw = await request.form()
    ids = [int(str(v)) for v in raw.getlist("ids") if str(v).isdigit() and len(str(v)) < 10]
    action = form.get("action", "")
    if action not in ("retry", "dismiss") or not ids:
        flash(request, "Tick at least one issue, then choose Retry or Dismiss.", "warn")
        return RedirectResponse(_back(p, form), status_code=303)
    done, failed = [], 0
    for i in ids:
        try:
            row = visible_issue(web, p, i)
            do_action(web, row, models.ActionRequest(action=models.IssueAction(action)), p)
            done.append(i)
        except HTTPException:
            failed += 1
        except (Invalid, Busy, NotFound, ConnectorError, Forbidden):
            failed += 1
    verb = "Dismissed" if action == "dismiss" else "Retried"
    text = f"{verb} {len(done)} issue{'s' if len(done) != 1 else ''}."
    if failed:
        text += f" {failed} could not be {verb.lower()}."
    if action == "dismiss" and done:
        request.session["undo"] = done
    flash(request, text, "error" if failed and not done else ("warn" if failed else "ok"))
    return RedirectResponse(_back(p, form), status_code=303)


@pages.post("/issues/undo")
async def issues_undo(request: Request, web: WebDep, p: PageUser) -> Response:
    """Undo the last dismissal, or restore the ticked issues of the Dismissed view."""
    form = await form_of(request)
    raw = await request.form()
    ids = [int(str(v)) for v in raw.getlist("ids") if str(v).isdigit() and len(str(v)) < 10]
    mine = None if p.is_admin else {p.mailbox} if p.mailbox else set()
    n = issue_views.undismiss(web.store, ids, mine)
    flash(request, f"{n} issue{'s' if n != 1 else ''} back in the open list.")
    return RedirectResponse(_back(p, form), status_code=303)


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
        if req.action is models.IssueAction.DISMISS:
            request.session["undo"] = [row.id]
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
