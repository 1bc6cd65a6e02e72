"""Campaigns as Braze shows them: `/campaigns/details` fields, list items, message variations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from heron.campaigns.definition import Behavior, Control, InAppMessage, channel_of
from heron.campaigns.store import Campaign

__all__ = ["behavior", "channels", "details", "iso_time", "list_item", "message"]


def iso_time(time_ms: int | None) -> str | None:
    """ISO 8601 in UTC to the second (`2026-11-22T07:43:57+00:00`), or None."""
    if time_ms is None:
        return None
    return datetime.fromtimestamp(time_ms // 1000, UTC).isoformat()


def message(variation: Any) -> dict[str, Any]:
    """One variation as `/campaigns/details` shows it under its id."""
    fields: dict[str, Any] = msgspec.to_builtins(variation)
    if isinstance(variation, Control):
        return {"channel": variation.channel, "name": variation.name, "type": "control"}
    channel = fields.pop("channel")
    shaped = {"channel": channel, "name": fields.pop("name"), **fields}
    if channel == "content_cards" and not shaped["extras"]:
        del shaped["extras"]  # Braze: only present if at least one pair has been set
    if isinstance(variation, InAppMessage):
        shaped = {k: v for k, v in shaped.items() if v is not None and v != {}}
    return shaped


def behavior(item: Behavior) -> dict[str, Any]:
    """One conversion behaviour: `type`, `window`, then its own fields."""
    fields: dict[str, Any] = msgspec.to_builtins(item)
    return {"type": fields.pop("type"), "window": fields.pop("window"), **fields}


def channels(campaign: Campaign) -> list[str]:
    """The channels a campaign sends via, in the order its variations list them."""
    return list(dict.fromkeys(channel_of(m) for m in campaign.definition.messages.values()))


def details(campaign: Campaign) -> dict[str, Any]:
    """Every field of `/campaigns/details` (without `message`)."""
    d = campaign.definition
    return {
        "created_at": iso_time(campaign.created_at_ms),
        "updated_at": iso_time(campaign.updated_at_ms),
        "archived": d.archived,
        "draft": d.draft,
        "enabled": d.enabled,
        "has_post_launch_draft": False,
        "name": d.name,
        "description": d.description,
        "schedule_type": d.schedule_type,
        "channels": channels(campaign),
        "first_sent": iso_time(campaign.first_sent_ms),
        "last_sent": iso_time(campaign.last_sent_ms),
        "tags": list(d.tags),
        "teams": list(d.teams),
        "messages": {key: message(value) for key, value in d.messages.items()},
        "conversion_behaviors": [behavior(b) for b in d.conversion_behaviors],
    }


def list_item(campaign: Campaign) -> dict[str, Any]:
    """One entry of `/campaigns/list`."""
    return {
        "id": campaign.api_id,
        "last_edited": iso_time(campaign.updated_at_ms),
        "name": campaign.definition.name,
        "is_api_campaign": campaign.definition.is_api_campaign,
        "tags": list(campaign.definition.tags),
    }
