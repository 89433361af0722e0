"""The `/_sandbox/` control APIs of both emulators, described once: OpenAPI and docs/sandbox.md.

The control API is not Microsoft's or Salesforce's: it is how a person trying crmcal (or a test)
adds mailboxes and Salesforce users, seeds records and invitations, acts as a user, injects
faults and lifecycle events, and reads counters and sent mail. Each emulator publishes these
routes at `GET /_sandbox/openapi.json`, separate from the real API paths (which are documented by
Microsoft and Salesforce). tests/integration/test_sandbox_product.py checks that every
`/_sandbox/` route either app serves is listed here, in each OpenAPI document and in
docs/sandbox.md, and replays the examples that need no ids from earlier answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ControlRoute:
    method: str
    path: str
    summary: str
    request: Any = None
    """An example JSON body (None: no body)."""
    status: int = 200
    response: Any = None
    """An example of the answer (None: no body, or too long to show)."""
    params: dict[str, str] = field(default_factory=dict)
    """Example values for the path parameters (used when the example is replayed)."""


ANA = "ana@contoso.example"

GRAPH: tuple[ControlRoute, ...] = (
    ControlRoute("GET", "/_sandbox/openapi.json", "This document (OpenAPI 3.1)."),
    ControlRoute(
        "GET",
        "/_sandbox/info",
        "Tenant, app credentials, base URLs and mailboxes.",
        response={"tenant_id": "…", "graph_url": "https://127.0.0.1:8443/v1.0", "users": []},
    ),
    ControlRoute("POST", "/_sandbox/reset", "Forget all data; app registrations stay.", status=204),
    ControlRoute(
        "GET", "/_sandbox/users", "The mailboxes.", response={"value": [{"address": ANA}]}
    ),
    ControlRoute(
        "POST",
        "/_sandbox/users",
        'Add mailboxes: one object, a list, or {"users": [...]}.',
        request={"address": ANA, "displayName": "Ana Ruiz"},
        status=201,
        response={"value": [{"id": "…", "address": ANA, "displayName": "Ana Ruiz"}]},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/users/{user}/events",
        "Put an event in a mailbox as Outlook would (no API call counted, notifications sent); "
        "`_originalStartTimeZone` sets the zone Outlook made it in.",
        request={
            "subject": "Budget review",
            "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "Europe/Berlin"},
        },
        status=201,
        params={"user": ANA},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/users/{user}/invitations",
        "An invitation from an external organizer: event JSON plus `organizer` (and `iCalUId`).",
        request={
            "subject": "Intro call",
            "start": {"dateTime": "2030-01-08T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-08T09:30:00", "timeZone": "UTC"},
            "organizer": {"emailAddress": {"address": "kim@fabrikam.example", "name": "Kim"}},
        },
        status=201,
        params={"user": ANA},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/users/{user}/events/{item_id}/corrupt",
        "Make reads of one item return these raw JSON fields (malformed-item tests).",
        request={"start": None},
        status=204,
    ),
    ControlRoute(
        "POST",
        "/_sandbox/users/{user}/refresh-token",
        "Act as a user: a delegated refresh token for the sandbox app, as the user's consent "
        "would leave (`graph.delegated_refresh_token`, G2 group calendars).",
        request={"scopes": "Group.Read.All"},
        response={"refresh_token": "0.sandbox-rt.…"},
        params={"user": ANA},
    ),
    ControlRoute(
        "GET",
        "/_sandbox/subscriptions",
        "The change-notification subscriptions, as `GET /v1.0/subscriptions` shows them.",
        response={"value": []},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/subscriptions/{subscription_id}/lifecycle",
        "Send a lifecycle notification to the subscription's lifecycleNotificationUrl: "
        "`reauthorizationRequired`, `subscriptionRemoved` (also removes it) or `missed`.",
        request={"lifecycleEvent": "missed"},
        status=202,
    ),
    ControlRoute(
        "GET",
        "/_sandbox/notifications",
        "Change and lifecycle notifications POSTed so far (url, status, body).",
        response={"value": []},
    ),
    ControlRoute("DELETE", "/_sandbox/notifications", "Clear that list.", status=204),
    ControlRoute(
        "GET",
        "/_sandbox/mail",
        "Mail sent through `POST /v1.0/users/{id}/sendMail` (sender, recipients, subject, body).",
        response={"value": []},
    ),
    ControlRoute("DELETE", "/_sandbox/mail", "Clear the sent mail.", status=204),
    ControlRoute(
        "GET",
        "/_sandbox/faults",
        "Fault settings: latency, error rate, the next N failures or 429s, Retry-After, "
        "per-mailbox rate and concurrency limits.",
    ),
    ControlRoute(
        "PUT",
        "/_sandbox/faults",
        "Change fault settings (unknown names are refused).",
        request={"throttle_next": 2, "retry_after": 0.5},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/tokens/expire",
        "Expire every access token (the next call gets 401).",
        response={"expired": 1},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/delta/expire",
        "Expire every delta token (the next round gets 410 syncStateNotFound).",
        response={"expired": 0},
    ),
    ControlRoute(
        "GET",
        "/_sandbox/stats",
        "Requests served, per endpoint (`_`-prefixed: not API calls).",
        response={"requests": {"GET /users/{id}/calendarView/delta": 3}, "total": 3},
    ),
    ControlRoute("DELETE", "/_sandbox/stats", "Reset the counters.", status=204),
)

SALESFORCE: tuple[ControlRoute, ...] = (
    ControlRoute("GET", "/_sandbox/openapi.json", "This document (OpenAPI 3.1)."),
    ControlRoute(
        "GET",
        "/_sandbox/info",
        "Org id, login and instance URL, admin user, active users.",
        response={"org_id": "00D…", "instance_url": "https://127.0.0.1:8444", "users": []},
    ),
    ControlRoute("POST", "/_sandbox/reset", "Forget all records; the admin user stays."),
    ControlRoute(
        "POST",
        "/_sandbox/seed",
        "Create users, calendars and records of any sObject (as the admin, read-only fields "
        "allowed); answers the new Ids per key.",
        request={
            "users": [{"email": ANA, "first_name": "Ana", "last_name": "Ruiz"}],
            "Account": [{"Name": "Fabrikam"}],
        },
        response={"users": ["005…"], "Account": ["001…"]},
    ),
    ControlRoute("GET", "/_sandbox/faults", "Fault settings and the API allowance."),
    ControlRoute(
        "POST",
        "/_sandbox/faults",
        "Change faults (latency, fail_next, fail_status, fail_rate) or the daily API allowance "
        "(api_max, api_used). PUT does the same.",
        request={"fail_next": 1, "fail_status": 503},
    ),
    ControlRoute(
        "PUT",
        "/_sandbox/faults",
        "Same as POST.",
        request={"latency_ms": 0},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/tokens",
        "Act as a user: an access token for `user_id` (the admin when omitted), for "
        "simple-salesforce's `session_id` or a raw `Authorization: Bearer`.",
        request={},
        response={"access_token": "00D…!…"},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/tokens/expire",
        "Expire every access token (the next call gets 401 INVALID_SESSION_ID).",
        response={"expired": 1},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/clients",
        "Register a connected app: client-credentials secret and/or JWT public key, run-as user.",
        request={"client_id": "3MVG9example", "secret": "s3cret"},
        response={"client_id": "3MVG9example"},
    ),
    ControlRoute(
        "PUT",
        "/_sandbox/required-fields/{sobject}",
        "Make fields required on an sObject (as a page layout or field setting would). POST "
        "does the same.",
        request={"fields": ["Description"]},
        params={"sobject": "Event"},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/required-fields/{sobject}",
        "Same as PUT.",
        request={"fields": []},
        params={"sobject": "Event"},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/validation-rules/{sobject}",
        "Add a validation rule: records matching the condition (a SOQL WHERE clause) are refused.",
        request={
            "name": "AtMostEightHours",
            "condition": "DurationInMinutes > 480",
            "message": "At most 8 hours",
            "fields": ["DurationInMinutes"],
        },
        params={"sobject": "Event"},
    ),
    ControlRoute(
        "DELETE",
        "/_sandbox/validation-rules/{sobject}",
        "Remove the sObject's validation rules.",
        params={"sobject": "Event"},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/custom-fields/{sobject}",
        "Add a custom text field (optionally an External ID).",
        request={"name": "Outlook_Id__c", "length": 255, "external_id": True},
        params={"sobject": "Event"},
    ),
    ControlRoute(
        "POST",
        "/_sandbox/settings",
        "Org settings: multi-day events, Shared Activities.",
        request={"shared_activities": True},
        response={"multiday_events": True, "shared_activities": True},
    ),
    ControlRoute("GET", "/_sandbox/stats", "API usage and requests per endpoint."),
    ControlRoute("DELETE", "/_sandbox/stats", "Reset the request counters."),
)


def openapi(title: str, routes: tuple[ControlRoute, ...]) -> dict[str, Any]:
    """An OpenAPI 3.1 document for a control API (paths under `/_sandbox/` only)."""
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": f"{r.method.lower()}_{r.path.strip('/').replace('/', '_')}",
            "responses": {str(r.status): {"description": "OK" if r.status < 300 else ""}},
        }
        names = [p[1:-1] for p in r.path.split("/") if p.startswith("{")]
        if names:
            op["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
        if r.request is not None:
            op["requestBody"] = {
                "content": {"application/json": {"schema": {}, "example": r.request}}
            }
        if r.response is not None:
            op["responses"][str(r.status)]["content"] = {
                "application/json": {"schema": {}, "example": r.response}
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "The sandbox's own control API (not part of the emulated service). "
            "See docs/sandbox.md.",
        },
        "paths": paths,
    }
