"""Sign-in: the local form, Entra ID (OIDC code flow) and sign-out."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.web import accounts
from crmcal.web.context import Web, WebDep, form_of, render_page, safe_next
from crmcal.web.oidc import OidcError
from crmcal.web.security import same

log = logging.getLogger("crmcal.web")

router = APIRouter(include_in_schema=False)

LOGIN_ERRORS = {
    "wrong": "Wrong username or password.",
    "locked": "Too many failed sign-ins. Wait a few minutes, then try again.",
    "expired": "The sign-in expired; try again.",
    "interrupted": "The sign-in was interrupted; try again.",
    "entra": "Microsoft sign-in failed; try again, or ask an admin to check the Entra ID setup.",
    "not_a_user": "This Microsoft account is not a crmcal user; ask an admin to add you.",
    "not_this_person": "This address belongs to another person's crmcal account; ask an admin.",
}
"""The only texts the sign-in page shows (issue 19): `?error=` names one of them, so no link can
put words of its own on the page."""


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _locked(web: Web, username: str, client: str) -> bool:
    return bool(web.login_throttle.locked_for("user:" + username)) or bool(
        web.login_throttle.locked_for("addr:" + client)
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, web: WebDep, next: str | None = None, error: str | None = None
) -> Response:
    text = LOGIN_ERRORS.get(error or "")
    return render_page(web, request, "login.html", None, next=safe_next(next), error=text)


@router.post("/login")
async def login(request: Request, web: WebDep) -> Response:
    form = await form_of(request)
    username, client = accounts.norm(form.get("username", "")), _client(request)
    locked = _locked(web, username, client)
    # a locked key still pays for one password check, so a lockout takes as long as a try
    p = accounts.authenticate(web.store, username, form.get("password", ""))
    if locked or p is None:
        if not locked:
            web.login_throttle.failed("user:" + username)
            web.login_throttle.failed("addr:" + client)
            log.info("failed sign-in for %r from %s", username[:80], client)
        return render_page(
            web,
            request,
            "login.html",
            None,
            next=safe_next(form.get("next")),
            error=LOGIN_ERRORS["locked" if locked else "wrong"],
        )
    web.login_throttle.succeeded("user:" + username)
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
        log.warning("Entra ID sign-in could not start: %s", exc)
        return RedirectResponse("/login?error=entra", status_code=303)
    return RedirectResponse(url, status_code=303)


@router.get("/auth/callback")
def auth_callback(
    request: Request, web: WebDep, code: str = "", state: str = "", error_description: str = ""
) -> Response:
    cfg, svc, store = web.cfg, web.service, web.store
    pending = request.session.pop("oidc", None)
    if web.oidc is None or not isinstance(pending, dict):
        return RedirectResponse("/login?error=expired", status_code=303)
    if error_description or not code or not same(state, pending.get("state")):
        if error_description:
            log.info("Entra ID sign-in answered: %s", error_description[:300])
        return RedirectResponse("/login?error=interrupted", status_code=303)
    try:
        who = web.oidc.redeem(code, redirect_uri(web, request), str(pending.get("nonce")))
    except OidcError as exc:
        log.warning("Entra ID sign-in failed: %s", exc)
        return RedirectResponse("/login?error=entra", status_code=303)
    is_admin = who.username in cfg.web.admins
    mailbox = who.username if svc.cfg.user(who.username) is not None else None
    if not is_admin and mailbox is None:
        log.info("Entra ID sign-in of %s: not a crmcal user", who.username)
        return RedirectResponse("/login?error=not_a_user", status_code=303)
    if not who.subject or not who.tenant:
        log.warning("Entra ID sign-in of %s: the id_token has no oid/tid", who.username)
        return RedirectResponse("/login?error=entra", status_code=303)
    try:
        p = accounts.sign_in_external(
            store, who.username, is_admin=is_admin, mailbox=mailbox, tid=who.tenant, oid=who.subject
        )
    except accounts.NotThisPerson:
        log.warning("Entra ID sign-in of %s: the account is bound to another oid", who.username)
        return RedirectResponse("/login?error=not_this_person", status_code=303)
    request.session.clear()
    request.session["uid"] = p.account_id
    return RedirectResponse(safe_next(str(pending.get("next"))), status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_of(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
