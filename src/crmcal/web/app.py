"""The FastAPI app of `crmcal serve`: dashboard pages, `/api/v1`, webhooks, `/metrics`.

Authentication (Y2): a session kept on the server (`web/sessions.py`; the cookie carries only a
random id) after a local sign-in or an Entra ID sign-in, or `Authorization: Bearer <API token>`.
Every POST form carries the session's CSRF token; API calls made with the session cookie send it as
`X-CSRF-Token` (bearer calls need none: browsers never add that header by themselves). A user sees
and acts on their own mailbox only; anything else answers 404, as if it did not exist. Admins see
everything.

The routes live in `crmcal.web.routes` (one router per page or resource); what they share
(`Web`, who is asking, forms, rendering) in `crmcal.web.context`.
"""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from crmcal import __version__
from crmcal.config import Config
from crmcal.connectors.tls import verify_of
from crmcal.state import StateStore, crypto
from crmcal.web import addin
from crmcal.web.context import (
    NOTICE_REASONS,
    WAITING_REASONS,
    LoginRequired,
    Web,
    status_class,
    web_url,
)
from crmcal.web.edge import RateLimit, SecurityHeaders, WebhookGuard
from crmcal.web.instant import InstantSync
from crmcal.web.metrics import StateCollector, registry
from crmcal.web.oidc import OidcClient
from crmcal.web.routes import (
    admin,
    auth,
    calendar,
    issues,
    ops,
    overview,
    sessions,
    settings,
    webhooks,
)
from crmcal.web.routes.webhooks import MAX_WEBHOOK_BYTES
from crmcal.web.service import WebService
from crmcal.web.sessions import ServerSessions

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "NOTICE_REASONS",
    "WAITING_REASONS",
    "LoginRequired",
    "Web",
    "create_app",
    "session_secret",
    "status_class",
    "web_url",
]


def session_secret(cfg: Config) -> str:
    """`server.session_secret`, else a random one kept in `<data_dir>/web-secret` (0600), sealed
    with the at-rest key (Y1; a plain file from before is sealed when read)."""
    if cfg.server.session_secret is not None and cfg.server.session_secret.get_secret_value():
        return cfg.server.session_secret.get_secret_value()
    cipher = crypto.current()
    path = cfg.storage.data_dir / "web-secret"
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        value = cipher.open(stored)
        if stored.startswith(crypto.PREFIX):
            return value
    else:
        value = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cipher.seal(value), encoding="utf-8")
    path.chmod(0o600)
    return value


def use_at_rest_key(cfg: Config) -> None:
    """Y1: the process's key for secrets at rest, from the configuration or its key file."""
    configured = cfg.storage.at_rest_key()
    material = crypto.key_material(
        configured.get_secret_value() if configured else None, cfg.storage.data_dir
    )
    crypto.use_key(material)


def create_app(
    cfg: Config,
    store: StateStore | None = None,
    *,
    service: WebService | None = None,
    public_url: str | None = None,
) -> FastAPI:
    use_at_rest_key(cfg)
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
            verify=verify_of(cfg.graph.ca_bundle),  # Entra ID sign-in: graph.ca_bundle
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
    web.search_limit = RateLimit(per_minute=cfg.web.search_per_minute)
    app.add_middleware(WebhookGuard, limit=MAX_WEBHOOK_BYTES)
    app.add_middleware(
        ServerSessions,
        store=store,
        key=session_secret(cfg),
        cookie="crmcal_session",
        max_age=12 * 3600,
        https_only=bool(base and base.startswith("https://")),
    )
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, errors and 413s included
    pkg = resources.files("crmcal.web")
    web.templates = Jinja2Templates(directory=str(Path(str(pkg / "templates"))))
    web.templates.env.filters["web_url"] = web_url
    app.mount("/static", StaticFiles(directory=str(Path(str(pkg / "static")))), name="static")
    app.include_router(addin.router(web))  # the Outlook add-in, its own headers (M7)
    collector = StateCollector(
        store,
        usage=lambda: svc.usage() or web.usage,
        process_calls=svc.api_calls,
        notifications=lambda: dict(web.instant.counts) if web.instant else {},
    )
    web.metrics_registry = registry(collector)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    for router in (
        auth.router,
        issues.pages,
        calendar.pages,
        sessions.pages,
        settings.router,
        admin.router,
        overview.router,
        sessions.api,
        issues.api,
        calendar.api,
        webhooks.router,
        ops.router,
    ):
        app.include_router(router)
    return app
