"""The Salesforce REST connector (api-facts section B): auth, SOQL, bulk writes, typed errors."""

from crmcal.connectors.salesforce.auth import AccessToken, OAuthConfig, fetch_token, jwt_assertion
from crmcal.connectors.salesforce.client import COLLECTION_SIZE, QUERY_PAGE, SalesforceClient
from crmcal.connectors.salesforce.errors import (
    CustomValidationError,
    DuplicateValue,
    EntityIsDeleted,
    FieldIntegrityError,
    InvalidField,
    MalformedQuery,
    RecordNotFound,
    RequestLimitExceeded,
    RequiredFieldMissing,
    RolledBack,
    SalesforceAuthError,
    SalesforceBadResponse,
    SalesforceError,
    SalesforceItemError,
    SalesforceTransientError,
    StringTooLong,
)

__all__ = [
    "COLLECTION_SIZE",
    "QUERY_PAGE",
    "AccessToken",
    "CustomValidationError",
    "DuplicateValue",
    "EntityIsDeleted",
    "FieldIntegrityError",
    "InvalidField",
    "MalformedQuery",
    "OAuthConfig",
    "RecordNotFound",
    "RequestLimitExceeded",
    "RequiredFieldMissing",
    "RolledBack",
    "SalesforceAuthError",
    "SalesforceBadResponse",
    "SalesforceClient",
    "SalesforceError",
    "SalesforceItemError",
    "SalesforceTransientError",
    "StringTooLong",
    "fetch_token",
    "jwt_assertion",
]
