"""`POST /users/{id}/sendMail` as Graph answers it, and the mail it "sent" (control API).

Source: https://learn.microsoft.com/en-us/graph/api/user-sendmail (microsoft-graph-docs-contrib
api-reference/v1.0/api/user-sendmail.md); examples 1-3 are replayed verbatim from
tests/graph/fixtures/mail/. What is checked, strictly (the stricter reading where the page is
silent; docs/decisions/0083-graph-sendmail-emulator.md):

- JSON bodies only; MIME content (`Content-Type: text/plain`, base64) is not emulated and is
  refused (400 `ErrorMimeContentInvalidBase64String`) rather than accepted unread.
- The body is `{"message": {...}, "saveToSentItems": ...}` and nothing else; `message` is
  required. `saveToSentItems` is a Boolean; OData also reads the literal strings `"true"` and
  `"false"` (example 1 sends `"false"`), nothing else.
- `message` properties must be properties of microsoft.graph.message; an unknown one is
  `RequestBodyRead` (example 5 of the page, which is marked `ignored` and has no `message`
  wrapper, is refused, as Graph refuses it).
- At least one recipient in `toRecipients`, `ccRecipients` or `bccRecipients`
  (`ErrorInvalidRecipients`); each `{"emailAddress": {"address": ...}}` with a valid address.
- `body.contentType` is `text` or `html` (enum values are case-insensitive on input).
- The sender must be a mailbox of the tenant (404 `ErrorInvalidUser`).
- The answer is `202 Accepted` with an empty body.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from crmcal.sandbox.graph.api import ApiRequest, ApiResponse, route
from crmcal.sandbox.graph.state import GraphApiError, GraphState, fmt_utc

MESSAGE_PROPERTIES = frozenset(
    {
        "attachments",
        "bccRecipients",
        "body",
        "categories",
        "ccRecipients",
        "flag",
        "from",
        "importance",
        "inferenceClassification",
        "internetMessageHeaders",
        "internetMessageId",
        "isDeliveryReceiptRequested",
        "isReadReceiptRequested",
        "mentions",
        "replyTo",
        "sender",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
        "subject",
        "toRecipients",
        "uniqueBody",
    }
)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _bad(message: str, code: str = "ErrorInvalidRecipients") -> GraphApiError:
    return GraphApiError(400, code, message)


def _recipients(msg: dict[str, Any], key: str) -> list[str]:
    items = msg.get(key, [])
    if not isinstance(items, list):
        raise _bad(f"'{key}' must be a collection of recipients.", "RequestBodyRead")
    out: list[str] = []
    for r in items:
        email = r.get("emailAddress") if isinstance(r, dict) else None
        addr = email.get("address") if isinstance(email, dict) else None
        if not isinstance(addr, str) or not _ADDRESS.match(addr.strip()):
            raise _bad("At least one recipient is not valid., Recipient is not valid.")
        out.append(addr.strip())
    return out


def _save_to_sent(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(
        f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
        "RequestBodyRead",
    )


def parse_send_mail(body: Any) -> dict[str, Any]:
    """Validate a sendMail JSON body; return what the control API shows of it."""
    if not isinstance(body, dict):
        raise _bad("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    extra = sorted(set(body) - {"message", "saveToSentItems"})
    if extra:
        raise _bad(
            f"The parameter '{extra[0]}' in the request payload is not a valid parameter for "
            "the operation 'sendMail'.",
            "RequestBodyRead",
        )
    msg = body.get("message")
    if not isinstance(msg, dict):
        raise _bad("The 'message' parameter is required.", "ErrorInvalidRequest")
    unknown = sorted(k for k in msg if k not in MESSAGE_PROPERTIES and not k.startswith("@"))
    if unknown:
        raise _bad(
            f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.message'. Make "
            "sure to only use property names that are defined by the type or mark the type as "
            "open type.",
            "RequestBodyRead",
        )
    to, cc, bcc = (_recipients(msg, k) for k in ("toRecipients", "ccRecipients", "bccRecipients"))
    if not (to or cc or bcc):
        raise _bad("At least one recipient is not valid., Message has no recipients.")
    b = msg.get("body", {"contentType": "text", "content": ""})
    if not isinstance(b, dict) or str(b.get("contentType", "text")).lower() not in ("text", "html"):
        raise _bad(
            "Cannot convert the literal to the expected type 'microsoft.graph.bodyType'.",
            "RequestBodyRead",
        )
    return {
        "subject": str(msg.get("subject") or ""),
        "body": {"contentType": str(b.get("contentType", "text")), "content": b.get("content", "")},
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": bcc,
        "saveToSentItems": _save_to_sent(body.get("saveToSentItems")),
        "attachments": len(msg.get("attachments") or []),
    }


@route("POST", r"/users/(?P<user>[^/]+)/sendMail", "POST /users/{id}/sendMail")
def send_mail(state: GraphState, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    mb = state.find_mailbox(p["user"])
    if mb is None:
        raise GraphApiError(
            404, "ErrorInvalidUser", f"The requested user '{p['user']}' is invalid."
        )
    if req.headers.get("content-type", "").split(";")[0].strip().lower() == "text/plain":
        raise _bad("Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String")
    parsed = parse_send_mail(req.body)
    state.sent_mail.append(
        {
            "id": str(uuid.uuid4()),
            "sender": mb.address,
            "sentDateTime": fmt_utc(datetime.now(UTC)),
            **parsed,
        }
    )
    return ApiResponse(202)
