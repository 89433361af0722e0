"""Sign-in: the local form, Entra ID (OIDC code flow) and sign-out."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.web import accounts
from crmcal.web.context import WebDep, form_of, render_page, safe_next
from crmcal.web.oidc import OidcError
from crmcal.web.security import same

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, web: WebDep, next: str | None = None, error: str | None = None
) -> Response:
    return render_page(web, request, "login.html", None, next=safe_next(next), error=error)


@router.post("/login")
async def login(request: Request, web: WebDep) -> Response:
    form = await form_of(request)
    p = accounts.authenticate(web.store, form.get("username", ""), form.get("password", ""))
    if p is None:
        return render_page(
            web,
            request,
            "login.html",
            None,
            next=safe_next(form.get("next")),
            error="Wrong username or password.",
        )
    request.session.clear()
    request.session["uid"] = p.account_id
    return RedirectResponse(safe_next(form.get("next")), status_code=303)


def redirect_uri(web: WebDep, request: Request) -> str:
    root = web.public_url or str(request.base_url).rstrip("/")
    return f"{root}/auth/callback"


@router.get("/login/entra")
def login_entra(request: Request, web: WebDep, next: str | None = None) -> Response:
    if web.oidc is None:
        raise HTTPException(404, "Entra ID sign-in is not configured")
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    request.session["oidc"] = {"state": state, "nonce": nonce, "next": safe_next(next)}
    try:
        url = web.oidc.authorize_url(redirect_uri(web, request), state, nonce)
    except OidcError as exc:
        return RedirectResponse(f"/login?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(url, status_code=303)


@router.get("/auth/callback")
def auth_callback(
    request: Request, web: WebDep, code: str = "", state: str = "", error_description: str = ""
) -> Response:
    cfg, svc, store = web.cfg, web.service, web.store
    pending = request.session.pop("oidc", None)
    if web.oidc is None or not isinstance(pending, dict):
        return RedirectResponse("/login?error=sign-in+expired", status_code=303)
    if error_description or not code or not same(state, pending.get("state")):
        msg = error_description or "sign-in was interrupted; try again"
        return RedirectResponse(f"/login?error={quote(msg)}", status_code=303)
    try:
        who = web.oidc.redeem(code, redirect_uri(web, request), str(pending.get("nonce")))
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


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_of(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
