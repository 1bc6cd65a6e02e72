"""Query parameters of the campaign endpoints, parsed into values or Braze-shaped 400s."""

from __future__ import annotations

from collections.abc import Mapping

from heron.analytics.params import optional_text, parse_ending_at, required_text
from heron.http.errors import BrazeError, bad_request

__all__ = ["parse_bool", "parse_edited_after", "parse_page", "parse_sort", "required_text"]

_MAX_PAGE = 10**9  # pages past this are empty (keeps OFFSET within every database's range)


def parse_page(params: Mapping[str, str]) -> int:
    """`page`: digits, from 0; missing or empty = 0."""
    raw = optional_text(params, "page")
    if raw is None:
        return 0
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise bad_request("'page' must be a non-negative integer")
    return min(int(raw), _MAX_PAGE)


def parse_bool(params: Mapping[str, str], name: str) -> bool:
    """A `true` / `false` parameter (case-insensitive); missing or empty = false."""
    raw = optional_text(params, name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"'{name}' must be true or false")
    return value == "true"


def parse_sort(params: Mapping[str, str]) -> bool:
    """`sort_direction`: `asc` (the default, oldest first) or `desc`; True for newest first."""
    raw = optional_text(params, "sort_direction")
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("asc", "desc"):
        raise bad_request("'sort_direction' must be 'asc' or 'desc'")
    return value == "desc"


def parse_edited_after(params: Mapping[str, str], time_zone: str) -> int | None:
    """`last_edit.time[gt]`: a date or date-time (wall clock in the workspace's zone without an
    offset), as epoch milliseconds."""
    raw = optional_text(params, "last_edit.time[gt]")
    if raw is None:
        return None
    try:
        return parse_ending_at(raw.strip(), time_zone)
    except BrazeError:
        raise bad_request(
            "'last_edit.time[gt]' must be an ISO 8601 date-time (e.g. 2026-11-22T05:00:00 or"
            " 2026-11-22T05:00:00Z) or date (2026-11-22)"
        ) from None
