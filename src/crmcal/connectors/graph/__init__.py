"""Microsoft Graph v1.0 connector: calendar items, delta rounds, `$batch` writes (api-facts A).

Public surface: `GraphClient`, the exception tree in `errors`, token providers in `auth`.
"""

from crmcal.connectors.graph.auth import (
    MsalTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from crmcal.connectors.graph.client import AttachmentInfo, CallCounter, GraphClient, Subscription
from crmcal.connectors.graph.errors import (
    GraphAuthError,
    GraphBadResponse,
    GraphConflict,
    GraphError,
    GraphFailedDependency,
    GraphInvalidId,
    GraphInvalidUser,
    GraphItemError,
    GraphItemNotFound,
    GraphNotOrganizer,
    GraphOccurrenceCrossingBoundary,
    GraphServiceError,
    GraphThrottled,
    GraphTimeZoneNotSupported,
    GraphTokenError,
    SyncStateNotFound,
)
from crmcal.connectors.graph.mapping import SALESFORCE_PROPERTY_ID

__all__ = [
    "SALESFORCE_PROPERTY_ID",
    "AttachmentInfo",
    "CallCounter",
    "GraphAuthError",
    "GraphBadResponse",
    "GraphClient",
    "GraphConflict",
    "GraphError",
    "GraphFailedDependency",
    "GraphInvalidId",
    "GraphInvalidUser",
    "GraphItemError",
    "GraphItemNotFound",
    "GraphNotOrganizer",
    "GraphOccurrenceCrossingBoundary",
    "GraphServiceError",
    "GraphThrottled",
    "GraphTimeZoneNotSupported",
    "GraphTokenError",
    "MsalTokenProvider",
    "StaticTokenProvider",
    "Subscription",
    "SyncStateNotFound",
    "TokenProvider",
]
