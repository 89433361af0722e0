"""Change notifications as Microsoft Graph sends them (api-facts E4, A11).

Sources (replayed verbatim in tests/graph/fixtures/notifications/*.json, each with `_source`):
- Validation: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
  (include `change-notifications-delivery-notificationurl-validation.md`): Graph POSTs
  `?validationToken=...` with `Content-Type: text/plain; charset=utf-8`; the endpoint must answer
  within 10 seconds with 200, a `text/plain` content type and the URL-decoded token as the body;
  otherwise the subscription is not created. With a `lifecycleNotificationUrl`, that URL is
  validated the same way.
- Change notification: same page, "Change notification example": `id`, `subscriptionId`,
  `subscriptionExpirationDateTime`, `clientState`, `changeType`, `resource`, `tenantId`, and
  `resourceData` with `@odata.type`, `@odata.id`, a weak `@odata.etag` (`W/"..."`) and `id`.
- Lifecycle notifications: https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
  (`subscriptionId`, `subscriptionExpirationDateTime`, `tenantId`, `clientState`,
  `lifecycleEvent` in `subscriptionRemoved`, `missed`, `reauthorizationRequired`), and
  `POST /subscriptions/{id}/reauthorize` (204, https://learn.microsoft.com/en-us/graph/api/subscription-reauthorize).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from crmcal.sandbox.graph.api import ApiRequest, ApiResponse, route
from crmcal.sandbox.graph.state import GraphApiError, GraphState, Subscription, fmt_utc

VALIDATION_TIMEOUT_S = 10.0
"""The endpoint must answer the validation request within 10 seconds (docs, above)."""

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")

VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
    "validation request."
)


def validation_token() -> str:
    """An opaque token like Graph's (its format may change without notice, docs say)."""
    return (
        "Validation: Testing client application reachability for subscription Request-Id: "
        f"{uuid.uuid4()}"
    )


async def validate_endpoint(http: httpx.AsyncClient, url: str) -> str | None:
    """Graph's validation handshake against `url`: None when it passes, else what was wrong.

    Stricter than a 200 check: the content type must be `text/plain`, the body exactly the token
    (not encoded, not quoted, not JSON), and the answer must come within `VALIDATION_TIMEOUT_S`."""
    token = validation_token()
    limit = VALIDATION_TIMEOUT_S
    t0 = time.monotonic()
    try:
        r = await http.post(
            url,
            params={"validationToken": token},
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=limit,
        )
    except httpx.TimeoutException:
        return f"no answer within {limit:g} seconds"
    except httpx.HTTPError as e:
        return f"unreachable ({type(e).__name__})"
    if time.monotonic() - t0 > limit:
        return f"no answer within {limit:g} seconds"
    if r.status_code != 200:
        return f"answered {r.status_code}, not 200"
    ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/plain":
        return f"answered content type {ctype or '(none)'!r}, not text/plain"
    if r.text != token:
        return "the body is not the validation token as plain text"
    return None


def _notification_id() -> str:
    """Opaque, short, like the documented `"id": "lsgTZMr9KwAAA"`."""
    return secrets.token_urlsafe(10)[:13]


def change_notification(
    st: GraphState, sub: Subscription, mailbox_id: str, item_id: str, change: str, etag: str
) -> dict[str, Any]:
    """One item of the documented change-notification `value` array."""
    resource = f"Users/{mailbox_id}/Events/{item_id}"
    return {
        "id": _notification_id(),
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": fmt_utc(sub.expiration),
        "clientState": sub.client_state,
        "changeType": change,
        "resource": resource,
        "tenantId": st.tenant_id,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": f'W/"{etag}"',
            "id": item_id,
        },
    }


def lifecycle_notification(st: GraphState, sub: Subscription, event: str) -> dict[str, Any]:
    """One item of the documented lifecycle-notification `value` array."""
    return {
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": fmt_utc(sub.expiration),
        "tenantId": st.tenant_id,
        "clientState": sub.client_state,
        "lifecycleEvent": event,
    }


def queue_lifecycle(st: GraphState, subscription_id: str, event: str) -> None:
    """Inject a lifecycle event (control API). Only subscriptions made with a
    `lifecycleNotificationUrl` receive one (docs); `subscriptionRemoved` also removes it."""
    sub = st.subscriptions.get(subscription_id)
    if sub is None:
        raise GraphApiError(
            404, "ResourceNotFound", f"The object '{subscription_id}' doesn't exist."
        )
    if event not in LIFECYCLE_EVENTS:
        raise GraphApiError(
            400,
            "BadRequest",
            f"Unknown lifecycle event '{event}'; one of {list(LIFECYCLE_EVENTS)}.",
        )
    if sub.lifecycle_url:
        st.outbox.append((sub.lifecycle_url, {"value": [lifecycle_notification(st, sub, event)]}))
    if event == "subscriptionRemoved":
        st.remove_subscription(subscription_id)


@dataclass
class Delivery:
    url: str
    body: dict[str, Any]
    status: int | None
    at: str


@dataclass
class DeliveryLog:
    """What the emulator POSTed to webhooks (control API `GET /_sandbox/notifications`)."""

    items: list[Delivery] = field(default_factory=list)
    limit: int = 1000

    def add(self, url: str, body: dict[str, Any], status: int | None) -> None:
        self.items.append(Delivery(url, body, status, fmt_utc_now()))
        del self.items[: max(0, len(self.items) - self.limit)]

    def json(self) -> dict[str, Any]:
        return {
            "value": [
                {"url": d.url, "status": d.status, "at": d.at, "body": d.body} for d in self.items
            ]
        }


def fmt_utc_now() -> str:
    from datetime import UTC, datetime

    return fmt_utc(datetime.now(UTC))


@route("POST", r"/subscriptions/(?P<sid>[^/]+)/reauthorize", "POST /subscriptions/{id}/reauthorize")
def reauthorize_subscription(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    """Reauthorize without changing the expiration: 204 No Content (subscription-reauthorize)."""
    if p["sid"] not in state.subscriptions:
        raise GraphApiError(404, "ResourceNotFound", f"The object '{p['sid']}' doesn't exist.")
    return ApiResponse(204)
