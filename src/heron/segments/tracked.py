"""The `segment_id` of the data-series endpoints: resolve it to a tracked segment, or a 400."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from heron.http.errors import BrazeError, bad_request
from heron.store.schema import segments

__all__ = ["UNKNOWN_SEGMENT", "UNTRACKED_SEGMENT", "tracked_segment"]

UNKNOWN_SEGMENT = "'segment_id' is not the id of a segment of this workspace"
UNTRACKED_SEGMENT = (
    "'segment_id' must be the id of a segment with analytics tracking enabled;"
    " this segment does not have analytics tracking enabled"
)


def tracked_segment(conn: Connection, workspace_id: int, segment_id: str) -> int:
    """The key of a tracked, live segment of the workspace; 404 if unknown, 400 if untracked."""
    row = (
        conn.execute(
            select(segments.c.id, segments.c.analytics_tracking, segments.c.archived).where(
                segments.c.workspace_id == workspace_id, segments.c.segment_id == segment_id
            )
        ).first()
        if len(segment_id) <= 36 and "\x00" not in segment_id
        else None
    )
    if row is None or row.archived:
        raise BrazeError(404, UNKNOWN_SEGMENT)
    if not row.analytics_tracking:
        raise bad_request(UNTRACKED_SEGMENT)
    return int(row.id)
