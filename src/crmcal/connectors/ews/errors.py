"""exchangelib's exceptions (one per EWS ResponseCode) mapped into `connectors.errors`' tree.

Families (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode):
authentication and impersonation refusals stop the session for the user (`EwsAuthError`);
ErrorServerBusy after the back-off budget, connection and transient server failures are retried
later (`EwsThrottled`, `EwsTransient`); a missing item is `EwsNotFound`; other per-item codes
(property, recurrence, recipient, conflict) are `EwsItemError`; an answer that is not what the
schema says is `EwsBadResponse`.
"""

from __future__ import annotations

from exchangelib import errors as x

from crmcal.connectors.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    ItemError,
    NotFound,
    SystemicError,
    TransientError,
)


class EwsError(ConnectorError):
    """Marker base for errors raised by the EWS connector."""


class EwsAuthError(AuthError, EwsError):
    """401, or the account may not impersonate the mailbox, or the mailbox does not exist."""


class EwsSystemic(SystemicError, EwsError):
    """The server refuses the request shape or version for every item (not per item)."""


class EwsThrottled(TransientError, EwsError):
    """ErrorServerBusy past what the retry policy may wait; `back_off` is the server's ask."""

    def __init__(self, message: str, *, back_off: float | None = None) -> None:
        super().__init__(message, code="ErrorServerBusy")
        self.back_off = back_off


class EwsTransient(TransientError, EwsError):
    """Connection failures and transient server errors."""


class EwsItemError(ItemError, EwsError):
    """One item was refused (its ResponseCode says why)."""


class EwsNotFound(NotFound, EwsError):
    """ErrorItemNotFound (deleted, or never existed in this mailbox)."""


class EwsBadResponse(BadResponse, EwsError):
    """The answer is not what the EWS schema says (Y3)."""


class SyncStateInvalid(EwsError):
    """ErrorInvalidSyncStateData: the cursor must be reset (O3, EWS style)."""


_AUTH = (
    x.UnauthorizedError,
    x.ErrorAccessDenied,
    x.ErrorImpersonateUserDenied,
    x.ErrorImpersonationDenied,
    x.ErrorImpersonationFailed,
    x.ErrorInvalidExchangeImpersonationHeaderData,
    x.ErrorNonExistentMailbox,
)
_SYSTEMIC = (
    x.ErrorInvalidServerVersion,
    x.ErrorIncorrectSchemaVersion,
    x.ErrorInvalidSchemaVersionForMailboxVersion,
    x.ErrorSchemaValidation,
    x.ErrorInvalidRequest,
)
_TRANSIENT = (
    x.ErrorInternalServerTransientError,
    x.ErrorTimeoutExpired,
    x.ErrorMailboxStoreUnavailable,
    x.ErrorMailboxMoveInProgress,
    x.ErrorTooManyObjectsOpened,
    x.ErrorExceededConnectionCount,
    x.RateLimitError,
)
_BAD = (x.MalformedResponseError, x.SOAPError)


def from_exchangelib(e: BaseException, context: str = "") -> ConnectorError:
    """The connector's exception for an exchangelib one (the ResponseCode kept as `code`)."""
    code = type(e).__name__
    msg = f"{context}: {e}" if context else str(e)
    if isinstance(e, ConnectorError):
        return e
    if isinstance(e, x.ErrorInvalidSyncStateData):
        return SyncStateInvalid(msg, code=code)
    if isinstance(e, x.ErrorServerBusy):
        return EwsThrottled(msg, back_off=e.back_off)
    if isinstance(e, _AUTH):
        status = 401 if isinstance(e, x.UnauthorizedError) else None
        return EwsAuthError(msg, code=code, status=status)
    if isinstance(e, x.ErrorItemNotFound):
        return EwsNotFound(msg, code=code)
    if isinstance(e, _TRANSIENT):
        return EwsTransient(msg, code=code)
    if isinstance(e, _SYSTEMIC):
        return EwsSystemic(msg, code=code)
    if isinstance(e, _BAD):
        return EwsBadResponse(msg, code=code)
    if isinstance(e, x.ResponseMessageError):
        return EwsItemError(msg, code=code)
    if isinstance(e, x.TransportError | OSError):
        return EwsTransient(msg, code=code)
    return EwsItemError(msg, code=code)
