"""Dashboard accounts and API tokens, managed by admins in the UI (issue 19), and "sign out
everywhere" (for oneself, or by an admin for anyone)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.state.overrides import record_audit
from crmcal.web import accounts
from crmcal.web.accounts import Principal
from crmcal.web.context import AccountId, PageUser, Web, WebDep, flash, form_of, render_page
from crmcal.web.sessions import active_sessions, sign_out_everywhere

router = APIRouter(include_in_schema=False)


def _admin(p: Principal) -> None:
    if not p.is_admin:
        raise HTTPException(403, "admins only")


def _page(web: Web, request: Request, p: Principal, **ctx: object) -> HTMLResponse:
    rows = [
        (a, active_sessions(web.store, a.account_id)) for a in accounts.list_accounts(web.store)
    ]
    return render_page(web, request, "accounts.html", p, accounts=rows, page="accounts", **ctx)


@router.get("/admin/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, web: WebDep, p: PageUser) -> Response:
    _admin(p)
    return _page(web, request, p)


@router.post("/admin/accounts")
async def account_add(request: Request, web: WebDep, p: PageUser) -> Response:
    form = await form_of(request)
    _admin(p)
    name, mailbox = form.get("username", "").strip(), form.get("mailbox", "").strip() or None
    is_admin = form.get("is_admin") == "true"
    if mailbox is not None and web.service.cfg.user(mailbox) is None:
        return _page(web, request, p, error=f"{mailbox} is not a crmcal user.")
    try:
        a = accounts.add_account(
            web.store, name, password=form.get("password") or None, is_admin=is_admin,
            mailbox=mailbox or (None if is_admin else name),
        )  # fmt: skip
    except ValueError as exc:
        return _page(web, request, p, error=str(exc).capitalize() + ".")
    record_audit(
        web.store, p.username, "accounts", a.username,
        new={"is_admin": a.is_admin, "mailbox": a.mailbox, "password": bool(form.get("password"))},
    )  # fmt: skip
    flash(request, f"Account {a.username} saved.")
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/admin/accounts/{account_id}/token")
async def account_token(
    request: Request, web: WebDep, account_id: AccountId, p: PageUser
) -> Response:
    await form_of(request)
    _admin(p)
    a = accounts.by_id(web.store, account_id)
    if a is None:
        raise HTTPException(404, "not found")
    token = accounts.issue_token(web.store, a.username)
    record_audit(web.store, p.username, "accounts", a.username, new="new API token")
    # shown once, in this answer only (never stored in a session or a flash)
    return _page(web, request, p, new_token=(a.username, token))


@router.post("/admin/accounts/{account_id}/signout")
async def account_signout(
    request: Request, web: WebDep, account_id: AccountId, p: PageUser
) -> Response:
    await form_of(request)
    _admin(p)
    a = accounts.by_id(web.store, account_id)
    if a is None:
        raise HTTPException(404, "not found")
    n = sign_out_everywhere(web.store, account_id)
    record_audit(web.store, p.username, "accounts", a.username, new=f"signed out ({n})")
    if account_id == p.account_id:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    flash(request, f"{a.username}: {n} session{'s' if n != 1 else ''} signed out.")
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/account/signout-everywhere")
async def signout_everywhere(request: Request, web: WebDep, p: PageUser) -> Response:
    """Anyone: end every session of one's own account, this one included."""
    await form_of(request)
    sign_out_everywhere(web.store, p.account_id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
