"""The root of both connectors' exception trees.

Each connector maps its error codes onto subclasses of these (Graph `{"error":{code,message}}`,
Salesforce `[{errorCode,message,fields}]`). The engine only needs the categories below to decide:
per-item failures become issues, systemic ones stop the session (DESIGN principle 6).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Any failure talking to an external API."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.insert(0, f"[{self.code}]")
        if self.status is not None:
            parts.insert(0, f"HTTP {self.status}")
        return " ".join(parts)


class SystemicError(ConnectorError):
    """The session cannot go on for this user or org (auth, limits, service down)."""


class AuthError(SystemicError):
    """Credentials were refused or expired and could not be renewed."""


class LimitExceeded(SystemicError):
    """An API allowance is used up (Salesforce REQUEST_LIMIT_EXCEEDED, Graph after retries)."""


class TransientError(ConnectorError):
    """A failure worth retrying later (5xx, timeouts, throttling after retries ran out)."""


class ItemError(ConnectorError):
    """One item or record was refused; others in the same call may have succeeded."""


class NotFound(ItemError):
    """The item or record does not exist (any more)."""


class BadResponse(ConnectorError):
    """The API answered with something that is not what its documentation says (Y3)."""
