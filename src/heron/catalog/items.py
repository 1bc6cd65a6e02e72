"""Catalog rows as JSON: Braze's export items and heron's fuller management items."""

from __future__ import annotations

import json
from typing import Any

from heron.catalog.kinds import (
    ATTRIBUTES,
    BLOCKLISTED_DAYS_BEFORE_TRASH,
    DAY_MS,
    EVENTS,
    TRASHED_DAYS_BEFORE_PURGE,
    Kind,
)
from heron.ingest.attribute_values import format_epoch_ms


def tag_names(row: Any) -> list[str]:
    """The row's tags (stored as a JSON list)."""
    tags = json.loads(row.tags)
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def array_length(row: Any, max_array_length: int) -> int | None:
    """Braze's `array_length`: the array length limit for Array attributes, else null."""
    return max_array_length if row.data_type == "Array" else None


def export_item(kind: Kind, row: Any, max_array_length: int) -> dict[str, Any]:
    """An item exactly as Braze's `/events` or `/custom_attributes` shows it."""
    if kind is EVENTS:
        return {
            "name": row.name,
            "description": row.description,
            "included_in_analytics_report": bool(row.included_in_analytics_report),
            "status": row.status,
            "tag_names": tag_names(row),
        }
    return {
        "name": row.name,
        "description": row.description,
        "data_type": row.data_type,
        "array_length": array_length(row, max_array_length),
        "status": row.status,
        "tag_names": tag_names(row),
    }


def _time(ms: int | None) -> str | None:
    """ISO 8601 UTC (`...Z`) or None."""
    return None if ms is None else format_epoch_ms(ms)


def managed_item(kind: Kind, row: Any, max_array_length: int) -> dict[str, Any]:
    """An item of heron's management API: the export fields plus governance times."""
    item: dict[str, Any] = {
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "tag_names": tag_names(row),
    }
    if kind is EVENTS:
        item["included_in_analytics_report"] = bool(row.included_in_analytics_report)
    if kind is ATTRIBUTES:
        item["data_type"] = row.data_type
        item["array_length"] = array_length(row, max_array_length)
    item["created_at"] = _time(row.created_at_ms)
    item["first_seen"] = _time(row.first_seen_ms)
    item["last_seen"] = _time(row.last_seen_ms)
    item["blocklisted_at"] = _time(row.blocklisted_at_ms)
    if kind.trashable:
        blocked = row.blocklisted_at_ms
        item["trashable_at"] = (
            None if blocked is None else _time(blocked + BLOCKLISTED_DAYS_BEFORE_TRASH * DAY_MS)
        )
        item["trashed_at"] = _time(row.trashed_at_ms)
        trashed = row.trashed_at_ms
        item["purge_at"] = (
            None if trashed is None else _time(trashed + TRASHED_DAYS_BEFORE_PURGE * DAY_MS)
        )
    return item
