"""The public Graph webhooks (O4): change notifications and lifecycle notifications."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from crmcal.web.context import WebDep

log = logging.getLogger("crmcal.web")

MAX_WEBHOOK_BYTES = 1_000_000

router = APIRouter(include_in_schema=False)


async def webhook_body(request: Request) -> dict[str, Any] | Response:
    token = request.query_params.get("validationToken")
    if token is not None:  # Graph's validation handshake: echo the token as text/plain
        return PlainTextResponse(token[:1024], status_code=200)
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        return Response(status_code=413)
    try:
        import json as _json

        body = _json.loads(raw)
    except ValueError:
        return Response(status_code=400)
    return body if isinstance(body, dict) else {}


@router.post("/webhooks/graph")
async def webhook(request: Request, web: WebDep) -> Response:
    got = await webhook_body(request)
    if isinstance(got, Response):
        return got
    if web.instant is None:
        return Response(status_code=404)
    accepted, rejected = web.instant.accept(got)
    if rejected and not accepted:
        log.warning("dropped %d change notifications with a wrong clientState", rejected)
    return Response(status_code=202)


@router.post("/webhooks/graph/lifecycle")
async def webhook_lifecycle(request: Request, web: WebDep) -> Response:
    got = await webhook_body(request)
    if isinstance(got, Response):
        return got
    if web.instant is None:
        return Response(status_code=404)
    inst = web.instant
    threading.Thread(target=inst.lifecycle, args=(got,), daemon=True).start()
    return Response(status_code=202)
