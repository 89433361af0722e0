"""Control-API routes of the Graph emulator added for the sandbox as a product: sent mail, acting
as a user (a delegated refresh token), and the control API's own OpenAPI document
(crmcal.sandbox.control_docs lists every route; docs/sandbox.md shows them with examples)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from crmcal.sandbox import control_docs
from crmcal.sandbox.graph.api import ApiResponse, error_body
from crmcal.sandbox.graph.state import GraphApiError, GraphState

JsonResponse = Callable[[int, Any], Response]
ReadJson = Callable[[Request], Awaitable[tuple[Any, ApiResponse | None]]]


def mount(app: FastAPI, st: GraphState, json_response: JsonResponse, read_json: ReadJson) -> None:
    doc = control_docs.openapi("crmcal Graph sandbox: control API", control_docs.GRAPH)

    @app.get("/_sandbox/openapi.json")
    async def control_openapi() -> Response:
        return json_response(200, doc)

    @app.get("/_sandbox/mail")
    async def mail() -> Response:
        return json_response(200, {"value": list(st.sent_mail)})

    @app.delete("/_sandbox/mail")
    async def clear_mail() -> Response:
        st.sent_mail.clear()
        return json_response(204, None)

    @app.post("/_sandbox/users/{user}/refresh-token")
    async def refresh_token(request: Request, user: str) -> Response:
        body, _ = await read_json(request)
        scopes = body.get("scopes", "Group.Read.All") if isinstance(body, dict) else None
        client_id = body.get("client_id") if isinstance(body, dict) else None
        try:
            mb = st.mailbox(user)
        except GraphApiError as e:
            return json_response(e.status, error_body(e.code, e.message))
        apps = [a for a in st.apps if a != st.client_id] or [st.client_id]
        cid = str(client_id or apps[0])
        if cid not in st.apps:
            return json_response(400, error_body("BadRequest", f"Unknown client_id '{cid}'."))
        token = st.issue_refresh_token(cid, mb.address, str(scopes or "Group.Read.All"))
        return json_response(200, {"refresh_token": token, "client_id": cid})
