"""Typed shapes of the requests and answers (TypedDicts: plain dicts at run time, typed for mypy).

Field names are Braze's. Answers are not validated field by field (a server may add fields);
the client checks only that an answer is a JSON object and, for lists it paginates, that the
list is there.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AliasUpdate",
    "AliasesResponse",
    "CampaignDataPoint",
    "CampaignDetails",
    "CampaignSummary",
    "CatalogKind",
    "CatalogListResponse",
    "CustomAttributeExport",
    "DeleteResponse",
    "EventCount",
    "EventExport",
    "ExportIdsResponse",
    "HealthResponse",
    "KpiPoint",
    "ManagedCampaign",
    "ManagedItem",
    "ManagedSegment",
    "MergeUpdate",
    "NewAlias",
    "PurchaseQuantity",
    "RevenuePoint",
    "SegmentDetails",
    "SegmentSize",
    "SegmentSummary",
    "SeriesResponse",
    "SuccessResponse",
    "TrackError",
    "TrackResponse",
    "UserAlias",
    "WorkspaceResponse",
    "WorkspaceSettings",
]

CatalogKind = Literal["events", "custom_attributes", "products"]


class UserAlias(TypedDict):
    """A user alias: `{"alias_name", "alias_label"}`."""

    alias_name: str
    alias_label: str


class NewAlias(TypedDict):
    """One entry of `/users/alias/new`: an alias, optionally for an existing `external_id`."""

    alias_name: str
    alias_label: str
    external_id: NotRequired[str]


class AliasUpdate(TypedDict):
    """One entry of `/users/alias/update`: rename an alias within its label."""

    alias_label: str
    old_alias_name: str
    new_alias_name: str


class MergeUpdate(TypedDict):
    """One entry of `/users/merge`: the identifier to merge into the identifier to keep."""

    identifier_to_merge: dict[str, Any]
    identifier_to_keep: dict[str, Any]


class SuccessResponse(TypedDict):
    """`{"message": "success"}` (and, when present, non-fatal `errors`)."""

    message: str
    errors: NotRequired[list[Any]]


class TrackError(TypedDict):
    """A non-fatal `/users/track` error: the message, the array and the 0-based index."""

    type: str
    input_array: str
    index: int


class TrackResponse(TypedDict):
    """`/users/track`'s answer; each count is present only when its array was sent."""

    message: str
    attributes_processed: NotRequired[int]
    events_processed: NotRequired[int]
    purchases_processed: NotRequired[int]
    errors: NotRequired[list[TrackError]]


class AliasesResponse(TypedDict):
    """`/users/alias/new`, `/users/alias/update`, `/users/identify`: aliases processed."""

    message: str
    aliases_processed: NotRequired[int]
    errors: NotRequired[list[Any]]


class DeleteResponse(TypedDict):
    """`/users/delete`: how many users were queued for deletion."""

    message: NotRequired[str]
    deleted: int


class ExportIdsResponse(TypedDict):
    """`/users/export/ids`: the user profiles found, and the identifiers that matched nobody."""

    message: str
    users: list[dict[str, Any]]
    invalid_user_ids: NotRequired[list[str]]


class EventExport(TypedDict):
    """An item of `GET /events`."""

    name: str
    description: str | None
    included_in_analytics_report: bool
    status: str
    tag_names: list[str]


class CustomAttributeExport(TypedDict):
    """An item of `GET /custom_attributes`."""

    name: str
    description: str | None
    data_type: str
    array_length: int | None
    status: str
    tag_names: list[str]


class EventCount(TypedDict):
    """A point of `/events/data_series`."""

    time: str
    count: int


class PurchaseQuantity(TypedDict):
    """A point of `/purchases/quantity_series`."""

    time: str
    purchase_quantity: int


class RevenuePoint(TypedDict):
    """A point of `/purchases/revenue_series`."""

    time: str
    revenue: float


class KpiPoint(TypedDict, total=False):
    """A point of `/kpi/{dau,mau,new_users}/data_series`: `time` and the KPI's own key."""

    time: str
    dau: int
    mau: int
    new_users: int


class SegmentSize(TypedDict):
    """A point of `/segments/data_series`: the estimated size that day."""

    time: str
    size: int


class CampaignDataPoint(TypedDict, total=False):
    """A daily point of `/campaigns/data_series`."""

    time: str
    unique_recipients: int
    conversions: int
    conversions1: int
    conversions2: int
    conversions3: int
    conversions_by_send_time: int
    revenue: float
    messages: dict[str, list[dict[str, Any]]]


class SeriesResponse(TypedDict):
    """A data series answer: `{"message", "data": [points]}` (points typed per endpoint)."""

    message: str
    data: list[Any]


class CampaignSummary(TypedDict):
    """An item of `/campaigns/list`."""

    id: str
    last_edited: str
    name: str
    is_api_campaign: bool
    tags: list[str]


class CampaignFields(TypedDict, total=False):
    """The fields of a campaign as `/campaigns/details` shows them (without `message`)."""

    created_at: str
    updated_at: str
    archived: bool
    draft: bool
    enabled: bool
    has_post_launch_draft: bool
    name: str
    description: str
    schedule_type: str
    channels: list[str]
    first_sent: str | None
    last_sent: str | None
    tags: list[str]
    teams: list[str]
    messages: dict[str, dict[str, Any]]
    conversion_behaviors: list[dict[str, Any]]


class CampaignDetails(CampaignFields, total=False):
    """`/campaigns/details`."""

    message: str


class ManagedCampaign(CampaignFields, total=False):
    """A campaign of heron's management API: its API `id` and every `/campaigns/details` field."""

    id: str


class SegmentSummary(TypedDict):
    """An item of `/segments/list`."""

    id: str
    name: str
    analytics_tracking_enabled: bool
    tags: list[str]


class SegmentDetails(TypedDict, total=False):
    """`/segments/details`."""

    message: str
    created_at: str
    updated_at: str
    name: str
    description: str
    text_description: str
    tags: list[str]
    teams: list[str]


class ManagedSegment(TypedDict):
    """A segment of heron's management API: the definition, its state and its size."""

    segment_id: str
    name: str
    description: str | None
    tags: list[str]
    filter: dict[str, Any] | None
    analytics_tracking_enabled: bool
    archived: bool
    size: int
    membership_current: bool
    created_at: str
    updated_at: str


class ManagedItem(TypedDict, total=False):
    """An entry of heron's catalog management API (export fields plus governance fields)."""

    name: str
    description: str | None
    status: str
    tag_names: list[str]
    included_in_analytics_report: bool
    data_type: str
    array_length: int | None
    created_at: str | None
    first_seen: str | None
    last_seen: str | None
    blocklisted_at: str | None
    trashable_at: str | None
    trashed_at: str | None
    purge_at: str | None


class CatalogListResponse(TypedDict, total=False):
    """A page of `/heron/v1/<kind>`: the items under the kind's key."""

    message: str
    events: list[ManagedItem]
    custom_attributes: list[ManagedItem]
    products: list[ManagedItem]


class WorkspaceSettings(TypedDict):
    """heron's workspace settings."""

    name: str
    time_zone: str


class WorkspaceResponse(TypedDict):
    """`/heron/v1/workspace`'s answer (`rollups_rebuilt` only after a PUT)."""

    message: str
    workspace: WorkspaceSettings
    rollups_rebuilt: NotRequired[bool]


class HealthResponse(TypedDict):
    """`GET /healthz`: `{"status": "ok"}` once the server and its writer run."""

    status: str
