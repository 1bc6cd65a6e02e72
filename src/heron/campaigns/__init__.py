"""Campaigns: definitions users manage, Braze's exports, and the store of sends and engagement.

- `definition`: the Structs a campaign is made of (variations per channel, conversion
  behaviours); `store`: the `campaigns` rows; `manage` + `cli`: heron's management API under
  `/heron/v1/campaigns` (`heron.campaigns.manage`) and `heron campaigns ...`.
- `exports`: `GET /campaigns/list`, `/campaigns/details`, `/campaigns/data_series` (`shapes`
  gives Braze's fields, `series` the daily points, `stats` the per-channel field names).
- `recording`: what messaging calls (`record_sends`, `record_engagement`, `record_activity`)
  and the daily aggregates; `conversions`: attribution when a series is read.
- `docs`: the OpenAPI entries. docs/campaigns.md describes every choice where Braze is silent.
"""

from __future__ import annotations

from heron.campaigns import docs as _docs  # registers the OpenAPI entries
from heron.campaigns.exports import routes as _export_routes
from heron.campaigns.manage import routes as _manage_routes
from heron.campaigns.recording import (
    Activity,
    Engagement,
    RecordError,
    Send,
    record_activity,
    record_engagement,
    record_sends,
)

__all__ = [
    "Activity",
    "Engagement",
    "RecordError",
    "Send",
    "record_activity",
    "record_engagement",
    "record_sends",
    "routes",
]

routes = [*_export_routes, *_manage_routes]
del _docs
