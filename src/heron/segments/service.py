"""Managing segment definitions: create, edit, archive, delete, analytics tracking on and off.

Shared by the management API (heron.segments.manage) and the CLI (heron.segments.cli). A new or
edited filter marks the segment for a full evaluation (`backfill_after = 0`), which the
evaluator (heron.segments.consumer) runs before its incremental steps; until then `size` and
membership are those of the previous filter (or empty).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine, Row

from heron.segments.definition import DefinitionError, describe, parse_filter
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    apps,
    events,
    purchases,
    segment_daily_sizes,
    segment_event_rollups,
    segment_members,
    segment_purchase_rollups,
    segments,
)

__all__ = [
    "DEFAULT_MAX_TRACKED",
    "Fields",
    "SegmentError",
    "archive",
    "create",
    "details_item",
    "edit",
    "find",
    "list_all",
    "management_item",
    "remove",
    "set_tracking",
]

DEFAULT_MAX_TRACKED = 25  # Braze's cap on analytics-tracked segments per workspace
MAX_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 10_000
MAX_TAGS = 100
MAX_TAG_LENGTH = 255

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class SegmentError(Exception):
    """A refused change: HTTP status and Braze-shaped message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Fields:
    """Editable fields of a definition (None: leave as is)."""

    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    filter: Any = None  # the raw JSON filter tree


def _text(value: object, where: str, limit: int, *, empty: bool = True) -> str:
    """A string without NUL of at most `limit` characters."""
    if not isinstance(value, str) or "\x00" in value or len(value) > limit:
        raise SegmentError(400, f"'{where}' must be a string of at most {limit} characters")
    if not empty and not value:
        raise SegmentError(400, f"'{where}' must not be empty")
    return value


def parse_fields(body: dict[str, Any], *, creating: bool) -> Fields:
    """Validate the editable fields of a request body (or a JSON file); 400 on mistakes."""
    name = body.get("name")
    if name is not None or creating:
        name = _text(name, "name", MAX_NAME_LENGTH, empty=False)
    description = body.get("description")
    if description is not None:
        description = _text(description, "description", MAX_DESCRIPTION_LENGTH)
    tags = body.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            raise SegmentError(400, f"'tags' must be an array of at most {MAX_TAGS} strings")
        tags = tuple(dict.fromkeys(_text(t, "tags", MAX_TAG_LENGTH, empty=False) for t in tags))
    raw_filter = body.get("filter")
    if creating and raw_filter is None:
        raise SegmentError(400, "invalid segment filter at $.filter: a segment needs a filter")
    if raw_filter is not None:
        try:
            parse_filter(raw_filter)
        except DefinitionError as exc:
            raise SegmentError(400, f"invalid segment filter at {exc}") from None
    return Fields(name, description, tags, raw_filter)


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (SQLite: BEGIN IMMEDIATE)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _check_apps(conn: Connection, workspace_id: int, raw_filter: Any) -> None:
    """App filters must name apps of the workspace."""
    known = frozenset(
        str(a)
        for (a,) in conn.execute(select(apps.c.api_id).where(apps.c.workspace_id == workspace_id))
    )
    try:
        parse_filter(raw_filter, known_apps=known)
    except DefinitionError as exc:
        raise SegmentError(400, f"invalid segment filter at {exc}") from None


def storable_id(segment_id: str) -> bool:
    """False for a value no segment id can be (too long, or holding NUL): no lookup."""
    return len(segment_id) <= 36 and "\x00" not in segment_id


def _locked(conn: Connection, workspace_id: int, segment_id: str) -> Row[Any]:
    """The segment's row, locked where the database can; 404 when not in the workspace."""
    if not storable_id(segment_id):
        raise SegmentError(404, f"segment '{segment_id}' does not exist")
    row = conn.execute(
        select(segments)
        .where(segments.c.workspace_id == workspace_id, segments.c.segment_id == segment_id)
        .with_for_update()
    ).first()
    if row is None:
        raise SegmentError(404, f"segment '{segment_id}' does not exist")
    return row


def find(conn: Connection, workspace_id: int, segment_id: str) -> Row[Any] | None:
    """A segment of the workspace by its API identifier."""
    if not storable_id(segment_id):
        return None
    return conn.execute(
        select(segments).where(
            segments.c.workspace_id == workspace_id, segments.c.segment_id == segment_id
        )
    ).first()


def _reread(conn: Connection, sid: int) -> Row[Any]:
    """A segment's row after a change."""
    row = conn.execute(select(segments).where(segments.c.id == sid)).first()
    assert row is not None
    return row


def create(engine: Engine, workspace_id: int, fields: Fields, now_ms: int) -> Row[Any]:
    """Store a new segment definition; membership is computed by the evaluator."""
    assert fields.name is not None and fields.filter is not None
    with write(engine) as conn:
        _check_apps(conn, workspace_id, fields.filter)
        result = conn.execute(
            segments.insert().values(
                workspace_id=workspace_id,
                segment_id=str(uuid.uuid4()),
                name=fields.name,
                description=fields.description or "",
                tags=_encode(list(fields.tags or ())).decode(),
                filter=_encode(fields.filter).decode(),
                backfill_after=0,
                created_at_ms=now_ms,
                updated_at_ms=now_ms,
            )
        )
        return _reread(conn, int(result.inserted_primary_key[0]))  # type: ignore[index]


def edit(
    engine: Engine, workspace_id: int, segment_id: str, fields: Fields, now_ms: int
) -> Row[Any]:
    """Change name, description, tags or filter (a new filter is evaluated afresh)."""
    with write(engine) as conn:
        row = _locked(conn, workspace_id, segment_id)
        values: dict[str, Any] = {"updated_at_ms": now_ms}
        if fields.name is not None:
            values["name"] = fields.name
        if fields.description is not None:
            values["description"] = fields.description
        if fields.tags is not None:
            values["tags"] = _encode(list(fields.tags)).decode()
        if fields.filter is not None:
            _check_apps(conn, workspace_id, fields.filter)
            values["filter"] = _encode(fields.filter).decode()
            values["backfill_after"] = 0
        conn.execute(update(segments).where(segments.c.id == row.id).values(**values))
        return _reread(conn, row.id)


def archive(
    engine: Engine, workspace_id: int, segment_id: str, archived: bool, now_ms: int
) -> Row[Any]:
    """Archive (hidden from /segments/list, no longer evaluated) or unarchive a segment."""
    with write(engine) as conn:
        row = _locked(conn, workspace_id, segment_id)
        values: dict[str, Any] = {"archived": archived, "updated_at_ms": now_ms}
        if not archived and row.archived:
            values["backfill_after"] = 0  # membership went stale while archived
        conn.execute(update(segments).where(segments.c.id == row.id).values(**values))
        return _reread(conn, row.id)


def remove(engine: Engine, workspace_id: int, segment_id: str) -> None:
    """Delete a segment with its members, daily sizes and rollups."""
    with write(engine) as conn:
        row = _locked(conn, workspace_id, segment_id)
        for table in (
            segment_members,
            segment_daily_sizes,
            segment_event_rollups,
            segment_purchase_rollups,
        ):
            conn.execute(delete(table).where(table.c.segment_id == row.id))
        conn.execute(delete(segments).where(segments.c.id == row.id))


def set_tracking(
    engine: Engine,
    workspace_id: int,
    segment_id: str,
    enabled: bool,
    now_ms: int,
    max_tracked: int = DEFAULT_MAX_TRACKED,
) -> Row[Any]:
    """Turn analytics tracking on (counting starts now, from empty rollups) or off."""
    with write(engine) as conn:
        row = _locked(conn, workspace_id, segment_id)
        if enabled == bool(row.analytics_tracking):
            return row
        values: dict[str, Any] = {"analytics_tracking": enabled, "updated_at_ms": now_ms}
        if enabled:
            if row.archived:
                raise SegmentError(400, "an archived segment cannot be tracked")
            tracked = conn.execute(
                select(func.count()).where(
                    segments.c.workspace_id == workspace_id,
                    segments.c.analytics_tracking.is_(True),
                    segments.c.archived.is_(False),
                )
            ).scalar_one()
            if tracked >= max_tracked:
                raise SegmentError(
                    400,
                    f"a workspace can have at most {max_tracked} segments with analytics"
                    " tracking enabled",
                )
            for table in (segment_event_rollups, segment_purchase_rollups):
                conn.execute(delete(table).where(table.c.segment_id == row.id))
            values["tracking_events_after"] = (
                conn.execute(select(func.max(events.c.id))).scalar() or 0
            )
            values["tracking_purchases_after"] = (
                conn.execute(select(func.max(purchases.c.id))).scalar() or 0
            )
        conn.execute(update(segments).where(segments.c.id == row.id).values(**values))
        return _reread(conn, row.id)


def list_all(conn: Connection, workspace_id: int, *, include_archived: bool) -> list[Row[Any]]:
    """The workspace's segments, oldest first."""
    query = select(segments).where(segments.c.workspace_id == workspace_id)
    if not include_archived:
        query = query.where(segments.c.archived.is_(False))
    return list(conn.execute(query.order_by(segments.c.created_at_ms, segments.c.id)).all())


def iso(ms: int) -> str:
    """Epoch ms as Braze's ISO 8601 UTC time."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def management_item(row: Row[Any]) -> dict[str, Any]:
    """A segment as the management API and CLI show it."""
    return {
        "segment_id": row.segment_id,
        "name": row.name,
        "description": row.description,
        "tags": _decode(row.tags),
        "filter": _decode(row.filter),
        "analytics_tracking_enabled": bool(row.analytics_tracking),
        "archived": bool(row.archived),
        "size": int(row.size),
        "membership_current": row.backfill_after is None,
        "created_at": iso(row.created_at_ms),
        "updated_at": iso(row.updated_at_ms),
    }


def details_item(row: Row[Any]) -> dict[str, Any]:
    """Braze's `/segments/details` body for a segment."""
    return {
        "message": "success",
        "created_at": iso(row.created_at_ms),
        "updated_at": iso(row.updated_at_ms),
        "name": row.name,
        "description": describe(parse_filter(_decode(row.filter))),
        "text_description": row.description,
        "tags": _decode(row.tags),
        "teams": [],
    }
