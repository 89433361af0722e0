"""Graph's exception tree, mapped from `{"error":{"code","message","innerError"}}` (api-facts A10).

Every class also derives from one of the engine's categories in `crmcal.connectors.errors`, so the
engine can decide without knowing Graph: per-item (`ItemError`), retry later (`TransientError`),
stop the session (`SystemicError`).
"""

from __future__ import annotations

import json
from typing import Any

from crmcal.connectors.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    ItemError,
    LimitExceeded,
    NotFound,
    TransientError,
)


class GraphError(ConnectorError):
    """Any error Microsoft Graph answered with. `request_id` comes from `innerError`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.request_id = request_id
        self.retry_after = retry_after


class GraphAuthError(GraphError, AuthError):
    """401/403 on authentication: the token was refused even after renewing it, or the app lacks
    consent or permission for the mailbox."""


class GraphTokenError(GraphAuthError):
    """The identity platform refused the client credentials (msal `error`/`error_description`)."""


class GraphThrottled(GraphError, LimitExceeded):
    """429 (or 503 with Retry-After) after the retry policy gave up."""


class GraphServiceError(GraphError, TransientError):
    """5xx or a network failure after retries."""


class SyncStateNotFound(GraphError, TransientError):
    """410: the delta token expired or is unknown; the round must start over (A4)."""


class GraphItemError(GraphError, ItemError):
    """The request for one item was refused (400, 409, 412, 413, 422, …)."""


class GraphItemNotFound(GraphError, NotFound):
    """404 `ErrorItemNotFound`: the item is gone (deleted or moved)."""


class GraphInvalidId(GraphItemError):
    """400 `ErrorInvalidIdMalformed`."""


class GraphInvalidUser(GraphError, NotFound):
    """404 `ErrorInvalidUser`: the mailbox does not exist or the app cannot address it."""


class GraphNotOrganizer(GraphItemError):
    """400 on cancel by someone who is not the organizer (A5)."""


class GraphTimeZoneNotSupported(GraphItemError):
    """400 `TimeZoneNotSupportedException`."""


class GraphOccurrenceCrossingBoundary(GraphItemError):
    """400 `ErrorOccurrenceCrossingBoundary`: an occurrence moved onto or past a neighbour (A5)."""


class GraphConflict(GraphItemError):
    """409/412: duplicate names (categories) or a stale change key."""


class GraphFailedDependency(GraphItemError):
    """424 inside `$batch`: a request it depended on failed."""


class GraphBadResponse(GraphError, BadResponse):
    """Graph answered with something its documentation does not describe (Y3)."""


_BY_CODE: dict[str, type[GraphError]] = {
    "SyncStateNotFound": SyncStateNotFound,
    "syncStateNotFound": SyncStateNotFound,
    "resyncRequired": SyncStateNotFound,
    "ErrorItemNotFound": GraphItemNotFound,
    "itemNotFound": GraphItemNotFound,
    "ResourceNotFound": GraphItemNotFound,
    "ErrorInvalidUser": GraphInvalidUser,
    "ErrorInvalidIdMalformed": GraphInvalidId,
    "TimeZoneNotSupportedException": GraphTimeZoneNotSupported,
    "ErrorOccurrenceCrossingBoundary": GraphOccurrenceCrossingBoundary,
    "InvalidAuthenticationToken": GraphAuthError,
    "unauthenticated": GraphAuthError,
    "ErrorAccessDenied": GraphAuthError,
    "accessDenied": GraphAuthError,
    "Authorization_RequestDenied": GraphAuthError,
    "TooManyRequests": GraphThrottled,
    "ApplicationThrottled": GraphThrottled,
    "activityLimitReached": GraphThrottled,
    "ErrorDuplicateCategory": GraphConflict,
    "nameAlreadyExists": GraphConflict,
    "FailedDependency": GraphFailedDependency,
}


def _by_status(status: int) -> type[GraphError]:
    if status in (401, 403):
        return GraphAuthError
    if status == 404:
        return GraphItemNotFound
    if status == 410:
        return SyncStateNotFound
    if status in (409, 412):
        return GraphConflict
    if status == 424:
        return GraphFailedDependency
    if status == 429:
        return GraphThrottled
    if status >= 500:
        return GraphServiceError
    return GraphItemError


def error_from_body(
    status: int, body: Any, *, retry_after: float | None = None, context: str = ""
) -> GraphError:
    """The exception for one Graph error response (top level or inside `$batch`)."""
    code: str | None = None
    message = ""
    request_id: str | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = str(err.get("message") or "")
        inner = err.get("innerError") or err.get("innererror")
        if isinstance(inner, dict):
            rid = inner.get("request-id")
            request_id = str(rid) if rid else None
    if not message:
        message = f"HTTP {status}" if not context else f"{context}: HTTP {status}"
    elif context:
        message = f"{context}: {message}"
    cls = _BY_CODE.get(code or "") or _by_status(status)
    if status == 400 and "organizer to cancel" in message:
        cls = GraphNotOrganizer
    if cls is GraphAuthError and status == 404:
        cls = GraphItemNotFound
    return cls(message, status=status, code=code, request_id=request_id, retry_after=retry_after)


def error_from_text(status: int, text: str, **kw: Any) -> GraphError:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return error_from_body(status, body, **kw)
