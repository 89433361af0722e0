"""Operations: `/healthz` for load balancers and `/metrics` (admins) for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from crmcal.web.context import WebDep, admin_api
from crmcal.web.metrics import render

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/metrics", dependencies=[Depends(admin_api)])
def metrics(web: WebDep) -> Response:
    return Response(render(web.metrics_registry), media_type="text/plain; version=0.0.4")
