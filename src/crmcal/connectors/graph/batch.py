"""JSON batching (api-facts A8): at most 20 requests per `POST /$batch`, responses in any order.

Inner requests are throttled individually; the client resends only the inner requests that got 429
(or a retryable 5xx), after the longest `Retry-After` among them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmcal.connectors.graph.errors import GraphBadResponse, GraphError, error_from_body
from crmcal.connectors.retry import parse_retry_after

MAX_BATCH = 20


@dataclass(frozen=True)
class BatchRequest:
    id: str
    method: str
    url: str
    """Relative to the version, e.g. `/users/ana@contoso.example/events/AAMk…`."""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            out["body"] = self.body
        if headers:
            out["headers"] = headers
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        return out


@dataclass(frozen=True)
class BatchResponse:
    id: str
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.header("Retry-After"))

    def error(self, context: str = "") -> GraphError:
        return error_from_body(
            self.status, self.body, retry_after=self.retry_after, context=context
        )


def chunks(requests: Sequence[BatchRequest], size: int = MAX_BATCH) -> Iterator[list[BatchRequest]]:
    for i in range(0, len(requests), size):
        yield list(requests[i : i + size])


def parse_batch_response(body: object, sent: Sequence[BatchRequest]) -> dict[str, BatchResponse]:
    """Responses keyed by request id; a request without a response becomes a 502 (BadResponse)."""
    if not isinstance(body, dict) or not isinstance(body.get("responses"), list):
        raise GraphBadResponse("$batch answer has no responses array")
    out: dict[str, BatchResponse] = {}
    for r in body["responses"]:
        if not isinstance(r, dict) or "id" not in r or not isinstance(r.get("status"), int):
            continue
        headers = r.get("headers") if isinstance(r.get("headers"), dict) else {}
        out[str(r["id"])] = BatchResponse(
            id=str(r["id"]),
            status=int(r["status"]),
            headers={str(k): str(v) for k, v in (headers or {}).items()},
            body=r.get("body"),
        )
    for req in sent:
        if req.id not in out:
            out[req.id] = BatchResponse(
                req.id,
                502,
                {},
                {"error": {"code": "MissingBatchResponse", "message": "no response in $batch"}},
            )
    return out
