"""Settings: a user's own (U-rules) and the org's (admins only)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmcal.domain.settings import OrgSettings, UserSettings
from crmcal.state.models_web import ORG_SCOPE
from crmcal.state.overrides import audit_log
from crmcal.web.context import PageUser, WebDep, flash, form_of, own_mailbox, render_page
from crmcal.web.org_form import grouped, risky_changes, risky_user_changes
from crmcal.web.overrides import form_fields, load_overrides, parse_form, store_overrides

router = APIRouter(include_in_schema=False)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, web: WebDep, p: PageUser, user: str | None = None) -> Response:
    svc, store = web.service, web.store
    mb = own_mailbox(p, user or p.mailbox or (svc.cfg.users[0].mailbox if svc.cfg.users else None))
    u = svc.user(mb)
    return render_page(
        web, request, "settings.html", p, fields=form_fields(UserSettings, u.settings),
        selected=mb, overrides=load_overrides(store).get(mb, {}), page="settings",
        audit=audit_log(store, mb, 20),
    )  # fmt: skip


@router.post("/settings")
async def settings_save(
    request: Request, web: WebDep, p: PageUser, user: str | None = None
) -> Response:
    cfg, svc, store = web.cfg, web.service, web.store
    form = await form_of(request)
    mb = own_mailbox(p, form.get("user") or user)
    base_user = cfg.user(mb)
    if base_user is None:
        raise HTTPException(404, "not found")
    wanted, errors = parse_form(UserSettings, svc.user(mb).settings, form)
    if wanted is None:
        cur = svc.user(mb).settings
        return render_page(
            web, request, "settings.html", p, fields=form_fields(UserSettings, cur, errors),
            selected=mb, overrides={}, page="settings", invalid=True,
        )  # fmt: skip
    risky = risky_user_changes(svc.user(mb).settings, wanted)
    if risky and form.get("confirmed") != "yes":
        return render_page(
            web, request, "settings.html", p, fields=form_fields(UserSettings, wanted),
            selected=mb, overrides={}, page="settings", confirm=risky,
            cancel_url=f"/settings?user={quote(mb)}",
        )  # fmt: skip
    store_overrides(store, mb, base_user.settings, wanted, p.username)
    flash(request, "Settings saved; the next session uses them.")
    return RedirectResponse(f"/settings?user={quote(mb)}", status_code=303)


@router.get("/admin/org", response_class=HTMLResponse)
def org_page(request: Request, web: WebDep, p: PageUser) -> Response:
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    svc, store = web.service, web.store
    return render_page(
        web, request, "org.html", p, groups=grouped(form_fields(OrgSettings, svc.cfg.org)),
        overrides=load_overrides(store).get(ORG_SCOPE, {}), page="org",
        audit=audit_log(store, None, 50),
    )  # fmt: skip


@router.post("/admin/org")
async def org_save(request: Request, web: WebDep, p: PageUser) -> Response:
    cfg, svc, store = web.cfg, web.service, web.store
    form = await form_of(request)
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    wanted, errors = parse_form(OrgSettings, svc.cfg.org, form)
    if wanted is None:
        return render_page(
            web, request, "org.html", p,
            groups=grouped(form_fields(OrgSettings, svc.cfg.org, errors)),
            overrides={}, page="org", invalid=True,
        )  # fmt: skip
    risky = risky_changes(svc.cfg.org, wanted)
    if risky and form.get("confirmed") != "yes":
        # nothing saved yet: the same form with the submitted values and what they would do
        return render_page(
            web, request, "org.html", p, groups=grouped(form_fields(OrgSettings, wanted)),
            overrides={}, page="org", confirm=risky, cancel_url="/admin/org",
        )  # fmt: skip
    store_overrides(store, ORG_SCOPE, cfg.org, wanted, p.username)
    flash(request, "Org settings saved; the next session uses them.")
    return RedirectResponse("/admin/org", status_code=303)
