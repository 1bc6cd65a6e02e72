"""heron-client: a typed, paginating, retrying client for heron and the Braze REST API.

Example:
    >>> from heron_client import Braze
    >>> braze = Braze("YOUR-REST-API-KEY", "http://127.0.0.1:8080")  # or a Braze instance URL
    >>> braze.settings.base_url
    'http://127.0.0.1:8080'
    >>> braze.close()
"""

from heron_client._async import AsyncBraze
from heron_client._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    HeronClientError,
    MalformedResponseError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
)
from heron_client._pages import Page
from heron_client._retry import RetryPolicy
from heron_client._sync import Braze
from heron_client._track import (
    MAX_OBJECTS_PER_ARRAY,
    ObjectError,
    TrackBatch,
    TrackReport,
    plan_batches,
)
from heron_client._types import (
    AliasesResponse,
    AliasUpdate,
    CampaignDataPoint,
    CampaignDetails,
    CampaignSummary,
    CatalogKind,
    CatalogListResponse,
    CustomAttributeExport,
    DeleteResponse,
    EventCount,
    EventExport,
    ExportIdsResponse,
    HealthResponse,
    KpiPoint,
    ManagedCampaign,
    ManagedItem,
    ManagedSegment,
    MergeUpdate,
    NewAlias,
    PurchaseQuantity,
    RevenuePoint,
    SegmentDetails,
    SegmentSize,
    SegmentSummary,
    SeriesResponse,
    SuccessResponse,
    TrackError,
    TrackResponse,
    UserAlias,
    WorkspaceResponse,
    WorkspaceSettings,
)

__all__ = [
    "MAX_OBJECTS_PER_ARRAY",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AliasUpdate",
    "AliasesResponse",
    "AsyncBraze",
    "AuthenticationError",
    "BadRequestError",
    "Braze",
    "CampaignDataPoint",
    "CampaignDetails",
    "CampaignSummary",
    "CatalogKind",
    "CatalogListResponse",
    "ConflictError",
    "CustomAttributeExport",
    "DeleteResponse",
    "EventCount",
    "EventExport",
    "ExportIdsResponse",
    "HealthResponse",
    "HeronClientError",
    "KpiPoint",
    "MalformedResponseError",
    "ManagedCampaign",
    "ManagedItem",
    "ManagedSegment",
    "MergeUpdate",
    "NewAlias",
    "NotFoundError",
    "ObjectError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PurchaseQuantity",
    "RateLimitedError",
    "RetryPolicy",
    "RevenuePoint",
    "SegmentDetails",
    "SegmentSize",
    "SegmentSummary",
    "SeriesResponse",
    "ServerError",
    "SuccessResponse",
    "TrackBatch",
    "TrackError",
    "TrackReport",
    "TrackResponse",
    "UserAlias",
    "WorkspaceResponse",
    "WorkspaceSettings",
    "plan_batches",
]

__version__ = "0.1.0"
