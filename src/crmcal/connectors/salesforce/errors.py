"""Salesforce's errors as a typed tree under :mod:`crmcal.connectors.errors` (api-facts B5).

Bodies are arrays ``[{"message", "errorCode", "fields"}]`` (``statusCode`` per item in collection
results); :func:`error_from` maps one item and the HTTP status onto a class.
"""

from __future__ import annotations

from collections.abc import Mapping

from crmcal.connectors.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    ItemError,
    LimitExceeded,
    NotFound,
    TransientError,
)


class SalesforceError(ConnectorError):
    """Any Salesforce failure."""


class SalesforceAuthError(SalesforceError, AuthError):
    """INVALID_SESSION_ID after a token refresh, or an OAuth ``invalid_grant`` error."""


class RequestLimitExceeded(SalesforceError, LimitExceeded):
    """403 REQUEST_LIMIT_EXCEEDED: the org's daily allowance (or concurrency) is used up."""


class SalesforceTransientError(SalesforceError, TransientError):
    """5xx, timeouts and connection failures after retries."""


class UnservedApiVersion(SalesforceError):
    """The configured REST API version is not one the org lists at ``/services/data/``."""


class SalesforceBadResponse(SalesforceError, BadResponse):
    """A response that doesn't have the documented shape."""


class SalesforceItemError(SalesforceError, ItemError):
    """A record or request was refused (validation, bad field, bad query)."""


class RecordNotFound(SalesforceItemError, NotFound):
    """NOT_FOUND, ENTITY_IS_DELETED, INVALID_CROSS_REFERENCE_KEY on a target id."""


class EntityIsDeleted(RecordNotFound):
    pass


class RequiredFieldMissing(SalesforceItemError):
    """REQUIRED_FIELD_MISSING; ``fields`` names them."""


class CustomValidationError(SalesforceItemError):
    """FIELD_CUSTOM_VALIDATION_EXCEPTION from an org validation rule; ``fields`` may be empty."""


class FieldIntegrityError(SalesforceItemError):
    """FIELD_INTEGRITY_EXCEPTION (e.g. end before start, over 14 days, bad recurrence)."""


class StringTooLong(SalesforceItemError):
    pass


class InvalidField(SalesforceItemError):
    """INVALID_FIELD, INVALID_FIELD_FOR_INSERT_UPDATE, INVALID_TYPE: a schema mismatch."""


class MalformedQuery(SalesforceItemError):
    """MALFORMED_QUERY, INVALID_QUERY_FILTER_OPERATOR: a bug in the query we built."""


class DuplicateValue(SalesforceItemError):
    """DUPLICATE_VALUE, or an upsert external id matching several records (HTTP 300)."""


class RolledBack(SalesforceItemError):
    """ALL_OR_NONE_OPERATION_ROLLED_BACK / PROCESSING_HALTED: failed because another item did."""


_BY_CODE: dict[str, type[SalesforceError]] = {
    "INVALID_SESSION_ID": SalesforceAuthError,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceeded,
    "NOT_FOUND": RecordNotFound,
    "ENTITY_IS_DELETED": EntityIsDeleted,
    "INVALID_CROSS_REFERENCE_KEY": RecordNotFound,
    "REQUIRED_FIELD_MISSING": RequiredFieldMissing,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": CustomValidationError,
    "FIELD_INTEGRITY_EXCEPTION": FieldIntegrityError,
    "STRING_TOO_LONG": StringTooLong,
    "INVALID_FIELD": InvalidField,
    "INVALID_FIELD_FOR_INSERT_UPDATE": InvalidField,
    "INVALID_TYPE": InvalidField,
    "MALFORMED_QUERY": MalformedQuery,
    "INVALID_QUERY_FILTER_OPERATOR": MalformedQuery,
    "DUPLICATE_VALUE": DuplicateValue,
    "DUPLICATE_EXTERNAL_ID": DuplicateValue,
    "MULTIPLE_RECORDS": DuplicateValue,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": RolledBack,
    "PROCESSING_HALTED": RolledBack,
    "SERVER_UNAVAILABLE": SalesforceTransientError,
    "UNKNOWN_EXCEPTION": SalesforceTransientError,
}


def error_from(status: int | None, item: Mapping[str, object]) -> SalesforceError:
    code = item.get("errorCode") or item.get("statusCode")
    code_s = code if isinstance(code, str) else None
    message = item.get("message")
    msg = message if isinstance(message, str) else "Salesforce error"
    raw_fields = item.get("fields")
    fields = tuple(str(f) for f in raw_fields) if isinstance(raw_fields, list) else ()
    cls = _BY_CODE.get(code_s or "")
    if cls is None:
        if status == 401:
            cls = SalesforceAuthError
        elif status == 404:
            cls = RecordNotFound
        elif status is not None and status >= 500:
            cls = SalesforceTransientError
        else:
            cls = SalesforceItemError
    return cls(msg, status=status, code=code_s, fields=fields)
