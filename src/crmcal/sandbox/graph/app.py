"""The Graph emulator as an ASGI app: token endpoint, discovery, `/v1.0`, `$batch`, `/_sandbox/`.

`create_app(state)` serves one `GraphState`. Authentication, fault injection, throttling (4
concurrent requests and a request budget per mailbox, 429 with fractional `Retry-After`) and
latency happen here; the API semantics live in `api.py` and `state.py`.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
import uuid
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crmcal.sandbox.graph import api, control, oidc, subscriptions
from crmcal.sandbox.graph import mail as _mail  # noqa: F401  (registers POST .../sendMail)
from crmcal.sandbox.graph.api import ApiRequest, ApiResponse, error_body
from crmcal.sandbox.graph.state import Faults, GraphApiError, GraphState, Instance, Mailbox

MAX_BATCH = 20
JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; "
    "charset=utf-8"
)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    h = {"request-id": str(uuid.uuid4()), **(headers or {})}
    if body is None:
        return Response(status_code=status, headers=h)
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=h,
        media_type=JSON_TYPE,
    )


def _to_http(resp: ApiResponse) -> Response:
    if resp.raw is not None:
        return Response(content=resp.raw, status_code=resp.status, headers=resp.headers)
    return _json_response(resp.status, resp.body, resp.headers)


def _fmt_retry_after(seconds: float) -> str:
    return f"{max(seconds, 0.001):.3f}".rstrip("0").rstrip(".")


def _throttled(seconds: float, code: str = "TooManyRequests", message: str = "") -> ApiResponse:
    body = error_body(code, message or "Please retry again later.")
    body["error"]["innerError"].update({"code": "429", "status": "429"})
    return ApiResponse(429, body, {"Retry-After": _fmt_retry_after(seconds)})


class _Runtime:
    """Per-app mutable bits that are not API state: background delivery tasks, HTTP client."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None
        self.deliveries = subscriptions.DeliveryLog()
        self.extra_ca: str | None = None

    def http(self) -> httpx.AsyncClient:
        """Graph's own client for validation and notification POSTs (3 s per notification,
        10 s for validation, set per request). Like Microsoft's, it trusts the public CAs; with
        `trust_webhook_ca(path)` also the sandbox CA, so a webhook served with the sandbox's
        certificate (tests, `crmcal serve` behind nothing) is reachable over https."""
        if self.client is None:
            ctx = ssl.create_default_context()
            if self.extra_ca:
                ctx.load_verify_locations(cafile=self.extra_ca)
            self.client = httpx.AsyncClient(timeout=3.0, verify=ctx)
        return self.client


def create_app(state: GraphState | None = None) -> FastAPI:
    """An ASGI app serving `state` (a fresh one when omitted); `app.state.graph` holds it."""
    st = state or GraphState()
    app = FastAPI(title="crmcal Graph sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.graph = st
    rt = _Runtime()

    def trust_webhook_ca(path: str) -> None:
        rt.extra_ca = path
        rt.client = None

    app.state.trust_webhook_ca = trust_webhook_ca
    oidc_provider = oidc.mount(app, st)  # OpenID Connect sign-in (dashboard)

    # -- helpers -------------------------------------------------------------------------------

    def base_of(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    def deliver(url: str, payload: dict[str, Any]) -> None:
        async def post() -> None:
            try:
                r = await rt.http().post(url, json=payload)
                st.stats[
                    "_notifications.delivered" if r.status_code < 300 else "_notifications.failed"
                ] += 1
                rt.deliveries.add(url, payload, r.status_code)
            except httpx.HTTPError:
                st.stats["_notifications.failed"] += 1
                rt.deliveries.add(url, payload, None)

        task = asyncio.get_running_loop().create_task(post())
        rt.tasks.add(task)
        task.add_done_callback(rt.tasks.discard)

    def flush_outbox() -> None:
        while st.outbox:
            url, payload = st.outbox.pop(0)
            deliver(url, payload)

    def admit(mailbox_ref: str | None) -> tuple[Mailbox | None, ApiResponse | None]:
        """Throttling per mailbox (A10): injected 429s, request budget, 4 concurrent requests."""
        if mailbox_ref is None:
            return None, None
        mb = st.find_mailbox(unquote(mailbox_ref))
        if mb is None:
            return None, None
        if mb.key in st.ews_mailboxes:  # issue 20: an on-premises mailbox is reached by EWS only
            return mb, ApiResponse(
                404,
                error_body(
                    "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
                ),
            )
        f = st.faults
        if f.throttle_next > 0:
            f.throttle_next -= 1
            return mb, _throttled(f.retry_after)
        now = time.monotonic()
        if now - mb.rate_window_start >= f.rate_window_s:
            mb.rate_window_start, mb.rate_count = now, 0
        if mb.rate_count >= f.rate_limit:
            wait = mb.rate_window_start + f.rate_window_s - now
            return mb, _throttled(wait)
        if mb.in_flight >= f.max_concurrency:
            return mb, _throttled(
                f.retry_after,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
        mb.rate_count += 1
        return mb, None

    def injected_failure() -> ApiResponse | None:
        f = st.faults
        fail = False
        if f.fail_next > 0:
            f.fail_next -= 1
            fail = True
        elif f.error_rate > 0 and random.random() < f.error_rate:
            fail = True
        if not fail:
            return None
        status = f.fail_status
        codes = {
            500: "generalException",
            502: "BadGateway",
            503: "serviceNotAvailable",
            504: "GatewayTimeout",
        }
        headers = {"Retry-After": _fmt_retry_after(f.retry_after)} if status == 503 else {}
        return ApiResponse(
            status,
            error_body(codes.get(status, "generalException"), "The service is unavailable."),
            headers,
        )

    def auth(request: Request) -> str:
        h = request.headers.get("authorization", "")
        token = h[7:].strip() if h.lower().startswith("bearer ") else None
        return st.check_token(token)

    def api_request(request: Request, path: str, body: Any, app_id: str) -> ApiRequest:
        return ApiRequest(
            method=request.method,
            path=path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            base=base_of(request) + "/v1.0",
            app_id=app_id,
        )

    async def read_json(request: Request) -> tuple[Any, ApiResponse | None]:
        raw = await request.body()
        if not raw:
            return None, None
        try:
            return json.loads(raw), None
        except ValueError:
            return None, ApiResponse(
                400, error_body("BadRequest", "Unable to read JSON request payload.")
            )

    async def run_one(req: ApiRequest, *, inner: bool) -> ApiResponse:
        """Admission, latency and dispatch for one API request (top-level or inside $batch)."""
        return (await run_admitted(req, inner=inner))[0]

    async def run_admitted(req: ApiRequest, *, inner: bool) -> tuple[ApiResponse, Mailbox | None]:
        """`run_one`, and the mailbox the request was admitted to (None if refused or none)."""
        found = api.match(req.method, req.path)
        name = found[0] if found else "unknown"
        st.stats[("$batch> " if inner else "") + name] += 1
        mb, refused = admit(api.mailbox_of(req.path))
        if refused is not None:
            return refused, None
        if mb is not None:
            mb.in_flight += 1
        try:
            if not inner and st.faults.latency_ms > 0:
                await asyncio.sleep(st.faults.latency_ms / 1000.0)
            _, resp = api.dispatch(st, req)
        finally:
            if mb is not None:
                mb.in_flight -= 1
        flush_outbox()
        return resp, mb

    # -- identity platform ---------------------------------------------------------------------

    def discovery(request: Request, tenant: str, v2: bool) -> Response:
        if tenant not in (st.tenant_id, "organizations", "common"):
            return _json_response(
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                },
            )
        base = f"{base_of(request)}/{tenant}"
        return _json_response(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0" if v2 else base,
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            },
        )

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def discovery_v2(request: Request, tenant: str) -> Response:
        return discovery(request, tenant, True)

    @app.get("/{tenant}/.well-known/openid-configuration")
    async def discovery_oidc(request: Request, tenant: str) -> Response:
        return discovery(request, tenant, False)

    def aad_error(status: int, error: str, code: int, text: str) -> Response:
        return _json_response(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {text}",
                "error_codes": [code],
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
        )

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(request: Request, tenant: str) -> Response:
        st.stats["POST /{tenant}/oauth2/v2.0/token"] += 1
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if tenant not in (st.tenant_id,):
            return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") == "authorization_code":  # dashboard sign-in (oidc.py)
            status, answer = oidc_provider.redeem(form, f"{base_of(request)}/{tenant}/v2.0")
            return _json_response(status, answer)
        if form.get("grant_type") == "refresh_token":  # delegated access (G2 group calendars)
            reg = st.apps.get(form.get("client_id", ""))
            if reg is None or form.get("client_secret") != reg.client_secret:
                return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
            got = st.redeem_refresh_token(reg.client_id, form.get("refresh_token", ""))
            if got is None:
                return aad_error(
                    400, "invalid_grant", 700082, "The refresh token has expired or is invalid."
                )
            access, refresh, scopes = got
            return _json_response(
                200,
                {
                    "token_type": "Bearer",
                    "scope": scopes,
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": access,
                    "refresh_token": refresh,
                },
            )
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        app_reg = st.apps.get(form.get("client_id", ""))
        if app_reg is None:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found in the "
                "directory.",
            )
        if form.get("client_secret") != app_reg.client_secret:
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scope = form.get("scope", "")
        if not any(s.endswith("/.default") for s in scope.split()):
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier.",
            )
        tok = st.issue_token(app_reg.client_id)
        return _json_response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": tok,
            },
        )

    # -- Graph ----------------------------------------------------------------------------------

    @app.post("/v1.0/$batch")
    async def batch(request: Request) -> Response:
        st.stats["POST /$batch"] += 1
        try:
            app_id = auth(request)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        failure = injected_failure()
        if failure is not None:
            return _to_http(failure)
        body, bad = await read_json(request)
        if bad is not None:
            return _to_http(bad)
        if st.faults.latency_ms > 0:
            await asyncio.sleep(st.faults.latency_ms / 1000.0)
        reqs = body.get("requests") if isinstance(body, dict) else None
        problem = _check_batch(reqs)
        if problem:
            return _json_response(400, error_body("BadRequest", problem))
        assert isinstance(reqs, list)
        done: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        pending = list(reqs)
        while pending:
            # One wave: every request whose dependencies are done runs at the same time (E3).
            wave = [
                r for r in pending
                if all(str(d) in done for d in r.get("dependsOn") or [])
            ]  # fmt: skip
            if not wave:
                break
            for r in wave:
                pending.remove(r)
            if not st.faults.batch_parallel:
                for r in wave:
                    await run_wave(request, [r], app_id, done, responses)
            else:
                await run_wave(request, wave, app_id, done, responses)
        random.shuffle(responses)
        return _json_response(200, {"responses": responses})

    async def run_wave(
        request: Request,
        wave: list[dict[str, Any]],
        app_id: str,
        done: dict[str, int],
        responses: list[dict[str, Any]],
    ) -> None:
        """Inner requests not chained by `dependsOn` run together, as Graph runs them, so they
        count against the mailbox's 4 concurrent requests together: in a wave of 20 to one
        mailbox the first 4 (in request order) run and the other 16 get their own 429 with a
        `Retry-After` (E3; microsoft-graph-docs#2886, concepts/json-batching.md "evaluated
        individually against throttling limits"). The docs do not say which ones win; request
        order is the strict and deterministic reading (docs/decisions/0071)."""
        held: list[Mailbox] = []
        try:
            for r in wave:
                rid = str(r["id"])
                deps = [str(d) for d in r.get("dependsOn") or []]
                if any(done[d] >= 400 for d in deps):
                    resp = ApiResponse(424, error_body("FailedDependency", "A dependency failed."))
                else:
                    resp, mb = await run_inner(request, r, app_id)
                    if mb is not None:  # in flight until the whole wave is done
                        mb.in_flight += 1
                        held.append(mb)
                done[rid] = resp.status
                item: dict[str, Any] = {
                    "id": rid,
                    "status": resp.status,
                    "headers": dict(resp.headers),
                }
                if resp.body is not None:
                    item["headers"].setdefault("Content-Type", "application/json")
                    item["body"] = resp.body
                responses.append(item)
        finally:
            for mb in held:
                mb.in_flight -= 1

    async def run_inner(
        request: Request, r: dict[str, Any], app_id: str
    ) -> tuple[ApiResponse, Mailbox | None]:
        """One inner request; also the mailbox it was admitted to (None when refused)."""
        method = str(r.get("method", "GET")).upper()
        url = str(r.get("url", ""))
        parts = urlsplit(url if url.startswith("/") else "/" + url)
        path = unquote(parts.path)
        if path.startswith("/v1.0/"):
            path = path[5:]
        hdrs = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
        if "body" in r and r["body"] is not None and "content-type" not in hdrs:
            return ApiResponse(
                400,
                error_body("BadRequest", "Content-Type header is required when a body is present."),
            ), None
        inner = ApiRequest(
            method=method,
            path=path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=hdrs,
            body=r.get("body"),
            base=base_of(request) + "/v1.0",
            app_id=app_id,
        )
        return await run_admitted(inner, inner=True)

    @app.post("/v1.0/subscriptions")
    async def create_subscription(request: Request) -> Response:
        st.stats["POST /subscriptions"] += 1
        try:
            app_id = auth(request)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        body, bad = await read_json(request)
        if bad is not None:
            return _to_http(bad)
        req = api_request(request, "/subscriptions", body, app_id)
        try:
            sub = api.parse_subscription(st, req)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        # E4: the notification URL and the lifecycle URL both pass the handshake, or no
        # subscription (subscriptions.py has the documented rules).
        for url in (sub.notification_url, sub.lifecycle_url):
            if not url:
                continue
            why = await subscriptions.validate_endpoint(rt.http(), url)
            if why is not None:
                st.stats["_subscriptions.validation_failed"] += 1
                return _json_response(
                    400,
                    error_body("InvalidRequest", f"{subscriptions.VALIDATION_FAILED} ({why})"),
                )
        st.add_subscription(sub)
        return _json_response(201, api.subscription_json(st, sub))

    @app.api_route("/v1.0/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def graph(request: Request, path: str) -> Response:
        try:
            app_id = auth(request)
        except GraphApiError as e:
            st.stats["401"] += 1
            return _json_response(e.status, error_body(e.code, e.message))
        failure = injected_failure()
        if failure is not None:
            found = api.match(request.method, "/" + unquote(path))
            st.stats[found[0] if found else "unknown"] += 1
            st.stats["_faults.injected"] += 1
            return _to_http(failure)
        body, bad = await read_json(request)
        if bad is not None:
            return _to_http(bad)
        req = api_request(request, "/" + unquote(path), body, app_id)
        return _to_http(await run_one(req, inner=False))

    @app.put("/_upload/{session_id}")
    async def upload(request: Request, session_id: str) -> Response:
        st.stats["PUT uploadUrl"] += 1
        data = await request.body()
        resp = api.upload_chunk(st, session_id, request.headers.get("content-range", ""), data)
        flush_outbox()
        return _to_http(resp)

    # -- control API ----------------------------------------------------------------------------

    @app.get("/_sandbox/info")
    async def info(request: Request) -> Response:
        base = base_of(request)
        return _json_response(
            200,
            {
                "tenant_id": st.tenant_id,
                "client_id": st.client_id,
                "client_secret": st.client_secret,
                "authority_url": base,
                "graph_url": base + "/v1.0",
                "users": [_user_json(m) for m in st.mailboxes.values()],
            },
        )

    @app.post("/_sandbox/reset")
    async def reset() -> Response:
        st.reset()
        st.faults = Faults()
        rt.deliveries.items.clear()
        return _json_response(204, None)

    @app.get("/_sandbox/users")
    async def users() -> Response:
        return _json_response(200, {"value": [_user_json(m) for m in st.mailboxes.values()]})

    @app.post("/_sandbox/users")
    async def add_users(request: Request) -> Response:
        body, bad = await read_json(request)
        if bad is not None:
            return _to_http(bad)
        items = body.get("users", [body]) if isinstance(body, dict) else body
        out = []
        for u in items or []:
            mb = st.add_user(str(u["address"]), str(u.get("displayName", "")), u.get("id"))
            out.append(_user_json(mb))
        return _json_response(201, {"value": out})

    @app.post("/_sandbox/users/{user}/events")
    async def seed_event(request: Request, user: str) -> Response:
        body, bad = await read_json(request)
        if bad is not None or not isinstance(body, dict):
            return _to_http(
                bad or ApiResponse(400, error_body("BadRequest", "JSON object expected."))
            )
        tz = body.pop("_originalStartTimeZone", None)
        try:
            rec = st.seed_event(user, body, original_start_time_zone=tz)
            mb = st.mailbox(user)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        flush_outbox()
        return _json_response(201, st.render(mb, Instance(rec)))

    @app.post("/_sandbox/users/{user}/invitations")
    async def seed_invitation(request: Request, user: str) -> Response:
        """An invitation from an external organizer: event JSON plus `organizer` and `iCalUId`."""
        body, bad = await read_json(request)
        if bad is not None or not isinstance(body, dict):
            return _to_http(
                bad or ApiResponse(400, error_body("BadRequest", "JSON object expected."))
            )
        org = body.pop("organizer", None)
        uid = body.pop("iCalUId", None)
        email = org.get("emailAddress", org) if isinstance(org, dict) else None
        if not isinstance(email, dict) or not email.get("address"):
            return _json_response(
                400, error_body("BadRequest", "organizer.emailAddress is required.")
            )
        try:
            rec = st.deliver_invitation(
                user,
                body,
                organizer=(str(email["address"]), str(email.get("name", ""))),
                ical_uid=str(uid) if uid else None,
            )
            mb = st.mailbox(user)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        flush_outbox()
        return _json_response(201, st.render(mb, Instance(rec)))

    @app.post("/_sandbox/users/{user}/events/{item_id}/corrupt")
    async def corrupt(request: Request, user: str, item_id: str) -> Response:
        body, bad = await read_json(request)
        if bad is not None or not isinstance(body, dict):
            return _to_http(
                bad or ApiResponse(400, error_body("BadRequest", "JSON object expected."))
            )
        try:
            st.corrupt_event(user, item_id, body)
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        return _json_response(204, None)

    @app.post("/_sandbox/subscriptions/{subscription_id}/lifecycle")
    async def lifecycle(request: Request, subscription_id: str) -> Response:
        body, _ = await read_json(request)
        event = body.get("lifecycleEvent") if isinstance(body, dict) else None
        try:
            subscriptions.queue_lifecycle(st, subscription_id, str(event))
        except GraphApiError as e:
            return _json_response(e.status, error_body(e.code, e.message))
        flush_outbox()
        return _json_response(202, None)

    @app.get("/_sandbox/subscriptions")
    async def list_subs() -> Response:
        return _json_response(
            200, {"value": [api.subscription_json(st, x) for x in st.subscriptions.values()]}
        )

    @app.get("/_sandbox/notifications")
    async def notifications() -> Response:
        return _json_response(200, rt.deliveries.json())

    @app.delete("/_sandbox/notifications")
    async def clear_notifications() -> Response:
        rt.deliveries.items.clear()
        return _json_response(204, None)

    control.mount(app, st, _json_response, read_json)

    @app.get("/_sandbox/faults")
    async def get_faults() -> Response:
        return _json_response(200, asdict(st.faults))

    @app.put("/_sandbox/faults")
    async def set_faults(request: Request) -> Response:
        body, bad = await read_json(request)
        if bad is not None or not isinstance(body, dict):
            return _to_http(
                bad or ApiResponse(400, error_body("BadRequest", "JSON object expected."))
            )
        names = {f.name for f in fields(Faults)}
        unknown = set(body) - names
        if unknown:
            return _json_response(
                400, error_body("BadRequest", f"Unknown fault settings: {sorted(unknown)}")
            )
        for k, v in body.items():
            setattr(st.faults, k, type(getattr(st.faults, k))(v))
        return _json_response(200, asdict(st.faults))

    @app.post("/_sandbox/tokens/expire")
    async def expire_tokens() -> Response:
        return _json_response(200, {"expired": st.expire_tokens()})

    @app.post("/_sandbox/delta/expire")
    async def expire_delta() -> Response:
        return _json_response(200, {"expired": st.expire_delta_tokens()})

    @app.get("/_sandbox/stats")
    async def stats() -> Response:
        counts = dict(sorted(st.stats.items()))
        total = sum(v for k, v in counts.items() if not k.startswith("_"))
        return _json_response(200, {"requests": counts, "total": total})

    @app.delete("/_sandbox/stats")
    async def reset_stats() -> Response:
        st.stats.clear()
        return _json_response(204, None)

    async def fast_graph(scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve `/v1.0/...` without FastAPI's routing and dependency machinery (the emulator
        must stay cheap for benchmarks with thousands of mailboxes). False: not handled."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1.0/"):
            return False
        request = Request(scope, receive)
        method = scope["method"]
        if path == "/v1.0/$batch" and method == "POST":
            response = await batch(request)
        elif path == "/v1.0/subscriptions" and method == "POST":
            response = await create_subscription(request)
        elif method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            response = await graph(request, path[len("/v1.0/") :])
        else:
            return False
        await response(scope, receive, send)
        return True

    class FastPath:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if not await fast_graph(scope, receive, send):
                await self.inner(scope, receive, send)

    app.add_middleware(FastPath)
    return app


def _user_json(mb: Mailbox) -> dict[str, Any]:
    return {"id": mb.id, "address": mb.address, "displayName": mb.display_name}


def _check_batch(reqs: Any) -> str | None:
    if not isinstance(reqs, list) or not reqs:
        return "The batch request must contain a non-empty 'requests' array."
    if len(reqs) > MAX_BATCH:
        return f"Maximum number of requests allowed in a batch is {MAX_BATCH}."
    seen: set[str] = set()
    for r in reqs:
        if not isinstance(r, dict) or "id" not in r or "url" not in r or "method" not in r:
            return "Each request needs id, method and url."
        rid = str(r["id"])
        if rid in seen:
            return f"Request id '{rid}' is not unique."
        seen.add(rid)
        if str(r["url"]).startswith(("http://", "https://")):
            return "Batch request urls must be relative."
    for r in reqs:
        for d in r.get("dependsOn") or []:
            if str(d) not in seen:
                return f"dependsOn refers to an unknown request id '{d}'."
    return None
